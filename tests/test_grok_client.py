"""RealtimeClient end to end against FakeRealtimeServer(provider="grok"): turns, tools, barge-in, resumption.

Every frame either side sent is validated after each test (tests/_xai_conformance.py for the
xAI-only shapes, the ``openai`` models for the rest).
"""

from __future__ import annotations

import logging
import time
import wave
from typing import Any, Callable, Iterator, List

import numpy as np
import pytest

from realtime_client import RealtimeClient, ReconnectPolicy, tool
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from tests._xai_conformance import validate_grok_client_frame, validate_grok_server_frame
from tests.helpers import Recorder, frames_of, wait_until

Make = Callable[..., RealtimeClient]
FAST = ReconnectPolicy(attempts=4, base=0.05, cap=0.2, connect_timeout=3.0)


@pytest.fixture
def grok() -> Iterator[FakeRealtimeServer]:
    """A started fake xAI server; all its traffic is validated after the test."""
    srv = FakeRealtimeServer(provider="grok", provider_options={"ping_interval": 0.3}).start()
    try:
        yield srv
    finally:
        srv.stop()
    for raw in list(srv.sent):
        validate_grok_server_frame(raw)
    for frame in list(srv.received):
        validate_grok_client_frame(frame)


@pytest.fixture
def make_grok(grok: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    """Clients wired to the grok fake (no microphone, a fast buffer speaker), destroyed after the test."""
    made: List[RealtimeClient] = []

    def factory(adapter_options: Any = None, **options: Any) -> RealtimeClient:
        options.setdefault("get_token", grok.get_token)
        options.setdefault("adapter", grok.adapter(**(adapter_options or {})))
        options.setdefault("auto_capture", False)
        if "audio_output" not in options and options.get("auto_playback", True):
            options["audio_output"] = BufferOutput(realtime=False)
        client = RealtimeClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.destroy()


def speech_wav(path: Any, speech_ms: int, rate: int = 24000, lead_ms: int = 300, tail_ms: int = 1500) -> str:
    pcm = np.concatenate([np.zeros(rate * lead_ms // 1000, np.int16),
                          synthesize_speech(speech_ms, rate, seed=3),
                          np.zeros(rate * tail_ms // 1000, np.int16)])
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return str(path)


def test_a_text_turn_with_the_xai_session(grok: FakeRealtimeServer, make_grok: Make) -> None:
    """connect() configures an xAI session after conversation.created; ask() gets the spoken answer."""
    client = make_grok(instructions="Be brief.", voice="ara")
    client.connect(timeout=5)
    answer = client.ask("What is 2 + 2?", timeout=10)
    assert answer.text == "You said: What is 2 + 2?" and answer.parts[0].type == "audio"
    session = grok.connections[0].session
    assert session["voice"] == "ara" and session["instructions"] == "Be brief."
    assert session["resumption"] == {"enabled": True}
    assert [m.role for m in client.messages] == ["user", "assistant"]
    assert "grok" in repr(client) and grok.token().token not in repr(client)


def test_text_output_under_both_spellings_is_shown_once(make_grok: Make) -> None:
    """A server answering in text sends both response.text.* and response.output_text.*; the text is once."""
    with FakeRealtimeServer(provider="grok", provider_options={"modality": "text"}) as server:
        client = make_grok(get_token=server.get_token, adapter=server.adapter(), auto_playback=False)
        client.connect(timeout=5)
        answer = client.ask("Spell it", timeout=10)
        assert answer.text == "You said: Spell it" and answer.parts[0].type == "text"
        kinds = [f for f in server.sent if '"response.text.delta"' in f]
        assert kinds, "the fake sent no response.text.delta"
        client.destroy()


@pytest.mark.parametrize("rate", [24000, 16000])
def test_a_voice_turn_at_xai_rates(grok: FakeRealtimeServer, make_grok: Callable[..., RealtimeClient],
                                   tmp_path: Any, rate: int) -> None:
    """Speech is heard, the interim transcript streams (cumulative .updated), the answer plays at the rate."""
    grok.user_transcripts.append("what time is it")
    out = BufferOutput(sample_rate=rate, realtime=False)
    rec = Recorder()
    partials: List[str] = []
    wav = speech_wav(tmp_path / "speech.wav", 1200, rate=rate)
    client = make_grok(adapter_options={"input_rate": rate, "output_rate": rate}, audio_output=out,
                       audio_input=WavFileInput(wav, realtime=False), auto_capture=True, **rec.options())
    client.on_state_change(lambda s: partials.append(s.pending_user_transcript))
    client.connect(timeout=5)
    answer = client.wait_for_response(timeout=20)
    assert answer.text == "I heard you."
    user = client.messages[0]
    assert user.role == "user" and user.text == "what time is it"
    assert "what time" in partials and "what time is" in partials  # cumulative, not doubled
    assert not any("what timewhat" in p for p in partials)
    format_ = grok.connections[0].session["audio"]["input"]["format"]
    assert format_ == {"type": "audio/pcm", "rate": rate}
    client.wait_for_playback(timeout=10)
    assert abs(len(out.played) / (rate * 2 / 1000) - answer.duration_ms) < 60


def test_a_tool_call_runs_and_its_result_is_answered(grok: FakeRealtimeServer,
                                                     make_grok: Make) -> None:
    """A scripted tool call runs the tool; the result goes back and the model answers with it."""
    @tool
    def get_weather(city: str) -> dict:
        """Weather by city."""
        return {"city": city, "temperature": 21}

    grok.script(Reply.tool_call("get_weather", {"city": "Oslo"}))
    client = make_grok(tools=[get_weather])
    client.connect(timeout=5)
    client.send_text("Weather in Oslo?")
    wait_until(lambda: any("The tool returned" in m.text for m in client.messages), what="the answer")
    output = next(f for f in frames_of(grok, "conversation.item.create")
                  if f["item"]["type"] == "function_call_output")
    assert '"temperature": 21' in output["item"]["output"]
    assert grok.connections[0].session["tools"][0]["name"] == "get_weather"


def test_barge_in_cancels_and_truncates(grok: FakeRealtimeServer, make_grok: Callable[..., RealtimeClient],
                                        tmp_path: Any) -> None:
    """User speech during playback flushes audio and sends response.cancel and the truncate; no error."""
    out = BufferOutput(realtime=True)
    rec = Recorder()
    grok.pacing = "realtime"  # the story is still streaming when the user speaks
    grok.script(Reply.audio("A long story about many things that goes on.", duration_ms=5000))
    wav = speech_wav(tmp_path / "speech.wav", 800, lead_ms=0)
    client = make_grok(audio_output=out, audio_input=WavFileInput(wav, realtime=True), **rec.options())
    client.connect(timeout=5)
    client.send_text("tell me a story")
    wait_until(lambda: out.played_ms >= 700, what="700 ms played")
    client.start_listening()
    trunc = grok.wait_for_frame("conversation.item.truncate", timeout=5)
    assert abs(trunc["audio_end_ms"] - out.played_ms) <= 100
    assert frames_of(grok, "response.cancel"), "xAI gets a cancel on every barge-in"
    wait_until(lambda: rec.of("on_interrupted"), what="on_interrupted")
    wait_until(lambda: any(m.role == "assistant" for m in client.messages), what="the story's message")
    story = next(m for m in client.messages if m.role == "assistant")
    assert story.interrupted
    client.stop_listening()
    time.sleep(0.2)
    assert rec.of("on_error") == []


def test_interrupt_tolerates_a_truncate_that_errors_or_gets_no_answer(make_grok: Make) -> None:
    """interrupt() sends cancel + truncate; an error or silence in reply to the truncate is not reported."""
    for mode in ("error", "silent"):
        options = {"truncate": mode}
        with FakeRealtimeServer(provider="grok", pacing="realtime", provider_options=options) as server:
            rec = Recorder()
            out = BufferOutput(realtime=True)
            server.script(Reply.audio("A long answer to cut off.", duration_ms=4000))
            client = make_grok(get_token=server.get_token, adapter=server.adapter(), audio_output=out,
                               **rec.options())
            client.connect(timeout=5)
            client.send_text("talk")
            wait_until(lambda: out.played_ms >= 300, what="300 ms played")
            client.interrupt()
            server.wait_for_frame("conversation.item.truncate", timeout=5)
            assert server.wait_for_frame("response.cancel", timeout=5)
            assert client.ask("still there?", timeout=10).text == "You said: still there?"
            assert rec.of("on_error") == []
            client.destroy()


def test_a_drop_resumes_the_conversation_without_replaying_it(grok: FakeRealtimeServer,
                                                              make_grok: Make) -> None:
    """After a drop the client reconnects with &conversation_id=; the server's replayed items are dropped."""
    rec = Recorder()
    client = make_grok(reconnect=FAST, auto_playback=False, **rec.options())
    client.connect(timeout=5)
    assert client.ask("first", timeout=10).text == "You said: first"
    conversation = grok.connections[0].peer.conversation_id
    grok.drop_connections()
    conn = grok.wait_for_connection(count=2, timeout=5)
    wait_until(lambda: client.status == "connected", what="connected again")
    assert conn.path.endswith(f"&conversation_id={conversation}")
    assert frames_of(grok, "conversation.item.create")[1:] == []  # nothing replayed by the client
    assert any('"conversation.item.added"' in f for f in conn.sent), "the server replayed the items"
    assert client.ask("second", timeout=10).text == "You said: second"
    assert [m.text for m in client.messages] == ["first", "You said: first", "second", "You said: second"]
    assert rec.of("on_error") == []


@pytest.mark.parametrize("expired", ["new", "error"])
def test_an_expired_conversation_falls_back_to_replay(make_grok: Make, expired: str) -> None:
    """When the server no longer has the conversation, the client seeds the new one with the history."""
    with FakeRealtimeServer(provider="grok", provider_options={"expired": expired}) as server:
        rec = Recorder()
        client = make_grok(get_token=server.get_token, adapter=server.adapter(), reconnect=FAST,
                           auto_playback=False, **rec.options())
        client.connect(timeout=5)
        client.ask("remember this", timeout=10)
        server.factory.expire_conversations()
        server.drop_connections()
        conn = server.wait_for_connection(count=2, timeout=5)
        wait_until(lambda: client.status == "connected", what="connected again")
        wait_until(lambda: len(frames_of(conn, "conversation.item.create")) >= 2,
                   what="the history replayed")
        replayed = [c.get("text") for f in conn.received if f.get("type") == "conversation.item.create"
                    for c in f["item"].get("content", [])]
        assert replayed[:2] == ["remember this", "You said: remember this"]
        assert client.ask("and now?", timeout=10).text == "You said: and now?"
        assert rec.of("on_error") == []
        client.destroy()
        for raw in server.sent:
            validate_grok_server_frame(raw)


def test_no_secret_reaches_logs_or_reprs(grok: FakeRealtimeServer, make_grok: Callable[..., RealtimeClient],
                                         caplog: Any) -> None:
    """With every realtime_client logger at DEBUG (wire log included), the token never shows."""
    caplog.set_level(logging.DEBUG, logger="realtime_client")
    token = grok.token()
    client = make_grok(get_token=lambda: token)
    client.connect(timeout=5)
    client.ask("hello", timeout=10)
    client.disconnect()
    shown = caplog.text + repr(client) + repr(grok.adapter()) + repr(token)
    assert token.token not in shown
    assert "send " in caplog.text, "the wire log was not on"


def test_a_refused_resume_handshake_reconnects_fresh_with_replay(grok: FakeRealtimeServer,
                                                                 make_grok: Make) -> None:
    """A 4xx answer to the resuming handshake makes the next attempt a fresh session seeded with history."""
    client = make_grok(reconnect=FAST, auto_playback=False)
    client.connect(timeout=5)
    client.ask("keep this", timeout=10)
    grok.reject_next_handshakes(1, status=404)
    grok.drop_connections()
    conn = grok.wait_for_connection(count=2, timeout=5)
    wait_until(lambda: client.status == "connected", what="connected again")
    assert "conversation_id" not in conn.path
    wait_until(lambda: len(frames_of(conn, "conversation.item.create")) >= 2, what="the history replayed")
    assert client.ask("go on", timeout=10).text == "You said: go on"


def test_a_server_error_at_the_handshake_keeps_resuming(grok: FakeRealtimeServer, make_grok: Make) -> None:
    """A 5xx is not a refusal of the conversation: the next attempt still resumes it."""
    client = make_grok(reconnect=FAST, auto_playback=False)
    client.connect(timeout=5)
    client.ask("keep this", timeout=10)
    grok.reject_next_handshakes(1, status=503)
    grok.drop_connections()
    conn = grok.wait_for_connection(count=2, timeout=5)
    wait_until(lambda: client.status == "connected", what="connected again")
    assert "conversation_id=" in conn.path
    assert frames_of(conn, "conversation.item.create") == []


def test_the_recycle_before_the_cap_resumes_by_conversation_id(make_grok: Make) -> None:
    """At the (accelerated) cap the client hands over at a quiet moment and resumes: nothing is replayed."""
    quiet = {"ping_interval": None}
    with FakeRealtimeServer(provider="grok", max_session_seconds=2.0, provider_options=quiet) as server:
        rec = Recorder()
        client = make_grok(get_token=server.get_token, adapter=server.adapter(session_cap=2.0),
                           reconnect=FAST, auto_playback=False, **rec.options())
        client.connect(timeout=5)
        client.ask("before", timeout=10)
        conn = server.wait_for_connection(count=2, timeout=5)
        wait_until(lambda: client.status == "connected", what="connected again")
        assert server.connections[0].close_code is None, "the server had to close: no recycle"
        assert "conversation_id=" in conn.path and frames_of(conn, "conversation.item.create") == []
        assert len(rec.of("on_go_away")) == 1
        assert client.ask("after", timeout=10).text == "You said: after"
        assert [m.text for m in client.messages] == ["before", "You said: before", "after", "You said: after"]
        client.destroy()
