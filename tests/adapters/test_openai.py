"""The OpenAI Realtime (GA) adapter, on recorded frames: no network, no threads."""

from __future__ import annotations

import base64
import json
import logging
import typing
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_client import tool
from realtime_client._events import (
    AssistantItemStarted,
    AudioDelta,
    AudioDone,
    Event,
    Ignored,
    InputCommitted,
    ItemTruncated,
    Malformed,
    ProviderErrorEvent,
    ResponseDone,
    ResponseStarted,
    SessionReady,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    ToolCall,
    TranscriptDelta,
    TranscriptDone,
    UnknownEvent,
    UserTranscriptFailed,
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
from realtime_client._types import Adapter
from realtime_client.adapters import OpenAIRealtimeAdapter, openai_realtime
from tests._conformance import SERVER_EVENTS, validate_client_frame, validate_server_frame

DATA = Path(__file__).parent / "data"
EVENT_TYPES = typing.get_args(Event)
PCM24K = {"type": "audio/pcm", "rate": 24000}
DEFAULT_TURN = {"type": "server_vad"}
WEATHER_SCHEMA = {"type": "function", "name": "get_weather", "description": "Weather by city",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}


def fixture(name: str) -> List[Dict[str, Any]]:
    return json.loads((DATA / f"{name}.json").read_text())["frames"]


def parse_all(adapter: OpenAIRealtimeAdapter, frames: List[Dict[str, Any]]) -> List[Event]:
    events: List[Event] = []
    for frame in frames:
        events += adapter.parse(json.dumps(frame))
    return events


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


class SchemaTool:
    """A user object that only has to_schema(), like realtime_client.Tool."""

    def to_schema(self) -> Dict[str, Any]:
        return dict(WEATHER_SCHEMA)


# --- session.update ---------------------------------------------------------------------


def test_default_session_update_is_minimal_and_valid() -> None:
    """The default config sends GA audio formats, server VAD, whisper-1 transcription and no tools."""
    frame = openai_realtime().session_update(SessionConfig())
    assert session_of(frame) == base_session()


def test_session_update_uses_given_event_id() -> None:
    """A caller-chosen event_id is used so errors can be matched to the update."""
    frame = openai_realtime().session_update(SessionConfig(), "evt_cfg_1")
    assert frame["event_id"] == "evt_cfg_1"


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
    session = session_of(openai_realtime().session_update(config))
    assert session == base_session(audio={
        "input": {"format": PCM24K, "turn_detection": turn, "transcription": {"model": "whisper-1"}},
        "output": {"format": PCM24K}})
    assert "turn_detection" in session["audio"]["input"]


def test_semantic_vad_drops_server_only_fields_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Server-VAD-only VADConfig fields are left out of semantic_vad, with one warning."""
    adapter = openai_realtime()
    config = SessionConfig(vad_mode="semantic", vad_config=VADConfig(threshold=0.7, interrupt_response=False))
    with caplog.at_level(logging.WARNING, logger="realtime_client"):
        turn = session_of(adapter.session_update(config))["audio"]["input"]["turn_detection"]
        session_of(adapter.session_update(config))
    assert turn == {"type": "semantic_vad", "interrupt_response": False}
    assert len([r for r in caplog.records if "semantic VAD" in r.getMessage()]) == 1


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
    session = session_of(openai_realtime(input_transcription=option).session_update(SessionConfig()))
    assert session["audio"]["input"]["transcription"] == expected
    assert "transcription" in session["audio"]["input"]


@pytest.mark.parametrize(
    ("modalities", "expected"),
    [(("text",), ["text"]), (("audio",), ["audio"]), (("audio", "text"), ["audio"]),
     (("text", "audio"), ["audio"]), ("text", ["text"])],
)
def test_output_modalities_are_exactly_one(modalities: Any, expected: List[str]) -> None:
    """GA takes one output modality; asking for both sends audio, which carries a transcript."""
    session = session_of(openai_realtime().session_update(SessionConfig(output_modalities=modalities)))
    assert session == base_session(output_modalities=expected)


def test_full_session_update() -> None:
    """Every option at once: instructions, voice, speed, noise reduction, tools, tool_choice, limits."""
    adapter = openai_realtime(input_transcription={"model": "gpt-4o-transcribe", "language": "en"},
                              noise_reduction="far_field", speed=1.25,
                              tool_choice={"type": "function", "name": "get_weather"})
    config = SessionConfig(instructions="Be brief.", voice="marin", tools=[WEATHER_SCHEMA, SchemaTool()],
                           output_modalities=["audio"], max_output_tokens=512, semantic_eagerness="low",
                           vad_mode="semantic")
    assert session_of(adapter.session_update(config)) == {
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

    session = session_of(openai_realtime().session_update(SessionConfig(tools=[get_weather])))
    assert session["tools"][0]["type"] == "function"
    assert session["tools"][0]["name"] == "get_weather"
    assert session["tools"][0]["parameters"]["properties"]["city"]["type"] == "string"


def test_tool_dict_without_type_gets_function_type() -> None:
    """A plain tool dict without 'type' is declared as a function tool; the input is not modified."""
    raw = {"name": "ping", "parameters": {"type": "object", "properties": {}}}
    session = session_of(openai_realtime().session_update(SessionConfig(tools=[raw])))
    assert session["tools"] == [{"type": "function", "name": "ping",
                                 "parameters": {"type": "object", "properties": {}}}]
    assert "type" not in raw


def test_a_tool_that_is_neither_object_nor_dict_is_refused() -> None:
    """An object without to_schema() is a TypeError naming its type."""
    with pytest.raises(TypeError, match="int"):
        openai_realtime().session_update(SessionConfig(tools=[42]))


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_strings(choice: str) -> None:
    """The three tool_choice keywords pass through."""
    session = session_of(openai_realtime(tool_choice=choice).session_update(SessionConfig()))
    assert session == base_session(tool_choice=choice)


@pytest.mark.parametrize("limit", [1, 4096, "inf"])
def test_max_output_tokens(limit: Any) -> None:
    """max_output_tokens is sent as an int or 'inf'."""
    session = session_of(openai_realtime().session_update(SessionConfig(max_output_tokens=limit)))
    assert session == base_session(max_output_tokens=limit)


def test_provider_options_are_deep_merged_last() -> None:
    """provider_options override nested fields without dropping their siblings."""
    config = SessionConfig(voice="cedar", provider_options={
        "audio": {"input": {"noise_reduction": {"type": "near_field"}, "transcription": None},
                  "output": {"speed": 0.9}},
        "truncation": "disabled", "include": ["item.input_audio_transcription.logprobs"]})
    assert session_of(openai_realtime().session_update(config)) == base_session(
        audio={"input": {"format": PCM24K, "turn_detection": DEFAULT_TURN, "transcription": None,
                         "noise_reduction": {"type": "near_field"}},
               "output": {"format": PCM24K, "voice": "cedar", "speed": 0.9}},
        truncation="disabled", include=["item.input_audio_transcription.logprobs"])


def test_provider_options_with_unknown_keys_are_sent_as_is() -> None:
    """Unknown provider_options keys are not filtered: the frame carries them (and the server rejects it)."""
    frame = openai_realtime().session_update(SessionConfig(provider_options={"bogus": 1}))
    assert frame["session"]["bogus"] == 1
    with pytest.raises(AssertionError, match="bogus"):
        validate_client_frame(frame)


def test_temperature_is_never_sent_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    """temperature is dropped with a single WARNING; model is never sent either."""
    adapter = openai_realtime()
    config = SessionConfig(temperature=0.7, model="gpt-realtime-mini")
    with caplog.at_level(logging.WARNING, logger="realtime_client"):
        first = session_of(adapter.session_update(config))
        second = session_of(adapter.session_update(config))
    assert first == second == base_session()
    warnings = [r for r in caplog.records if "temperature" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "not supported by the OpenAI Realtime GA API" in warnings[0].getMessage()


def test_provider_options_cannot_smuggle_model_or_temperature(caplog: pytest.LogCaptureFixture) -> None:
    """model and temperature in provider_options are stripped with a warning."""
    config = SessionConfig(provider_options={"model": "gpt-realtime-2", "temperature": 0.2,
                                             "instructions": "x"})
    with caplog.at_level(logging.WARNING, logger="realtime_client"):
        session = session_of(openai_realtime().session_update(config))
    assert session == base_session(instructions="x")
    assert any("'model'" in r.getMessage() for r in caplog.records)
    assert any("'temperature'" in r.getMessage() for r in caplog.records)


def test_empty_instructions_are_sent_to_clear() -> None:
    """An empty instructions string is sent (it clears the server default)."""
    assert session_of(openai_realtime().session_update(SessionConfig(instructions="")))["instructions"] == ""


@pytest.mark.parametrize(
    ("config", "expected"),
    [(SessionConfig(), True), (SessionConfig(vad_mode="semantic"), True),
     (SessionConfig(vad_mode="manual"), False),
     (SessionConfig(vad_config=VADConfig(interrupt_response=False)), False),
     (SessionConfig(vad_mode="semantic", vad_config=VADConfig(interrupt_response=False)), False),
     (SessionConfig(vad_config=VADConfig(interrupt_response=True)), True)],
)
def test_server_cancels_on_speech(config: SessionConfig, expected: bool) -> None:
    """Server and semantic VAD cancel on speech unless interrupt_response is False; manual never does."""
    assert openai_realtime().server_cancels_on_speech(config) is expected


# --- frame builders -----------------------------------------------------------------------


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
    frame = openai_realtime().user_message("item_user_1", [TextPart("What is this?"), part])
    validate_client_frame(frame)
    assert frame["type"] == "conversation.item.create"
    assert frame["item"] == {"id": "item_user_1", "type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": url}]}


def test_user_message_refuses_bad_parts() -> None:
    """An empty part list is a ValueError and a non-text, non-image part a TypeError."""
    adapter = openai_realtime()
    with pytest.raises(ValueError, match="at least one part"):
        adapter.user_message("item_1", [])
    with pytest.raises(TypeError, match="AudioPart"):
        adapter.user_message("item_1", [AudioPart("hi")])  # type: ignore[list-item]


def test_simple_client_frames() -> None:
    """response.create/cancel, commit, clear, truncate and tool results have the GA shapes."""
    adapter = openai_realtime()
    frames = {
        "create": adapter.create_response(),
        "cancel": adapter.cancel_response(),
        "cancel_id": adapter.cancel_response("resp_1"),
        "commit": adapter.commit_audio(),
        "clear": adapter.clear_audio(),
        "truncate": adapter.truncate("item_A", 1840),
        "tool": adapter.tool_result("call_1", '{"temp": 3}'),
    }
    for frame in frames.values():
        validate_client_frame(frame)
        assert frame["event_id"].startswith("evt_")
    strip = {name: {k: v for k, v in f.items() if k != "event_id"} for name, f in frames.items()}
    assert strip == {
        "create": {"type": "response.create"},
        "cancel": {"type": "response.cancel"},
        "cancel_id": {"type": "response.cancel", "response_id": "resp_1"},
        "commit": {"type": "input_audio_buffer.commit"},
        "clear": {"type": "input_audio_buffer.clear"},
        "truncate": {"type": "conversation.item.truncate", "item_id": "item_A", "content_index": 0,
                     "audio_end_ms": 1840},
        "tool": {"type": "conversation.item.create",
                 "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 3}'}},
    }
    assert len({f["event_id"] for f in frames.values()}) == len(frames)


def test_truncate_floors_and_clamps() -> None:
    """A float position is floored to whole ms and a negative one clamped to 0."""
    adapter = openai_realtime()
    assert adapter.truncate("item_A", 1234.9, 0)["audio_end_ms"] == 1234  # type: ignore[arg-type]
    assert adapter.truncate("item_A", -5)["audio_end_ms"] == 0
    validate_client_frame(adapter.truncate("item_A", 1234.9))  # type: ignore[arg-type]


def test_tool_result_encodes_non_strings() -> None:
    """A non-string output is sent as JSON text."""
    frame = openai_realtime().tool_result("call_9", {"error": "boom"})  # type: ignore[arg-type]
    validate_client_frame(frame)
    assert json.loads(frame["item"]["output"]) == {"error": "boom"}


def test_append_audio_round_trips() -> None:
    """PCM is sent as base64 without an event_id (it is the high-rate path)."""
    raw = bytes(range(256)) * 10
    frame = openai_realtime().append_audio(raw)
    validate_client_frame(frame)
    assert set(frame) == {"type", "audio"}
    assert base64.b64decode(frame["audio"]) == raw
    assert openai_realtime().append_audio(memoryview(raw))["audio"] == frame["audio"]


def test_history_items_in_order() -> None:
    """History replays text, transcripts, images and finished tool calls in order, as GA items."""
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
    frames = openai_realtime().history_items(messages)
    for frame in frames:
        validate_client_frame(frame)
        assert frame["type"] == "conversation.item.create"
    assert len({f["event_id"] for f in frames}) == len(frames)
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


def test_history_of_nothing_is_empty() -> None:
    """No messages give no frames."""
    assert openai_realtime().history_items([]) == []


# --- connection request and URL rules -----------------------------------------------------


def token(secret: str = "ek_test_secret_123", model: Any = None) -> RealtimeToken:
    return RealtimeToken("openai", secret, config=SessionConfig(model=model))


def test_adapter_satisfies_the_protocol() -> None:
    """The adapter is an Adapter with OpenAI's identity, 24 kHz both ways and truncation support."""
    adapter = openai_realtime()
    assert isinstance(adapter, Adapter)
    assert (adapter.provider, adapter.input_sample_rate, adapter.output_sample_rate,
            adapter.supports_truncate) == ("openai", 24000, 24000, True)
    assert "OpenAIRealtimeAdapter" in repr(adapter)


def test_default_connection_request() -> None:
    """The default URL gets ?model=gpt-realtime, a Bearer header, no beta header and no subprotocols."""
    request = openai_realtime().connection_request(token(), SessionConfig())
    assert request.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime-2.1"
    assert dict(request.headers) == {"Authorization": "Bearer ek_test_secret_123"}
    assert request.subprotocols == ()
    assert "ek_test_secret_123" not in repr(request)
    assert "ek_test_secret_123" not in str(request)


@pytest.mark.parametrize(
    ("adapter_model", "config_model", "token_model", "expected"),
    [("gpt-realtime-mini", "gpt-realtime-2", "gpt-realtime-1.5", "gpt-realtime-mini"),
     (None, "gpt-realtime-2", "gpt-realtime-1.5", "gpt-realtime-2"),
     (None, None, "gpt-realtime-1.5", "gpt-realtime-1.5"),
     (None, None, None, "gpt-realtime-2.1")],
)
def test_model_precedence(adapter_model: Any, config_model: Any, token_model: Any, expected: str) -> None:
    """The adapter's model wins, then the session config's, then the token's, then the default."""
    adapter = openai_realtime(model=adapter_model)
    request = adapter.connection_request(token(model=token_model), SessionConfig(model=config_model))
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
    assert openai_realtime(url).connection_request(token(), SessionConfig()).url == expected


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
        openai_realtime().connection_request(token(secret), SessionConfig())
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


# --- parse: recorded streams (protocols.md 1.9) -----------------------------------------------

FIXTURES = ["openai_voice_turn", "openai_text_turn", "openai_tool_call", "openai_barge_in",
            "openai_client_cancel"]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_frames_are_valid_ga_server_events(name: str) -> None:
    """Every recorded frame validates against the openai GA server event models, with no extra fields."""
    frames = fixture(name)
    assert frames
    for frame in frames:
        validate_server_frame(frame)


def test_parse_voice_turn() -> None:
    """Order A: VAD, commit, async user transcript, audio + transcript deltas, usage on response.done."""
    f = fixture("openai_voice_turn")
    u, r, a = "item_CQxc6GnjfuTIebV6r28C6", "resp_CQx2ksy4Bi7IjzRS2cw4o", "item_CQxGWSt5WSX9dWMAhzdl0"
    assert parse_all(openai_realtime(), f) == [
        SessionReady(f[0]["session"]),
        SessionUpdated(f[1]["session"]),
        SpeechStarted(u, 1140),
        SpeechStopped(u, 2980),
        InputCommitted(u, None),
        Ignored("conversation.item.added"),
        Ignored("conversation.item.done"),
        ResponseStarted(r),
        Ignored("rate_limits.updated"),
        AssistantItemStarted(a, r, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AudioDelta(a, pcm(f[12]), r, 0),
        TranscriptDelta("assistant", a, "It's ", "audio", r),
        TranscriptDelta("user", u, "What's the weather", "audio", None),
        TranscriptDelta("user", u, " in Oslo?", "audio", None),
        TranscriptDone("user", u, "What's the weather in Oslo?", "audio", None),
        AudioDelta(a, pcm(f[17]), r, 0),
        TranscriptDelta("assistant", a, "sunny ", "audio", r),
        AudioDelta(a, pcm(f[19]), r, 0),
        TranscriptDelta("assistant", a, "and 21 degrees ", "audio", r),
        TranscriptDelta("assistant", a, "in Oslo.", "audio", r),
        AudioDone(a, r),
        TranscriptDone("assistant", a, "It's sunny and 21 degrees in Oslo.", "audio", r),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        ResponseDone(r, "completed", None, usage(412, 96, 384, 31, 118, r), (a,), None),
    ]
    assert len(pcm(f[12])) == 960


def test_parse_text_turn() -> None:
    """Order B: text output arrives as kind='text' deltas and a final text."""
    f = fixture("openai_text_turn")
    r, a = "resp_CQxjNy4t1Sai0AyINrvLk", "item_CQxX1131XZWLBuSqUizf0"
    assert parse_all(openai_realtime(), f) == [
        Ignored("conversation.item.added"),
        Ignored("conversation.item.done"),
        ResponseStarted(r),
        AssistantItemStarted(a, r, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        TranscriptDelta("assistant", a, "2 + 2 ", "text", r),
        TranscriptDelta("assistant", a, "is ", "text", r),
        TranscriptDelta("assistant", a, "4.", "text", r),
        TranscriptDone("assistant", a, "2 + 2 is 4.", "text", r),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        ResponseDone(r, "completed", None, usage(180, 0, 0, 9, 0, r), (a,), None),
    ]


def test_parse_tool_call_turn() -> None:
    """Order C: one ToolCall keyed by call_id from arguments.done, then the spoken answer."""
    f = fixture("openai_tool_call")
    r1, fc, call = "resp_CQxuaOsQEouKx0GMjTthj", "item_CQx6WQgIL8xyKUQIuORwx", "call_MPt4ufd9e9fmfJv5"
    r2, a = "resp_CQxMYoiESvj5ZIxiAZMdS", "item_CQxjd2tEkptTyidpWQ6ey"
    assert parse_all(openai_realtime(), f) == [
        ResponseStarted(r1),
        AssistantItemStarted(fc, r1, "function_call"),
        Ignored("conversation.item.added"),
        Ignored("response.function_call_arguments.delta"),
        Ignored("response.function_call_arguments.delta"),
        ToolCall(call, "get_weather", '{"location":"Oslo"}', fc, r1),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        ResponseDone(r1, "completed", None, usage(520, 0, 448, 21, 0, r1), (fc,), None),
        Ignored("conversation.item.added"),
        Ignored("conversation.item.done"),
        ResponseStarted(r2),
        AssistantItemStarted(a, r2, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AudioDelta(a, pcm(f[15]), r2, 0),
        TranscriptDelta("assistant", a, "Sunny, ", "audio", r2),
        AudioDelta(a, pcm(f[17]), r2, 0),
        TranscriptDelta("assistant", a, "21 degrees.", "audio", r2),
        AudioDone(a, r2),
        TranscriptDone("assistant", a, "Sunny, 21 degrees.", "audio", r2),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        ResponseDone(r2, "completed", None, usage(560, 0, 512, 12, 64, r2), (a,), None),
    ]


def test_parse_barge_in() -> None:
    """Order D: speech_started mid-response, then a cancelled response with reason turn_detected."""
    f = fixture("openai_barge_in")
    r, a, u2 = "resp_CQxCHksJUoVPvEOkJZNcQ", "item_CQxJarTGTosBri9J6W4hQ", "item_CQx60XT0pE8Jnvs1XgIZW"
    assert parse_all(openai_realtime(), f) == [
        ResponseStarted(r),
        AssistantItemStarted(a, r, "message"),
        Ignored("conversation.item.added"),
        Ignored("response.content_part.added"),
        AudioDelta(a, pcm(f[4]), r, 0),
        TranscriptDelta("assistant", a, "Sure, the weather in", "audio", r),
        AudioDelta(a, pcm(f[6]), r, 0),
        SpeechStarted(u2, 8420),
        AudioDone(a, r),
        TranscriptDone("assistant", a, "Sure, the weather in", "audio", r),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        Ignored("conversation.item.done"),
        ResponseDone(r, "cancelled", "turn_detected", usage(300, 0, 64, 30, 90, r), (a,), None),
        ItemTruncated(a, 30),
        SpeechStopped(u2, 9310),
        InputCommitted(u2, a),
        Ignored("conversation.item.added"),
    ]


def test_parse_client_cancel() -> None:
    """Order E: cancelled with client_cancelled, truncated, and a raced cancel error marked benign."""
    f = fixture("openai_client_cancel")
    r, a = "resp_CQxSxhD5D8P4FIqzCdhoE", "item_CQxiwlxcz7TqKs7WrlVKe"
    assert parse_all(openai_realtime(), f) == [
        ResponseStarted(r),
        AssistantItemStarted(a, r, "message"),
        Ignored("response.content_part.added"),
        AudioDelta(a, pcm(f[3]), r, 0),
        TranscriptDelta("assistant", a, "Let me tell you a long", "audio", r),
        AudioDone(a, r),
        TranscriptDone("assistant", a, "Let me tell you a long", "audio", r),
        Ignored("response.content_part.done"),
        Ignored("response.output_item.done"),
        ResponseDone(r, "cancelled", "client_cancelled", usage(250, 40, 0, 12, 44, r), (a,), None),
        ItemTruncated(a, 20),
        ProviderErrorEvent("Cancellation failed: no active response found", "response_cancel_not_active",
                           "invalid_request_error", None, "evt_5d1c0e7a9b3f2468", True),
    ]


def test_bytes_frames_parse_like_text() -> None:
    """A binary frame holding UTF-8 JSON parses the same as the text frame."""
    adapter = openai_realtime()
    for frame in fixture("openai_voice_turn"):
        text = json.dumps(frame)
        assert adapter.parse(text.encode("utf-8")) == adapter.parse(text)


# --- parse: single events ---------------------------------------------------------------------


def one(frame: Any) -> Event:
    events = openai_realtime().parse(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))
    assert len(events) == 1
    return events[0]


AUDIO_B64 = base64.b64encode(b"\x01\x00\xff\x7f" * 8).decode()


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        ({"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
          "output_index": 0, "content_index": 0, "delta": AUDIO_B64},
         AudioDelta("i", b"\x01\x00\xff\x7f" * 8, "r", 0)),
        ({"type": "response.audio.done", "item_id": "i", "response_id": "r"}, AudioDone("i", "r")),
        ({"type": "response.audio_transcript.delta", "item_id": "i", "response_id": "r", "delta": "Hi"},
         TranscriptDelta("assistant", "i", "Hi", "audio", "r")),
        ({"type": "response.audio_transcript.done", "item_id": "i", "response_id": "r", "transcript": "Hi!"},
         TranscriptDone("assistant", "i", "Hi!", "audio", "r")),
        ({"type": "response.text.delta", "item_id": "i", "response_id": "r", "delta": "Yo"},
         TranscriptDelta("assistant", "i", "Yo", "text", "r")),
        ({"type": "response.text.done", "item_id": "i", "response_id": "r", "text": "Yo!"},
         TranscriptDone("assistant", "i", "Yo!", "text", "r")),
        ({"type": "conversation.item.created", "item": {}}, Ignored("conversation.item.created")),
    ],
    ids=["audio.delta", "audio.done", "audio_transcript.delta", "audio_transcript.done", "text.delta",
         "text.done", "item.created"],
)
def test_beta_aliases(frame: Dict[str, Any], event: Event) -> None:
    """Retired beta event names still map to the same normalized events."""
    assert one(frame) == event


def test_user_transcription_failure() -> None:
    """A failed input transcription carries the item id and the provider's message."""
    frame = {"type": "conversation.item.input_audio_transcription.failed", "event_id": "event_1",
             "item_id": "item_U", "content_index": 0,
             "error": {"type": "transcription_error", "code": "audio_unintelligible",
                       "message": "Audio was unintelligible", "param": None}}
    validate_server_frame(frame)
    assert one(frame) == UserTranscriptFailed("item_U", "Audio was unintelligible")


def test_response_done_failed_and_incomplete() -> None:
    """A failed response carries its error message; an incomplete one its reason and no message."""
    failed = {"type": "response.done", "event_id": "event_1", "response": {
        "id": "resp_F", "object": "realtime.response", "status": "failed", "output": [],
        "status_details": {"type": "failed", "error": {"type": "server_error", "code": "internal",
                                                       "message": "The server had an error"}}}}
    incomplete = {"type": "response.done", "event_id": "event_2", "response": {
        "id": "resp_I", "status": "incomplete", "status_details": {"type": "incomplete",
                                                                   "reason": "max_output_tokens"}}}
    bare_failed = {"type": "response.done", "event_id": "event_3",
                   "response": {"id": "resp_B", "status": "failed"}}
    for frame in (failed, incomplete, bare_failed):
        validate_server_frame(frame)
    assert one(failed) == ResponseDone("resp_F", "failed", None, None, (), "The server had an error")
    assert one(incomplete) == ResponseDone("resp_I", "incomplete", "max_output_tokens", None, (), None)
    assert one(bare_failed) == ResponseDone("resp_B", "failed", None, None, (), "the response failed")


def test_response_done_tolerates_bad_informational_fields() -> None:
    """Garbage usage, status details or output entries are dropped rather than losing the response end."""
    frame = {"type": "response.done", "response": {
        "id": "resp_X", "status": "completed", "status_details": "weird",
        "output": [{"id": "item_1"}, 7, {"id": 8}, {"no": "id"}],
        "usage": {"total_tokens": "many", "input_tokens": 5, "input_token_details": [1]}}}
    assert one(frame) == ResponseDone("resp_X", "completed", None,
                                      UsageInfo(input_tokens=5, response_id="resp_X"), ("item_1",), None)
    assert one({"type": "response.done", "response": {"id": "resp_Y", "usage": None, "output": "x"}}) == \
        ResponseDone("resp_Y", "completed", None, None, (), None)


@pytest.mark.parametrize(
    ("error", "benign"),
    [
        ({"type": "invalid_request_error", "code": "response_cancel_not_active",
          "message": "Cancellation failed: no active response found"}, True),
        ({"type": "invalid_request_error", "code": None,
          "message": "Cancellation failed: No active response found"}, True),
        ({"type": "invalid_request_error", "code": "conversation_already_has_active_response",
          "message": "Conversation already has an active response in progress: resp_X. Wait until the "
                     "response is finished before creating a new one."}, False),
        ({"type": "invalid_request_error", "code": "input_audio_buffer_commit_empty",
          "message": "Error committing input audio buffer: buffer too small."}, False),
    ],
    ids=["cancel-not-active", "cancel-message-only", "already-active", "commit-empty"],
)
def test_error_benign_flag(error: Dict[str, Any], benign: bool) -> None:
    """Only a cancel that found no active response is benign."""
    frame = {"type": "error", "event_id": "event_E", "error": {**error, "param": None, "event_id": None}}
    validate_server_frame(frame)
    event = one(frame)
    assert isinstance(event, ProviderErrorEvent)
    assert (event.benign, event.code, event.message) == (benign, error["code"], error["message"])


def test_error_fields_are_carried() -> None:
    """An unknown_parameter error keeps type, code, param and the client's event_id."""
    frame = {"type": "error", "event_id": "event_A1", "error": {
        "type": "invalid_request_error", "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.temperature'.", "param": "session.temperature",
        "event_id": "evt_client_1"}}
    validate_server_frame(frame)
    assert one(frame) == ProviderErrorEvent(
        "Unknown parameter: 'session.temperature'.", "unknown_parameter", "invalid_request_error",
        "session.temperature", "evt_client_1", False)
    assert one({"type": "error", "error": {}}) == ProviderErrorEvent("unknown provider error")


def test_output_item_added_for_mcp_items_is_ignored() -> None:
    """Output items other than messages and function calls are of no use to the client."""
    frame = {"type": "response.output_item.added", "event_id": "event_1", "response_id": "resp_1",
             "output_index": 0, "item": {"id": "mcp_1", "type": "mcp_list_tools", "server_label": "docs",
                                         "tools": []}}
    validate_server_frame(frame)
    assert one(frame) == Ignored("response.output_item.added")


def test_unknown_event_type() -> None:
    """A type the adapter does not know becomes UnknownEvent with that type."""
    assert one({"type": "response.brand_new_thing", "x": 1}) == UnknownEvent("response.brand_new_thing")


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
        ({"type": "response.output_audio.delta", "item_id": "i", "delta": "AAAA", "content_index": "0"},
         "content_index must be an integer"),
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
        ({"type": "input_audio_buffer.speech_started", "audio_start_ms": True},
         "audio_start_ms must be an integer"),
        ({"type": "input_audio_buffer.committed"}, "item_id must be a string"),
        ({"type": "error", "error": "boom"}, "error must be an object"),
        ({"type": "error", "error": {"message": ["x"]}}, "error.message must be a string"),
        ({"type": "response.output_item.added", "item": {"type": "message"}}, "item.id must be a string"),
    ],
)
def test_malformed_frames(frame: Any, reason: str) -> None:
    """Bad frames become Malformed with a reason naming the problem, never an exception."""
    event = one(frame)
    assert isinstance(event, Malformed)
    assert reason in event.reason
    assert len(event.excerpt) <= 200


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


def test_parse_refuses_non_frames() -> None:
    """Something that is neither str nor bytes is Malformed too."""
    event = openai_realtime().parse(None)  # type: ignore[arg-type]
    assert len(event) == 1 and isinstance(event[0], Malformed)


# --- property tests ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ALL_FRAMES = [frame for name in FIXTURES for frame in fixture(name)]


def check_events(events: Any) -> None:
    assert isinstance(events, list) and events
    for event in events:
        assert isinstance(event, EVENT_TYPES)
        assert not (isinstance(event, Malformed) and "internal" in event.reason), event


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_parse_never_raises_on_random_json(value: Any) -> None:
    """Any JSON value, bare or as a frame of a known type, yields a list of events."""
    adapter = openai_realtime()
    check_events(adapter.parse(json.dumps(value)))
    for kind in ("response.output_audio.delta", "response.done", "error", "session.created"):
        frame = {"type": kind, "response": value, "delta": value, "error": value, "item_id": value,
                 "session": value}
        check_events(adapter.parse(json.dumps(frame)))


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
def test_parse_never_raises_on_mutated_recorded_frames(index: int, path: List[int], value: Any,
                                                       delete: bool) -> None:
    """Recorded frames with a field replaced or removed still yield a list of events."""
    check_events(openai_realtime().parse(json.dumps(mutate(ALL_FRAMES[index], path, value, delete))))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=64) | st.text(max_size=64))
def test_parse_never_raises_on_random_bytes_or_text(data: Any) -> None:
    """Arbitrary bytes or text yield a list of events."""
    check_events(openai_realtime().parse(data))


def test_default_model_is_the_current_recommendation() -> None:
    """The default model is gpt-realtime-2.1 (gpt-realtime is deprecated), known to the openai package."""
    import typing

    from openai.types.realtime.realtime_session_create_request import RealtimeSessionCreateRequest

    from realtime_client.adapters._openai._wire import DEFAULT_MODEL

    known = typing.get_args(typing.get_args(RealtimeSessionCreateRequest.model_fields["model"].annotation)[1])
    assert DEFAULT_MODEL == "gpt-realtime-2.1" and DEFAULT_MODEL in known
    assert "gpt-realtime?" not in openai_realtime().connection_request(token(), SessionConfig()).url + "?"
