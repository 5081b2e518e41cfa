"""Reconnect after abnormal closes: status transitions, history replay, queued frames, fatal errors."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

from realtime_client import PermissionDeniedError, RealtimeError, ReconnectPolicy
from realtime_client._provider import ResumeState
from realtime_client._reconnect import Reconnector
from realtime_client.testing import Reply
from tests.helpers import Recorder, wait_until

FAST = ReconnectPolicy(attempts=4, base=0.05, cap=0.2, connect_timeout=3.0)


def items_created(conn: Any) -> List[dict]:
    return [f["item"] for f in conn.received if f.get("type") == "conversation.item.create"]


def connected_again(server: Any, client: Any, count: int = 2) -> Any:
    conn = server.wait_for_connection(count=count, timeout=5)
    wait_until(lambda: client.status == "connected", timeout=5, what="connected again")
    return conn


def test_drop_mid_response_reconnects_and_replays_history(server, make_client):
    """A dropped socket mid-response: reconnecting → connected, config re-applied, history replayed,
    partial output kept as interrupted, and the conversation goes on."""
    rec = Recorder()
    client = make_client(auto_playback=False, reconnect=FAST, instructions="Be brief.", **rec.options())
    client.connect(timeout=5)
    assert client.ask("first question", timeout=10).text == "You said: first question"
    server.pacing = "realtime"
    server.script(Reply.audio("A long answer that will be cut off by the network.", duration_ms=3000))
    client.send_text("second question")
    wait_until(lambda: client.pending_assistant_transcript, what="streaming answer")
    server.drop_connections()
    conn = connected_again(server, client)
    server.pacing = "fast"
    # callbacks run on their own thread, so the status can read "connected" before it is told
    wait_until(lambda: rec.of("on_status_change")[-2:] == ["reconnecting", "connected"], what="reconnected")
    assert conn.session["instructions"] == "Be brief."
    partial = client.messages[-1]
    assert partial.role == "assistant" and partial.interrupted and partial.text
    replayed = items_created(conn)
    texts = [c.get("text") for item in replayed for c in item.get("content", [])]
    assert texts[:3] == ["first question", "You said: first question", "second question"]
    assert [item["role"] for item in replayed[:2]] == ["user", "assistant"]
    assert client.ask("third question", timeout=10).text == "You said: third question"
    assert [m.text for m in client.messages][:2] == ["first question", "You said: first question"]
    assert rec.of("on_error") == []


def test_server_error_close_refetches_the_token(server, make_client):
    """A 1011 close reconnects with a freshly fetched token."""
    calls: List[float] = []

    def get_token():
        calls.append(time.monotonic())
        return server.token()

    client = make_client(auto_playback=False, reconnect=FAST, get_token=get_token)
    client.connect(timeout=5)
    server.close_connections(1011, "internal error")
    connected_again(server, client)
    assert len(calls) == 2
    assert client.ask("still there?", timeout=10).role == "assistant"


def test_session_cap_reconnects(server, make_client):
    """The 60-minute cap (close 1001) fires on_go_away and reconnects."""
    rec = Recorder()
    client = make_client(auto_playback=False, reconnect=FAST, **rec.options())
    client.connect(timeout=5)
    server.close_connections(1001, "Your session hit the maximum duration of 60 minutes.")
    connected_again(server, client)
    wait_until(lambda: rec.of("on_go_away") == [0.0], what="on_go_away")


def test_text_sent_while_reconnecting_is_queued_and_delivered(server, make_client):
    """send_text during reconnecting is accepted, queued, and sent after the history replay."""
    client = make_client(auto_playback=False, reconnect=FAST)
    client.connect(timeout=5)
    client.ask("before", timeout=10)
    server.handshake_delay = 0.5
    server.drop_connections()
    wait_until(lambda: client.status == "reconnecting", what="reconnecting")
    client.send_text("during")
    conn = connected_again(server, client)
    # the answer may complete before a wait_for_response() call here could start waiting
    wait_until(lambda: client.messages[-1].text == "You said: during", timeout=10, what="the answer")
    texts = [c.get("text") for item in items_created(conn) for c in item.get("content", [])]
    assert texts == ["before", "You said: before", "during"]


def test_refused_credentials_at_reconnect_are_fatal(server, make_client):
    """A 401 while reconnecting ends in status error with PERMISSION_DENIED, without more retries."""
    rec = Recorder()
    client = make_client(auto_playback=False, reconnect=FAST, **rec.options())
    client.connect(timeout=5)
    server.reject_next_handshakes(10, status=401)
    server.drop_connections()
    wait_until(lambda: client.status == "error", timeout=5, what="error status")
    wait_until(lambda: rec.of("on_error"), what="on_error")
    assert isinstance(rec.of("on_error")[-1], PermissionDeniedError)
    assert isinstance(client.error, PermissionDeniedError)


def test_gives_up_after_the_configured_attempts(server, make_client):
    """When every attempt fails the client ends in status error with on_error and on_disconnect."""
    rec = Recorder()
    client = make_client(auto_playback=False, reconnect=FAST, **rec.options())
    client.connect(timeout=5)
    server.reject_next_handshakes(FAST.attempts, status=503)
    server.drop_connections()
    wait_until(lambda: client.status == "error", timeout=10, what="error status")
    wait_until(lambda: rec.of("on_disconnect"), what="on_disconnect")
    assert "503" in str(client.error)
    with pytest.raises(RealtimeError):
        client.send_text("anyone?")


def test_reconnect_disabled_reports_the_drop(server, make_client):
    """With reconnect=False an abnormal close goes straight to status error."""
    client = make_client(auto_playback=False, reconnect=False)
    client.connect(timeout=5)
    server.drop_connections()
    wait_until(lambda: client.status == "error", what="error status")
    time.sleep(0.2)
    assert len(server.connections) == 1


def test_disconnect_while_reconnecting_is_prompt(server, make_client):
    """disconnect() during the backoff ends the reconnect thread at once and goes idle."""
    slow = ReconnectPolicy(attempts=5, base=5.0, cap=5.0)
    client = make_client(auto_playback=False, reconnect=slow)
    client.connect(timeout=5)
    server.reject_next_handshakes(1, status=503)
    server.drop_connections()
    wait_until(lambda: len(server.connections) >= 1 and client.status == "reconnecting", what="reconnecting")
    time.sleep(0.3)  # the first attempt fails; the client now waits ~5 s before the next
    start = time.monotonic()
    client.disconnect()
    assert time.monotonic() - start < 1.0
    assert client.status == "idle"
    assert not [t for t in threading.enumerate() if t.name == "realtime-reconnect"]



class _ClosingLive:
    """The one thing a reconnect loop asks a closing live session: whether it is closing
    (it records each time it was asked, so a loop that ran shows)."""

    def __init__(self) -> None:
        self.asked: List[str] = []

    @property
    def closing(self) -> bool:
        self.asked.append(threading.current_thread().name)
        return True


def test_a_reconnect_asked_for_after_stop_starts_nothing():
    """start() after stop() (a drop or a planned move noticed just as the session closed) runs no
    reconnect loop, and stop() racing start() never joins a thread before it started."""
    live = _ClosingLive()
    reconnector = Reconnector(live, FAST)  # type: ignore[arg-type]
    reconnector.stop(0.5)
    reconnector.start(ResumeState(replay=True))
    for thread in [t for t in threading.enumerate() if t.name == "realtime-reconnect"]:
        thread.join(1.0)
    assert live.asked == []
    for _ in range(100):  # a Gemini goAway move racing destroy() once raised in stop()
        racing = Reconnector(_ClosingLive(), FAST)  # type: ignore[arg-type]
        starter = threading.Thread(target=racing.start, args=(ResumeState(replay=True),),
                                   name="realtime-test-starter", daemon=True)
        starter.start()
        racing.stop(1.0)
        starter.join(1.0)
    assert not [t for t in threading.enumerate() if t.name in ("realtime-reconnect", "realtime-test-starter")]

def test_policy_backoff_grows_and_is_capped():
    """Delays: 0 first, then base doubling up to cap, scaled by jitter."""
    policy = ReconnectPolicy(attempts=6, base=0.5, cap=3.0, jitter=0.0)
    assert [policy.delay(i, 0.5) for i in range(6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    jittery = ReconnectPolicy(base=1.0, jitter=0.5)
    assert jittery.delay(1, 0.0) == 0.5 and jittery.delay(1, 0.999) == pytest.approx(1.5, abs=0.01)
    with pytest.raises(ValueError):
        ReconnectPolicy(attempts=0)


def test_quota_error_is_fatal(server, make_client):
    """An insufficient_quota error event ends the session in status error, without reconnecting."""
    rec = Recorder()
    client = make_client(auto_playback=False, reconnect=FAST, **rec.options())
    client.connect(timeout=5)
    server.send_error("insufficient_quota", "You exceeded your current quota.")
    wait_until(lambda: client.status == "error", what="error status")
    wait_until(lambda: rec.of("on_disconnect"), what="on_disconnect")
    assert "quota" in str(client.error)
    assert rec.of("on_error") == [client.error]  # reported once, and the very object kept
    assert "ended the session" in str(client.error)
    time.sleep(0.3)
    assert len(server.connections) == 1


def test_failing_token_refresh_reports_and_keeps_the_session(server, make_client):
    """A refresh that fails surfaces through on_error, is retried, and never drops the session."""
    calls: List[int] = []

    def get_token():
        calls.append(1)
        if 2 <= len(calls) <= 3:
            raise OSError("token endpoint down")
        return server.token(ttl=0.6)

    rec = Recorder()
    client = make_client(auto_playback=False, get_token=get_token, **rec.options())
    client.connect(timeout=5)
    wait_until(lambda: len(calls) >= 4, timeout=6, what="refresh retried until it worked")
    assert len(rec.of("on_error")) >= 2
    assert all("token endpoint down" in str(e) for e in rec.of("on_error"))
    assert client.error is rec.of("on_error")[-1]  # the failed refresh is the current error
    assert client.status == "connected"
    assert client.ask("still fine?", timeout=10).role == "assistant"


def test_a_reconnect_opens_with_the_token_the_refresher_fetched(server, make_client):
    """The refresh timer's token is used (once) by the next connection instead of fetching again."""
    calls: List[int] = []

    def get_token():
        calls.append(1)
        return server.token(ttl=8)

    client = make_client(auto_playback=False, get_token=get_token, reconnect=FAST)
    client.connect(timeout=5)
    wait_until(lambda: len(calls) == 2, timeout=8, what="the refresh halfway through the token's life")
    server.drop()
    wait_until(lambda: len(server.connections) == 2 and client.status == "connected", what="reconnected")
    assert len(calls) == 2  # the refreshed token, not a new fetch
    server.drop()
    wait_until(lambda: len(server.connections) == 3 and client.status == "connected", what="reconnected")
    assert len(calls) == 3  # that token was spent: a fresh one


def test_ask_whose_answer_had_not_begun_when_the_socket_dropped_is_answered_after_it(server, make_client):
    """response.create went out, the socket dropped before the turn began: the new connection
    gets the history and the request again, and the waiting ask() returns that answer (it ran
    out its whole timeout, the question never answered)."""
    client = make_client(auto_playback=False, reconnect=FAST)
    client.connect(timeout=5)
    server.script(Reply.text("lost with the connection"), Reply.text("the answer"))
    server.stall(0.5)  # the server sits on the request (taking the first reply with it)
    result: List[Any] = []
    asker = threading.Thread(target=lambda: result.append(client.ask("question", timeout=8)))
    asker.start()
    server.wait_for_frame("response.create", timeout=5)
    server.drop()
    asker.join(10)
    assert result and result[0].text == "the answer"
    conn = server.connections[-1]
    assert [f["type"] for f in conn.received][-2:] == ["conversation.item.create", "response.create"]
    assert [m.text for m in client.messages] == ["question", "the answer"]


def test_disconnect_during_a_reconnect_attempt_logs_no_failure(server, make_client, caplog):
    """disconnect() while an attempt is fetching its token: the attempt ends quietly (it logged
    'reconnect attempt 1 of 4 failed: ... disconnect() was called' as a warning)."""
    release, fetching = threading.Event(), threading.Event()
    calls: List[int] = []

    def get_token() -> Any:
        calls.append(1)
        if len(calls) > 1:  # the reconnect's token: held until disconnect() is under way
            fetching.set()
            release.wait(5)
        return server.get_token()

    client = make_client(auto_playback=False, reconnect=FAST, get_token=get_token)
    client.connect(timeout=5)
    caplog.set_level("WARNING", logger="realtime_client")
    server.drop_connections()
    assert fetching.wait(5), "the reconnect never asked for a token"
    threading.Timer(0.2, release.set).start()
    client.disconnect()
    assert client.status == "idle"
    assert not [r for r in caplog.records if "reconnect attempt" in r.getMessage()]
