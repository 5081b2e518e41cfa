"""ElevenLabs agents end to end: our client and the official SDK against the fake agent.

Every frame either side sends is checked against the vendored AsyncAPI contract
(``tests/adapters/elevenlabs_schema.py``), so the fake and the session cannot agree on a mistake.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import wave
from typing import Any, Callable, Iterator, List

import pytest

from realtime_client import RealtimeClient, RealtimeError, RealtimeStatus, tool
from realtime_client.adapters import elevenlabs_realtime
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import pcm16_bytes
from realtime_client.tokens import elevenlabs_realtime_token
from tests.adapters.contract import recording
from tests.adapters.elevenlabs_schema import ContractError, validate_client_frame, validate_server_frame
from tests.helpers import Recorder, wait_until

FAST_PINGS = {"ping_interval": 0.1}


def check_traffic(server: FakeRealtimeServer, *, sdk_text_only_at_top: bool = False) -> None:
    """Every frame sent and received validates against the contract (no undeclared field)."""
    for text in server.sent:
        validate_server_frame(text)
    for received in server.received:
        frame = received
        if sdk_text_only_at_top and frame.get("type") == "conversation_initiation_client_data":
            # the official SDK puts text_only at the top of the override (protocols.md 8.4)
            frame = json.loads(json.dumps(frame))
            frame.get("conversation_config_override", {}).pop("text_only", None)
        validate_client_frame(frame)


@pytest.fixture
def agent() -> Iterator[FakeRealtimeServer]:
    server = FakeRealtimeServer(provider="elevenlabs", provider_options=FAST_PINGS).start()
    try:
        yield server
    finally:
        server.stop()
    check_traffic(server)


@pytest.fixture
def make(agent: FakeRealtimeServer) -> Iterator[Callable[..., RealtimeClient]]:
    made: List[RealtimeClient] = []

    def factory(**options: Any) -> RealtimeClient:
        options.setdefault("adapter", agent.adapter())
        options.setdefault("auto_capture", False)
        options.setdefault("audio_output", BufferOutput(sample_rate=16000, realtime=False))
        client = RealtimeClient(**options)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.destroy()


def test_recorded_server_frames_follow_the_contract() -> None:
    """Every recorded ElevenLabs server frame validates against the AsyncAPI contract."""
    for name in ("handshake", "text_turn", "audio_turn", "tool_call", "server_barge_in", "client_interrupt",
                 "error_race", "go_away"):
        for frame in recording("elevenlabs", name)["frames"]:
            if "client" not in frame:
                validate_server_frame(frame)


def test_the_validator_refuses_undeclared_and_mistyped_fields() -> None:
    """The strict contract check catches an extra key, a wrong type and the SDK's top-level text_only."""
    for bad in ({"type": "pong", "event_id": 1, "extra": True}, {"type": "pong", "event_id": "1"},
                {"type": "conversation_initiation_client_data",
                 "conversation_config_override": {"text_only": True}},
                {"type": "audio", "audio_event": {"audio_base_64": "AAAA"}}):
        with pytest.raises(ContractError):
            (validate_server_frame if bad["type"] == "audio" else validate_client_frame)(bad)


def test_a_public_agent_connects_without_a_token_and_answers_text(make, agent) -> None:
    """No get_token: the initiation frame goes first, metadata makes it live, ask() gets the answer."""
    client = make(auto_playback=False)
    client.connect(timeout=5)
    assert client.status is RealtimeStatus.CONNECTED
    first = agent.received[0]
    assert first["type"] == "conversation_initiation_client_data"
    msg = client.ask("Hello agent", timeout=10)
    assert msg.text == "You said: Hello agent" and msg.stop_reason == "completed"
    assert agent.wait_for_frame("pong")["event_id"] >= 1


def test_session_config_becomes_the_initiation_overrides(make, agent) -> None:
    """instructions, voice, model, first message, language and provider_options reach the override."""
    client = make(auto_playback=False, instructions="Be brief.", voice="voice_123", model="gpt-4o-mini",
                  adapter=agent.adapter(first_message="Hi!", language="en",
                                        dynamic_variables={"name": "Ada"},
                                        client_events=["audio", "agent_response", "ping", "interruption",
                                                       "user_transcript", "agent_response_correction"]),
                  provider_options={"custom_llm_extra_body": {"top_p": 0.5},
                                    "conversation_config_override": {"tts": {"speed": 1.1}}})
    client.connect(timeout=5)
    init = agent.received[0]
    override = init["conversation_config_override"]
    assert override["agent"] == {"prompt": {"prompt": "Be brief.", "llm": "gpt-4o-mini"},
                                 "first_message": "Hi!", "language": "en"}
    assert override["tts"] == {"voice_id": "voice_123", "speed": 1.1}
    assert init["dynamic_variables"] == {"name": "Ada"} and init["custom_llm_extra_body"] == {"top_p": 0.5}
    wait_until(lambda: any(m.text == "Hi!" for m in client.messages), what="the first message")


def test_voice_turn_plays_at_the_negotiated_rate_with_transcripts() -> None:
    """Speech is heard by the fake's VAD; transcripts, the spoken answer at 24 kHz and playback follow."""
    server = FakeRealtimeServer(provider="elevenlabs", provider_options={
        **FAST_PINGS, "user_input_audio_format": "pcm_16000",
        "agent_output_audio_format": "pcm_24000"}).start()
    out = BufferOutput(sample_rate=24000, realtime=False)
    client = RealtimeClient(adapter=server.adapter(), auto_capture=False, audio_output=out)
    try:
        server.user_transcripts.append("what time is it")
        client.connect(timeout=5)
        assert client.audio is not None and client.audio.output_sample_rate == 24000
        speech = pcm16_bytes(synthesize_speech(900, 16000, seed=3))
        silence = b"\0\0" * 16000
        from realtime_client import _actions as act

        audio = speech + silence
        for chunk in range(0, len(audio), 3200):  # what the capture thread would hand over
            client._run(act.CapturedAudio(audio[chunk:chunk + 3200], 100.0))
        reply = client.wait_for_response(timeout=10)
        assert reply.text == "I heard you." and reply.duration_ms and reply.duration_ms > 0
        assert [m.text for m in client.messages if m.role == "user"] == ["what time is it"]
        client.wait_for_playback(timeout=10)
        assert len(out.played) > 0
    finally:
        client.destroy()
        server.stop()
    check_traffic(server)


@pytest.mark.parametrize(("capture_chunk_ms", "expected_ms"), [(None, 100), (20, 20), (250, 260)])
def test_microphone_audio_goes_out_in_the_providers_chunk_size(make, agent, tmp_path, capture_chunk_ms,
                                                               expected_ms) -> None:
    """user_audio_chunk carries 100 ms by default (ElevenLabs' ProviderInfo), or capture_chunk_ms.

    Sizes are rounded up to whole 20 ms chunks, so 250 becomes 260; the audio is sent unchanged.
    """
    speech = synthesize_speech(1200, 16000, seed=3)
    wav = tmp_path / "mic.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm16_bytes(speech))
    client = make(audio_input=WavFileInput(wav, realtime=False), auto_capture=True, echo="off",
                  capture_chunk_ms=capture_chunk_ms)
    client.connect(timeout=5)
    wait_until(lambda: sum(1 for f in agent.received if "user_audio_chunk" in f) >= 1200 // expected_ms,
               what="the microphone's audio at the agent")
    chunks = [base64.b64decode(f["user_audio_chunk"]) for f in agent.received if "user_audio_chunk" in f]
    assert {len(c) for c in chunks[:-1]} == {expected_ms * 32}
    assert b"".join(chunks) == pcm16_bytes(speech)[: len(b"".join(chunks))]


def test_capture_chunk_ms_outside_20_to_1000_is_refused() -> None:
    for bad in (10, 1001, 20.5, True, "100"):
        with pytest.raises(ValueError, match="capture_chunk_ms must be an int from 20 to 1000"):
            RealtimeClient(adapter=elevenlabs_realtime("agent_x"), capture_chunk_ms=bad)


def test_a_client_tool_call_is_answered_with_client_tool_result(make, agent) -> None:
    """client_tool_call runs the tool; client_tool_result carries a string result and is_error."""
    @tool
    def get_weather(location: str) -> dict:
        """Weather for a city."""
        return {"temperature": 21, "location": location}

    agent.script(Reply.tool_call("get_weather", {"location": "Oslo"}, call_id="toolu_1"),
                 Reply.text("It is 21 degrees."), Reply.tool_call("nope", {}, call_id="toolu_2"))
    client = make(auto_playback=False, tools=[get_weather])
    client.connect(timeout=5)
    msg = client.ask("Weather in Oslo?", timeout=10)
    result = agent.wait_for_frame("client_tool_result")
    assert result["tool_call_id"] == "toolu_1" and result["is_error"] is False
    assert json.loads(result["result"]) == {"temperature": 21, "location": "Oslo"}
    wait_until(lambda: any(m.text == "It is 21 degrees." for m in client.messages), what="the answer")
    assert msg is not None
    client.send_text("again")
    bad = agent.wait_for_frame("client_tool_result", count=2)
    assert bad["tool_call_id"] == "toolu_2" and bad["is_error"] is True


def test_interrupt_drops_the_rest_of_the_turn_and_tells_the_agent() -> None:
    """interrupt() mid-answer: playback stops, user_activity goes out, later audio of that turn is dropped."""
    server = FakeRealtimeServer(provider="elevenlabs", pacing="realtime", audio_chunk_ms=50,
                                provider_options={**FAST_PINGS, "correct_on_interrupt": False}).start()
    out = BufferOutput(sample_rate=16000, realtime=True)
    rec = Recorder()
    client = RealtimeClient(adapter=server.adapter(), auto_capture=False, audio_output=out, **rec.options())
    try:
        server.script(Reply.audio("A long answer that keeps going for a while.", duration_ms=3000))
        client.connect(timeout=5)
        client.send_text("Tell me a story")
        wait_until(lambda: len(out.played) > 16000 * 2 * 0.3, what="some audio played")
        client.interrupt()
        assert server.wait_for_frame("user_activity")
        played = len(out.played)
        time.sleep(0.6)  # the fake keeps streaming that turn: the session must drop it
        assert len(out.played) - played < 16000 * 2 * 0.15
        wait_until(lambda: client.messages and client.messages[-1].interrupted, what="the cut message")
        assert rec.of("on_interrupted")
    finally:
        client.destroy()
        server.stop()
    check_traffic(server)


def test_an_interrupted_answer_is_complete_at_once_though_the_agent_sends_nothing_more() -> None:
    """The agent confirms a cut with no message, and this one goes quiet (its whole answer was
    sent, its next ping is 30 s away): the interrupted message is there at once, and ask() has
    its answer, instead of both waiting for the agent's next frame."""
    quiet = {"ping_interval": 30.0, "correct_on_interrupt": False}
    server = FakeRealtimeServer(provider="elevenlabs", pacing="fast", provider_options=quiet).start()
    out = BufferOutput(sample_rate=16000, realtime=True)
    client = RealtimeClient(adapter=server.adapter(), auto_capture=False, audio_output=out)
    try:
        server.script(Reply.audio("A long answer that keeps going for a while.", duration_ms=3000))
        client.connect(timeout=5)
        client.send_text("Tell me a story")
        wait_until(lambda: len(out.played) > 16000 * 2 * 0.3, what="some audio played")
        client.interrupt()
        wait_until(lambda: client.messages[-1].interrupted, timeout=1.0, what="the cut message")
        assert client.messages[-1].role == "assistant" and client.mode == "listening"
        assert server.wait_for_frame("user_activity")
    finally:
        client.destroy()
        server.stop()
    check_traffic(server)


def test_interrupt_after_the_turn_ended_still_tells_the_agent(agent: FakeRealtimeServer) -> None:
    """The agent sent its whole answer (the turn is over on the server) but the speaker is still
    playing it: interrupt() cuts the speaker and still sends user_activity."""
    out = BufferOutput(sample_rate=16000, realtime=True)
    client = RealtimeClient(adapter=agent.adapter(), auto_capture=False, audio_output=out)
    try:
        agent.script(Reply.audio("A long answer, sent all at once.", duration_ms=3000))
        client.connect(timeout=5)
        client.send_text("Tell me a story")
        wait_until(lambda: any(m.role == "assistant" and m.text for m in client.messages)
                   and client.pending_assistant_transcript == "", what="the whole answer received")
        wait_until(lambda: len(out.played) > 16000 * 2 * 0.3, what="some audio played")
        assert len(out.played) < 16000 * 2 * 2.0, "the answer already played out"
        client.interrupt()
        assert agent.wait_for_frame("user_activity")
        wait_until(lambda: client.messages[-1].interrupted, what="the cut message")
    finally:
        client.destroy()


def test_server_interruption_flushes_and_the_correction_replaces_the_text() -> None:
    """The user speaking over the agent: interruption flushes playback; the correction rewrites the text."""
    server = FakeRealtimeServer(provider="elevenlabs", pacing="realtime", audio_chunk_ms=50,
                                provider_options={**FAST_PINGS, "client_events": [
                                    "audio", "agent_response", "interruption", "user_transcript", "ping",
                                    "tentative_user_transcript", "agent_response_correction"]}).start()
    out = BufferOutput(sample_rate=16000, realtime=True)
    client = RealtimeClient(adapter=server.adapter(), auto_capture=False, audio_output=out)
    try:
        full = "One two three four five six seven eight nine ten eleven twelve."
        server.script(Reply.audio(full, duration_ms=3000))
        client.connect(timeout=5)
        client.send_text("Count")
        wait_until(lambda: len(out.played) > 16000 * 2 * 0.5, what="some audio played")
        speech = pcm16_bytes(synthesize_speech(600, 16000, seed=5))
        from realtime_client import _actions as act
        for i in range(0, len(speech), 3200):
            client._run(act.CapturedAudio(speech[i:i + 3200], 100.0))
        server.wait_for_sent("interruption")
        fixed = server.wait_for_sent("agent_response_correction")
        corrected = fixed["agent_response_correction_event"]["corrected_agent_response"]
        wait_until(lambda: any(m.role == "assistant" and m.interrupted and m.text == corrected
                               for m in client.messages), what="the corrected, interrupted message")
        assert corrected != full and full.startswith(corrected)
    finally:
        client.destroy()
        server.stop()
    check_traffic(server)


def test_reconnect_starts_a_new_conversation_with_the_history_as_context(make, agent) -> None:
    """After a drop: status reconnecting, a fresh conversation, the history in a contextual_update."""
    rec = Recorder()
    client = make(auto_playback=False, **rec.options())
    client.connect(timeout=5)
    client.ask("Remember the number 42", timeout=10)
    agent.drop()
    wait_until(lambda: "reconnecting" in rec.of("on_status_change"), what="reconnecting")
    wait_until(lambda: len(agent.connections) == 2 and client.status is RealtimeStatus.CONNECTED,
               what="the new conversation")
    context = agent.wait_for_frame("contextual_update")
    assert "User: Remember the number 42" in context["text"]
    assert "Agent: You said: Remember the number 42" in context["text"]
    assert agent.connections[0].peer.conversation_id != agent.connections[1].peer.conversation_id
    assert client.ask("What was it?", timeout=10).text == "You said: What was it?"


def test_context_activity_and_provider_events_are_exposed(make, agent) -> None:
    """send_context, signal_activity and on_provider_event (VAD score, latency) reach the app."""
    events: List[Any] = []
    client = make(auto_playback=False, on_provider_event=lambda name, data: events.append((name, data)),
                  adapter=agent.adapter(client_events=["audio", "agent_response", "ping", "vad_score",
                                                       "interruption", "user_transcript"]))
    client.connect(timeout=5)
    client.send_context("The user is on the pricing page", context_id="page")
    client.signal_activity()
    assert agent.wait_for_frame("contextual_update") == {
        "type": "contextual_update", "text": "The user is on the pricing page", "context_id": "page"}
    assert agent.wait_for_frame("user_activity") == {"type": "user_activity"}
    from realtime_client import _actions as act
    client._run(act.CapturedAudio(b"\0\0" * 1600, 100.0))
    wait_until(lambda: any(n == "vad_score" for n, _ in events), what="a vad score")
    wait_until(lambda: any(n == "latency" for n, _ in events), what="a latency estimate")
    assert any(n == "conversation" and d["conversation_id"].startswith("conv_") for n, d in events)
    with pytest.raises(ValueError, match="elevenlabs takes no images"):
        client.send_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)


def test_max_duration_is_a_clear_error_and_a_clean_end(agent) -> None:
    """max_duration_exceeded: on_go_away(0), a PROVIDER_ERROR saying so, then status idle."""
    rec = Recorder()
    client = RealtimeClient(adapter=agent.adapter(), auto_capture=False, auto_playback=False,
                            **rec.options())
    try:
        client.connect(timeout=5)
        agent.send_error("max_duration_exceeded", "Maximum call duration exceeded")
        wait_until(lambda: client.status is RealtimeStatus.IDLE, what="idle")
        assert rec.of("on_go_away") == [0.0]
        (error,) = rec.of("on_error")
        assert error.code == "PROVIDER_ERROR" and "maximum duration" in str(error)
    finally:
        client.destroy()


def test_a_refused_override_is_an_error_naming_the_fix(agent) -> None:
    """override_error (close 1008): status error with a message saying to enable the override."""
    client = RealtimeClient(adapter=agent.adapter(), auto_capture=False, auto_playback=False)
    try:
        client.connect(timeout=5)
        agent.send_error("override_error", "Override for field 'voice_id' is not allowed by config.")
        wait_until(lambda: client.status is RealtimeStatus.ERROR, what="error")
        assert "security settings" in str(client.error)
    finally:
        client.destroy()


def test_missed_pongs_close_the_conversation() -> None:
    """With pong_timeout set, a client that stops answering pings is disconnected (1002)."""
    server = FakeRealtimeServer(provider="elevenlabs", provider_options={"ping_interval": 0.05,
                                                                     "pong_timeout": 0.2}).start()
    try:
        from websockets.sync.client import connect

        with connect(server.url + "?agent_id=agent_fake") as ws:
            ws.send(json.dumps({"type": "conversation_initiation_client_data"}))
            deadline = time.monotonic() + 5
            with pytest.raises(Exception):
                while time.monotonic() < deadline:
                    ws.recv(timeout=1)
        assert server.connections[0].close_code == 1002
    finally:
        server.stop()


def test_private_agent_signed_urls_and_secrets_stay_out_of_logs_and_reprs(caplog) -> None:
    """A private agent needs a signed URL from the REST endpoint; key and signature never show."""
    caplog.set_level(logging.DEBUG)
    server = FakeRealtimeServer(provider="elevenlabs", api_key="xi_secret_key_123",
                                provider_options=FAST_PINGS).start()
    try:
        source = elevenlabs_realtime_token("agent_fake", api_key="xi_secret_key_123",
                                           base_url=server.base_url)
        token = source()
        assert token.provider == "elevenlabs" and token.token.startswith(server.url)
        assert 890 < token.expires_at - time.time() <= 900
        signature = token.token.split("conversation_signature=")[1]
        client = RealtimeClient(get_token=source, adapter=elevenlabs_realtime(url=server.url),
                                auto_capture=False, auto_playback=False)
        client.connect(timeout=5)
        assert client.ask("hi", timeout=10).text == "You said: hi"
        connection = client._live._connection
        shown = " ".join([repr(token), repr(source), repr(client), repr(client.state), str(client.error),
                          repr(connection.transport), caplog.text])
        for secret in ("xi_secret_key_123", signature):
            assert secret not in shown
        client.destroy()
        with pytest.raises(RealtimeError) as refused:
            elevenlabs_realtime_token("agent_fake", api_key="wrong", base_url=server.base_url)()
        assert refused.value.code == "PERMISSION_DENIED" and "wrong" not in str(refused.value)
        public = RealtimeClient(adapter=elevenlabs_realtime("agent_fake", url=server.url), auto_capture=False,
                                auto_playback=False, reconnect=False)
        with pytest.raises(RealtimeError) as denied:
            public.connect(timeout=5)
        assert denied.value.code == "PERMISSION_DENIED"
        public.destroy()
    finally:
        server.stop()
    check_traffic(server)


def test_manual_vad_mode_warns_that_it_only_gates_the_microphone() -> None:
    """ElevenLabs has no push-to-talk: vad_mode='manual' is allowed (the mic opens and closes) but
    says that the agent, not stop_listening(), ends the user's turn."""
    with pytest.warns(UserWarning, match="only gates the microphone"):
        RealtimeClient(adapter=elevenlabs_realtime("agent_x", url="ws://127.0.0.1:9/x"), vad_mode="manual",
                       auto_playback=False, auto_capture=False)
