"""End-to-end behaviour of RealtimeClient over real loopback WebSockets against the fake server."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from typing import Any, Callable, List

import pytest

from realtime_client import (
    AudioPart,
    ConnectionFailedError,
    ImagePart,
    PermissionDeniedError,
    ProviderError,
    RealtimeClient,
    RealtimeError,
    RealtimeMode,
    RealtimeStatus,
    RealtimeToken,
    TextPart,
    TokenExpiredError,
    ToolCallPart,
    ToolResultPart,
    tool,
)
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer, Reply
from tests.helpers import Recorder, check_conformance, frames_of, wait_until


def test_connect_applies_session_before_returning(server, make_client):
    """connect() returns only after session.update was sent and acknowledged, with GA fields only."""
    client = make_client(instructions="Be brief.", voice="marin")
    client.connect(timeout=5)
    assert client.status == RealtimeStatus.CONNECTED and client.status == "connected"
    updates = frames_of(server, "session.update")
    assert len(updates) == 1
    session = updates[0]["session"]
    assert session["type"] == "realtime" and session["instructions"] == "Be brief."
    assert session["audio"]["output"]["voice"] == "marin"
    assert "temperature" not in json.dumps(session)
    assert server.connections[-1].session["instructions"] == "Be brief."


def test_lifecycle_status_and_mode_sequences(server, make_client):
    """Statuses go idle→connecting→connected→idle and callbacks run on realtime-callbacks only."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    client.disconnect()
    client.disconnect()  # idempotent
    assert rec.of("on_status_change") == ["connecting", "connected", "idle"]
    assert rec.of("on_mode_change") == ["listening", "idle"]
    assert rec.of("on_connect") == [None] and rec.of("on_disconnect") == [None]
    assert rec.threads == {"realtime-callbacks"}
    assert client.status == "idle" and client.mode == "idle"


def test_text_round_trip_streams_transcript(server, make_client):
    """A text turn yields a user message, streamed assistant transcript, audio and one on_message each."""
    rec = Recorder()
    pending: List[str] = []
    client = make_client(**rec.options())
    client.on_state_change(lambda s: pending.append(s.pending_assistant_transcript))
    server.script(Reply.text("Hello there, friend."))
    client.connect(timeout=5)
    answer = client.ask("Hi!", timeout=10)
    assert answer.role == "assistant" and answer.text == "Hello there, friend."
    assert isinstance(answer.parts[0], AudioPart) and answer.duration_ms > 0
    msgs = client.messages
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[0].parts == (TextPart("Hi!"),)
    # subscribers run on the callback thread, which may lag behind ask() on a loaded machine
    wait_until(lambda: any(p and p != "Hello there, friend." for p in pending), what="a streamed transcript")
    wait_until(lambda: len(rec.of("on_message")) == 2, what="two on_message calls")
    assert [m.role for m in rec.of("on_message")] == ["user", "assistant"]
    wait_until(lambda: rec.of("on_usage"), what="usage")
    assert rec.of("on_usage")[0].total_tokens > 0
    assert RealtimeMode.THINKING in rec.of("on_mode_change")
    assert RealtimeMode.SPEAKING in rec.of("on_mode_change")
    wait_until(lambda: client.mode == "listening", what="listening after playback")
    created = frames_of(server, "conversation.item.create")
    assert created[0]["item"]["content"] == [{"type": "input_text", "text": "Hi!"}]
    assert len(frames_of(server, "response.create")) == 1


def test_audio_is_played_to_the_output(server, make_client):
    """Assistant audio deltas reach the audio output, in full, as PCM16."""
    out = BufferOutput(realtime=False)
    client = make_client(audio_output=out)
    server.script(Reply.audio("One two three.", duration_ms=600))
    client.connect(timeout=5)
    client.ask("count", timeout=10)
    wait_until(lambda: len(out.played) >= 600 * 48, what="600 ms played")
    assert len(out.played) == 600 * 48


def test_text_only_modality(server, make_client):
    """With output_modalities=['text'] the answer is a TextPart and mode is speaking while it streams."""
    rec = Recorder()
    client = make_client(output_modalities=["text"], **rec.options())
    client.connect(timeout=5)
    session = frames_of(server, "session.update")[0]["session"]
    assert session["output_modalities"] == ["text"]
    answer = client.ask("hello", timeout=10)
    assert answer.parts == (TextPart("You said: hello"),)
    wait_until(lambda: RealtimeMode.SPEAKING in rec.of("on_mode_change"), what="speaking")


@tool
def get_weather(city: str) -> dict:
    """Get the weather for a city."""
    return {"city": city, "temperature": 21}


def test_tool_call_success(server, make_client):
    """A tool call runs the handler, returns function_call_output by call_id, then one response.create."""
    server.script(Reply.tool_call("get_weather", {"city": "Oslo"}, call_id="call_1"),
                  Reply.text("It is 21 degrees in Oslo."))
    client = make_client(tools=[get_weather])
    client.connect(timeout=5)
    answer = client.ask("Weather in Oslo?", timeout=10)
    assert answer.text == "It is 21 degrees in Oslo."
    outputs = [f["item"] for f in frames_of(server, "conversation.item.create")
               if f["item"]["type"] == "function_call_output"]
    assert outputs == [{"type": "function_call_output", "call_id": "call_1",
                        "output": json.dumps({"city": "Oslo", "temperature": 21})}]
    assert len(frames_of(server, "response.create")) == 2
    tool_msg = client.messages[1]
    call = next(p for p in tool_msg.parts if isinstance(p, ToolCallPart))
    assert call.name == "get_weather" and call.input == {"city": "Oslo"}
    assert call.output == {"city": "Oslo", "temperature": 21}
    assert any(isinstance(p, ToolResultPart) and p.tool_call_id == "call_1" for p in tool_msg.parts)
    session_tools = frames_of(server, "session.update")[0]["session"]["tools"]
    assert session_tools[0]["name"] == "get_weather"


def _tool_error(server: Any) -> dict:
    out = [f["item"] for f in frames_of(server, "conversation.item.create")
           if f["item"]["type"] == "function_call_output"]
    assert len(out) == 1
    return json.loads(out[0]["output"])


def test_tool_call_unknown_tool(server, make_client):
    """An unknown tool gets an error result the model can read, and the turn still completes."""
    server.script(Reply.tool_call("nope", {}), Reply.text("Sorry."))
    client = make_client(tools=[get_weather])
    client.connect(timeout=5)
    assert client.ask("x", timeout=10).text == "Sorry."
    assert "nope" in _tool_error(server)["error"]


def test_tool_call_raising_handler(server, make_client, caplog_rc):
    """A raising handler yields an error result and a logged traceback."""
    @tool
    def broken(n: int) -> int:
        """Always fails."""
        raise RuntimeError("kaboom")

    server.script(Reply.tool_call("broken", {"n": 1}), Reply.text("ok"))
    client = make_client(tools=[broken])
    client.connect(timeout=5)
    client.ask("x", timeout=10)
    assert "kaboom" in _tool_error(server)["error"]
    assert any("kaboom" in (r.exc_text or "") or "kaboom" in r.getMessage() for r in caplog_rc.records)


def test_tool_call_timeout(server, make_client):
    """A handler that outlives its timeout yields an error result; the conversation goes on."""
    release = threading.Event()

    @tool(timeout=0.2)
    def slow() -> str:
        """Takes forever."""
        release.wait(5)
        return "late"

    server.script(Reply.tool_call("slow", {}), Reply.text("moving on"))
    client = make_client(tools=[slow])
    client.connect(timeout=5)
    try:
        assert client.ask("x", timeout=10).text == "moving on"
        assert "timed out" in _tool_error(server)["error"]
    finally:
        release.set()


def test_image_input(server, make_client):
    """send_image sends an input_image data URI and records an ImagePart."""
    client = make_client()
    client.connect(timeout=5)
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode("ascii")
    msg = client.send_image(png, "image/png")
    assert msg.parts == (ImagePart(png, "image/png"),)
    item = server.wait_for_frame("conversation.item.create")["item"]
    assert item["content"] == [{"type": "input_image", "image_url": f"data:image/png;base64,{png}"}]
    client.wait_for_response(timeout=10)
    with pytest.raises(ValueError):
        client.send_image(png, "image/tiff")
    with pytest.raises(ValueError, match="not a PNG or JPEG"):
        client.send_image("aGVsbG8=", "image/png")
    with pytest.raises(ValueError):
        client.send_image("not base64!!", "image/png")


def test_update_session_live_and_remembered(server, make_client):
    """update_session sends a GA session.update now and is remembered in session_config."""
    client = make_client()
    client.connect(timeout=5)
    client.update_session(instructions="Speak like a pirate.", vad_mode="manual")
    wait_until(lambda: len(frames_of(server, "session.update")) == 2, what="second update")
    session = frames_of(server, "session.update")[1]["session"]
    assert session["instructions"] == "Speak like a pirate."
    assert session["audio"]["input"]["turn_detection"] is None
    wait_until(lambda: server.connections[-1].session["instructions"] == "Speak like a pirate.",
               what="server applied update")
    assert client.session_config.vad_mode == "manual"
    with pytest.raises(TypeError):
        client.update_session(bogus=1)


def test_rejected_session_config_fails_connect():
    """A session.update the server rejects makes connect() raise PROVIDER_ERROR naming the field.

    provider_options is the user's escape hatch, so this one frame is deliberately not GA-valid:
    the test uses its own server and checks that the conformance check does flag it.
    """
    with FakeRealtimeServer() as server:
        client = RealtimeClient(get_token=server.get_token, adapter=openai_realtime(url=server.url),
                                auto_capture=False, auto_playback=False,
                                provider_options={"bogus_field": 1})
        try:
            with pytest.raises(ProviderError) as info:
                client.connect(timeout=5)
            assert "bogus_field" in str(info.value)
            assert client.status == "error"
        finally:
            client.destroy()
    with pytest.raises(AssertionError, match="bogus_field"):
        check_conformance(server)


def test_server_error_event_reaches_on_error(server, make_client):
    """A provider error event surfaces as PROVIDER_ERROR through on_error; the session continues."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    server.send_error("some_code", "Something went wrong.")
    wait_until(lambda: rec.of("on_error"), what="on_error")
    err = rec.of("on_error")[0]
    assert isinstance(err, ProviderError) and err.code == "PROVIDER_ERROR"
    assert err.details["code"] == "some_code"
    assert client.status == "connected"
    assert client.ask("still there?", timeout=10).role == "assistant"


def test_malformed_and_unknown_frames_are_survived(server, make_client, caplog_rc):
    """Non-JSON, binary and unknown frames are logged as warnings and the session keeps working."""
    client = make_client()
    client.connect(timeout=5)
    server.send_raw("this is not json")
    server.send_raw(b"\x00\x01binary")
    server.send_raw(json.dumps({"type": "brand.new.event", "event_id": "e1"}))
    server.send_raw(json.dumps({"no_type": True}))
    assert client.ask("hello", timeout=10).text == "You said: hello"
    text = " ".join(r.getMessage() for r in caplog_rc.records)
    assert "malformed" in text and "brand.new.event" in text
    assert client.status == "connected"


def test_raising_callback_is_logged_and_client_carries_on(server, make_client, caplog_rc):
    """A callback that raises is logged with its traceback; later callbacks still run."""
    seen: List[str] = []

    def bad(msg: Any) -> None:
        seen.append(msg.role)
        raise ValueError("callback bug")

    client = make_client(on_message=bad)
    client.connect(timeout=5)
    client.ask("one", timeout=10)
    client.ask("two", timeout=10)
    wait_until(lambda: len(seen) == 4, what="four on_message calls")
    assert any(r.exc_info and "callback bug" in str(r.exc_info[1]) for r in caplog_rc.records)


def test_disconnect_inside_callback_does_not_deadlock(server, make_client):
    """Calling disconnect() from inside on_message finishes and leaves the client idle."""
    done = threading.Event()
    holder: List[Any] = []

    def on_message(msg: Any) -> None:
        if msg.role == "assistant":
            holder[0].disconnect()
            done.set()

    client = make_client(on_message=on_message)
    holder.append(client)
    client.connect(timeout=5)
    client.send_text("hi")
    assert done.wait(10)
    wait_until(lambda: client.status == "idle", what="idle")


def test_custom_dispatcher_runs_callbacks(server, make_client):
    """A custom dispatcher receives every callback and decides where it runs."""
    scheduled: List[Callable[[], None]] = []
    lock = threading.Lock()

    def dispatcher(fn: Callable[[], None]) -> None:
        with lock:
            scheduled.append(fn)

    rec = Recorder()
    client = make_client(dispatcher=dispatcher, **rec.options())
    client.connect(timeout=5)
    client.disconnect()
    assert rec.calls == []  # nothing ran until we drain
    with lock:
        pending = list(scheduled)
    for fn in pending:
        fn()
    assert rec.of("on_status_change") == ["connecting", "connected", "idle"]
    assert rec.threads == {threading.current_thread().name}


def test_context_manager(server, make_client):
    """`with client:` connects on enter and destroys on exit; a destroyed client refuses work."""
    client = make_client()
    with client as c:
        assert c.status == "connected"
    assert client.status == "idle"
    with pytest.raises(RealtimeError):
        client.connect()
    with pytest.raises(RealtimeError):
        client.send_text("hello")


def test_token_refresh_fetches_before_expiry(server, make_client):
    """A short-lived token is refetched by the refresh timer before it expires."""
    calls: List[float] = []

    def get_token() -> RealtimeToken:
        calls.append(time.time())
        return server.token(ttl=0.6)

    client = make_client(get_token=get_token)
    client.connect(timeout=5)
    wait_until(lambda: len(calls) >= 3, timeout=5, what="two refreshes")
    assert calls[1] - calls[0] < 0.6


def test_get_token_accepts_tanstack_dict(server, make_client):
    """get_token may return TanStack JSON (camelCase, expiresAt in ms)."""
    def get_token() -> dict:
        tok = server.token()
        return {"provider": "openai", "token": tok.token, "expiresAt": int(tok.expires_at * 1000)}

    client = make_client(get_token=get_token)
    client.connect(timeout=5)
    assert client.status == "connected"


def test_failing_get_token_raises_connection_failed(server, make_client):
    """A get_token that raises makes connect() raise CONNECTION_FAILED with the cause chained."""
    def get_token() -> RealtimeToken:
        raise OSError("token endpoint down")

    rec = Recorder()
    client = make_client(get_token=get_token, **rec.options())
    with pytest.raises(ConnectionFailedError) as info:
        client.connect(timeout=5)
    assert isinstance(info.value.__cause__, OSError)
    assert client.status == "error" and client.error is info.value
    wait_until(lambda: rec.of("on_error"), what="on_error")


def test_expired_token_raises_token_expired(server, make_client):
    """An already expired token raises TOKEN_EXPIRED."""
    client = make_client(get_token=lambda: RealtimeToken("openai", "x", expires_at=time.time() - 5))
    with pytest.raises(TokenExpiredError):
        client.connect(timeout=5)


def test_bad_token_raises_permission_denied(server, make_client):
    """A token the server refuses (HTTP 401) raises PERMISSION_DENIED without leaking the token."""
    client = make_client(get_token=lambda: RealtimeToken("openai", "sk-very-secret-value"))
    server_with_key = server
    server_with_key.api_key = "the-real-key"
    with pytest.raises(PermissionDeniedError) as info:
        client.connect(timeout=5)
    assert "sk-very-secret-value" not in repr(info.value) + str(info.value)


def test_closed_port_fails_within_timeout(make_client):
    """Connecting to a closed port raises CONNECTION_FAILED well within the timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_client(adapter=openai_realtime(url=f"ws://127.0.0.1:{port}/v1/realtime"))
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError):
        client.connect(timeout=3)
    assert time.monotonic() - start < 3.5


def test_stalled_server_times_out(server, make_client):
    """A server that never confirms the session makes connect() fail by its timeout."""
    server.stall(3.0)
    client = make_client()
    start = time.monotonic()
    with pytest.raises(ConnectionFailedError, match="timed out"):
        client.connect(timeout=1.0)
    assert time.monotonic() - start < 2.0


def test_abnormal_close_reports_error(server, make_client):
    """Without reconnect, an abnormal server close sets status error and reports CONNECTION_FAILED."""
    rec = Recorder()
    client = make_client(reconnect=False, **rec.options())
    client.connect(timeout=5)
    server.close_connections(1011, "internal error")
    wait_until(lambda: client.status == "error", what="error status")
    wait_until(lambda: rec.of("on_error"), what="on_error")
    assert "1011" in str(rec.of("on_error")[0])
    wait_until(lambda: rec.of("on_disconnect"), what="on_disconnect")


def test_clean_server_close_goes_idle(server, make_client):
    """A normal (1000) close from the server returns the client to idle without an error."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    server.close_connections(1000, "bye")
    wait_until(lambda: client.status == "idle", what="idle")
    assert rec.of("on_error") == []


def test_interrupt_truncates_to_what_was_heard(server, make_client):
    """interrupt() during real-time playback cancels and truncates to the milliseconds really played."""
    out = BufferOutput(realtime=True)
    rec = Recorder()
    client = make_client(audio_output=out, **rec.options())
    server.script(Reply.audio("A long answer that keeps going and going.", duration_ms=4000))
    client.connect(timeout=5)
    client.send_text("talk")
    wait_until(lambda: len(out.played) >= 48 * 500, what="500 ms played")
    client.interrupt()
    played_ms = len(out.played) / 48
    trunc = server.wait_for_frame("conversation.item.truncate")
    assert abs(trunc["audio_end_ms"] - played_ms) <= 60
    time.sleep(0.2)
    assert len(out.played) / 48 - played_ms < 30, "playback kept going after interrupt()"
    wait_until(lambda: rec.of("on_interrupted"), what="on_interrupted")
    wait_until(lambda: client.messages and client.messages[-1].interrupted, what="interrupted message")
    assert client.mode in ("listening", "thinking")


def test_interrupt_with_nothing_playing_is_a_no_op(server, make_client):
    """interrupt() when idle sends nothing and raises nothing."""
    client = make_client()
    client.connect(timeout=5)
    before = len(server.received)
    client.interrupt()
    time.sleep(0.1)
    assert len(server.received) == before


def test_send_requires_connection(make_client):
    """send_text before connect raises a clear RealtimeError; empty text a ValueError."""
    client = make_client()
    with pytest.raises(RealtimeError, match="not connected"):
        client.send_text("hi")
    with pytest.raises(ValueError):
        client.send_text("   ")


def test_repr_shows_status_and_hides_secrets(server, make_client):
    """repr(client) shows status, mode and message count and no token."""
    client = make_client()
    client.connect(timeout=5)
    text = repr(client)
    assert "status=connected" in text and "messages=0" in text
    assert server.token().token not in text


def _speech_wav(path: Any, speech_ms: int, lead_ms: int = 300, tail_ms: int = 1500) -> str:
    import wave

    import numpy as np

    from realtime_client.testing import synthesize_speech

    pcm = np.concatenate([np.zeros(24 * lead_ms, np.int16), synthesize_speech(speech_ms, seed=3),
                          np.zeros(24 * tail_ms, np.int16)])
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(24000)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return str(path)


def test_voice_turn_produces_user_transcript_and_answer(server, make_client, tmp_path):
    """Speech captured from the input reaches server VAD; the user transcript and the answer arrive."""
    from realtime_client.audio import WavFileInput

    server.user_transcripts.append("what time is it")
    rec = Recorder()
    user_partials: List[str] = []
    wav = _speech_wav(tmp_path / "speech.wav", speech_ms=1200)
    client = make_client(audio_input=WavFileInput(wav, realtime=False), auto_capture=True, **rec.options())
    client.on_state_change(lambda s: user_partials.append(s.pending_user_transcript))
    client.connect(timeout=5)
    answer = client.wait_for_response(timeout=10)
    assert answer.role == "assistant" and answer.text
    user = client.messages[0]
    assert user.role == "user" and user.parts[0].transcript == "what time is it"
    wait_until(lambda: len(rec.of("on_message")) == 2, what="two on_message calls")
    assert rec.of("on_message")[0].text == "what time is it"
    assert any(p and p != "what time is it" for p in user_partials), "user transcript did not stream"
    appended = frames_of(server, "input_audio_buffer.append")
    assert len(appended) >= 100  # 3 s of audio in 20 ms chunks (minus the resampler's hold-back)
    assert RealtimeMode.THINKING in rec.of("on_mode_change")


def test_barge_in_truncates_and_lets_the_server_cancel(server, make_client, tmp_path):
    """User speech during playback flushes audio and truncates; with server VAD no cancel is sent."""
    from realtime_client.audio import WavFileInput

    out = BufferOutput(realtime=True)
    rec = Recorder()
    server.script(Reply.audio("A long story about many things that goes on.", duration_ms=5000))
    wav = _speech_wav(tmp_path / "speech.wav", speech_ms=800, lead_ms=0)
    client = make_client(audio_output=out, audio_input=WavFileInput(wav, realtime=True), **rec.options())
    client.connect(timeout=5)
    client.send_text("tell me a story")
    wait_until(lambda: out.played_ms >= 700, what="700 ms played")
    client.start_listening()
    trunc = server.wait_for_frame("conversation.item.truncate", timeout=5)
    heard = out.played_ms
    assert abs(trunc["audio_end_ms"] - heard) <= 80
    time.sleep(0.2)
    assert out.played_ms - heard < 30, "playback kept going after barge-in"
    assert frames_of(server, "response.cancel") == []
    wait_until(lambda: rec.of("on_interrupted"), what="on_interrupted")
    story = next(m for m in client.messages if m.role == "assistant")
    assert story.interrupted and story.duration_ms == pytest.approx(trunc["audio_end_ms"], abs=80)
    client.stop_listening()
    assert rec.of("on_error") == []


def test_push_to_talk_commits_and_requests_a_response(server, make_client, tmp_path):
    """With vad_mode='manual', stop_listening commits the captured audio and asks for a response."""
    from realtime_client.audio import WavFileInput

    wav = _speech_wav(tmp_path / "speech.wav", speech_ms=600, lead_ms=0, tail_ms=0)
    client = make_client(vad_mode="manual", audio_input=WavFileInput(wav, realtime=False))
    client.connect(timeout=5)
    assert client.mode == "idle"  # manual mode, microphone closed
    assert frames_of(server, "session.update")[0]["session"]["audio"]["input"]["turn_detection"] is None
    client.start_listening()
    assert client.mode == "listening"
    wait_until(lambda: len(frames_of(server, "input_audio_buffer.append")) >= 25, what="audio sent")
    client.stop_listening()
    server.wait_for_frame("input_audio_buffer.commit")
    server.wait_for_frame("response.create")
    # not wait_for_response(): the fast fake may answer before that call would begin
    wait_until(lambda: any(m.role == "assistant" for m in client.messages), what="the answer")


def test_push_to_talk_too_short_clears_the_buffer(server, make_client, tmp_path):
    """Releasing push-to-talk with under 100 ms of audio clears the buffer instead of committing."""
    from realtime_client.audio import WavFileInput

    wav = _speech_wav(tmp_path / "blip.wav", speech_ms=40, lead_ms=0, tail_ms=0)
    client = make_client(vad_mode="manual", audio_input=WavFileInput(wav, realtime=False))
    client.connect(timeout=5)
    client.start_listening()
    time.sleep(0.2)
    client.stop_listening()
    server.wait_for_frame("input_audio_buffer.clear")
    assert frames_of(server, "input_audio_buffer.commit") == []
    assert frames_of(server, "response.create") == []


def test_no_token_in_logs_or_errors_over_a_whole_session(server, make_client, caplog):
    """At DEBUG level, a full session (connect, turn, error event, close) never logs the token."""
    caplog.set_level(logging.DEBUG)
    token = server.token()
    rec = Recorder()
    client = make_client(get_token=lambda: token, **rec.options())
    client.connect(timeout=5)
    client.ask("hello", timeout=10)
    server.send_error("bad_thing", "Something failed.")
    wait_until(lambda: rec.of("on_error"), what="on_error")
    client.disconnect()
    texts = [r.getMessage() for r in caplog.records] + [repr(client), repr(token), str(rec.of("on_error"))]
    assert caplog.records
    assert not [t for t in texts if token.token in t]


def test_bad_options_fail_at_construction(server):
    """Invalid options raise at construction, on the caller's line, not later in a thread."""
    ok = {"get_token": server.get_token, "adapter": openai_realtime(url=server.url)}
    with pytest.raises(ValueError, match="vad_mode"):
        RealtimeClient(vad_mode="sometimes", **ok)
    with pytest.raises(TypeError, match="get_token"):
        RealtimeClient(get_token="not callable", adapter=ok["adapter"])
    with pytest.raises(TypeError, match="on_message"):
        RealtimeClient(on_message=42, **ok)
    with pytest.raises(ValueError, match="tool_timeout"):
        RealtimeClient(tool_timeout=0, **ok)
    with pytest.raises(ValueError, match="max_output_tokens"):
        RealtimeClient(max_output_tokens=-3, **ok)


def test_oversized_frame_ends_the_session_with_an_error(server, make_client):
    """A frame over max_frame_bytes ends the session with CONNECTION_FAILED instead of eating memory."""
    rec = Recorder()
    client = make_client(max_frame_bytes=64 * 1024, **rec.options())
    client.connect(timeout=5)
    server.send_raw("x" * 100_000)
    wait_until(lambda: client.status == "error", what="error status")
    wait_until(lambda: rec.of("on_error"), what="on_error")
    assert "over the limit" in str(rec.of("on_error")[0])


def test_session_time_cap_reports_go_away_and_error(make_client):
    """Without reconnect, the provider's session cap (close 1001) fires on_go_away and ends in error."""
    with FakeRealtimeServer(max_session_seconds=0.5) as capped:
        rec = Recorder()
        client = make_client(get_token=capped.get_token, adapter=openai_realtime(url=capped.url),
                             reconnect=False, **rec.options())
        client.connect(timeout=5)
        wait_until(lambda: client.status == "error", timeout=5, what="error status")
        wait_until(lambda: rec.of("on_go_away") and rec.of("on_error"), what="go_away and error")
        assert rec.of("on_go_away") == [0.0]
        assert "1001" in str(rec.of("on_error")[0]) and "maximum duration" in str(rec.of("on_error")[0])
        client.disconnect()
    check_conformance(capped)


# --- regressions from the outside audit of the OpenAI path (issue 7) ------------------------------


def test_provider_error_is_the_current_error_until_the_next_connect(server, make_client):
    """A provider error event that reached on_error is client.error (also in snapshots) until reconnect."""
    rec = Recorder()
    states: List[Any] = []
    client = make_client(**rec.options())
    client.on_state_change(states.append)
    client.connect(timeout=5)
    server.send_error("server_error", "The server had an error")
    wait_until(lambda: rec.of("on_error"), what="on_error")
    assert isinstance(client.error, ProviderError) and client.error is rec.of("on_error")[0]
    wait_until(lambda: any(s.error is client.error for s in states), what="a snapshot with the error")
    assert client.status == RealtimeStatus.CONNECTED  # the session goes on
    client.disconnect()
    assert client.error is not None
    client.connect(timeout=5)
    assert client.error is None


def test_a_rejected_voice_change_does_not_poison_later_updates(server, make_client):
    """After cannot_update_voice, a later update sends only its own change and is accepted."""
    rec = Recorder()
    client = make_client(voice="marin", **rec.options())
    client.connect(timeout=5)
    client.ask("say something", timeout=10)  # assistant audio now exists: the voice is fixed
    client.update_session(voice="cedar")
    wait_until(lambda: rec.of("on_error"), what="the rejection")
    assert rec.of("on_error")[0].details["code"] == "cannot_update_voice"
    assert client.session_config.voice == "marin"  # the refused change is forgotten
    client.update_session(instructions="Be brief.")
    wait_until(lambda: len(frames_of(server, "session.update")) == 3, what="the second update")
    last = frames_of(server, "session.update")[-1]["session"]
    assert last == {"type": "realtime", "instructions": "Be brief."}
    time.sleep(0.2)
    assert len(rec.of("on_error")) == 1
    wait_until(lambda: server.connections[-1].session["instructions"] == "Be brief.", what="applied")


def test_a_user_message_is_answered_while_a_tool_runs(server, make_client):
    """Asynchronous function calling: a message sent while a slow tool runs gets a response at once."""
    release = threading.Event()

    @tool
    def slow_lookup() -> str:
        """Looks something up slowly."""
        release.wait(5)
        return "found"

    server.script(Reply.tool_call("slow_lookup", {}), Reply.text("Hello while you wait"),
                  Reply.text("Here it is"))
    client = make_client(tools=[slow_lookup], auto_playback=False)
    client.connect(timeout=5)
    client.send_text("look it up")
    wait_until(lambda: any(p.type == "tool-call" for m in client.messages for p in m.parts), what="the call")
    answer = client.ask("are you there?", timeout=5)
    assert answer.text == "Hello while you wait" and not release.is_set()
    release.set()
    wait_until(lambda: client.messages[-1].text == "Here it is", what="the answer after the tool")


def test_interrupt_while_audio_arrives_at_real_time_pace_truncates(server, make_client):
    """With 200 ms chunks every 200 ms the queue drains between chunks; interrupt() still cancels
    and truncates to what was heard (regression: only response.cancel was sent)."""
    out = BufferOutput(realtime=True)
    server.pacing = "realtime"
    server.audio_chunk_ms = 200
    server.script(Reply.audio("A long answer delivered slowly over the network.", duration_ms=3000))
    client = make_client(audio_output=out)
    client.connect(timeout=5)
    client.send_text("talk slowly")
    wait_until(lambda: len(out.played) >= 48 * 600, timeout=5, what="600 ms played")
    client.interrupt()
    played_ms = len(out.played) / 48
    server.wait_for_frame("response.cancel")
    trunc = server.wait_for_frame("conversation.item.truncate")
    assert abs(trunc["audio_end_ms"] - played_ms) <= 60
    wait_until(lambda: client.messages and client.messages[-1].interrupted, what="interrupted message")


def test_a_rejected_response_request_raises_in_ask_and_the_next_ask_works(server, make_client):
    """An error answering our response.create ends ask() with it; later asks send response.create."""
    server.script(Reply.error("rate_limit_exceeded", "Rate limit reached"), Reply.text("Back again"))
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    with pytest.raises(ProviderError, match="Rate limit"):
        client.ask("first", timeout=5)
    assert client.mode == RealtimeMode.LISTENING
    assert client.ask("second", timeout=5).text == "Back again"
    assert len(frames_of(server, "response.create")) == 2


def test_a_failed_response_ends_the_wait_at_once(server, make_client):
    """response.done status failed (how rate limits arrive) raises in ask() without waiting for a timeout."""
    server.script(Reply.failed(code="rate_limit_exceeded", message="Rate limit reached"))
    client = make_client(auto_playback=False)
    client.connect(timeout=5)
    started = time.monotonic()
    with pytest.raises(ProviderError, match="Rate limit reached"):
        client.ask("hello", timeout=10)
    assert time.monotonic() - started < 2
    assert client.mode == RealtimeMode.LISTENING and client.error is not None


def test_a_response_cut_by_max_output_tokens_is_cut_off_not_interrupted(server, make_client):
    """A max_output_tokens cut ends the message with stop_reason cut_off and interrupted False."""
    server.script(Reply.text("one two three four five six seven eight nine ten", max_output_tokens=3))
    client = make_client(auto_playback=False, output_modalities=["text"])
    client.connect(timeout=5)
    answer = client.ask("count", timeout=5)
    assert answer.stop_reason == "cut_off" and not answer.interrupted and answer.text


def test_g711_audio_both_ways(server, make_client, tmp_path):
    """audio_format='g711_ulaw' declares audio/pcmu both ways; the engine encodes and decodes 8 kHz."""
    from realtime_client.audio import WavFileInput

    out = BufferOutput(sample_rate=24000, realtime=False)
    wav = _speech_wav(tmp_path / "speech.wav", speech_ms=800)
    server.script(Reply.audio("Telephone quality.", duration_ms=500))
    client = make_client(adapter=openai_realtime(url=server.url, audio_format="g711_ulaw"),
                         audio_input=WavFileInput(wav, realtime=False), auto_capture=True, audio_output=out)
    client.connect(timeout=5)
    session = frames_of(server, "session.update")[0]["session"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    answer = client.wait_for_response(timeout=10)
    assert answer.duration_ms == pytest.approx(500, abs=25)
    appended = frames_of(server, "input_audio_buffer.append")
    import base64

    sent = sum(len(base64.b64decode(f["audio"])) for f in appended)
    assert sent >= 8 * 1500  # 8 kHz, one byte a sample: about 8 bytes a millisecond
    wait_until(lambda: len(out.played) >= 48 * 450, what="the decoded answer played at 24 kHz")


def test_provider_tools_pass_through_and_provider_options_tools_are_merged(server, make_client):
    """An MCP tool dict in tools= reaches the wire next to the function tools, and
    provider_options['tools'] is appended instead of replacing them."""
    @tool
    def get_time() -> str:
        """The time."""
        return "noon"

    mcp = {"type": "mcp", "server_label": "docs", "server_url": "https://example.com/mcp",
           "require_approval": "never"}
    extra = {"type": "mcp", "server_label": "wiki", "server_url": "https://example.com/wiki",
             "require_approval": "never"}
    client = make_client(tools=[get_time, mcp], provider_options={"tools": [extra]})
    client.connect(timeout=5)
    tools = frames_of(server, "session.update")[0]["session"]["tools"]
    assert [t.get("name") or t["server_label"] for t in tools] == ["get_time", "docs", "wiki"]
    with pytest.raises(ValueError, match="audio_format"):
        make_client(provider_options={"audio": {"output": {"format": {"type": "audio/pcmu"}}}})
    with pytest.raises(TypeError, match="no handler"):
        make_client(tools=[{"type": "function", "name": "x"}])


def _metrics_of(client: RealtimeClient, message_id: str) -> Any:
    return next(m for m in client.messages if m.id == message_id).metrics


def test_an_answer_carries_its_latency_from_text_sent_to_first_audio_heard(paced, paced_client):
    """ask() then wait_for_playback(): the answer's metrics run text sent <= started <= received <= heard."""
    paced.script(Reply.audio("A short answer.", duration_ms=400))
    client = paced_client()
    client.connect(timeout=5)
    sent_after = time.monotonic()
    answer = client.ask("How fast are you?", timeout=10)
    client.wait_for_playback(timeout=10)
    wait_until(lambda: _metrics_of(client, answer.id).first_heard is not None, what="first_heard")
    m = _metrics_of(client, answer.id)
    assert m.trigger == "text" and m.user_turn_end >= sent_after
    assert m.user_turn_end <= m.response_started <= m.first_audio <= m.first_heard <= time.monotonic()
    assert 0 <= m.response_latency_ms <= m.first_audio_latency_ms <= m.first_heard_latency_ms < 2000
    assert client.messages[0].metrics is None  # the user's own message has none


def test_a_voice_turn_measures_from_the_end_of_speech(server, make_client, tmp_path):
    """Speech the server's VAD hears end is the trigger; the answer's latency starts there."""
    from realtime_client.audio import WavFileInput

    wav = _speech_wav(tmp_path / "speech.wav", speech_ms=1000)
    client = make_client(audio_input=WavFileInput(wav, realtime=True), auto_capture=True)
    client.connect(timeout=5)
    answer = client.wait_for_response(timeout=15)
    client.wait_for_playback(timeout=10)
    wait_until(lambda: _metrics_of(client, answer.id).first_heard is not None, what="first_heard")
    m = _metrics_of(client, answer.id)
    assert m.trigger == "speech"
    assert m.user_turn_end <= m.response_started <= m.first_audio <= m.first_heard
