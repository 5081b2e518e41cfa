"""The Gemini Live protocol session on its own: frames in, events out; intents in, frames out.

What the contract suite (contract.py) does not cover: Gemini-only shapes, option mapping, close
classification, resumption state and URLs. Every client frame is checked against google-genai's
``LiveClientMessage``; the recordings' server frames against ``LiveServerMessage``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, List

import pytest

from realtime_client import SessionConfig, VADConfig, tool
from realtime_client import _events as ev
from realtime_client import _intents as it
from realtime_client._errors import PermissionDeniedError, ProviderError
from realtime_client._models import (
    AudioPart,
    ImagePart,
    RealtimeMessage,
    RealtimeToken,
    TextPart,
    ToolCallPart,
)
from realtime_client._provider import ResumeState
from realtime_client.adapters import ADAPTERS, gemini_realtime
from realtime_client.adapters._gemini._protocol import parse_duration
from tests._gemini_conformance import validate_client_frame, validate_server_frame

DATA = Path(__file__).parent / "data" / "gemini"
KEY = RealtimeToken(provider="gemini", token="AIza-test-key")
EPHEMERAL = RealtimeToken(provider="gemini", token="auth_tokens/abc123")


def session(**options: Any) -> Any:
    return gemini_realtime(**options).new_session()


def started(config: SessionConfig = SessionConfig(), resume: Any = None, **options: Any) -> Any:
    s = session(**options)
    s.connection_request(KEY, config, resume)
    for frame in s.start(config, resume):
        validate_client_frame(frame)
    s.receive(json.dumps({"setupComplete": {}}))
    return s


def sent(s: Any, intent: Any) -> List[dict]:
    frames = s.send(intent)
    for frame in frames:
        validate_client_frame(frame)
    return frames


def events(s: Any, *messages: Any) -> List[Any]:
    out: List[Any] = []
    for m in messages:
        out.extend(s.receive(m if isinstance(m, (str, bytes)) else json.dumps(m)).events)
    return out


def test_registered_and_recordings_are_valid_server_messages():
    """gemini is in ADAPTERS, and every recorded server frame validates as LiveServerMessage."""
    assert ADAPTERS["gemini"] is gemini_realtime
    for path in sorted(DATA.glob("*.json")):
        for frame in json.loads(path.read_text())["frames"]:
            if "client" not in frame:
                validate_server_frame(frame)


def test_connection_request_urls_and_auth_headers():
    """API keys go as x-goog-api-key on v1beta BidiGenerateContent, ephemeral tokens as
    Authorization: Token on v1alpha BidiGenerateContentConstrained; never in the URL."""
    key = session().connection_request(KEY, SessionConfig(), None)
    assert key.url == ("wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta."
                       "GenerativeService.BidiGenerateContent")
    assert key.headers == {"x-goog-api-key": "AIza-test-key"}
    eph = session().connection_request(EPHEMERAL, SessionConfig(), None)
    assert eph.url.endswith(".v1alpha.GenerativeService.BidiGenerateContentConstrained")
    assert eph.headers == {"Authorization": "Token auth_tokens/abc123"}
    assert "abc123" not in repr(eph) and "abc123" not in eph.url
    v1 = session(api_version="v1").connection_request(KEY, SessionConfig(), None)
    assert ".v1.GenerativeService.BidiGenerateContent" in v1.url
    given = "wss://proxy.example/ws/custom"
    assert session(url=given).connection_request(EPHEMERAL, SessionConfig(), None).url == given
    origin = session(url="ws://127.0.0.1:9").connection_request(EPHEMERAL, SessionConfig(), None).url
    assert origin.startswith("ws://127.0.0.1:9/ws/") and origin.endswith("Constrained")
    with pytest.raises(ValueError, match="header"):
        bad = RealtimeToken(provider="gemini", token="bad key\n")
        session().connection_request(bad, SessionConfig(), None)


def test_setup_maps_the_session_config():
    """Model, voice, temperature, token limit, instructions, tools, VAD and transcription land in
    the setup; provider_options are deep-merged last; 'inf' tokens are left out."""

    @tool
    def lookup(term: str) -> str:
        """Look a term up."""
        return term

    config = SessionConfig(model="gemini-3.1-flash-live-preview", voice="Puck", temperature=0.7,
                           max_output_tokens="inf", instructions="Hi.", tools=(lookup, {"googleSearch": {}}),
                           vad_config=VADConfig(silence_duration_ms=400, prefix_padding_ms=30,
                                                interrupt_response=False),
                           provider_options={"generationConfig": {"topK": 3},
                                             "proactivity": {"proactiveAudio": False}})
    s = session()
    s.connection_request(KEY, config, None)
    (frame,) = s.start(config, None)
    validate_client_frame(frame)
    setup = frame["setup"]
    assert setup["model"] == "models/gemini-3.1-flash-live-preview"
    assert setup["generationConfig"] == {"responseModalities": ["AUDIO"], "temperature": 0.7, "topK": 3,
                                         "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {
                                             "voiceName": "Puck"}}}}
    assert setup["tools"][0]["functionDeclarations"][0]["name"] == "lookup"
    assert setup["tools"][1] == {"googleSearch": {}}
    assert setup["realtimeInputConfig"] == {"automaticActivityDetection": {
        "disabled": False, "prefixPaddingMs": 30, "silenceDurationMs": 400},
        "activityHandling": "NO_INTERRUPTION"}
    assert setup["proactivity"] == {"proactiveAudio": False}
    assert not s.info.live_session_update  # 3.1 takes no contextUpdate
    off = session(input_transcription=False, output_transcription=False, session_resumption=False,
                  context_compression=False)
    (bare,) = off.start(SessionConfig(), None)
    for key in ("inputAudioTranscription", "outputAudioTranscription", "sessionResumption",
                "contextWindowCompression"):
        assert key not in bare["setup"]
    custom = session(context_compression={"triggerTokens": 25600, "slidingWindow": {"targetTokens": 12800}})
    (frame,) = custom.start(SessionConfig(), None)
    validate_client_frame(frame)
    assert frame["setup"]["contextWindowCompression"]["triggerTokens"] == 25600


def test_check_config_refuses_and_warns():
    """Semantic VAD, two modalities, a conflicting model and managed provider options are refused;
    VAD fields Gemini cannot map warn."""
    adapter = gemini_realtime(model="gemini-3.8-live")
    for bad, match in ((SessionConfig(vad_mode="semantic"), "semantic"),
                       (SessionConfig(output_modalities=("audio", "text")), "exactly"),
                       (SessionConfig(model="other"), "conflicts"),
                       (SessionConfig(provider_options={"sessionResumption": {}}), "managed")):
        with pytest.raises(ValueError, match=match):
            adapter.check_config(bad)
    with pytest.warns(UserWarning, match="threshold"):
        adapter.check_config(SessionConfig(vad_config=VADConfig(threshold=0.8)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapter.check_config(SessionConfig(vad_config=VADConfig(silence_duration_ms=300)))


def test_user_text_images_and_push_to_talk_frames():
    """Text is realtimeInput.text, an image realtimeInput.video (a data URL unwrapped); manual
    mode opens activityStart before the first audio and closes it with activityEnd."""
    s = started(SessionConfig(vad_mode="manual"))
    frames = sent(s, it.UserMessage("m1", (ImagePart("data:image/jpeg;base64,/9j/4AAQ", "image/png"),
                                           TextPart("What is this?"))))
    assert frames == [{"realtimeInput": {"video": {"data": "/9j/4AAQ", "mimeType": "image/jpeg"}}},
                      {"realtimeInput": {"text": "What is this?"}}]
    audio = sent(s, it.AppendAudio(b"\x01\x00" * 160))
    assert [next(iter(f["realtimeInput"])) for f in audio] == ["activityStart", "audio"]
    assert audio[1]["realtimeInput"]["audio"]["mimeType"] == "audio/pcm;rate=16000"
    assert [next(iter(f["realtimeInput"])) for f in sent(s, it.AppendAudio(b"\x00\x00"))] == ["audio"]
    assert sent(s, it.CommitAudio(200)) == [{"realtimeInput": {"activityEnd": {}}}]
    assert sent(s, it.ClearAudio()) == []
    assert sent(s, it.RequestResponse()) == [] and sent(s, it.Interrupt("t", "i", 100.0)) == []
    server_vad = started()
    assert len(sent(server_vad, it.AppendAudio(b"\x00\x00"))) == 1
    assert sent(server_vad, it.CommitAudio(200)) == []


def test_tool_results_carry_id_name_and_output_or_error():
    """toolResponse.functionResponses[{id, name, response}] with {output} or {error}."""
    s = started()
    (ok,) = sent(s, it.ToolResult("c1", "get_weather", '{"t": 21}'))
    assert ok == {"toolResponse": {"functionResponses": [
        {"id": "c1", "name": "get_weather", "response": {"output": {"t": 21}}}]}}
    (text,) = sent(s, it.ToolResult("c2", "echo", "plain text"))
    assert text["toolResponse"]["functionResponses"][0]["response"] == {"output": "plain text"}
    (bad,) = sent(s, it.ToolResult("c3", "boom", '{"error": "it broke"}', is_error=True))
    assert bad["toolResponse"]["functionResponses"][0]["response"] == {"error": "it broke"}


def test_events_from_one_message_with_every_field():
    """One serverContent carrying input and output transcription and audio yields every event; a
    binary frame is JSON like a text frame; thoughts are not spoken."""
    s = started()
    got = events(s, json.dumps({"serverContent": {
        "inputTranscription": {"text": "hi there", "finished": True},
        "modelTurn": {"parts": [{"text": "planning", "thought": True},
                                {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAAA"}}]},
        "outputTranscription": {"text": "Hello!"}}}).encode())
    kinds = [type(e).__name__ for e in got]
    assert kinds == ["SpeechStarted", "UserTranscript", "SpeechStopped", "UserAudioCommitted",
                     "UserTranscript", "TurnStarted", "OutputStarted", "AudioChunk", "AssistantTranscript"]
    final = [e for e in got if isinstance(e, ev.UserTranscript) and e.final]
    assert final[0].text == "hi there"
    assert [e.text for e in got if isinstance(e, ev.AssistantTranscript)] == ["Hello!"]
    ended = events(s, {"serverContent": {"turnComplete": True},
                       "usageMetadata": {"promptTokenCount": 5, "responseTokenCount": 7,
                                         "totalTokenCount": 12,
                                         "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 5}]}})
    (turn_end,) = [e for e in ended if isinstance(e, ev.TurnEnded)]
    assert turn_end.outcome == "completed" and turn_end.usage.total_tokens == 12
    assert turn_end.usage.input_audio_tokens == 5 and turn_end.usage.output_tokens == 7


def test_usage_only_frames_are_skipped_and_snake_case_is_read():
    """A frame holding only usageMetadata is Ignored; snake_case keys read like camelCase."""
    s = started()
    assert events(s, {"usageMetadata": {"totalTokenCount": 3}}) == [ev.Ignored("usageMetadata")]
    got = events(s, {"server_content": {"model_turn": {"parts": [{"text": "ok"}]}, "turn_complete": True}})
    assert [type(e).__name__ for e in got] == ["TurnStarted", "OutputStarted", "AssistantTranscript",
                                               "TurnEnded"]


def test_interrupted_then_turn_complete_ends_the_turn_interrupted():
    """interrupted -> Interrupted (the reducer flushes); the turnComplete after it ends the turn
    interrupted; toolCallCancellation cancels the calls."""
    s = started()
    audio = {"inlineData": {"mimeType": "audio/pcm", "data": "AAAA"}}
    events(s, {"serverContent": {"modelTurn": {"parts": [audio]}}})
    got = events(s, {"serverContent": {"interrupted": True}}, {"toolCallCancellation": {"ids": ["c1"]}},
                 {"serverContent": {"turnComplete": True}})
    assert isinstance(got[0], ev.Interrupted) and got[1] == ev.ToolCallCancelled(("c1",))
    assert got[2].outcome == "interrupted"


def test_tool_call_ends_its_turn_and_the_model_goes_on_in_a_new_one():
    """toolCall -> ToolCall (args as JSON text) and the turn ends; later content is a new turn."""
    s = started()
    got = events(s, {"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {"a": 1}}]}})
    call = next(e for e in got if isinstance(e, ev.ToolCall))
    assert call.call_id == "c1" and json.loads(call.arguments) == {"a": 1}
    assert isinstance(got[-1], ev.TurnEnded)
    more = events(s, {"serverContent": {"modelTurn": {"parts": [{"text": "done"}]}}})
    assert isinstance(more[0], ev.TurnStarted) and more[0].turn != got[0].turn
    bad = events(s, {"toolCall": {"functionCalls": [{"name": "no_id"}]}})
    assert isinstance(bad[-1], ev.Malformed)


def test_malformed_and_unknown_messages():
    """Not JSON, not an object, wrong field types and bad base64 are Malformed; unknown keys
    UnknownEvent; go-away durations parse."""
    s = started()
    assert isinstance(events(s, b"\xff")[0], ev.Malformed)
    assert isinstance(events(s, "[]")[0], ev.Malformed)
    assert isinstance(events(s, {"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": "audio/pcm", "data": "!!"}}]}}})[-1], ev.Malformed)
    assert events(s, {"brandNew": {}}) == [ev.UnknownEvent("brandNew")]
    assert events(s, {"goAway": {"timeLeft": "1.5s"}}) == [ev.GoAway(1.5)]
    assert parse_duration({"seconds": "50", "nanos": 500000000}) == 50.5
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_close_codes_are_classified():
    """1000 clean; 1011 and drops resume (go_away after goAway); 1007 is a provider error, or
    permission denied when it names the API key; 1008 is permission denied, or a provider error
    for an unknown model."""
    s = started()
    assert s.classify_close(1000, "", None).action == "clean"
    assert s.classify_close(1006, "", None).action == "reconnect"
    assert s.classify_close(1011, "Deadline expired", None).go_away is False
    events(s, {"goAway": {"timeLeft": "10s"}})
    assert s.classify_close(1011, "Deadline expired", None).go_away is True
    bad = s.classify_close(1007, "Request contains an invalid argument.", None)
    assert bad.action == "error" and isinstance(bad.error, ProviderError)
    assert isinstance(s.classify_close(1007, "API key not valid.", None).error, PermissionDeniedError)
    assert isinstance(s.classify_close(1008, "unregistered callers", None).error, PermissionDeniedError)
    assert isinstance(s.classify_close(1008, "models/x is not found for API version v1beta", None).error,
                      ProviderError)


def test_resume_state_follows_the_newest_resumable_handle_and_refusals():
    """Only resumable handles count; a resume refused with 1007 before setupComplete means a
    fresh session seeded with the history (historyConfig), whose Replay is clientContent."""
    s = started()
    assert s.resume_state() == ResumeState(replay=True)
    assert events(s, {"sessionResumptionUpdate": {"newHandle": "h1", "resumable": True}}) == [
        ev.ResumptionUpdate("h1")]
    events(s, {"sessionResumptionUpdate": {"resumable": False}})
    assert s.resume_state() == ResumeState(replay=False, handle="h1")
    again = session()
    again.connection_request(KEY, SessionConfig(), s.resume_state())
    (frame,) = again.start(SessionConfig(), s.resume_state())
    assert frame["setup"]["sessionResumption"] == {"handle": "h1"}
    again.classify_close(1007, "Request contains an invalid argument.", None)
    assert again.resume_state() == ResumeState(replay=True)
    fresh = session()
    (frame,) = fresh.start(SessionConfig(), ResumeState(replay=True))
    assert frame["setup"]["historyConfig"] == {"initialHistoryInClientContent": True}
    history = (RealtimeMessage(id="u", role="user", parts=(TextPart("weather?"),)),
               RealtimeMessage(id="a", role="assistant", parts=(
                   AudioPart("Let me check."), ToolCallPart(id="c1", name="w", arguments='{"c": "x"}',
                                                            output={"t": 1}))))
    (seed,) = sent(fresh, it.Replay(history))
    turns = seed["clientContent"]["turns"]
    assert [t["role"] for t in turns] == ["user", "model", "user"]
    assert turns[1]["parts"][0] == {"text": "Let me check."}
    assert turns[1]["parts"][1]["functionCall"]["name"] == "w"
    assert turns[2]["parts"][0]["functionResponse"]["response"] == {"output": {"t": 1}}
    assert sent(fresh, it.Replay(())) == [{"clientContent": {"turnComplete": True}}]


def test_context_update_sends_only_what_changed_and_is_confirmed_by_the_next_message():
    """On 3.8 a change of instructions/tools is a contextUpdate with only those fields (tools in
    their wrapper); the next message from the server confirms it (ConfigApplied)."""
    s = started()
    assert s.info.live_session_update and s.info.live_update_fields == {"instructions", "tools"}
    (frame,) = sent(s, it.UpdateSession("u1", SessionConfig(instructions="New."), SessionConfig()))
    assert frame == {"contextUpdate": {"systemInstruction": {"parts": [{"text": "New."}]}}}
    (clear,) = sent(s, it.UpdateSession("u2", SessionConfig(), SessionConfig(tools=({"googleSearch": {}},))))
    assert clear == {"contextUpdate": {"tools": {"tools": []}}}
    got = events(s, {"sessionResumptionUpdate": {"resumable": False}})
    assert got[:2] == [ev.ConfigApplied("u1"), ev.ConfigApplied("u2")]
    assert sent(s, it.UpdateSession("u3", SessionConfig(voice="Kore"), SessionConfig())) == []


def test_keepalive_defaults_and_capabilities():
    """No WebSocket pings by default; with pings the timeout is at least 60 s; Gemini cannot
    truncate, announces barge-in itself, takes 16 kHz and gives 24 kHz."""
    info = session().info
    assert info.ping_interval is None and info.ping_timeout is None
    assert not info.can_truncate and not info.speech_interrupts
    assert (info.input_format.rate, info.output_format.rate) == (16000, 24000)
    assert info.resume_on_go_away and info.resumable_points and info.update_by_reconnect
    pinging = session(ping_interval=30, ping_timeout=90).info
    assert (pinging.ping_interval, pinging.ping_timeout) == (30.0, 90.0)
    assert not session(session_resumption=False).info.resume_on_go_away


@pytest.mark.parametrize("frame, client", [
    ({"serverContent": {"turnComplete": 1}}, False),  # pydantic alone would coerce 1 to True
    ({"serverContent": {"turnComplete": True, "bogus": 1}}, False),
    ({"realtimeInput": {"text": "a"}, "toolResponse": {}}, True),  # one key per client message
    ({"setup": {"model": "m", "generationConfig": {"temperature": "1"}}}, True),
    ({"setup": {"model": "m", "realtimeInputConfig": {"bogus": 1}}}, True),
    ({"realtimeInput": {"audio": {"data": "@@@", "mimeType": "audio/pcm"}}}, True),
])
def test_the_oracle_is_strict(frame, client):
    """The google-genai check refuses undeclared fields, coerced values, bad base64 and client
    messages with more than one key, so a lax frame cannot pass as valid."""
    check = validate_client_frame if client else validate_server_frame
    from pydantic import ValidationError

    with pytest.raises((ValidationError, AssertionError)):
        check(frame)
