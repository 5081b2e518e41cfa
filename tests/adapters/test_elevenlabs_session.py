"""The ElevenLabs protocol session on its own: frames in, events and frames out (no I/O)."""

from __future__ import annotations

import base64
import json
import warnings

import pytest

from realtime_client import _events as ev
from realtime_client import _intents as it
from realtime_client._models import RealtimeToken, SessionConfig
from realtime_client._provider import ResumeState
from realtime_client.adapters import elevenlabs_realtime
from realtime_client.audio._format import AudioFormat
from tests.adapters.elevenlabs_schema import validate_client_frame, validate_server_frame

URL = "ws://127.0.0.1:1/v1/convai/conversation"


def session(**options):
    return elevenlabs_realtime("agent_1", url=URL, **options).new_session()


def feed(s, frame):
    validate_server_frame(frame)
    return s.receive(json.dumps(frame))


def metadata(fmt_in="pcm_16000", fmt_out="pcm_16000"):
    return {"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {
        "conversation_id": "conv_1", "agent_output_audio_format": fmt_out, "user_input_audio_format": fmt_in}}


def audio(eid, n=320):
    return {"type": "audio", "audio_event": {"audio_base_64": base64.b64encode(b"\1\0" * n).decode(),
                                             "event_id": eid}}


def test_initiation_carries_only_what_was_set_under_the_contracts_keys():
    """No settings: no override at all; chat mode goes under conversation.text_only."""
    (frame,) = session().start(SessionConfig(), None)
    assert set(frame) == {"type", "source_info"}
    config = SessionConfig(output_modalities=("text",), instructions="Hi", voice="v1")
    (frame,) = session().start(config, None)
    validate_client_frame(frame)
    assert frame["conversation_config_override"] == {"agent": {"prompt": {"prompt": "Hi"}},
                                                     "tts": {"voice_id": "v1"},
                                                     "conversation": {"text_only": True}}
    (frame,) = session(first_message="Hello", quiet_reconnect=True).start(SessionConfig(), ResumeState())
    assert frame["conversation_config_override"]["agent"]["first_message"] == ""


def test_metadata_sets_the_negotiated_formats():
    """ulaw_8000 in and pcm_24000 out become the Ready formats and the session's info."""
    s = session()
    events = feed(s, metadata("ulaw_8000", "pcm_24000")).events
    ready = next(e for e in events if isinstance(e, ev.Ready))
    assert ready.input_format == AudioFormat("g711_ulaw", 8000)
    assert ready.output_format == AudioFormat("pcm16", 24000) and s.info.output_format.rate == 24000
    bad = s.receive(json.dumps({**metadata(), "conversation_initiation_metadata_event": {
        "conversation_id": "c", "agent_output_audio_format": "mp3_44100",
        "user_input_audio_format": "pcm_16000"}}))
    assert isinstance(bad.events[0], ev.Malformed)


def test_every_ping_is_answered_with_its_event_id():
    """ping -> pong with the same event_id in the replies; ping_ms becomes a latency notice."""
    s = session()
    feed(s, metadata())
    out = feed(s, {"type": "ping", "ping_event": {"event_id": 7, "ping_ms": 33}})
    assert list(out.replies) == [{"type": "pong", "event_id": 7}]
    validate_client_frame(out.replies[0])
    assert ev.ProviderNotice("latency", {"ping_ms": 33}) in out.events


def test_audio_at_or_below_the_interruption_id_is_dropped():
    """After interruption N, audio with event_id N (and lower) is ignored; N+1 plays."""
    s = session()
    feed(s, metadata())
    feed(s, audio(5))
    out = feed(s, {"type": "interruption", "interruption_event": {"event_id": 5}})
    assert [type(e) for e in out.events] == [ev.Interrupted, ev.TurnEnded]
    assert out.events[1].outcome == "interrupted"
    assert feed(s, audio(5)).events == (ev.Ignored("audio"),)
    assert feed(s, audio(4)).events == (ev.Ignored("audio"),)
    assert any(isinstance(e, ev.AudioChunk) for e in feed(s, audio(6)).events)


def test_interrupt_sends_user_activity_and_drops_the_rest_of_the_turn():
    """interrupt(): user_activity; the turn ended with the cut (no frame will say so: take_events
    reports it at once), and its later audio is dropped."""
    s = session()
    feed(s, metadata())
    feed(s, audio(3))
    assert s.take_events() == []
    assert s.send(it.Interrupt("3", None, None, by_user_speech=False)) == [{"type": "user_activity"}]
    (ended,) = s.take_events()
    assert ended == ev.TurnEnded("3", "interrupted", item_ids=(ended.item_ids[0],)) and s.take_events() == []
    assert feed(s, audio(3)).events == (ev.Ignored("audio"),)
    assert s.send(it.Interrupt("4", None, None, by_user_speech=True)) == []


def test_a_turn_ends_after_a_whole_ping_interval_without_its_audio():
    """A ping right after audio keeps the turn open; the next quiet one ends it completed."""
    s = session()
    feed(s, metadata())
    feed(s, audio(2))
    first = feed(s, {"type": "ping", "ping_event": {"event_id": 3}}).events
    assert not any(isinstance(e, ev.TurnEnded) for e in first)
    second = feed(s, {"type": "ping", "ping_event": {"event_id": 4}}).events
    ended = [e for e in second if isinstance(e, ev.TurnEnded)]
    assert ended and ended[0].outcome == "completed" and ended[0].turn == "2"


def test_intents_become_contract_frames():
    """Audio, tool results, context and activity frames validate; the rest send nothing."""
    s = session()
    frames = s.send(it.AppendAudio(b"\0\0" * 80))
    frames += s.send(it.ToolResult("t1", "get", json.dumps({"a": 1}), True))
    frames += s.send(it.ContextUpdate("ctx", "id1")) + s.send(it.UserActivity())
    for frame in frames:
        validate_client_frame(frame)
    assert frames[1] == {"type": "client_tool_result", "tool_call_id": "t1", "result": '{"a": 1}',
                         "is_error": True}
    for intent in (it.RequestResponse(), it.CommitAudio(100.0), it.ClearAudio()):
        assert s.send(intent) == []


def test_an_echo_of_typed_text_is_not_a_second_user_message():
    """A user_transcript equal to text we just sent is dropped (UNCONFIRMED echo)."""
    from realtime_client._models import TextPart

    s = session()
    feed(s, metadata())
    s.send(it.UserMessage("m1", (TextPart("hello there"),)))
    echo = feed(s, {"type": "user_transcript", "user_transcription_event": {"user_transcript": "hello there",
                                                                           "event_id": 2}})
    assert not any(isinstance(e, ev.UserTranscript) for e in echo.events)


@pytest.mark.parametrize("error_type, code, action, go_away", [
    ("max_duration_exceeded", 1000, "clean", False),
    ("transport_receive_timeout", 1002, "clean", False),
    ("llm_timeout", 1002, "reconnect", False),
    ("safety_violation", 1002, "error", False),
    ("override_error", 1008, "error", False),
    ("unknown_websocket_crash", 1011, "reconnect", False),
])
def test_close_codes_map_to_clean_ends_new_conversations_or_errors(error_type, code, action, go_away):
    """Each error type and its close code map to what the client does next."""
    s = session()
    feed(s, metadata())
    out = feed(s, {"type": "error", "error_event": {"code": code, "message": "m", "error_type": error_type}})
    if error_type == "max_duration_exceeded":
        assert ev.GoAway(0.0) in out.events
    result = s.classify_close(code, "", None)
    assert result.action == action and result.go_away == go_away
    if error_type == "override_error":
        assert "security settings" in str(result.error)
    assert s.classify_close(1006, "", None).action == "reconnect"


def test_signed_urls_are_used_as_given_and_bad_tokens_refused_without_showing_them():
    """A signed URL is the connection URL; a token that is not a ws(s) URL is a ValueError."""
    s = session()
    signed = "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=a&conversation_signature=SECRET"
    request = s.connection_request(RealtimeToken("elevenlabs", signed), SessionConfig(), None)
    assert request.url == signed and "SECRET" not in repr(request)
    with pytest.raises(ValueError) as refused:
        s.connection_request(RealtimeToken("elevenlabs", "sk_notaurl_SECRET"), SessionConfig(), None)
    assert "SECRET" not in str(refused.value)
    public = s.connection_request(RealtimeToken("elevenlabs", ""), SessionConfig(), None)
    assert public.url == URL + "?agent_id=agent_1"


def test_check_config_refuses_what_an_agent_cannot_take():
    """temperature, max_output_tokens, semantic VAD and out-of-range TTS values are refused."""
    adapter = elevenlabs_realtime("a", url=URL)
    for bad in ({"temperature": 0.7}, {"max_output_tokens": 100}, {"vad_mode": "semantic"},
                {"provider_options": {"conversation_config_override": {"tts": {"speed": 9}}}}):
        with pytest.raises(ValueError):
            adapter.check_config(SessionConfig(**bad))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapter.check_config(SessionConfig(semantic_eagerness="high"))
    assert caught
    eu = elevenlabs_realtime(residency="eu").url
    assert eu == "wss://api.eu.residency.elevenlabs.io/v1/convai/conversation"
