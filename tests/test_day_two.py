"""Day-two behaviour a newcomer relies on: waits that return the right answer, modes that tell the truth."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, List

import pytest

from realtime_client import ConnectionFailedError, RealtimeClient, RealtimeError
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer, Reply
from tests.helpers import Recorder, wait_until


def test_ask_returns_its_own_answer_while_an_earlier_one_streams(paced, paced_client):
    """send_text('first') with a long answer streaming, then ask('second'): the second answer."""
    paced.script(Reply.audio("The first answer, which is long.", duration_ms=1200), Reply.text("Second."))
    client = paced_client()
    client.connect(timeout=5)
    client.send_text("first")
    answer = client.ask("second", timeout=15)
    assert answer.text == "Second."
    roles = [(m.role, m.text) for m in client.messages]
    assert ("assistant", "The first answer, which is long.") in roles


def test_ask_after_an_abandoned_ask_returns_its_own_answer(paced, paced_client):
    """An ask() cut short (timeout, Ctrl+C) leaves its answer streaming; the next ask() skips it."""
    paced.script(Reply.audio("Answer A, slowly spoken.", duration_ms=1000), Reply.text("Answer B."))
    client = paced_client()
    client.connect(timeout=5)
    with pytest.raises(TimeoutError):
        client.ask("question A", timeout=0.2)
    assert client.ask("question B", timeout=15).text == "Answer B."


# --- connect(): Ctrl+C, wait=False, and the threads a failed or ended session leaves ---------


def realtime_threads() -> List[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t.name.startswith("realtime-") and not t.name.startswith("realtime-fake"))


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_in_get_token_propagates_and_tears_down(server, make_client, exc_type):
    def get_token() -> Any:
        raise exc_type()

    rec = Recorder()
    client = make_client(get_token=get_token, **rec.options())
    with pytest.raises(exc_type):
        client.connect(timeout=5)
    assert client.status == "idle" and client.error is None
    wait_until(lambda: not realtime_threads(), what="no realtime threads")
    assert rec.of("on_error") == []


def test_ctrl_c_during_the_handshake_propagates_and_closes_the_socket(server, make_client):
    """KeyboardInterrupt while connect() waits for the session: raised as is, socket closed, idle."""
    server.handshake_delay = 3.0
    client = make_client()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl+C
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.connect(timeout=10)
    assert time.monotonic() - started < 2.5
    assert client.status == "idle"
    wait_until(lambda: not realtime_threads(), what="no realtime threads")
    client.connect(timeout=10)  # and the client is still usable
    assert client.status == "connected"


def test_connect_without_waiting_reports_success_through_callbacks(server, make_client):
    server.handshake_delay = 0.3
    rec = Recorder()
    client = make_client(**rec.options())
    started = time.monotonic()
    client.connect(wait=False)
    assert time.monotonic() - started < 0.2
    assert client.status == "connecting"
    wait_until(lambda: rec.of("on_connect"), what="on_connect")
    assert client.status == "connected"
    assert rec.of("on_status_change") == ["connecting", "connected"]
    client.connect(wait=False)  # connected already: nothing happens
    assert client.ask("hi", timeout=10).text


def test_connect_without_waiting_reports_failure_through_on_error(server, make_client):
    rec = Recorder()
    client = make_client(adapter=openai_realtime(url="ws://127.0.0.1:9/v1/realtime"), **rec.options())
    client.connect(wait=False)
    wait_until(lambda: rec.of("on_error"), what="on_error")
    (err,) = rec.of("on_error")
    assert isinstance(err, RealtimeError) and client.error is err
    wait_until(lambda: client.status == "error", what="status error")
    wait_until(lambda: not realtime_threads(), what="the callback thread to end")


def test_a_blocking_connect_waits_for_one_in_progress(server, make_client):
    server.handshake_delay = 0.3
    client = make_client()
    client.connect(wait=False)
    client.connect(timeout=5)
    assert client.status == "connected"


def test_disconnect_during_a_background_connect_leaves_nothing_behind(server, make_client):
    server.handshake_delay = 1.0
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(wait=False)
    time.sleep(0.2)
    started = time.monotonic()
    client.disconnect()
    assert time.monotonic() - started < 1.5
    assert client.status == "idle" and rec.of("on_error") == [] and rec.of("on_connect") == []
    assert not realtime_threads()
    time.sleep(1.2)  # the handshake the server delayed would have finished by now
    assert client.status == "idle" and not realtime_threads()


def test_a_session_the_server_ends_leaves_no_callback_thread(server, make_client):
    rec = Recorder()
    client = make_client(reconnect=False, **rec.options())
    client.connect(timeout=5)
    server.drop(code=1011)
    wait_until(lambda: client.status == "error", what="status error")
    wait_until(lambda: not realtime_threads(), what="every realtime thread to end")
    assert rec.of("on_disconnect") == [None]
    client.connect(timeout=5)  # connecting again brings the callback thread back
    assert client.ask("again?", timeout=10).text
    assert "realtime-callbacks" in realtime_threads()


# --- modes that tell the truth, and waiting until the assistant has finished speaking ---------

def test_mode_is_thinking_until_queued_audio_is_heard_then_wait_for_playback(server, make_client):
    """A fast server delivers 1.5 s of audio at once: after ask() the mode is not 'listening'
    while it plays, and wait_for_playback() returns only once all of it was heard."""
    out = BufferOutput(realtime=True)
    rec = Recorder()
    client = make_client(audio_output=out, **rec.options())
    server.script(Reply.audio("A long spoken answer.", duration_ms=1500))
    client.connect(timeout=5)
    client.ask("talk to me", timeout=10)
    assert client.mode in ("thinking", "speaking")
    assert out.played_ms < 1400
    started = time.monotonic()
    client.wait_for_playback(timeout=10)
    assert out.played_ms >= 1500 - 1
    assert time.monotonic() - started > 0.5
    wait_until(lambda: rec.of("on_mode_change")[-1:] == ["listening"] and len(rec.of("on_mode_change")) > 1,
               what="listening once the audio drained")
    modes = rec.of("on_mode_change")
    assert modes == ["listening", "thinking", "speaking", "listening"], modes
    started = time.monotonic()
    client.wait_for_playback(timeout=1)  # nothing queued: at once
    assert time.monotonic() - started < 0.1


@pytest.mark.parametrize("realtime", [False, True], ids=["instant speaker", "real-time speaker"])
def test_an_answer_arriving_chunk_by_chunk_is_spoken_in_one_stretch(server, make_client, realtime):
    """A speaker with no latency (a BufferOutput) runs dry for a moment between the chunks of one
    answer: the mode still enters speaking once per answer (it flapped speaking <-> thinking at
    every chunk, two to four times per second of audio)."""
    rec = Recorder()
    client = make_client(audio_output=BufferOutput(realtime=realtime), **rec.options())
    client.connect(timeout=5)
    for n in range(3):
        server.script(Reply.audio("A spoken answer, chunk by chunk.", duration_ms=1000))
        before = len(rec.of("on_mode_change"))
        client.ask(f"question {n}", timeout=10)
        client.wait_for_playback(timeout=10)
        wait_until(lambda: rec.of("on_mode_change")[-1:] == ["listening"], what="listening again")
        assert rec.of("on_mode_change")[before:].count("speaking") == 1, rec.of("on_mode_change")[before:]


def test_wait_for_playback_times_out_and_returns_when_the_session_ends(server, make_client):
    out = BufferOutput(realtime=True)
    client = make_client(audio_output=out)
    server.script(Reply.audio("Long.", duration_ms=3000))
    client.connect(timeout=5)
    client.ask("go", timeout=10)
    with pytest.raises(TimeoutError):
        client.wait_for_playback(timeout=0.2)
    threading.Timer(0.2, client.disconnect).start()
    started = time.monotonic()
    client.wait_for_playback(timeout=5)
    assert time.monotonic() - started < 2


def test_wait_for_playback_without_a_speaker_returns_at_once(server, make_client):
    client = make_client(auto_playback=False)
    server.script(Reply.audio("Unheard.", duration_ms=2000))
    client.connect(timeout=5)
    client.ask("go", timeout=10)
    started = time.monotonic()
    client.wait_for_playback(timeout=5)
    assert time.monotonic() - started < 0.1


def test_interrupt_goes_to_listening_at_once_and_never_back_to_thinking(server, make_client):
    """While the cancelled response winds down the mode stays 'listening'."""
    out = BufferOutput(realtime=True)
    rec = Recorder()
    client = make_client(audio_output=out, **rec.options())
    server.script(Reply.audio("A long answer to be cut off.", duration_ms=3000))
    client.connect(timeout=5)
    client.ask("go", timeout=10)
    wait_until(lambda: client.mode == "speaking", what="speaking")
    before = len(rec.of("on_mode_change"))
    client.interrupt()
    assert client.mode == "listening"
    client.wait_for_playback(timeout=1)  # the flushed audio counts as done
    time.sleep(0.3)
    assert rec.of("on_mode_change")[before:] == ["listening"]
    assert client.messages[-1].interrupted


def test_interrupt_while_thinking_goes_to_listening_at_once(paced, paced_client):
    rec = Recorder()
    client = paced_client(**rec.options())
    paced.script(Reply.audio("Slow to start.", duration_ms=2000))
    client.connect(timeout=5)
    client.send_text("go")
    assert client.mode == "thinking"
    client.interrupt()
    assert client.mode == "listening"
    time.sleep(0.5)
    assert "thinking" not in rec.of("on_mode_change")[rec.of("on_mode_change").index("thinking") + 1:]


# --- what TanStack's client resets, and the callbacks a GUI subscribes with -------------------

def test_disconnect_clears_pending_transcripts_and_keeps_messages(paced, paced_client):
    client = paced_client()
    paced.script(Reply.audio("A long answer that is still streaming when we hang up.", duration_ms=3000))
    client.connect(timeout=5)
    client.send_text("first")
    wait_until(lambda: client.pending_assistant_transcript, what="a pending assistant transcript")
    client.disconnect()
    assert client.pending_assistant_transcript == "" and client.pending_user_transcript == ""
    assert client.state.pending_assistant_transcript == ""
    assert client.status == "idle" and client.mode == "idle"
    assert [m.role for m in client.messages][:1] == ["user"]


def test_on_state_change_is_a_constructor_keyword(server, make_client):
    states: List[Any] = []
    client = make_client(on_state_change=states.append)
    client.connect(timeout=5)
    wait_until(lambda: any(s.status == "connected" for s in states), what="a connected snapshot")
    with pytest.raises(TypeError):
        make_client(on_state_change="not callable")


def test_on_connect_brackets_the_session_not_each_reconnect(server, make_client):
    """Decided: on_connect/on_disconnect fire per connect() .. end; a reconnect shows as status."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    server.drop()
    wait_until(lambda: rec.of("on_status_change")[-2:] == ["reconnecting", "connected"], what="reconnected")
    assert rec.of("on_connect") == [None] and rec.of("on_disconnect") == []
    client.disconnect()
    wait_until(lambda: rec.of("on_disconnect") == [None], what="on_disconnect")


def test_update_session_while_connecting_reaches_the_session(server, make_client):
    """A change made during the handshake is sent once the session is ready, not just remembered."""
    server.handshake_delay = 0.5
    client = make_client(instructions="Old instructions.")
    client.connect(wait=False)
    time.sleep(0.1)
    assert client.status == "connecting"
    client.update_session(instructions="New instructions.")
    wait_until(lambda: client.status == "connected", what="connected")
    wait_until(lambda: server.connections[-1].session.get("instructions") == "New instructions.",
               what="the live session to get the new instructions")
    client.ask("hi", timeout=10)
    assert client.session_config.instructions == "New instructions."
    server.drop()  # a reconnect re-applies the accepted change
    wait_until(lambda: len(server.connections) == 2 and client.status == "connected", what="reconnected")
    assert server.connections[-1].session.get("instructions") == "New instructions."


def test_a_synchronous_dispatcher_may_call_the_client_from_a_callback(server, make_client):
    """dispatcher=lambda fn: fn() and a callback that talks back: no deadlock, order kept."""
    seen: List[str] = []
    holder: List[RealtimeClient] = []

    def on_message(msg: Any) -> None:
        seen.append(f"{msg.role}:{msg.text}")
        if msg.role == "assistant" and len(seen) < 4:
            holder[0].send_text("and again")  # re-enters the client from inside its callback

    server.script(Reply.text("One."), Reply.text("Two."))
    client = make_client(dispatcher=lambda fn: fn(), on_message=on_message, auto_playback=False)
    holder.append(client)
    client.connect(timeout=5)
    client.send_text("go")
    wait_until(lambda: len(seen) >= 4, what="two exchanges")
    assert seen[:4] == ["user:go", "assistant:One.", "user:and again", "assistant:Two."]


def test_ca_file_trusts_a_private_authority_and_verification_stays_on():
    """wss:// to a server whose CA is given with ca_file= works; without it the TLS check fails."""
    with FakeRealtimeServer(tls=True) as tls_server:
        trusted = RealtimeClient(get_token=tls_server.get_token, adapter=tls_server.adapter(),
                                 ca_file=tls_server.ca_file, auto_capture=False, auto_playback=False)
        try:
            trusted.connect(timeout=5)
            assert trusted.ask("secure?", timeout=10).text == "You said: secure?"
        finally:
            trusted.destroy()
        untrusted = RealtimeClient(get_token=tls_server.get_token, adapter=tls_server.adapter(),
                                   auto_capture=False, auto_playback=False)
        try:
            with pytest.raises(ConnectionFailedError, match=r"(?i)certificate|tls|ssl"):
                untrusted.connect(timeout=5)
        finally:
            untrusted.destroy()
    with pytest.raises(ValueError, match="ca_file"):
        RealtimeClient(get_token=lambda: None, ca_file="/no/such/ca.pem")


def test_interrupt_forgets_an_answer_queued_behind_the_one_playing(server, make_client):
    """Two answers queued; the user interrupts the first: the second, never heard, is marked
    interrupted (0 ms) and deleted from the provider's conversation, not left as if delivered."""
    out = BufferOutput(realtime=True)
    client = make_client(audio_output=out)
    server.script(Reply.audio("The first answer.", duration_ms=1500),
                  Reply.audio("The second answer.", duration_ms=1500))
    client.connect(timeout=5)
    client.send_text("first")
    time.sleep(0.05)
    client.ask("second", timeout=10)
    time.sleep(0.4)
    client.interrupt()
    first, second = [m for m in client.messages if m.role == "assistant"]
    assert first.interrupted and 0 < first.duration_ms < 1500
    assert second.interrupted and second.duration_ms == 0
    wait_until(lambda: any(f.get("type") == "conversation.item.delete" for f in server.received),
               what="the unheard answer deleted")
    deleted = [f["item_id"] for f in server.received if f.get("type") == "conversation.item.delete"]
    truncated = [f["item_id"] for f in server.received if f.get("type") == "conversation.item.truncate"]
    assert deleted == [second.id] and truncated == [first.id]
    client.wait_for_playback(timeout=2)
    assert out.played_ms < 1000


def test_a_background_connect_failure_is_logged_when_nobody_listens(server, make_client, caplog_rc):
    """Without on_error, a failed connect(wait=False) is not silent: one warning with the cause."""
    client = make_client(adapter=openai_realtime(url="ws://127.0.0.1:9/v1/realtime"))
    client.connect(wait=False)
    def warnings() -> list:
        return [r for r in caplog_rc.records if "connect(wait=False) failed" in r.getMessage()]

    wait_until(warnings, what="the warning (logged just after the status turns 'error')")
    assert len(warnings()) == 1 and "refused" in warnings()[0].getMessage()


def test_disconnect_right_after_a_background_connect_stops_everything(server, make_client):
    """Repeated: connect(wait=False) succeeds and the app disconnects at once (races the token
    refresher's start); disconnect never raises and leaves no thread behind."""
    for _ in range(20):
        client = make_client(get_token=lambda: server.token(ttl=600))
        client.connect(wait=False)
        wait_until(lambda: client.status == "connected", what="connected")
        client.disconnect()
        assert client.status == "idle"
        wait_until(lambda: not realtime_threads(), what="no realtime threads")


def test_a_failed_connect_then_disconnect_still_reports_idle(server, make_client):
    rec = Recorder()
    client = make_client(adapter=openai_realtime(url="ws://127.0.0.1:9/v1/realtime"), **rec.options())
    client.connect(wait=False)
    wait_until(lambda: client.status == "error" and not realtime_threads(), what="failed and quiet")
    client.disconnect()
    wait_until(lambda: rec.of("on_status_change")[-1:] == ["idle"], what="on_status_change('idle')")
    wait_until(lambda: not realtime_threads(), what="no realtime threads")


def test_disconnect_from_on_connect_leaves_no_refresher_or_recycler(server, make_client, caplog_rc):
    """A synchronous dispatcher runs on_connect on the connecting thread itself: disconnecting
    there must not leave the token refresher (started after the announcement before) running."""
    holder: List[RealtimeClient] = []

    def hang_up() -> None:
        holder[0].disconnect()

    client = make_client(get_token=lambda: server.token(ttl=600), dispatcher=lambda fn: fn(),
                         on_connect=hang_up)
    holder.append(client)
    client.connect(wait=False)
    wait_until(lambda: client.status == "idle" and not realtime_threads(), what="disconnected, no threads")
    time.sleep(0.2)
    assert not realtime_threads()
    assert not [r for r in caplog_rc.records if r.levelno >= 40], caplog_rc.text
