"""The OpenAI Realtime (GA) provider session, on recorded frames: no network, no threads."""

from __future__ import annotations

import base64
import json
import typing
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_client import tool
from realtime_client._errors import RealtimeError
from realtime_client._events import (
    AssistantTranscript,
    AudioChunk,
    ConfigApplied,
    ConfigRejected,
    Event,
    Ignored,
    Malformed,
    OutputStarted,
    ProviderErrorEvent,
    Ready,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    TurnEnded,
    TurnStarted,
    UnknownEvent,
    UserAudioCommitted,
    UserTranscript,
    UserTranscriptFailed,
)
from realtime_client._intents import (
    AppendAudio,
    ClearAudio,
    CommitAudio,
    Interrupt,
    Replay,
    RequestResponse,
    ToolResult,
    UpdateSession,
    UserMessage,
)
from realtime_client._models import (
    AudioPart,
    ImagePart,
    RealtimeMessage,
    RealtimeToken,
    SessionConfig,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    UsageInfo,
    VADConfig,
)
from realtime_client._provider import (
    Adapter,
    CloseAction,
    ProviderInfo,
    ProviderSession,
    Received,
    ResumeState,
)
from realtime_client.adapters import OpenAIRealtimeAdapter, openai_realtime
from realtime_client.adapters._openai import OpenAISession
from realtime_client.adapters._openai._session_config import build_session, session_diff, wire_tools
from realtime_client.audio._format import PCM16_24K, AudioFormat
from tests._conformance import SERVER_EVENTS, validate_client_frame, validate_server_frame

DATA = Path(__file__).parent / "data" / "openai"
EVENT_TYPES = typing.get_args(Event)
PCM24K = {"type": "audio/pcm", "rate": 24000}
DEFAULT_TURN = {"type": "server_vad"}
WEATHER_SCHEMA = {"type": "function", "name": "get_weather", "description": "Weather by city",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}
MCP_TOOL = {"type": "mcp", "server_label": "x", "server_url": "https://example.com/mcp",
            "require_approval": "never"}
FIXTURES = ["audio_turn", "text_turn", "tool_call", "server_barge_in",
            "client_interrupt"]


def fixture(name: str) -> List[Dict[str, Any]]:
    return [f for f in json.loads((DATA / f"{name}.json").read_text())["frames"] if "type" in f]


def new_session(config: Optional[SessionConfig] = None, **options: Any) -> OpenAISession:
    """A fresh session of ``openai_realtime(**options)``, started with ``config``."""
    session = openai_realtime(**options).new_session()
    assert session.start(config or SessionConfig(), None) == []
    return session


def receive(session: OpenAISession, frame: Any) -> Received:
    return session.receive(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))


def parse_all(session: OpenAISession, frames: List[Dict[str, Any]]) -> List[Event]:
    events: List[Event] = []
    for frame in frames:
        events += receive(session, frame).events
    return events


def one(frame: Any, session: Optional[OpenAISession] = None) -> Event:
    received = receive(session or new_session(), frame)
    assert received.replies == ()
    assert len(received.events) == 1
    return received.events[0]


def pcm(frame: Dict[str, Any]) -> bytes:
    return base64.b64decode(frame["delta"])


def usage(text_in: int, audio_in: int, cached: int, text_out: int, audio_out: int, rid: str) -> UsageInfo:
    return UsageInfo(input_tokens=text_in + audio_in, output_tokens=text_out + audio_out,
                     total_tokens=text_in + audio_in + text_out + audio_out, input_text_tokens=text_in,
                     input_audio_tokens=audio_in, input_image_tokens=0, cached_tokens=cached,
                     output_text_tokens=text_out, output_audio_tokens=audio_out, response_id=rid)


def session_of(frame: Dict[str, Any]) -> Dict[str, Any]:
    validate_client_frame(frame)
    assert frame["type"] == "session.update"
    assert frame["event_id"].startswith("evt_")
    return frame["session"]


def update_for(config: SessionConfig, **options: Any) -> Dict[str, Any]:
    """The full session object the session sends for ``config``, validated."""
    return session_of(openai_realtime(**options).new_session().session_update(config))


def base_session(**over: Any) -> Dict[str, Any]:
    """The session.update payload the default adapter sends for SessionConfig()."""
    session: Dict[str, Any] = {
        "type": "realtime",
        "audio": {"input": {"format": PCM24K, "turn_detection": DEFAULT_TURN,
                            "transcription": {"model": "whisper-1"}},
                  "output": {"format": PCM24K}},
        "tools": [],
    }
    session.update(over)
    return session


def strip_ids(frames: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The frames without their (random) event ids, after checking each has a fresh one."""
    ids = [f["event_id"] for f in frames]
    assert all(i.startswith("evt_") for i in ids) and len(set(ids)) == len(ids)
    return [{k: v for k, v in f.items() if k != "event_id"} for f in frames]


def session_created() -> Dict[str, Any]:
    return fixture("audio_turn")[0]


def session_updated(event_id: str = "event_upd_1") -> Dict[str, Any]:
    frame = dict(fixture("audio_turn")[1], event_id=event_id)
    validate_server_frame(frame)
    return frame


def error_frame(code: Optional[str], message: str, event_id: Optional[str] = None,
                type_: str = "invalid_request_error", param: Optional[str] = None) -> Dict[str, Any]:
    frame = {"type": "error", "event_id": "event_err_1",
             "error": {"type": type_, "code": code, "message": message, "param": param,
                       "event_id": event_id}}
    validate_server_frame(frame)
    return frame


def ready_session(config: Optional[SessionConfig] = None, **options: Any) -> OpenAISession:
    """A session that went through the handshake (session.created, session.updated -> Ready)."""
    session = new_session(config, **options)
    assert len(receive(session, session_created()).replies) == 1
    assert isinstance(one(session_updated(), session), Ready)
    return session


class SchemaTool:
    """A user object that only has to_schema(), like realtime_client.Tool."""

    def to_schema(self) -> Dict[str, Any]:
        return dict(WEATHER_SCHEMA)


# --- session.update content -------------------------------------------------------------


def test_default_session_update_is_minimal_and_valid() -> None:
    """The default config sends GA audio formats, server VAD, whisper-1 transcription and no tools."""
    assert update_for(SessionConfig()) == base_session()


def test_session_update_uses_given_event_id() -> None:
    """A caller-chosen event_id is used so errors can be matched to the update."""
    frame = openai_realtime().new_session().session_update(SessionConfig(), event_id="evt_cfg_1")
    assert frame["event_id"] == "evt_cfg_1"


def test_session_update_event_ids_are_fresh() -> None:
    """Without a caller-chosen id each session.update gets a new random event id."""
    session = openai_realtime().new_session()
    ids = {session.session_update(SessionConfig())["event_id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    ("config", "turn"),
    [
        (SessionConfig(vad_mode="server"), {"type": "server_vad"}),
        (SessionConfig(vad_config=VADConfig(threshold=0.6, prefix_padding_ms=200, silence_duration_ms=700,
                                            idle_timeout_ms=6000, create_response=True,
                                            interrupt_response=False)),
         {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200, "silence_duration_ms": 700,
          "idle_timeout_ms": 6000, "create_response": True, "interrupt_response": False}),
        (SessionConfig(vad_config={"silence_duration_ms": 350}),
         {"type": "server_vad", "silence_duration_ms": 350}),
        (SessionConfig(vad_mode="semantic"), {"type": "semantic_vad"}),
        (SessionConfig(vad_mode="semantic", semantic_eagerness="high",
                       vad_config=VADConfig(create_response=False, interrupt_response=True)),
         {"type": "semantic_vad", "eagerness": "high", "create_response": False, "interrupt_response": True}),
        (SessionConfig(vad_mode="manual"), None),
        (SessionConfig(vad_mode="manual", vad_config=VADConfig(threshold=0.9)), None),
    ],
    ids=["server", "server-full-vadconfig", "server-dict-vadconfig", "semantic", "semantic-eager",
         "manual", "manual-ignores-vadconfig"],
)
def test_turn_detection_modes(config: SessionConfig, turn: Any) -> None:
    """Each VAD mode maps to its GA turn_detection object, or an explicit null in manual mode."""
    session = update_for(config)
    assert session == base_session(audio={
        "input": {"format": PCM24K, "turn_detection": turn, "transcription": {"model": "whisper-1"}},
        "output": {"format": PCM24K}})
    assert "turn_detection" in session["audio"]["input"]


def test_semantic_vad_drops_server_only_fields() -> None:
    """Server-VAD-only VADConfig fields (threshold, padding, silence, idle) are left out of semantic_vad."""
    config = SessionConfig(vad_mode="semantic", vad_config=VADConfig(
        threshold=0.7, prefix_padding_ms=100, silence_duration_ms=400, idle_timeout_ms=5000,
        interrupt_response=False))
    turn = update_for(config)["audio"]["input"]["turn_detection"]
    assert turn == {"type": "semantic_vad", "interrupt_response": False}


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("whisper-1", {"model": "whisper-1"}),
        ("gpt-4o-transcribe", {"model": "gpt-4o-transcribe"}),
        (True, {"model": "whisper-1"}),
        ({"model": "gpt-4o-mini-transcribe", "language": "nb", "prompt": "Oslo, Bergen"},
         {"model": "gpt-4o-mini-transcribe", "language": "nb", "prompt": "Oslo, Bergen"}),
        (False, None),
        (None, None),
    ],
    ids=["default", "model-name", "true", "mapping", "false", "none"],
)
def test_input_transcription_options(option: Any, expected: Any) -> None:
    """Transcription is on by default, configurable by name or mapping, and an explicit null when off."""
    session = update_for(SessionConfig(), input_transcription=option)
    assert session["audio"]["input"]["transcription"] == expected
    assert "transcription" in session["audio"]["input"]
    info = openai_realtime(input_transcription=option).new_session().info
    assert info.transcribes_input is (expected is not None)


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [(("text",), ["text"]), (("audio",), ["audio"]), (("audio", "text"), ["audio"]),
     (("text", "audio"), ["audio"]), ("text", ["text"])],
)
def test_output_modalities_are_exactly_one(modalities: Any, expected: List[str]) -> None:
    """GA takes one output modality; asking for both sends audio, which carries a transcript."""
    assert update_for(SessionConfig(output_modalities=modalities)) == base_session(output_modalities=expected)


def test_full_session_update() -> None:
    """Every option at once: instructions, voice, speed, noise reduction, tools, tool_choice, limits."""
    config = SessionConfig(instructions="Be brief.", voice="marin", tools=[WEATHER_SCHEMA, SchemaTool()],
                           output_modalities=["audio"], max_output_tokens=512, semantic_eagerness="low",
                           vad_mode="semantic")
    session = update_for(config, input_transcription={"model": "gpt-4o-transcribe", "language": "en"},
                         noise_reduction="far_field", speed=1.25,
                         tool_choice={"type": "function", "name": "get_weather"})
    assert session == {
        "type": "realtime",
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "audio": {"input": {"format": PCM24K, "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
                            "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                            "noise_reduction": {"type": "far_field"}},
                  "output": {"format": PCM24K, "voice": "marin", "speed": 1.25}},
        "tools": [WEATHER_SCHEMA, WEATHER_SCHEMA],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "max_output_tokens": 512,
    }


def test_tools_from_the_tool_decorator_validate() -> None:
    """Tools built with @tool produce function declarations the GA schema accepts."""

    @tool
    def get_weather(city: str, unit: str = "celsius") -> dict:
        """Get the weather.

        Args:
            city: the city name.
            unit: celsius or fahrenheit.
        """
        return {}

    session = update_for(SessionConfig(tools=[get_weather]))
    assert session["tools"][0]["type"] == "function"
    assert session["tools"][0]["name"] == "get_weather"
    assert session["tools"][0]["parameters"]["properties"]["city"]["type"] == "string"


def test_schema_objects_get_the_function_type() -> None:
    """An object with to_schema() whose schema lacks 'type' is declared as a function tool."""

    class Bare:
        def to_schema(self) -> Dict[str, Any]:
            return {"name": "ping", "parameters": {"type": "object", "properties": {}}}

    assert update_for(SessionConfig(tools=[Bare()]))["tools"] == [
        {"type": "function", "name": "ping", "parameters": {"type": "object", "properties": {}}}]


def test_provider_tool_dicts_pass_through_unchanged() -> None:
    """A provider tool dict in config.tools (e.g. MCP) is sent as given, as a copy, and validates."""
    raw = dict(MCP_TOOL)
    config = SessionConfig(tools=[SchemaTool(), raw])
    session = update_for(config)
    assert session["tools"] == [WEATHER_SCHEMA, MCP_TOOL]
    assert session["tools"][1] is not raw
    assert raw == MCP_TOOL


def test_provider_option_tools_are_appended_after_the_function_tools() -> None:
    """provider_options['tools'] are added after config.tools, never replacing them."""
    config = SessionConfig(tools=[SchemaTool()], provider_options={"tools": [MCP_TOOL]})
    assert update_for(config)["tools"] == [WEATHER_SCHEMA, MCP_TOOL]
    assert wire_tools(config) == [WEATHER_SCHEMA, MCP_TOOL]
    assert wire_tools(SessionConfig(provider_options={"tools": [MCP_TOOL]})) == [MCP_TOOL]


def test_a_tool_that_is_neither_object_nor_dict_is_refused() -> None:
    """An object without to_schema() is a TypeError naming its type."""
    with pytest.raises(TypeError, match="int"):
        openai_realtime().new_session().session_update(SessionConfig(tools=[42]))


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_strings(choice: str) -> None:
    """The three tool_choice keywords pass through."""
    assert update_for(SessionConfig(), tool_choice=choice) == base_session(tool_choice=choice)


@pytest.mark.parametrize("limit", [1, 4096, "inf"])
def test_max_output_tokens(limit: Any) -> None:
    """max_output_tokens is sent as an int or 'inf'."""
    assert update_for(SessionConfig(max_output_tokens=limit)) == base_session(max_output_tokens=limit)


def test_provider_options_are_deep_merged_last() -> None:
    """provider_options override nested fields without dropping their siblings."""
    config = SessionConfig(voice="cedar", provider_options={
        "audio": {"input": {"noise_reduction": {"type": "near_field"}, "transcription": None},
                  "output": {"speed": 0.9}},
        "truncation": "disabled", "include": ["item.input_audio_transcription.logprobs"]})
    openai_realtime().check_config(config)
    assert update_for(config) == base_session(
        audio={"input": {"format": PCM24K, "turn_detection": DEFAULT_TURN, "transcription": None,
                         "noise_reduction": {"type": "near_field"}},
               "output": {"format": PCM24K, "voice": "cedar", "speed": 0.9}},
        truncation="disabled", include=["item.input_audio_transcription.logprobs"])


def test_provider_options_with_unknown_keys_are_sent_as_is() -> None:
    """Unknown provider_options keys are not filtered: the frame carries them (and the server rejects it)."""
    frame = openai_realtime().new_session().session_update(SessionConfig(provider_options={"bogus": 1}))
    assert frame["session"]["bogus"] == 1
    with pytest.raises(AssertionError, match="bogus"):
        validate_client_frame(frame)


def test_temperature_and_model_are_never_sent() -> None:
    """.model passes check_config, .temperature does not; past check_config neither reaches the update."""
    openai_realtime().check_config(SessionConfig(model="gpt-realtime-mini"))
    with pytest.raises(ValueError, match="temperature cannot be set for OpenAI Realtime"):
        openai_realtime().check_config(SessionConfig(temperature=0.7))
    assert update_for(SessionConfig(temperature=0.7, model="gpt-realtime-mini")) == base_session()


def test_provider_options_model_or_temperature_are_never_sent() -> None:
    """Even past check_config, model and temperature in provider_options are stripped from the update."""
    config = SessionConfig(provider_options={"model": "gpt-realtime-2", "temperature": 0.2,
                                             "instructions": "x"})
    assert update_for(config) == base_session(instructions="x")


def test_empty_instructions_are_sent_to_clear() -> None:
    """An empty instructions string is sent (it clears the server default)."""
    assert update_for(SessionConfig(instructions=""))["instructions"] == ""


@pytest.mark.parametrize(
    ("fmt", "wire", "audio"),
    [("pcm16", PCM24K, AudioFormat("pcm16", 24000)),
     ("g711_ulaw", {"type": "audio/pcmu"}, AudioFormat("g711_ulaw", 8000)),
     ("g711_alaw", {"type": "audio/pcma"}, AudioFormat("g711_alaw", 8000))],
)
def test_audio_format_option(fmt: str, wire: Dict[str, Any], audio: AudioFormat) -> None:
    """audio_format sets the GA format object both ways, and the session info and Ready formats."""
    session = update_for(SessionConfig(), audio_format=fmt)
    assert session["audio"]["input"]["format"] == session["audio"]["output"]["format"] == wire
    adapter = openai_realtime(audio_format=fmt)
    assert adapter.audio_format == audio
    info = adapter.new_session().info
    assert (info.input_format, info.output_format) == (audio, audio)
    ready = ready_session(audio_format=fmt)
    assert one(session_updated(), ready) == Ignored("session.updated")
    fresh = new_session(audio_format=fmt)
    receive(fresh, session_created())
    assert one(session_updated(), fresh) == Ready(audio, audio)


def test_unknown_audio_format_is_refused() -> None:
    """An audio_format other than pcm16, g711_ulaw or g711_alaw is a ValueError."""
    with pytest.raises(ValueError, match="audio_format"):
        openai_realtime(audio_format="opus")


# --- check_config -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"audio": {"input": {"format": {"type": "audio/pcmu"}}}}, ValueError, "audio_format"),
        ({"audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}}}}, ValueError, "audio_format"),
        ({"model": "gpt-realtime-2"}, ValueError, "model="),
        ({"temperature": 0.8}, ValueError, "temperature"),
        ({"tools": MCP_TOOL}, TypeError, "list"),
        ({"tools": "mcp"}, TypeError, "list"),
        ({"modalities": ["audio", "text"]}, ValueError, r"'modalities'\] is a beta.*output_modalities"),
        ({"turn_detection": None}, ValueError, r"'turn_detection'\] is a beta.*audio\.input\.turn_detection"),
        ({"voice": "ash"}, ValueError, r"'voice'\] is a beta.*audio\.output\.voice"),
        ({"input_audio_format": "pcm16"}, ValueError, r"beta.*audio_format="),
        ({"input_audio_transcription": {"model": "whisper-1"}}, ValueError, "input_transcription="),
        ({"max_response_output_tokens": 10}, ValueError, "use max_output_tokens"),
        ({"type": "transcription"}, ValueError, "'type'\\] must be 'realtime'"),
    ],
    ids=["input-format", "output-format", "model", "temperature", "tools-dict", "tools-string",
         "beta-modalities", "beta-turn-detection", "beta-voice", "beta-audio-format", "beta-transcription",
         "beta-max-tokens", "type"],
)
def test_check_config_refuses_settings_that_corrupt_the_session(options: Dict[str, Any], error: type,
                                                                match: str) -> None:
    """check_config refuses provider_options audio formats, model, temperature and non-list tools."""
    with pytest.raises(error, match=match):
        openai_realtime().check_config(SessionConfig(provider_options=options))


@pytest.mark.parametrize(
    "config",
    [SessionConfig(), SessionConfig(tools=[SchemaTool(), MCP_TOOL], provider_options={"tools": [MCP_TOOL]}),
     SessionConfig(provider_options={"audio": {"input": {"noise_reduction": None},
                                               "output": {"speed": 1.1}}}),
     SessionConfig(provider_options={"tools": (MCP_TOOL,)})],
    ids=["default", "tools", "audio-siblings", "tools-tuple"],
)
def test_check_config_accepts_sound_settings(config: SessionConfig) -> None:
    """Settings the session can carry pass check_config without an error."""
    assert openai_realtime().check_config(config) is None


# Every SessionConfig setting, and what OpenAI GA does with it (the table in docs/providers.md).
_HONOURED = [
    SessionConfig(model="gpt-realtime-mini"),
    SessionConfig(voice="marin"),
    SessionConfig(instructions="Be brief."),
    SessionConfig(instructions=""),
    SessionConfig(tools=[SchemaTool(), MCP_TOOL]),
    SessionConfig(vad_mode="server", vad_config=VADConfig(threshold=0.6, prefix_padding_ms=200,
                                                          silence_duration_ms=700, idle_timeout_ms=6000,
                                                          create_response=False, interrupt_response=False)),
    SessionConfig(vad_mode="semantic", semantic_eagerness="high",
                  vad_config=VADConfig(create_response=True, interrupt_response=False)),
    SessionConfig(vad_mode="manual"),
    SessionConfig(output_modalities=["audio"]),
    SessionConfig(output_modalities="text"),
    SessionConfig(max_output_tokens=1),
    SessionConfig(max_output_tokens=4096),
    SessionConfig(max_output_tokens="inf"),
    SessionConfig(provider_options={"truncation": "disabled", "type": "realtime"}),
]


@pytest.mark.parametrize("config", _HONOURED, ids=[
    "model", "voice", "instructions", "instructions-clear", "tools", "server-vad-full", "semantic-vad",
    "manual", "audio", "text", "tokens-1", "tokens-4096", "tokens-inf", "provider-options"])
def test_settings_openai_honours_pass_check_config_silently(config: SessionConfig) -> None:
    """Each honoured setting passes check_config with no error and no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        openai_realtime().check_config(config)


@pytest.mark.parametrize(
    ("config", "adapter_options", "match"),
    [
        (SessionConfig(temperature=0.8), {}, "temperature cannot be set for OpenAI Realtime"),
        (SessionConfig(temperature=0.0), {}, "temperature cannot be set"),
        (SessionConfig(output_modalities=["audio", "text"]), {},
         r"exactly \['audio'\] .* or \['text'\], got \['audio', 'text'\]"),
        (SessionConfig(output_modalities=["text", "text"]), {}, "must be exactly"),
        (SessionConfig(output_modalities=[]), {}, r"got \[\]"),
        (SessionConfig(max_output_tokens=4097), {}, "must be 1 to 4096 or 'inf', got 4097"),
        (SessionConfig(model="gpt-realtime-mini"), {"model": "gpt-realtime-2.1"},
         r"model='gpt-realtime-mini' conflicts with openai_realtime\(model='gpt-realtime-2.1'\)"),
        (SessionConfig(voice=" "), {}, "voice must be a voice name"),
    ],
    ids=["temperature", "temperature-zero", "two-modalities", "text-twice", "no-modality", "tokens-4097",
         "model-conflict", "empty-voice"],
)
def test_settings_openai_cannot_honour_are_refused(config: SessionConfig, adapter_options: Dict[str, Any],
                                                   match: str) -> None:
    """temperature, two or no output modalities, over 4096 tokens, a second model or an empty voice raise."""
    with pytest.raises(ValueError, match=match):
        openai_realtime(**adapter_options).check_config(config)


def test_the_same_model_on_adapter_and_config_is_no_conflict() -> None:
    """openai_realtime(model=X) with model=X in the config passes."""
    openai_realtime(model="gpt-realtime-mini").check_config(SessionConfig(model="gpt-realtime-mini"))


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (SessionConfig(vad_mode="manual", vad_config=VADConfig(silence_duration_ms=800)),
         r"vad_config \(silence_duration_ms\) has no effect with vad_mode='manual'"),
        (SessionConfig(vad_mode="manual", vad_config=VADConfig(create_response=False)),
         r"vad_config \(create_response\) has no effect with vad_mode='manual'"),
        (SessionConfig(vad_mode="semantic", vad_config=VADConfig(threshold=0.7, idle_timeout_ms=5000,
                                                                 interrupt_response=False)),
         "vad_config threshold, idle_timeout_ms has no effect with vad_mode='semantic'"),
        (SessionConfig(vad_mode="server", semantic_eagerness="low"),
         "semantic_eagerness has no effect with vad_mode='server'"),
        (SessionConfig(vad_mode="manual", semantic_eagerness="high"),
         "semantic_eagerness has no effect with vad_mode='manual'"),
    ],
    ids=["manual-vad-config", "manual-create-response", "semantic-server-only-fields",
         "eagerness-server", "eagerness-manual"],
)
def test_settings_with_no_effect_in_this_vad_mode_warn(config: SessionConfig, match: str) -> None:
    """vad_config in manual mode, server-only vad_config fields with semantic and stray eagerness warn."""
    with pytest.warns(UserWarning, match=match):
        openai_realtime().check_config(config)


def test_settings_with_no_effect_are_not_sent() -> None:
    """What check_config warns about is left out of the session object, as documented."""
    manual = update_for(SessionConfig(vad_mode="manual", vad_config=VADConfig(silence_duration_ms=800),
                                      semantic_eagerness="high"))
    assert manual["audio"]["input"]["turn_detection"] is None
    server = update_for(SessionConfig(semantic_eagerness="low"))
    assert server["audio"]["input"]["turn_detection"] == {"type": "server_vad"}


def test_errors_come_before_warnings() -> None:
    """A config that is refused warns about nothing (the error is the one message)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="cannot be sent"):
            openai_realtime().check_config(SessionConfig(
                vad_mode="manual", vad_config=VADConfig(threshold=0.5), provider_options={"model": "x"}))


# --- the handshake and live session updates ---------------------------------------------


def test_start_sends_nothing_and_session_created_is_answered_with_the_full_update() -> None:
    """start() sends no frame; session.created yields no event and one reply, the full session.update."""
    config = SessionConfig(instructions="Be brief.", voice="marin")
    session = new_session(config)
    received = receive(session, session_created())
    assert received.events == ()
    assert len(received.replies) == 1
    assert session_of(received.replies[0]) == update_for(config)


def test_the_matching_session_updated_is_ready() -> None:
    """The session.updated answering the handshake update yields Ready with the wire formats."""
    session = new_session()
    receive(session, session_created())
    assert one(session_updated(), session) == Ready(PCM16_24K, PCM16_24K)


def test_voice_turn_handshake_frames() -> None:
    """The recorded session.created/session.updated pair completes the handshake."""
    f = fixture("audio_turn")
    session = new_session()
    first = receive(session, f[0])
    assert first.events == () and [r["type"] for r in first.replies] == ["session.update"]
    assert receive(session, f[1]) == Received((Ready(PCM16_24K, PCM16_24K),))


def test_a_repeated_session_created_is_ignored() -> None:
    """A second session.created is Ignored and not answered again."""
    session = ready_session()
    assert receive(session, session_created()) == Received((Ignored("session.created"),))


def test_unsolicited_session_updated_is_ignored() -> None:
    """A session.updated with no update pending (before session.created, or after Ready) is Ignored."""
    assert one(session_updated(), new_session()) == Ignored("session.updated")
    assert one(session_updated(), ready_session()) == Ignored("session.updated")


def test_an_error_naming_the_handshake_update_is_config_rejected() -> None:
    """An error whose event_id names the handshake session.update yields ConfigRejected, not Ready."""
    session = new_session(SessionConfig(provider_options={"bogus": 1}))
    reply = receive(session, session_created()).replies[0]
    event = one(error_frame("unknown_parameter", "Unknown parameter: 'session.bogus'.", reply["event_id"],
                            param="session.bogus"), session)
    assert isinstance(event, ConfigRejected)
    assert (event.message, event.code) == ("Unknown parameter: 'session.bogus'.", "unknown_parameter")
    assert one(session_updated(), session) == Ignored("session.updated")


def test_live_update_sends_only_what_changed() -> None:
    """Changing the instructions sends only them (not the voice), and its session.updated is ConfigApplied."""
    before = SessionConfig(instructions="Be brief.", voice="marin", tools=[SchemaTool()])
    after = before.merged(instructions="Be verbose.")
    session = ready_session(before)
    frames = session.send(UpdateSession("cfg_1", after, before))
    assert len(frames) == 1
    assert session_of(frames[0]) == {"type": "realtime", "instructions": "Be verbose."}
    assert one(session_updated("event_upd_2"), session) == ConfigApplied("cfg_1")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"voice": "cedar"}, {"audio": {"output": {"voice": "cedar"}}}),
        ({"vad_mode": "manual"}, {"audio": {"input": {"turn_detection": None}}}),
        ({"vad_config": VADConfig(silence_duration_ms=800)},
         {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 800}}}}),
        ({"tools": [SchemaTool(), MCP_TOOL]}, {"tools": [WEATHER_SCHEMA, MCP_TOOL]}),
        ({"tools": []}, {"tools": []}),
        ({"max_output_tokens": 300}, {"max_output_tokens": 300}),
        ({"output_modalities": ["text"]}, {"output_modalities": ["text"]}),
    ],
    ids=["voice", "manual", "vad-config", "tools", "no-tools", "max-tokens", "modalities"],
)
def test_live_update_diffs(change: Dict[str, Any], expected: Dict[str, Any]) -> None:
    """Each kind of change sends its own field only; whole objects (turn detection, tools) are sent whole."""
    before = SessionConfig(instructions="Be brief.", voice="marin", tools=[SchemaTool()])
    after = before.merged(**change)
    frames = ready_session(before).send(UpdateSession("cfg_1", after, before))
    assert [session_of(f) for f in frames] == [{"type": "realtime", **expected}]


def test_an_update_that_changes_nothing_sends_no_frame() -> None:
    """An update equal on the wire to the previous config (even if temperature changed) sends nothing."""
    before = SessionConfig(instructions="Be brief.", voice="marin")
    session = ready_session(before)
    assert session.send(UpdateSession("cfg_1", before, before)) == []
    assert session.send(UpdateSession("cfg_2", before.merged(temperature=0.3), before)) == []
    assert one(session_updated(), session) == Ignored("session.updated")


def test_updates_are_answered_in_order_and_a_rejection_names_its_update() -> None:
    """session.updated answers pending updates oldest first; an error naming one rejects only that one."""
    base = SessionConfig(voice="marin")
    session = ready_session(base)
    first = base.merged(instructions="one")
    second = first.merged(voice="cedar")
    third = second.merged(instructions="three")
    [f1] = session.send(UpdateSession("cfg_1", first, base))
    [f2] = session.send(UpdateSession("cfg_2", second, first))
    [f3] = session.send(UpdateSession("cfg_3", third, second))
    assert session_of(f2) == {"type": "realtime", "audio": {"output": {"voice": "cedar"}}}
    assert len({f1["event_id"], f2["event_id"], f3["event_id"]}) == 3
    assert one(session_updated(), session) == ConfigApplied("cfg_1")
    rejected = one(error_frame("cannot_update_voice", "Cannot update a conversation's voice if assistant "
                               "audio is present.", f2["event_id"], param="session.voice"), session)
    assert rejected == ConfigRejected("cfg_2", "Cannot update a conversation's voice if assistant audio "
                                      "is present.", "cannot_update_voice")
    assert one(session_updated(), session) == ConfigApplied("cfg_3")
    assert one(session_updated(), session) == Ignored("session.updated")


def test_session_update_diff_helper() -> None:
    """session_diff keeps type, recurses into audio, and never unsets a key the new session lacks."""
    options = openai_realtime().options
    old = build_session(SessionConfig(instructions="a", voice="marin"), options)
    new = build_session(SessionConfig(voice="cedar"), options)
    assert session_diff(new, old) == {"type": "realtime", "audio": {"output": {"voice": "cedar"}}}
    assert session_diff(old, old) == {"type": "realtime"}
    assert openai_realtime().new_session().session_update(
        SessionConfig(voice="cedar"), SessionConfig(instructions="a", voice="marin"))["session"] == \
        {"type": "realtime", "audio": {"output": {"voice": "cedar"}}}


# --- intents -> frames ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "url"),
    [
        (ImagePart("https://example.com/cat.png"), "https://example.com/cat.png"),
        (ImagePart("http://example.com/cat.jpg", "image/jpeg"), "http://example.com/cat.jpg"),
        (ImagePart("data:image/jpeg;base64,/9j/4AAQ"), "data:image/jpeg;base64,/9j/4AAQ"),
        (ImagePart("iVBORw0KGgo=", "image/png"), "data:image/png;base64,iVBORw0KGgo="),
        (ImagePart("/9j/4AAQ\nSkZJRg==\n", "image/jpeg"), "data:image/jpeg;base64,/9j/4AAQSkZJRg=="),
    ],
    ids=["https", "http", "data-uri", "raw-base64", "raw-base64-with-newlines"],
)
def test_user_message_images(part: ImagePart, url: str) -> None:
    """URLs and data URIs pass through; raw base64 becomes a data URI with the part's MIME type."""
    [frame] = new_session().send(UserMessage("item_user_1", [TextPart("What is this?"), part]))
    validate_client_frame(frame)
    assert frame["type"] == "conversation.item.create"
    assert frame["item"] == {"id": "item_user_1", "type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": url}]}


def test_user_message_without_an_id_leaves_it_to_the_server() -> None:
    """An empty message_id sends the item without an id."""
    [frame] = new_session().send(UserMessage("", [TextPart("Hi")]))
    validate_client_frame(frame)
    assert frame["item"] == {"type": "message", "role": "user",
                             "content": [{"type": "input_text", "text": "Hi"}]}


@pytest.mark.parametrize("parts", [[], [AudioPart("hi")]], ids=["empty", "audio-only"])
def test_user_message_needs_a_text_or_image_part(parts: List[Any]) -> None:
    """A user message with no text or image part is a ValueError."""
    with pytest.raises(ValueError, match="at least one text or image part"):
        new_session().send(UserMessage("item_1", parts))


def test_simple_client_frames() -> None:
    """response.create, commit, clear and tool results have the GA shapes and fresh event ids."""
    session = new_session()
    frames = [*session.send(RequestResponse()), *session.send(CommitAudio(640.0)),
              *session.send(ClearAudio()),
              *session.send(ToolResult("call_1", "get_weather", '{"temp": 3}')),
              *session.send(ToolResult("call_2", "get_weather", '{"error": "boom"}', is_error=True))]
    for frame in frames:
        validate_client_frame(frame)
    assert strip_ids(frames) == [
        {"type": "response.create"},
        {"type": "input_audio_buffer.commit"},
        {"type": "input_audio_buffer.clear"},
        {"type": "conversation.item.create",
         "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 3}'}},
        {"type": "conversation.item.create",
         "item": {"type": "function_call_output", "call_id": "call_2", "output": '{"error": "boom"}'}},
    ]


def test_tool_result_encodes_non_strings() -> None:
    """A non-string output is sent as JSON text."""
    [frame] = new_session().send(ToolResult("call_9", "f", {"error": "boom"}))  # type: ignore[arg-type]
    validate_client_frame(frame)
    assert json.loads(frame["item"]["output"]) == {"error": "boom"}


def test_append_audio_round_trips() -> None:
    """PCM is sent as base64 without an event_id (it is the high-rate path)."""
    raw = bytes(range(256)) * 10
    [frame] = new_session().send(AppendAudio(raw))
    validate_client_frame(frame)
    assert set(frame) == {"type", "audio"}
    assert frame["type"] == "input_audio_buffer.append"
    assert base64.b64decode(frame["audio"]) == raw
    assert new_session().send(AppendAudio(memoryview(raw)))[0]["audio"] == frame["audio"]  # type: ignore[arg-type]


def test_interrupt_cancels_and_truncates() -> None:
    """Interrupt sends response.cancel for the turn and a truncate at the heard position."""
    frames = new_session().send(Interrupt("resp_1", "item_A", 1840.0))
    for frame in frames:
        validate_client_frame(frame)
    assert strip_ids(frames) == [
        {"type": "response.cancel", "response_id": "resp_1"},
        {"type": "conversation.item.truncate", "item_id": "item_A", "content_index": 0, "audio_end_ms": 1840},
    ]


@pytest.mark.parametrize(
    ("config", "server_cancels"),
    [(SessionConfig(), True), (SessionConfig(vad_mode="semantic"), True),
     (SessionConfig(vad_mode="manual"), False),
     (SessionConfig(vad_config=VADConfig(interrupt_response=False)), False),
     (SessionConfig(vad_mode="semantic", vad_config=VADConfig(interrupt_response=False)), False),
     (SessionConfig(vad_config=VADConfig(interrupt_response=True)), True)],
    ids=["server", "semantic", "manual", "server-no-interrupt", "semantic-no-interrupt",
         "server-interrupt"],
)
def test_interrupt_by_user_speech_leaves_the_cancel_to_server_vad(config: SessionConfig,
                                                                  server_cancels: bool) -> None:
    """A speech interrupt sends no cancel when server/semantic VAD cancels itself, but always the truncate."""
    frames = new_session(config).send(Interrupt("resp_1", "item_A", 500.0, by_user_speech=True))
    types = [f["type"] for f in frames]
    assert types == ([] if server_cancels else ["response.cancel"]) + ["conversation.item.truncate"]
    assert [f["type"] for f in new_session(config).send(Interrupt("resp_1", "item_A", 500.0))] == \
        ["response.cancel", "conversation.item.truncate"]


def test_interrupt_follows_the_live_config() -> None:
    """After an update to manual mode, a speech interrupt sends its own cancel."""
    before = SessionConfig()
    session = ready_session(before)
    assert session.send(Interrupt("resp_1", by_user_speech=True)) == []
    session.send(UpdateSession("cfg_1", before.merged(vad_mode="manual"), before))
    assert [f["type"] for f in session.send(Interrupt("resp_1", by_user_speech=True))] == ["response.cancel"]


@pytest.mark.parametrize(
    ("intent", "types"),
    [
        (Interrupt("resp_1"), ["response.cancel"]),
        (Interrupt("resp_1", "item_A"), ["response.cancel"]),
        (Interrupt("resp_1", "item_A", 0.0), ["response.cancel"]),
        (Interrupt("resp_1", "item_A", -5.0), ["response.cancel"]),
        (Interrupt("resp_1", None, 900.0), ["response.cancel"]),
        (Interrupt(None, "item_A", 900.0), ["conversation.item.truncate"]),
        (Interrupt(), []),
    ],
    ids=["turn-only", "no-heard-ms", "heard-zero", "heard-negative", "no-item", "no-turn", "nothing"],
)
def test_interrupt_sends_only_what_applies(intent: Interrupt, types: List[str]) -> None:
    """No truncate without an item or with nothing heard, and no cancel without a turn."""
    assert [f["type"] for f in new_session().send(intent)] == types


def test_truncate_floors_audio_end_ms_to_an_int() -> None:
    """A fractional heard position is floored to whole milliseconds."""
    [frame] = new_session().send(Interrupt(None, "item_A", 1234.9))
    validate_client_frame(frame)
    assert frame["audio_end_ms"] == 1234 and type(frame["audio_end_ms"]) is int


def test_replay_items_in_order() -> None:
    """Replay sends text, transcripts, images and finished tool calls in order, as GA items."""
    messages = [
        RealtimeMessage("m1", "user", [TextPart("Hi"), ImagePart("iVBORw0KGgo=")]),
        RealtimeMessage("m2", "assistant", [AudioPart("Hello! How can I help?", 1200.0)]),
        RealtimeMessage("m3", "user", [AudioPart("Weather in Oslo and Bergen?")]),
        RealtimeMessage("m4", "assistant", [
            TextPart("Let me check."),
            ToolCallPart("call_a", "get_weather", '{"city":"Oslo"}', {"city": "Oslo"}, {"temp": 3}),
            ToolCallPart("call_b", "get_weather", '{"city":"Bergen"}'),
            ToolCallPart("call_c", "get_weather", '{"city":"Tromso"}'),
            AudioPart("Oslo is 3 degrees, Bergen 7.")]),
        RealtimeMessage("m5", "user", [ToolResultPart("call_b", '{"temp": 7}'), AudioPart(None)]),
        RealtimeMessage("m6", "assistant", [AudioPart("Anything else?"), ImagePart("https://x.test/a.png")],
                        interrupted=True),
        RealtimeMessage("m7", "user", [TextPart("")]),
    ]
    frames = new_session().send(Replay(messages))
    for frame in frames:
        validate_client_frame(frame)
        assert frame["type"] == "conversation.item.create"
    assert [f["item"] for f in frames] == [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Hi"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Hello! How can I help?"}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Weather in Oslo and Bergen?"}]},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Let me check."}]},
        {"type": "function_call", "call_id": "call_a", "name": "get_weather",
         "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "call_a", "output": '{"temp": 3}'},
        {"type": "function_call", "call_id": "call_b", "name": "get_weather",
         "arguments": '{"city":"Bergen"}'},
        {"type": "function_call_output", "call_id": "call_b", "output": '{"temp": 7}'},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Oslo is 3 degrees, Bergen 7."}]},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Anything else?"}]},
    ]
    strip_ids(frames)


def test_replay_of_nothing_is_empty() -> None:
    """No messages give no frames."""
    assert new_session().send(Replay([])) == []


def test_unknown_intents_are_type_errors() -> None:
    """An object that is not an intent is a TypeError naming its type."""
    with pytest.raises(TypeError, match="str"):
        new_session().send("response.create")  # type: ignore[arg-type]


# --- errors -----------------------------------------------------------------------------

CANCEL_NOT_ACTIVE = ("response_cancel_not_active", "Cancellation failed: no active response found")
ACTIVE_RESPONSE = ("conversation_already_has_active_response",
                   "Conversation already has an active response in progress: resp_X. Wait until the "
                   "response is finished before creating a new one.")
RATE_LIMIT = ("rate_limit_exceeded", "Rate limit reached for gpt-realtime-2.1. Please try again later.")
QUOTA = ("insufficient_quota", "You exceeded your current quota, please check your plan and billing "
                               "details.")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (CANCEL_NOT_ACTIVE, "benign"),
        ((None, "Cancellation failed: No active response found"), "benign"),
        (ACTIVE_RESPONSE, "retry"),
        (QUOTA, "fatal"),
        (("invalid_api_key", "Incorrect API key provided."), "fatal"),
        (("input_audio_buffer_commit_empty", "Error committing input audio buffer: buffer too small."),
         "other"),
        (RATE_LIMIT, "other"),
        (("unknown_parameter", "Unknown parameter: 'session.temperature'."), "other"),
    ],
    ids=["cancel-not-active", "cancel-message-only", "already-active", "insufficient-quota", "bad-key",
         "commit-empty", "rate-limit-unattached", "unknown-parameter"],
)
def test_error_kinds_by_code(error: Any, kind: str) -> None:
    """Untied errors: cancel-not-active is benign, already-active retry, quota/key fatal, the rest other."""
    code, message = error
    event = one(error_frame(code, message, "evt_not_ours"), ready_session())
    assert isinstance(event, ProviderErrorEvent)
    assert (event.kind, event.code, event.message) == (kind, code, message)


@pytest.mark.parametrize("which", [0, 1], ids=["cancel", "truncate"])
def test_errors_answering_our_cancel_or_truncate_are_benign(which: int) -> None:
    """An error whose event_id names our own response.cancel or conversation.item.truncate is benign."""
    session = ready_session()
    frames = session.send(Interrupt("resp_1", "item_A", 4000.0))
    event = one(error_frame("invalid_value", "Audio content of 3000ms is already shorter than 4000ms",
                            frames[which]["event_id"]), session)
    assert isinstance(event, ProviderErrorEvent) and event.kind == "benign"
    assert event.event_id == frames[which]["event_id"]


def test_an_error_naming_our_response_create_is_response_rejected() -> None:
    """An error whose event_id names our response.create (e.g. rate_limit_exceeded) is response_rejected."""
    session = ready_session()
    [create] = session.send(RequestResponse())
    event = one(error_frame(*RATE_LIMIT, create["event_id"], type_="rate_limit_error"), session)
    assert event == ProviderErrorEvent(RATE_LIMIT[1], RATE_LIMIT[0], "response_rejected", "rate_limit_error",
                                       None, create["event_id"])


def test_an_already_active_response_is_retry_even_for_our_create() -> None:
    """conversation_already_has_active_response answering our response.create is retry, not rejected."""
    session = ready_session()
    [create] = session.send(RequestResponse())
    event = one(error_frame(*ACTIVE_RESPONSE, create["event_id"]), session)
    assert isinstance(event, ProviderErrorEvent) and event.kind == "retry"


def test_insufficient_quota_is_fatal_even_when_it_answers_our_response_create() -> None:
    """insufficient_quota is fatal even when its event_id names our response.create."""
    session = ready_session()
    [create] = session.send(RequestResponse())
    event = one(error_frame(*QUOTA, create["event_id"], type_="insufficient_quota"), session)
    assert isinstance(event, ProviderErrorEvent) and event.kind == "fatal"


def test_error_fields_are_carried() -> None:
    """An unknown_parameter error keeps message, code, type, param and the client's event_id."""
    frame = error_frame("unknown_parameter", "Unknown parameter: 'session.temperature'.", "evt_client_1",
                        param="session.temperature")
    assert one(frame) == ProviderErrorEvent(
        "Unknown parameter: 'session.temperature'.", "unknown_parameter", "other", "invalid_request_error",
        "session.temperature", "evt_client_1")
    assert one({"type": "error", "error": {}}) == ProviderErrorEvent("unknown provider error")
    assert one({"type": "error", "error": {"code": "boom"}}) == ProviderErrorEvent("boom", "boom")


# --- response.done outcomes -------------------------------------------------------------


def response_done(status: str, details: Any = None, **extra: Any) -> Dict[str, Any]:
    response: Dict[str, Any] = {"id": "resp_1", "object": "realtime.response", "status": status,
                                "output": [{"id": "item_A", "type": "message", "role": "assistant",
                                            "content": []}], **extra}
    if details is not None:
        response["status_details"] = details
    frame = {"type": "response.done", "event_id": "event_done_1", "response": response}
    validate_server_frame(frame)
    return frame


@pytest.mark.parametrize(
    ("frame", "ended"),
    [
        (response_done("completed"), TurnEnded("resp_1", "completed", None, ("item_A",))),
        (response_done("cancelled", {"type": "cancelled", "reason": "turn_detected"}),
         TurnEnded("resp_1", "interrupted", None, ("item_A",), reason="turn_detected")),
        (response_done("cancelled", {"type": "cancelled", "reason": "client_cancelled"}),
         TurnEnded("resp_1", "interrupted", None, ("item_A",), reason="client_cancelled")),
        (response_done("incomplete", {"type": "incomplete", "reason": "max_output_tokens"}),
         TurnEnded("resp_1", "cut_off", None, ("item_A",), reason="max_output_tokens")),
        (response_done("incomplete", {"type": "incomplete", "reason": "content_filter"}),
         TurnEnded("resp_1", "cut_off", None, ("item_A",), reason="content_filter")),
        (response_done("failed", {"type": "failed", "error": {"type": "rate_limit_error",
                                                              "code": "rate_limit_exceeded",
                                                              "message": "Rate limit reached"}}),
         TurnEnded("resp_1", "failed", None, ("item_A",), "Rate limit reached", "rate_limit_exceeded")),
        (response_done("failed", {"type": "failed", "error": {"type": "server_error", "code": "internal",
                                                              "message": "The server had an error"}}),
         TurnEnded("resp_1", "failed", None, ("item_A",), "The server had an error", "internal")),
        (response_done("failed"), TurnEnded("resp_1", "failed", None, ("item_A",), "the response failed")),
    ],
    ids=["completed", "turn-detected", "client-cancelled", "max-output-tokens", "content-filter",
         "failed-rate-limit", "failed-server", "failed-bare"],
)
def test_response_done_outcomes(frame: Dict[str, Any], ended: TurnEnded) -> None:
    """cancelled is interrupted, a length limit cut_off, and failed carries the error message and code."""
    assert one(frame) == ended


def test_response_done_tolerates_bad_informational_fields() -> None:
    """Garbage usage, status details or output entries are dropped rather than losing the turn's end."""
    frame = {"type": "response.done", "response": {
        "id": "resp_X", "status": "completed", "status_details": "weird",
        "output": [{"id": "item_1"}, 7, {"id": 8}, {"no": "id"}],
        "usage": {"total_tokens": "many", "input_tokens": 5, "input_token_details": [1]}}}
    assert one(frame) == TurnEnded("resp_X", "completed", UsageInfo(input_tokens=5, response_id="resp_X"),
                                   ("item_1",))
    assert one({"type": "response.done", "response": {"id": "resp_Y", "usage": None, "output": "x"}}) == \
        TurnEnded("resp_Y")
    failed = {"type": "response.done", "response": {"id": "resp_Z", "status": "failed", "status_details": {
        "error": {"type": "server_error", "code": 5, "message": None}}}}
    assert one(failed) == TurnEnded("resp_Z", "failed", error="server_error")


# --- close codes, resume, info -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "action"),
    [(1001, CloseAction("reconnect", go_away=True)), (1005, CloseAction("reconnect")),
     (1006, CloseAction("reconnect")), (1011, CloseAction("reconnect")), (1012, CloseAction("reconnect")),
     (1013, CloseAction("reconnect")), (1014, CloseAction("reconnect")), (4000, CloseAction("error")),
     (1008, CloseAction("error")), (1000, CloseAction("clean"))],
)
def test_classify_close(code: int, action: CloseAction) -> None:
    """1000 is clean, 1001 (the 60-minute cap) reconnects with go_away, drops reconnect, others fail."""
    assert new_session().classify_close(code, "", None) == action


def test_classify_close_keeps_the_error() -> None:
    """The transport's error is handed back with the action."""
    error = RealtimeError("dropped")
    session = new_session()
    assert session.classify_close(1006, "abnormal", error).error is error
    assert session.classify_close(1001, "Your session hit the maximum duration of 60 minutes.",
                                  error) == CloseAction("reconnect", go_away=True, error=error)
    assert session.classify_close(4000, "bad", error) == CloseAction("error", error=error)


def test_resume_state_replays_history() -> None:
    """OpenAI cannot resume a session: the next connection is seeded with a replay."""
    assert new_session().resume_state() == ResumeState(replay=True)


def token(secret: str = "ek_test_secret_123", model: Any = None) -> RealtimeToken:
    return RealtimeToken("openai", secret, config=SessionConfig(model=model))


def test_adapter_satisfies_the_protocol() -> None:
    """The adapter is an Adapter whose sessions are ProviderSessions with OpenAI's identity and info."""
    adapter = openai_realtime()
    assert isinstance(adapter, Adapter)
    assert isinstance(adapter, OpenAIRealtimeAdapter) and adapter.provider == "openai"
    session = adapter.new_session()
    assert isinstance(session, ProviderSession)
    assert adapter.new_session() is not session
    assert "OpenAIRealtimeAdapter" in repr(adapter)
    info = session.info
    assert isinstance(info, ProviderInfo)
    assert (info.provider, info.input_format, info.output_format, info.can_truncate, info.speech_interrupts,
            info.live_session_update, info.transcribes_input, info.commit_min_ms) == \
        ("openai", PCM16_24K, PCM16_24K, True, True, True, True, 100)
    assert info.audio_fields["response.output_audio.delta"] == "delta"
    assert info.audio_fields["input_audio_buffer.append"] == "audio"


def test_default_connection_request() -> None:
    """The default URL gets ?model=gpt-realtime-2.1, a Bearer header, no beta header and no subprotocols."""
    request = new_session().connection_request(token(), SessionConfig(), None)
    assert request.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1"
    assert dict(request.headers) == {"Authorization": "Bearer ek_test_secret_123"}
    assert request.subprotocols == ()
    assert "ek_test_secret_123" not in repr(request)
    assert "ek_test_secret_123" not in str(request)


def test_connection_request_ignores_resume_state() -> None:
    """A resumed connection uses the same URL and headers (OpenAI has no resumption handle)."""
    session = new_session()
    fresh = session.connection_request(token(), SessionConfig(), None)
    assert session.connection_request(token(), SessionConfig(), ResumeState(replay=True)) == fresh


@pytest.mark.parametrize(
    ("adapter_model", "config_model", "token_model", "expected"),
    [("gpt-realtime-mini", "gpt-realtime-2", "gpt-realtime-1.5", "gpt-realtime-mini"),
     (None, "gpt-realtime-2", "gpt-realtime-1.5", "gpt-realtime-2"),
     (None, None, "gpt-realtime-1.5", "gpt-realtime-1.5"),
     (None, None, None, "gpt-realtime-2.1")],
)
def test_model_precedence(adapter_model: Any, config_model: Any, token_model: Any, expected: str) -> None:
    """The adapter's model wins, then the session config's, then the token's, then the default."""
    session = openai_realtime(model=adapter_model).new_session()
    request = session.connection_request(token(model=token_model), SessionConfig(model=config_model), None)
    assert request.url == f"wss://api.openai.com/v1/realtime?model={expected}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [("wss://proxy.example.com/rt?model=gpt-realtime-2", "wss://proxy.example.com/rt?model=gpt-realtime-2"),
     ("wss://api.openai.com/v1/realtime?call_id=rtc_123", "wss://api.openai.com/v1/realtime?call_id=rtc_123"),
     ("wss://proxy.example.com/rt?tenant=a%20b", "wss://proxy.example.com/rt?tenant=a%20b&model=gpt-realtime-2.1"),
     ("ws://127.0.0.1:8765/v1/realtime", "ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime-2.1")],
)
def test_custom_urls_keep_their_query(url: str, expected: str) -> None:
    """An existing model/call_id query is kept; other queries get &model= appended."""
    session = openai_realtime(url).new_session()
    assert session.connection_request(token(), SessionConfig(), None).url == expected


@pytest.mark.parametrize("url", ["ws://localhost:8000/v1/realtime", "ws://127.0.0.1:9/x", "ws://127.8.9.10/",
                                 "ws://[::1]:9000/v1/realtime", "WS://LOCALHOST/", "wss://example.com/rt"])
def test_loopback_ws_and_any_wss_are_accepted(url: str) -> None:
    """Plain ws:// is fine for loopback hosts, and wss:// anywhere."""
    assert openai_realtime(url).url == url


@pytest.mark.parametrize("url", ["ws://example.com/v1/realtime", "ws://10.0.0.5:8080/", "ws://192.168.1.2/",
                                 "ws://localhost.example.com/", "ws://[2001:db8::1]/", "ws://128.0.0.1/"])
def test_plain_ws_to_other_hosts_is_refused(url: str) -> None:
    """ws:// to a non-loopback host is a ValueError explaining the token would travel unencrypted."""
    with pytest.raises(ValueError, match="unencrypted"):
        openai_realtime(url)


@pytest.mark.parametrize("url", ["https://api.openai.com/v1/realtime", "api.openai.com/v1/realtime",
                                 "wss:///no-host", "ws://[::1/", "wss://host:notaport/"])
def test_malformed_urls_are_refused(url: str) -> None:
    """Non-WebSocket schemes, missing hosts and unparsable URLs are ValueErrors."""
    with pytest.raises(ValueError):
        openai_realtime(url)


@pytest.mark.parametrize("secret", ["", "ek_bad\r\nX-Injected: 1", "ek_with\nnewline"])
def test_unusable_tokens_are_refused_without_echoing_them(secret: str) -> None:
    """Empty tokens or ones that would break the HTTP header are refused; the message hides them."""
    with pytest.raises(ValueError) as info:
        new_session().connection_request(token(secret), SessionConfig(), None)
    assert secret == "" or secret not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"noise_reduction": "loud"}, {"speed": 2.0}, {"speed": 0.1}, {"speed": True},
     {"tool_choice": "get_weather"}, {"model": ""}],
)
def test_invalid_options_are_value_errors(kwargs: Dict[str, Any]) -> None:
    """Out-of-range or unknown option values fail in the constructor."""
    with pytest.raises(ValueError):
        openai_realtime(**kwargs)


def test_invalid_transcription_type_is_a_type_error() -> None:
    """input_transcription must be a name, a mapping, a bool or None."""
    with pytest.raises(TypeError, match="input_transcription"):
        openai_realtime(input_transcription=3)  # type: ignore[arg-type]


# --- receive: recorded streams (protocols.md 1.9) ----------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_frames_are_valid_ga_server_events(name: str) -> None:
    """Every recorded frame validates against the openai GA server event models, with no extra fields."""
    frames = fixture(name)
    assert frames
    for frame in frames:
        validate_server_frame(frame)


def test_receive_voice_turn() -> None:
    """Order A: handshake, VAD, commit, async user transcript, audio + transcript deltas, usage at the end."""
    f = fixture("audio_turn")
    u, r, a = "item_CQxc6GnjfuTIebV6r28C6", "resp_CQx2ksy4Bi7IjzRS2cw4o", "item_CQxGWSt5WSX9dWMAhzdl0"
    assert parse_all(new_session(), f) == [
        Ready(PCM16_24K, PCM16_24K),
        SpeechStarted(u, 1140),
        SpeechStopped(u, 2980),
        UserAudioCommitted(u),
        Ignored("conversation.item.added"),
        Ignored("conversation.item.done"),
        TurnStarted(r),
        Ignored("rate_limits.updated"),
        OutputStarted(r, a, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AudioChunk(r, a, pcm(f[12])),
        AssistantTranscript(r, a, "It's ", False, "audio"),
        UserTranscript(u, "What's the weather", False),
        UserTranscript(u, " in Oslo?", False),
        UserTranscript(u, "What's the weather in Oslo?", True),
        AudioChunk(r, a, pcm(f[17])),
        AssistantTranscript(r, a, "sunny ", False, "audio"),
        AudioChunk(r, a, pcm(f[19])),
        AssistantTranscript(r, a, "and 21 degrees ", False, "audio"),
        AssistantTranscript(r, a, "in Oslo.", False, "audio"),
        Ignored("response.output_audio.done"),
        AssistantTranscript(r, a, "It's sunny and 21 degrees in Oslo.", True, "audio"),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        TurnEnded(r, "completed", usage(412, 96, 384, 31, 118, r), (a,)),
    ]
    assert len(pcm(f[12])) == 960


def test_receive_text_turn() -> None:
    """Order B: text output arrives as kind='text' deltas and a final text."""
    f = fixture("text_turn")
    r, a = "resp_CQxjNy4t1Sai0AyINrvLk", "item_CQxX1131XZWLBuSqUizf0"
    assert parse_all(new_session(), f) == [
        Ignored("conversation.item.added"),
        Ignored("conversation.item.done"),
        TurnStarted(r),
        OutputStarted(r, a, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AssistantTranscript(r, a, "2 + 2 ", False, "text"),
        AssistantTranscript(r, a, "is ", False, "text"),
        AssistantTranscript(r, a, "4.", False, "text"),
        AssistantTranscript(r, a, "2 + 2 is 4.", True, "text"),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        TurnEnded(r, "completed", usage(180, 0, 0, 9, 0, r), (a,)),
    ]


def test_receive_tool_call_turn() -> None:
    """Order C: one ToolCall keyed by call_id from arguments.done, then the spoken answer."""
    f = fixture("tool_call")
    r1, fc, call = "resp_CQxuaOsQEouKx0GMjTthj", "item_CQx6WQgIL8xyKUQIuORwx", "call_MPt4ufd9e9fmfJv5"
    r2, a = "resp_CQxMYoiESvj5ZIxiAZMdS", "item_CQxjd2tEkptTyidpWQ6ey"
    assert parse_all(new_session(), f) == [
        TurnStarted(r1),
        OutputStarted(r1, fc, "function_call"),
        Ignored("conversation.item.added"),
        Ignored("response.function_call_arguments.delta"),
        Ignored("response.function_call_arguments.delta"),
        ToolCall(r1, call, "get_weather", '{"location":"Oslo"}', fc),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        TurnEnded(r1, "completed", usage(520, 0, 448, 21, 0, r1), (fc,)),
        Ignored("conversation.item.added"),
        Ignored("conversation.item.done"),
        TurnStarted(r2),
        OutputStarted(r2, a, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AudioChunk(r2, a, pcm(f[15])),
        AssistantTranscript(r2, a, "Sunny, ", False, "audio"),
        AudioChunk(r2, a, pcm(f[17])),
        AssistantTranscript(r2, a, "21 degrees.", False, "audio"),
        Ignored("response.output_audio.done"),
        AssistantTranscript(r2, a, "Sunny, 21 degrees.", True, "audio"),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        TurnEnded(r2, "completed", usage(560, 0, 512, 12, 64, r2), (a,)),
    ]


def test_receive_barge_in() -> None:
    """Order D: speech_started mid-response, then the turn ends interrupted with reason turn_detected."""
    f = fixture("server_barge_in")
    r, a, u2 = "resp_CQxCHksJUoVPvEOkJZNcQ", "item_CQxJarTGTosBri9J6W4hQ", "item_CQx60XT0pE8Jnvs1XgIZW"
    assert parse_all(new_session(), f) == [
        TurnStarted(r),
        OutputStarted(r, a, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AudioChunk(r, a, pcm(f[4])),
        AssistantTranscript(r, a, "Sure, the weather in", False, "audio"),
        AudioChunk(r, a, pcm(f[6])),
        SpeechStarted(u2, 8420),
        Ignored("response.output_audio.done"),
        AssistantTranscript(r, a, "Sure, the weather in", True, "audio"),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        TurnEnded(r, "interrupted", usage(300, 0, 64, 30, 90, r), (a,), reason="turn_detected"),
        Ignored("conversation.item.truncated"),
        SpeechStopped(u2, 9310),
        UserAudioCommitted(u2),
        Ignored("conversation.item.added"),
    ]


def test_receive_client_cancel() -> None:
    """Order E: interrupted with client_cancelled, truncated, and a raced cancel error marked benign."""
    f = fixture("client_interrupt")
    r, a = "resp_CQxSxhD5D8P4FIqzCdhoE", "item_CQxiwlxcz7TqKs7WrlVKe"
    assert parse_all(new_session(), f) == [
        TurnStarted(r),
        OutputStarted(r, a, "message"),
        Ignored("response.content_part.added"),
        AudioChunk(r, a, pcm(f[3])),
        AssistantTranscript(r, a, "Let me tell you a long", False, "audio"),
        Ignored("response.output_audio.done"),
        AssistantTranscript(r, a, "Let me tell you a long", True, "audio"),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        TurnEnded(r, "interrupted", usage(250, 40, 0, 12, 44, r), (a,), reason="client_cancelled"),
        Ignored("conversation.item.truncated"),
        ProviderErrorEvent("Cancellation failed: no active response found", "response_cancel_not_active",
                           "benign", "invalid_request_error", None, "evt_5d1c0e7a9b3f2468"),
    ]


def test_bytes_frames_receive_like_text() -> None:
    """A binary frame holding UTF-8 JSON yields the same events and replies as the text frame."""
    text_session, bytes_session = new_session(), new_session()
    for frame in fixture("audio_turn"):
        text = json.dumps(frame)
        by_text, by_bytes = text_session.receive(text), bytes_session.receive(text.encode("utf-8"))
        assert by_text.events == by_bytes.events
        assert strip_ids(by_text.replies) == strip_ids(by_bytes.replies)


# --- receive: single events ---------------------------------------------------------------------


AUDIO_B64 = base64.b64encode(b"\x01\x00\xff\x7f" * 8).decode()


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        ({"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
          "output_index": 0, "content_index": 0, "delta": AUDIO_B64},
         AudioChunk("r", "i", b"\x01\x00\xff\x7f" * 8)),
        ({"type": "response.audio.done", "item_id": "i", "response_id": "r"}, Ignored("response.audio.done")),
        ({"type": "response.audio_transcript.delta", "item_id": "i", "response_id": "r", "delta": "Hi"},
         AssistantTranscript("r", "i", "Hi", False, "audio")),
        ({"type": "response.audio_transcript.done", "item_id": "i", "response_id": "r", "transcript": "Hi!"},
         AssistantTranscript("r", "i", "Hi!", True, "audio")),
        ({"type": "response.text.delta", "item_id": "i", "response_id": "r", "delta": "Yo"},
         AssistantTranscript("r", "i", "Yo", False, "text")),
        ({"type": "response.text.done", "item_id": "i", "response_id": "r", "text": "Yo!"},
         AssistantTranscript("r", "i", "Yo!", True, "text")),
    ],
    ids=["audio.delta", "audio.done", "audio_transcript.delta", "audio_transcript.done", "text.delta",
         "text.done"],
)
def test_beta_aliases(frame: Dict[str, Any], event: Event) -> None:
    """Retired beta event names still map to the same normalized events."""
    assert one(frame) == event


def test_conversation_item_created_from_older_servers_is_accepted() -> None:
    """conversation.item.created (older servers) is Ignored like its GA successors, not Unknown."""
    frame = {"type": "conversation.item.created", "event_id": "event_1", "previous_item_id": None,
             "item": {"id": "item_1", "type": "message", "role": "user", "content": []}}
    assert one(frame) == Ignored("conversation.item.created")
    assert one({"type": "conversation.item.created", "item": {}}) == Ignored("conversation.item.created")


def test_user_transcription_failure() -> None:
    """A failed input transcription carries the item id and the provider's message."""
    frame = {"type": "conversation.item.input_audio_transcription.failed", "event_id": "event_1",
             "item_id": "item_U", "content_index": 0,
             "error": {"type": "transcription_error", "code": "audio_unintelligible",
                       "message": "Audio was unintelligible", "param": None}}
    validate_server_frame(frame)
    assert one(frame) == UserTranscriptFailed("item_U", "Audio was unintelligible")
    assert one({"type": "conversation.item.input_audio_transcription.failed", "item_id": "item_U"}) == \
        UserTranscriptFailed("item_U", "")


def test_output_item_added_for_mcp_items_is_ignored() -> None:
    """Output items other than messages and function calls are of no use to the client."""
    frame = {"type": "response.output_item.added", "event_id": "event_1", "response_id": "resp_1",
             "output_index": 0, "item": {"id": "mcp_1", "type": "mcp_list_tools", "server_label": "docs",
                                         "tools": []}}
    validate_server_frame(frame)
    assert one(frame) == Ignored("response.output_item.added")


def test_unknown_event_type() -> None:
    """A type the session does not know becomes UnknownEvent with that type, cut to 100 characters."""
    assert one({"type": "response.brand_new_thing", "x": 1}) == UnknownEvent("response.brand_new_thing")
    assert one({"type": "x" * 500}) == UnknownEvent("x" * 100)


def test_every_ga_server_event_type_is_known() -> None:
    """No event type in the openai GA server union is reported as unknown."""
    members = typing.get_args(typing.get_args(SERVER_EVENTS._type)[0])
    types = [typing.get_args(m.model_fields["type"].annotation)[0] for m in members]
    assert len(types) > 40
    for name in types:
        event = one({"type": name})
        assert not isinstance(event, UnknownEvent), name


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json at all", "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe{", "not valid UTF-8"),
        ("[1, 2]", "not a JSON object"),
        ("42", "not a JSON object"),
        ('{"event_id": "e"}', "no string 'type'"),
        ('{"type": 5}', "no string 'type'"),
        ('{"type": null}', "no string 'type'"),
        ({"type": "response.output_audio.delta", "item_id": "i", "delta": "@@not base64@@"},
         "not valid base64"),
        ({"type": "response.output_audio.delta", "item_id": "i", "delta": "AAA"}, "not valid base64"),
        ({"type": "response.output_audio.delta", "item_id": "i", "delta": 5},
         "delta must be a base64 string"),
        ({"type": "response.output_audio.delta", "delta": "AAAA"}, "item_id must be a string, got null"),
        ({"type": "response.output_audio.delta", "item_id": "i", "delta": "AAAA", "response_id": 3},
         "response_id must be a string"),
        ({"type": "response.output_audio_transcript.delta", "item_id": "i", "delta": 5},
         "delta must be a string"),
        ({"type": "response.function_call_arguments.done", "item_id": "item_F", "name": "f",
          "arguments": "{}"},
         "call_id is missing"),
        ({"type": "response.function_call_arguments.done", "call_id": "c", "name": "f", "arguments": {}},
         "arguments must be a string, got object"),
        ({"type": "response.created", "response": {"status": "in_progress"}}, "response.id must be a string"),
        ({"type": "response.done", "response": "resp_1"}, "response must be an object"),
        ({"type": "session.created", "session": None}, "session must be an object"),
        ({"type": "session.updated", "session": []}, "session must be an object"),
        ({"type": "input_audio_buffer.speech_started", "audio_start_ms": True},
         "audio_start_ms must be an integer"),
        ({"type": "input_audio_buffer.committed"}, "item_id must be a string"),
        ({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u"},
         "transcript must be a string"),
        ({"type": "error", "error": "boom"}, "error must be an object"),
        ({"type": "error", "error": {"message": ["x"]}}, "error.message must be a string"),
        ({"type": "error", "error": {"event_id": 7}}, "error.event_id must be a string"),
        ({"type": "response.output_item.added", "item": {"type": "message"}}, "item.id must be a string"),
    ],
)
def test_malformed_frames(frame: Any, reason: str) -> None:
    """Bad frames become Malformed with a reason naming the problem, never an exception."""
    event = one(frame)
    assert isinstance(event, Malformed)
    assert reason in event.reason
    assert len(event.excerpt) <= 200


def test_a_malformed_session_created_does_not_start_the_handshake() -> None:
    """A session.created without a session object is Malformed and not answered; a good one still is."""
    session = new_session()
    assert isinstance(one({"type": "session.created", "session": "x"}, session), Malformed)
    assert len(receive(session, session_created()).replies) == 1


def test_malformed_excerpt_hides_audio() -> None:
    """The excerpt of a bad audio frame is short and does not contain the audio payload."""
    audio = base64.b64encode(bytes(range(256)) * 40).decode()
    frame = json.dumps({"type": "response.output_audio.delta", "item_id": 12, "delta": audio[:100] + audio})
    event = one(frame)
    assert isinstance(event, Malformed)
    assert "item_id must be a string" in event.reason
    assert len(event.excerpt) <= 200
    assert audio[:60] not in event.excerpt
    assert "base64" in event.excerpt


def test_receive_refuses_non_frames() -> None:
    """Something that is neither str nor bytes is Malformed too."""
    received = new_session().receive(None)  # type: ignore[arg-type]
    assert len(received.events) == 1 and isinstance(received.events[0], Malformed)
    assert received.replies == ()


def test_receive_never_raises_even_for_an_unbuildable_config() -> None:
    """check_config refuses a tool that cannot be encoded; receive() turns one into ConfigRejected."""
    config = SessionConfig(tools=[42])
    with pytest.raises(TypeError, match="to_schema"):
        openai_realtime().check_config(config)
    received = new_session(config).receive(json.dumps(session_created()))
    assert isinstance(received, Received) and received.replies == ()
    (event,) = received.events
    assert isinstance(event, ConfigRejected) and "cannot be sent" in event.message


# --- property tests ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ALL_FRAMES = [frame for name in FIXTURES for frame in fixture(name)]


def check_received(received: Any) -> None:
    """A Received holding known events (at least one event or reply), replies that are valid frames."""
    assert isinstance(received, Received)
    assert received.events or received.replies
    for event in received.events:
        assert isinstance(event, EVENT_TYPES)
        assert not (isinstance(event, Malformed) and "internal" in event.reason), event
    for reply in received.replies:
        validate_client_frame(reply)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_receive_never_raises_on_random_json(value: Any) -> None:
    """Any JSON value, bare or as a frame of a known type, yields a Received of known events."""
    session = new_session()
    check_received(session.receive(json.dumps(value)))
    for kind in ("response.output_audio.delta", "response.done", "error", "session.created",
                 "session.updated", "response.output_item.added"):
        frame = {"type": kind, "response": value, "delta": value, "error": value, "item_id": value,
                 "session": value, "item": value}
        check_received(session.receive(json.dumps(frame)))


def mutate(frame: Any, path: List[int], value: Any, delete: bool) -> Any:
    """Replace (or delete) the node chosen by ``path`` (indices into sorted keys / list positions)."""
    if not path or not isinstance(frame, (dict, list)) or not frame:
        return value
    keys = sorted(frame) if isinstance(frame, dict) else list(range(len(frame)))
    key = keys[path[0] % len(keys)]
    copy = dict(frame) if isinstance(frame, dict) else list(frame)
    if delete and len(path) == 1:
        del copy[key]
    else:
        copy[key] = mutate(copy[key], path[1:], value, delete)
    return copy


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(ALL_FRAMES) - 1), path=st.lists(st.integers(0, 50), min_size=1, max_size=4),
       value=json_values, delete=st.booleans())
def test_receive_never_raises_on_mutated_recorded_frames(index: int, path: List[int], value: Any,
                                                         delete: bool) -> None:
    """Recorded frames with a field replaced or removed still yield a Received of known events."""
    check_received(new_session().receive(json.dumps(mutate(ALL_FRAMES[index], path, value, delete))))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64) | st.text(max_size=64))
def test_receive_never_raises_on_random_bytes_or_text(data: Any) -> None:
    """Arbitrary bytes or text yield a Received of known events."""
    check_received(new_session().receive(data))


@settings(max_examples=200, deadline=None)
@given(turn=st.none() | st.text(max_size=8), item=st.none() | st.text(max_size=8),
       heard=st.none() | st.floats(-1e6, 1e7, allow_nan=False), by_speech=st.booleans(),
       vad=st.sampled_from(["server", "semantic", "manual"]))
def test_interrupt_frames_always_validate(turn: Optional[str], item: Optional[str], heard: Optional[float],
                                          by_speech: bool, vad: str) -> None:
    """Whatever the interrupt, its frames are valid GA events: at most a cancel then a truncate."""
    frames = new_session(SessionConfig(vad_mode=vad)).send(Interrupt(turn, item, heard, by_speech))
    for frame in frames:
        validate_client_frame(frame)
    types = [f["type"] for f in frames]
    assert types in ([], ["response.cancel"], ["conversation.item.truncate"],
                     ["response.cancel", "conversation.item.truncate"])
    if "conversation.item.truncate" in types:
        assert heard is not None and frames[-1]["audio_end_ms"] == int(heard) >= 0


def test_default_model_is_the_current_recommendation() -> None:
    """The default model is gpt-realtime-2.1 (gpt-realtime is deprecated), known to the openai package."""
    from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest

    from realtime_client.adapters._openai._wire import DEFAULT_MODEL

    known = typing.get_args(typing.get_args(RealtimeSessionCreateRequest.model_fields["model"].annotation)[1])
    assert DEFAULT_MODEL == "gpt-realtime-2.1" and DEFAULT_MODEL in known
    url = new_session().connection_request(token(), SessionConfig(), None).url
    assert "gpt-realtime?" not in url + "?"
