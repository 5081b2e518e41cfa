"""RealtimeClient against the fake Gemini Live server, end to end over real loopback sockets.

Every frame the client sends is checked against google-genai's ``LiveClientMessage`` and every
frame the fake sends against ``LiveServerMessage`` (tests/_gemini_conformance.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Iterator, List

import numpy as np
import pytest

from realtime_client import (
    PermissionDeniedError,
    ProviderError,
    RealtimeClient,
    RealtimeError,
    RealtimeToken,
    ReconnectPolicy,
    tool,
)
from realtime_client.adapters import gemini_realtime
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from tests._gemini_conformance import validate_client_frame, validate_server_frame
from tests.helpers import Recorder, wait_until

FAST = ReconnectPolicy(attempts=5, base=0.05, cap=0.2, connect_timeout=3.0)


def check_gemini_conformance(server: FakeRealtimeServer) -> None:
    for frame in list(server.received):
        validate_client_frame(frame)
    for raw in list(server.sent):
        validate_server_frame(raw)


@pytest.fixture
def gemini() -> Iterator[FakeRealtimeServer]:
    """A fake Gemini server whose traffic is checked against google-genai's models afterwards."""
    srv = FakeRealtimeServer(provider="gemini").start()
    try:
        yield srv
    finally:
        srv.stop()
    check_gemini_conformance(srv)


@pytest.fixture
def make_client(gemini: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    made: List[RealtimeClient] = []

    def factory(**options: Any) -> RealtimeClient:
        options.setdefault("get_token", gemini.get_token)
        options.setdefault("adapter", gemini.adapter())
        options.setdefault("auto_capture", False)
        options.setdefault("reconnect", FAST)
        if "audio_output" not in options and options.get("auto_playback", True):
            options["audio_output"] = BufferOutput(realtime=False)
        client = RealtimeClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.destroy()


def served(server: FakeRealtimeServer) -> List[Any]:
    """The connections that served a session: without those refused as busy (1011 'still in
    use'), which a resume racing the server's own noticing of the old socket's end may meet,
    and which the client answers by retrying the same handle."""
    return [c for c in server.connections if "still in use" not in (c.close_reason or "")]


def of_type(server: FakeRealtimeServer, key: str, conn: Any = None) -> List[dict]:
    frames = conn.received if conn is not None else server.received
    return [f for f in frames if key in f]


def inputs(frames: List[dict], kind: str) -> List[Any]:
    return [f["realtimeInput"][kind] for f in frames if kind in f.get("realtimeInput", {})]


def speech_wav(path: Any, speech_ms: int, lead_ms: int = 300, tail_ms: int = 1200, rate: int = 16000) -> str:
    import wave

    speech = synthesize_speech(speech_ms, rate, seed=5)
    pcm = np.concatenate([np.zeros(rate * lead_ms // 1000, np.int16), speech,
                          np.zeros(rate * tail_ms // 1000, np.int16)])
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return str(path)


# --- turns ------------------------------------------------------------------------------------


def test_text_turn_sends_setup_first_and_text_as_realtime_input(gemini, make_client):
    """connect() sends setup first (transcription, resumption and compression on) and is live at
    setupComplete; text goes out as realtimeInput.text and the answer comes back as a message."""
    rec = Recorder()
    client = make_client(instructions="Be brief.", voice="Kore", **rec.options())
    client.connect(timeout=5)
    conn = gemini.connections[0]
    assert "BidiGenerateContentConstrained" in conn.path and ".v1alpha." in conn.path
    setup = conn.received[0]["setup"]
    assert setup["model"] == "models/gemini-3.8-live"
    assert setup["inputAudioTranscription"] == {} and setup["outputAudioTranscription"] == {}
    assert setup["sessionResumption"] == {} and "slidingWindow" in setup["contextWindowCompression"]
    assert setup["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    voice = setup["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]
    assert voice == {"voiceName": "Kore"}
    answer = client.ask("Hello", timeout=5)
    assert answer.text == "You said: Hello" and answer.parts[0].duration_ms > 0
    assert inputs(conn.received, "text") == ["Hello"]
    assert [m.text for m in client.messages] == ["Hello", "You said: Hello"]
    wait_until(lambda: rec.of("on_usage"), what="usage")
    assert rec.of("on_usage")[0].total_tokens > 0
    assert rec.of("on_error") == []


def test_text_modality_streams_text_parts(gemini, make_client):
    """With output_modalities=['text'] the setup asks for TEXT and the answer streams as text."""
    client = make_client(output_modalities=["text"], auto_playback=False)
    client.connect(timeout=5)
    assert gemini.connections[0].received[0]["setup"]["generationConfig"]["responseModalities"] == ["TEXT"]
    answer = client.ask("Hi", timeout=5)
    assert answer.text == "You said: Hi" and answer.parts[0].type == "text"


def test_voice_turn_streams_16khz_audio_and_transcribes(gemini, make_client, tmp_path):
    """Captured speech goes out as 16 kHz PCM16 realtimeInput.audio; the fake's VAD ends the turn;
    the user transcript and the spoken answer arrive."""
    gemini.user_transcripts.append("what time is it")
    rec = Recorder()
    wav = speech_wav(tmp_path / "speech.wav", speech_ms=1000, rate=24000)  # the engine resamples
    client = make_client(audio_input=WavFileInput(wav, realtime=False), auto_capture=True, **rec.options())
    client.connect(timeout=5)
    answer = client.wait_for_response(timeout=10)
    assert answer.role == "assistant" and answer.text == "I heard you."
    assert client.messages[0].role == "user" and client.messages[0].text == "what time is it"
    audio = inputs(gemini.received, "audio")
    assert audio and {a["mimeType"] for a in audio} == {"audio/pcm;rate=16000"}
    assert gemini.connections[0].peer.audio_ms >= 2000


def test_tool_call_runs_and_answers_with_id_and_name(gemini, make_client):
    """toolCall runs the tool; toolResponse carries the call's id, the name and {output}; the
    model goes on and the answer completes."""

    @tool
    def get_weather(city: str) -> dict:
        """The weather in a city."""
        return {"temperature": 21, "city": city}

    gemini.script(Reply.tool_call("get_weather", {"city": "Paris"}, call_id="call-1"))
    client = make_client(tools=[get_weather])
    client.connect(timeout=5)
    setup = gemini.connections[0].received[0]["setup"]
    (decl,) = setup["tools"][0]["functionDeclarations"]
    assert decl["name"] == "get_weather" and decl["parametersJsonSchema"]["properties"]["city"]
    answer = client.ask("Weather in Paris?", timeout=10)
    assert answer.text == 'The tool returned: {"temperature":21,"city":"Paris"}'
    (response,) = of_type(gemini, "toolResponse")
    (fr,) = response["toolResponse"]["functionResponses"]
    assert fr == {"id": "call-1", "name": "get_weather",
                  "response": {"output": {"temperature": 21, "city": "Paris"}}}
    call_msg = next(m for m in client.messages if any(p.type == "tool-call" for p in m.parts))
    assert any(p.type == "tool-result" for p in call_msg.parts)


def test_server_barge_in_flushes_playback_and_marks_interrupted(gemini, make_client, tmp_path):
    """User speech over the answer: the fake sends interrupted, the client flushes at once, marks
    the message interrupted and sends nothing like a cancel or truncate (Gemini has none)."""
    out = BufferOutput(realtime=True)
    rec = Recorder()
    gemini.pacing = "realtime"
    gemini.script(Reply.audio("A long story about many things that goes on and on.", duration_ms=5000))
    wav = speech_wav(tmp_path / "speech.wav", speech_ms=800, lead_ms=0)
    client = make_client(audio_output=out, audio_input=WavFileInput(wav, realtime=True), **rec.options())
    client.connect(timeout=5)
    client.send_text("tell me a story")
    wait_until(lambda: out.played_ms >= 600, what="600 ms played")
    client.start_listening()
    wait_until(lambda: rec.of("on_interrupted"), timeout=5, what="on_interrupted")
    heard = out.played_ms
    time.sleep(0.3)
    assert out.played_ms - heard < 40, "playback went on after interrupted"
    story = next(m for m in client.messages if m.role == "assistant")
    assert story.interrupted and story.stop_reason == "interrupted"
    assert story.duration_ms is not None and story.duration_ms < 5000
    keys = {next(iter(f)) for f in gemini.received}
    assert keys <= {"setup", "realtimeInput"}
    client.stop_listening()
    assert rec.of("on_error") == []


def test_push_to_talk_brackets_audio_with_activity_start_and_end(gemini, make_client, tmp_path):
    """vad_mode='manual': automatic detection is disabled, audio goes between activityStart and
    activityEnd, and stop_listening() gets the answer."""
    wav = speech_wav(tmp_path / "speech.wav", speech_ms=600, lead_ms=0, tail_ms=0)
    gemini.user_transcripts.append("push to talk")
    client = make_client(vad_mode="manual", audio_input=WavFileInput(wav, realtime=True))
    client.connect(timeout=5)
    setup = gemini.connections[0].received[0]["setup"]
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}
    client.start_listening()
    time.sleep(0.5)
    client.stop_listening()
    answer = client.wait_for_response(timeout=10)
    assert answer.text == "I heard you."
    kinds = [next(iter(f["realtimeInput"])) for f in of_type(gemini, "realtimeInput")]
    assert kinds[0] == "activityStart" and kinds[-1] == "activityEnd" and "audio" in kinds[1:-1]
    assert client.messages[0].text == "push to talk"


# --- session continuity -------------------------------------------------------------------------


def test_go_away_moves_proactively_and_loses_no_message(make_client):
    """goAway every connection: the client closes the old socket first, resumes on a new one
    with the handle (status reconnecting -> connected), and the conversation goes on intact."""
    # goAway 0.3 s into each session and 2.2 s left to move: the move, not the cap, must end it
    with FakeRealtimeServer(provider="gemini", max_session_seconds=2.5, go_away_seconds=2.2) as server:
        rec = Recorder()
        client = make_client(get_token=server.get_token, adapter=server.adapter(), **rec.options())
        client.connect(timeout=5)
        for i in range(6):
            assert client.ask(f"question {i}", timeout=10).text == f"You said: question {i}"
            time.sleep(0.25)
        conns = served(server)
        assert len(conns) >= 3
        assert all(c.peer.resumed for c in conns[1:]), "a connection started a fresh session"
        assert all(c.close_code is None for c in conns), "the server had to close a connection"
        assert not of_type(server, "clientContent"), "a resumed session needs no replay"
        texts = [m.text for m in client.messages]
        assert texts == [t for i in range(6) for t in (f"question {i}", f"You said: question {i}")]
        assert rec.of("on_go_away") and all(t > 0 for t in rec.of("on_go_away"))
        statuses = rec.of("on_status_change")
        assert statuses.count("reconnecting") == len(conns) - 1 == statuses.count("connected") - 1
        assert rec.of("on_error") == [] and rec.of("on_disconnect") == []
        # the model saw the whole conversation: the last connection's history has every turn
        assert len([t for t in conns[-1].items if t["role"] == "user"]) == 6
        client.destroy()
        check_gemini_conformance(server)


class _Mic:
    """A 16 kHz input of endless low noise, paced at real time; counts what it delivered."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.frames = 0
        self._closed = threading.Event()
        self._rng = np.random.default_rng(1)

    def open(self) -> None:
        self._closed.clear()

    def read(self, frames: int) -> bytes:
        if self._closed.wait(frames / self.sample_rate):
            return b""
        self.frames += frames
        return (self._rng.normal(0, 30, frames)).astype("<i2").tobytes()

    def close(self) -> None:
        self._closed.set()


def test_go_away_move_loses_no_user_audio(make_client):
    """Across proactive moves the fake hears at least all the audio the microphone delivered:
    audio captured while moving is held, and audio since the last resumption point is re-sent."""
    # goAway 0.3 s into each session and 2.2 s left to move: the move, not the cap, must end it
    with FakeRealtimeServer(provider="gemini", max_session_seconds=2.5, go_away_seconds=2.2) as server:
        mic = _Mic()
        client = make_client(get_token=server.get_token, adapter=server.adapter(), audio_input=mic,
                             auto_capture=True)
        client.connect(timeout=5)
        wait_until(lambda: len(server.connections) >= 3, timeout=10, what="two moves")
        time.sleep(0.3)
        client.stop_listening()
        captured_ms = mic.frames / 16.0
        time.sleep(0.3)
        heard_ms = sum(c.peer.audio_ms for c in server.connections)
        assert heard_ms >= captured_ms - 100, (heard_ms, captured_ms)  # the resampler holds < 100 ms back
        client.destroy()
        # every session after the first resumed; a move still in its handshake when the client
        # was destroyed (no setup sent, or not handled yet) has nothing to say either way
        moved = [c for c in served(server)[1:] if any("setup" in f for f in c.received)]
        wait_until(lambda: all(c.peer.resumed for c in moved), timeout=2, what="every move resumed")
        check_gemini_conformance(server)


def test_drop_resumes_with_the_handle(gemini, make_client):
    """A dropped socket resumes the same session with its newest handle: no history replay."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    assert client.ask("first", timeout=5).text == "You said: first"
    first = gemini.connections[0]
    gemini.wait_for_sent("sessionResumptionUpdate", count=2)  # after setupComplete, after the turn
    time.sleep(0.2)  # ... and received by the client
    handle = first.peer.handles[-1]
    gemini.drop()
    gemini.wait_for_connection(count=2, timeout=5)
    wait_until(lambda: client.status == "connected" and len(served(gemini)) >= 2, what="connected again")
    conn = served(gemini)[-1]
    assert conn.received[0]["setup"]["sessionResumption"] == {"handle": handle}
    assert conn.peer.resumed and not of_type(gemini, "clientContent")
    assert client.ask("second", timeout=5).text == "You said: second"
    assert [t["role"] for t in conn.items] == ["user", "model", "user", "model"]
    wait_until(lambda: rec.of("on_status_change")[-2:] == ["reconnecting", "connected"], what="reconnected")


def test_a_resume_refused_as_busy_is_retried_with_the_same_handle(gemini, make_client):
    """While the server still holds the old session (1011 'still in use'), the client retries the
    same handle instead of giving up the session, and resumes once the server lets go."""
    client = make_client()
    client.connect(timeout=5)
    assert client.ask("keep this", timeout=5).text == "You said: keep this"
    stored = gemini.connections[0].peer.stored
    busy = object()
    stored.attached = busy  # as if the old connection were still open on the server's side
    threading.Timer(0.4, lambda: setattr(stored, "attached", None)).start()
    gemini.drop()
    wait_until(lambda: client.status == "connected" and len(gemini.connections) >= 3, timeout=10,
               what="resumed after the busy refusals")
    refused = [c for c in gemini.connections[1:] if c.close_code == 1011]
    assert refused, "the first resume was not refused as busy"
    last = gemini.connections[-1]
    assert last.peer.resumed and "handle" in last.received[0]["setup"]["sessionResumption"]
    assert not of_type(gemini, "clientContent"), "a busy session is not a lost one: no replay"
    assert client.ask("still here?", timeout=5).text == "You said: still here?"


def test_refused_resume_falls_back_to_a_fresh_session_seeded_with_history(gemini, make_client):
    """A handle the server no longer knows (1007) is not retried: the next connection is a fresh
    session with historyConfig, the conversation sent as clientContent turns, then live again."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    assert client.ask("remember the number seven", timeout=5).text == "You said: remember the number seven"
    gemini.connections[0].peer.store.forget_handles()
    gemini.drop()
    wait_until(lambda: len(gemini.connections) >= 3 and client.status == "connected", timeout=10,
               what="a fresh session after the refused resume")
    refused, fresh = gemini.connections[1], gemini.connections[2]
    assert refused.close_code == 1007
    wait_until(lambda: len(fresh.received) >= 2, what="the seeded history")
    setup = fresh.received[0]["setup"]
    assert "handle" not in setup["sessionResumption"]
    assert setup["historyConfig"] == {"initialHistoryInClientContent": True}
    seeded = fresh.received[1]["clientContent"]
    assert seeded["turnComplete"] is True
    assert [t["role"] for t in seeded["turns"]] == ["user", "model"]
    assert seeded["turns"][0]["parts"] == [{"text": "remember the number seven"}]
    assert client.ask("which number?", timeout=5).text == "You said: which number?"
    assert rec.of("on_error") == []


def test_update_session_reconnects_with_the_handle_on_models_without_context_update(make_client):
    """On 3.1 the setup cannot change on an open connection: update_session(instructions=...)
    moves to a new connection resumed with the handle and the new setup."""
    with FakeRealtimeServer(provider="gemini", model="gemini-3.1-flash-live-preview") as server:
        client = make_client(get_token=server.get_token,
                             adapter=server.adapter(model="gemini-3.1-flash-live-preview"))
        client.connect(timeout=5)
        assert client.ask("hi", timeout=5).text == "You said: hi"
        client.update_session(instructions="Speak like a pirate.")
        server.wait_for_connection(count=2, timeout=5)
        wait_until(lambda: client.status == "connected" and len(served(server)) >= 2, what="connected again")
        conn = served(server)[-1]
        setup = conn.received[0]["setup"]
        assert setup["systemInstruction"] == {"parts": [{"text": "Speak like a pirate."}]}
        assert "handle" in setup["sessionResumption"] and conn.peer.resumed
        assert client.ask("again", timeout=5).text == "You said: again"
        assert not of_type(server, "contextUpdate")
        client.destroy()
        check_gemini_conformance(server)


def test_the_model_from_the_session_config_decides_what_can_change_live(make_client):
    """With the model given only as RealtimeClient(model=...), the client still knows that 3.1
    takes no contextUpdate (which would close the session with 1007) and moves instead."""
    with FakeRealtimeServer(provider="gemini", model="gemini-3.1-flash-live-preview") as server:
        client = make_client(get_token=server.get_token, adapter=server.adapter(),
                             model="gemini-3.1-flash-live-preview")
        client.connect(timeout=5)
        client.update_session(instructions="New rules.")
        server.wait_for_connection(count=2, timeout=5)
        wait_until(lambda: client.status == "connected" and len(served(server)) >= 2, what="connected again")
        conn = served(server)[-1]
        assert conn.received[0]["setup"]["systemInstruction"]["parts"][0]["text"] == "New rules."
        assert not of_type(server, "contextUpdate") and server.connections[0].close_code is None
        client.destroy()
        check_gemini_conformance(server)


def test_update_session_uses_context_update_on_3_8(gemini, make_client):
    """On gemini-3.8-live instructions change live with contextUpdate, on the same connection."""
    client = make_client()
    client.connect(timeout=5)
    client.update_session(instructions="Be terse.")
    update = gemini.wait_for_frame("contextUpdate", timeout=5)
    assert update["contextUpdate"] == {"systemInstruction": {"parts": [{"text": "Be terse."}]}}
    assert client.ask("hi", timeout=5).text == "You said: hi"
    assert len(gemini.connections) == 1
    assert gemini.connections[0].peer.session["systemInstruction"]["parts"][0]["text"] == "Be terse."


# --- errors ------------------------------------------------------------------------------------


def test_wrong_api_key_is_permission_denied(make_client):
    """A key the server refuses (close 1007 'API key not valid') fails connect() clearly."""
    with FakeRealtimeServer(provider="gemini", api_key="the-right-key") as server:
        client = make_client(get_token=lambda: RealtimeToken(provider="gemini", token="a-wrong-key"),
                             adapter=server.adapter(), reconnect=False)
        with pytest.raises(PermissionDeniedError, match="API key not valid"):
            client.connect(timeout=5)
        assert client.status == "error"


def test_expired_token_is_refused_with_1008(make_client):
    """An expired ephemeral token: the server closes with 1008; connect() raises PermissionDenied."""
    with FakeRealtimeServer(provider="gemini", api_key="k") as server:
        token = server.token(ttl=0.2)
        time.sleep(0.3)
        stale = RealtimeToken(provider="gemini", token=token.token, expires_at=time.time() + 60)
        client = make_client(get_token=lambda: stale, adapter=server.adapter(), reconnect=False)
        with pytest.raises(PermissionDeniedError, match="1008"):
            client.connect(timeout=5)


def test_unknown_model_is_a_clear_provider_error(gemini, make_client):
    """A model the server does not serve (1008 '... is not found') is a ProviderError naming it."""
    client = make_client(adapter=gemini.adapter(model="gemini-nope"), reconnect=False)
    with pytest.raises(ProviderError, match="gemini-nope is not found"):
        client.connect(timeout=5)


def test_malformed_frames_are_logged_and_the_session_goes_on(gemini, make_client, caplog_rc):
    """Binary garbage, a non-object and an unknown key are logged once each; the session goes on."""
    client = make_client()
    client.connect(timeout=5)
    gemini.send_raw(b"\xff\xfe\x00")
    gemini.send_raw("[1, 2]")
    gemini.send_raw(json.dumps({"somethingNew": {}}))
    assert client.ask("still fine?", timeout=5).text == "You said: still fine?"
    text = caplog_rc.text
    assert "not valid UTF-8" in text and "not a JSON object" in text and "somethingNew" in text
    assert client.error is None


def test_reply_failed_closes_1011_and_the_client_resumes(gemini, make_client):
    """Gemini has no error event: a failed turn is a 1011 close, after which the client resumes."""
    rec = Recorder()
    client = make_client(**rec.options())
    client.connect(timeout=5)
    assert client.ask("one", timeout=5).text == "You said: one"
    gemini.script(Reply.failed(message="Internal error encountered."))
    client.send_text("two")
    wait_until(lambda: len(served(gemini)) >= 2 and client.status == "connected", what="resumed")
    assert gemini.connections[0].close_code == 1011 and served(gemini)[-1].peer.resumed


# --- tokens and secrets --------------------------------------------------------------------------


def test_minted_ephemeral_token_connects_on_the_constrained_endpoint(make_client):
    """gemini_realtime_token() mints auth_tokens/... over HTTP; the client sends it as
    Authorization: Token on v1alpha's BidiGenerateContentConstrained; a one-use token cannot
    start a second session, but resuming with it needs no use."""
    from realtime_client.tokens import gemini_realtime_token

    with FakeRealtimeServer(provider="gemini", api_key="server-key") as server:
        source = gemini_realtime_token(api_key="server-key", base_url=server.base_url, uses=1,
                                       session_config={"instructions": "Locked in."})
        token = source()
        assert token.provider == "gemini" and token.token.startswith("auth_tokens/")
        assert token.expires_at > time.time() + 25 * 60
        client = make_client(get_token=lambda: token, adapter=server.adapter())
        client.connect(timeout=5)
        conn = server.connections[0]
        assert ".v1alpha.GenerativeService.BidiGenerateContentConstrained" in conn.path
        assert conn.peer.session["systemInstruction"] == {"parts": [{"text": "Locked in."}]}
        assert client.ask("hi", timeout=5).text == "You said: hi"
        server.drop()  # a resume with the same token: no use consumed
        wait_until(lambda: len(served(server)) >= 2 and client.status == "connected", what="resumed")
        assert served(server)[-1].peer.resumed
        other = make_client(get_token=lambda: token, adapter=server.adapter(), reconnect=False)
        with pytest.raises(PermissionDeniedError, match="no uses left"):
            other.connect(timeout=5)
        client.destroy()
        check_gemini_conformance(server)


def test_api_key_path_uses_x_goog_api_key_on_bidi_generate_content(make_client):
    """ephemeral=False passes the API key itself: x-goog-api-key on v1beta BidiGenerateContent."""
    from realtime_client.tokens import gemini_realtime_token

    with FakeRealtimeServer(provider="gemini", api_key="plain-key") as server:
        client = make_client(get_token=gemini_realtime_token(api_key="plain-key", ephemeral=False),
                             adapter=server.adapter())
        client.connect(timeout=5)
        path = server.connections[0].path
        assert path.endswith(".v1beta.GenerativeService.BidiGenerateContent")
        assert "plain-key" not in path
        assert client.ask("hi", timeout=5).text == "You said: hi"
        client.destroy()


def test_tanstack_token_json_for_gemini():
    """TanStack's token JSON with provider 'gemini' becomes a Gemini token."""
    token = RealtimeToken.from_dict({"provider": "gemini", "token": "auth_tokens/abc",
                                     "expiresAt": (time.time() + 600) * 1000,
                                     "config": {"model": "gemini-3.8-live"}})
    assert token.provider == "gemini" and token.config.model == "gemini-3.8-live"
    request = gemini_realtime().new_session().connection_request(token, token.config, None)
    assert request.headers == {"Authorization": "Token auth_tokens/abc"}
    assert "auth_tokens/abc" not in repr(request) and "auth_tokens/abc" not in request.url


def test_no_secret_reaches_logs_reprs_or_errors(make_client, caplog_rc):
    """The API key and the ephemeral token appear in no log record (wire log included), repr or
    error message."""
    from realtime_client.tokens import gemini_realtime_token

    key = "AIzaSyD-the-secret-api-key-0123456789"
    with FakeRealtimeServer(provider="gemini", api_key=key) as server:
        source = gemini_realtime_token(api_key=key, base_url=server.base_url)
        token = source()
        client = make_client(get_token=lambda: token, adapter=server.adapter())
        client.connect(timeout=5)
        client.ask("hi", timeout=5)
        shown = [repr(client), repr(source), repr(token), repr(server.adapter()), repr(server.connections[0]),
                 json.dumps(server.connections[0].headers)]
        bad = make_client(get_token=lambda: RealtimeToken(provider="gemini", token=key + "x"),
                          adapter=server.adapter(), reconnect=False)
        with pytest.raises(RealtimeError) as caught:
            bad.connect(timeout=5)
        shown.append(str(caught.value))
        with pytest.raises(RealtimeError) as refused:
            gemini_realtime_token(api_key=key + "-wrong", base_url=server.base_url)()
        shown.append(str(refused.value))
        client.destroy()
    everything = caplog_rc.text + "\n".join(shown)
    assert key not in everything
    assert token.token not in everything and token.token.split("/", 1)[1] not in everything


def test_adapter_options_are_validated():
    """Bad adapter options fail at once with a message that says why."""
    with pytest.raises(ValueError, match="at least 60"):
        gemini_realtime(ping_interval=30, ping_timeout=20)
    with pytest.raises(ValueError, match="api_version"):
        gemini_realtime(api_version="v2")
    with pytest.raises(ValueError, match="ws://"):
        gemini_realtime(url="ws://example.com")
    with pytest.raises(ValueError, match="semantic"):
        gemini_realtime().check_config(__import__("realtime_client").SessionConfig(vad_mode="semantic"))
    assert gemini_realtime().new_session().info.ping_interval is None


def test_keepalive_is_off_by_default_for_gemini(gemini, make_client, caplog_rc):
    """No WebSocket pings by default (Gemini's pongs are slow), so no ping timeout can end a session."""
    client = make_client()
    client.connect(timeout=5)
    info = client._state.conv.info  # the live provider's capabilities
    assert info.ping_interval is None and info.ping_timeout is None
    logging.getLogger("realtime_client").debug("keepalive checked")


def test_cli_chat_speaks_gemini_with_the_embedded_fake():
    """`realtime-client chat --provider gemini` without GEMINI_API_KEY talks to the fake peer."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    done = subprocess.run([sys.executable, "-m", "realtime_client", "chat", "--provider", "gemini",
                           "--no-audio"], input="hi\nwhat time is it\n", capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["You said: hi", "You said: what time is it"]
    assert "GEMINI_API_KEY is not set" in done.stderr
