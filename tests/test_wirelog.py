"""The wire log: frames described on one line, audio elided, secrets redacted, length capped."""

from __future__ import annotations

import base64
import json
import logging
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_client import SessionConfig, tool
from realtime_client._wirelog import MAX_LINE_CHARS, WIRE_LOGGER, log_frame, redact_text
from realtime_client._wirelog import format_frame as _format_frame
from realtime_client.adapters import openai_realtime
from realtime_client.adapters._openai._wire import AUDIO_FIELDS


def format_frame(direction, frame, limit=MAX_LINE_CHARS):
    """The wire log line for ``frame`` as the OpenAI provider's transport logs it."""
    return _format_frame(direction, frame, limit, audio_fields=AUDIO_FIELDS)


def body(line: str, direction: str = "recv") -> object:
    """The JSON after the direction label of a wire-log line."""
    assert line.startswith(direction + " ")
    return json.loads(line[len(direction) + 1:])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_output_audio_delta_is_elided_to_its_decoded_size():
    """A response.output_audio.delta keeps every field but the audio, shown as its byte count."""
    frame = {"type": "response.output_audio.delta", "event_id": "event_1", "response_id": "resp_1",
             "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": b64(b"\x01\x02" * 2400)}
    line = format_frame("recv", json.dumps(frame))
    assert body(line) == {**frame, "delta": "<4800 bytes audio>"}
    assert '"delta":"<4800 bytes audio>"' in line


def test_input_audio_append_is_elided_including_padding():
    """input_audio_buffer.append audio is elided; padded base64 gives the exact decoded size."""
    for size in (1, 2, 3, 9600):
        frame = {"type": "input_audio_buffer.append", "audio": b64(b"\0" * size)}
        line = format_frame("send", json.dumps(frame))
        assert body(line, "send") == {"type": "input_audio_buffer.append", "audio": f"<{size} bytes audio>"}


def test_beta_audio_delta_and_retrieved_item_audio_are_elided():
    """The beta response.audio.delta and an item's base64 audio content part are elided too."""
    pcm = b64(bytes(range(256)) * 10)
    line = format_frame("recv", json.dumps({"type": "response.audio.delta", "item_id": "i", "delta": pcm}))
    assert body(line)["delta"] == "<2560 bytes audio>"
    retrieved = {"type": "conversation.item.retrieved", "item": {"id": "i", "content": [
        {"type": "input_audio", "audio": pcm, "transcript": "hi"}]}}
    out = body(format_frame("recv", json.dumps(retrieved)))
    assert out["item"]["content"][0] == {"type": "input_audio", "audio": "<2560 bytes audio>",
                                         "transcript": "hi"}


def test_image_data_urls_and_long_base64_strings_are_elided():
    """A data: URL keeps its media type and loses its payload; any long base64 string is elided."""
    image = b64(b"\x89PNG" + b"x" * 996)
    frame = {"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_image", "image_url": f"data:image/png;base64,{image}"}]},
        "blob": b64(b"z" * 300)}
    out = body(format_frame("send", json.dumps(frame)), "send")
    assert out["item"]["content"][0]["image_url"] == "data:image/png;base64,<1000 bytes>"
    assert out["blob"] == "<base64, 300 bytes>"


def test_frames_without_audio_or_secrets_are_logged_faithfully():
    """A real session.update (instructions, tools) round-trips through the log unchanged."""
    @tool
    def get_weather(city: str) -> str:
        """Weather by city."""
        return "sunny"

    frame = openai_realtime(url="ws://127.0.0.1:1/v1/realtime").new_session().session_update(
        SessionConfig(instructions="Be brief.\nSpeak French: « très bien ».", voice="marin",
                      tools=(get_weather,)), event_id="evt_1")
    line = format_frame("send", json.dumps(frame))
    assert "\n" not in line
    assert body(line, "send") == frame


@pytest.mark.parametrize("key", ["token", "api_key", "apiKey", "Authorization", "secret", "client_secret",
                                 "password", "x-api-key"])
def test_values_of_credential_keys_are_redacted(key):
    """Keys named like a credential have their string value redacted, whatever it looks like."""
    out = body(format_frame("send", json.dumps({"type": "x", "nested": {key: "hunter2-plain"}})), "send")
    assert out == {"type": "x", "nested": {key: "<redacted>"}}


def test_value_and_key_fields_are_redacted_only_when_they_look_like_keys():
    """``value``/``key`` fields are redacted for sk-/ek_/Bearer values and kept otherwise."""
    frame = {"type": "x", "client_secret": {"value": "ek_68a1b2c3d4", "expires_at": 1},
             "a": {"value": "42 dB"}, "b": {"key": "sk-proj-abc123"}, "c": {"key": "ordinary"},
             "d": {"value": "Bearer abc"}}
    out = body(format_frame("recv", json.dumps(frame)))
    assert out == {"type": "x", "client_secret": {"value": "<redacted>", "expires_at": 1},
                   "a": {"value": "42 dB"}, "b": {"key": "<redacted>"}, "c": {"key": "ordinary"},
                   "d": {"value": "<redacted>"}}


def test_keys_and_bearer_values_inside_any_string_are_redacted():
    """sk-/ek_ keys, bearer values and subprotocol keys are redacted wherever they appear."""
    message = ("Incorrect API key provided: sk-proj-****abcd. Header was Authorization: Bearer ek_live_123; "
               "protocol openai-insecure-api-key.sk-xyz789, rk-limited-999 and task-force stays.")
    line = format_frame("recv", json.dumps({"type": "error", "error": {"message": message}}))
    text = body(line)["error"]["message"]
    for secret in ("abcd", "ek_live_123", "sk-xyz789", "rk-limited-999"):
        assert secret not in line
    assert "Bearer <redacted>" in text and "openai-insecure-api-key.<redacted>" in text
    assert "task-force stays." in text
    assert redact_text("key sk-abc123 ok") == "key <redacted> ok"


@settings(max_examples=200, deadline=None)
@given(secret=st.text(alphabet=string.ascii_letters + string.digits + "_-", min_size=8, max_size=60),
       prefix=st.sampled_from(["sk-", "sk-proj-", "ek_", "Bearer "]),
       key=st.sampled_from(["message", "value", "instructions", "param", "x"]),
       before=st.text(alphabet=" :,=(\"'", min_size=1, max_size=3))
def test_no_credential_survives_in_any_field(secret, prefix, key, before):
    """Property: a key with a credential prefix never reaches the line, whatever field holds it."""
    frame = {"type": "error", "error": {key: f"bad{before}{prefix}{secret}"}}
    line = format_frame("recv", json.dumps(frame))
    assert secret not in line


@settings(max_examples=150, deadline=None)
@given(pcm=st.binary(min_size=48, max_size=4000),
       kind=st.sampled_from([("response.output_audio.delta", "delta"),
                             ("input_audio_buffer.append", "audio")]))
def test_audio_payload_never_reaches_the_line(pcm, kind):
    """Property: audio payloads are replaced by their exact decoded size."""
    encoded = b64(pcm)
    line = format_frame("send", json.dumps({"type": kind[0], kind[1]: encoded}))
    assert encoded not in line and f"<{len(pcm)} bytes audio>" in line


def test_non_json_text_is_quoted_redacted_and_kept_on_one_line():
    """A text frame that is not JSON is shown quoted, on one line, with keys and base64 runs elided."""
    raw = "oops\nnot json sk-abcdef123 " + "QUJD" * 40 + "\r\nend"
    line = format_frame("recv", raw)
    assert "\n" not in line and "\r" not in line
    assert json.loads(line[len("recv "):]) == "oops\nnot json <redacted> <base64, 120 bytes>\r\nend"


def test_binary_frames_show_their_size_and_any_utf8_text():
    """Binary frames show their size; UTF-8 JSON inside is described like a text frame."""
    assert format_frame("recv", b"\xff\xfe\x00\x01") == "recv <binary frame, 4 bytes>"
    payload = json.dumps({"type": "session.created", "token": "ek_abc12345"}).encode()
    line = format_frame("recv", payload)
    assert line.startswith(f"recv <binary frame, {len(payload)} bytes> ")
    assert "ek_abc12345" not in line and "<redacted>" in line


def test_lines_are_capped_and_say_how_much_was_cut():
    """Huge frames give lines of at most the limit (default 2,000) that end by counting the cut."""
    words = " ".join(["hello"] * 50_000)
    line = format_frame("recv", json.dumps({"type": "response.output_text.delta", "delta": words}))
    assert len(line) <= MAX_LINE_CHARS == 2000
    assert line.endswith(" chars)") and "... (+" in line
    short = format_frame("recv", "x " * 500, limit=120)
    assert len(short) <= 120 and short.endswith(" chars)")


def test_odd_inputs_never_raise():
    """Deep nesting, invalid JSON, a huge frame and non-frame objects are described, not raised on."""
    lines = [format_frame("recv", "[" * 200_000), format_frame("recv", '{"type": '),
             format_frame("recv", '{"a":' * 5000 + "1" + "}" * 5000), format_frame("recv", "x" * 5_000_000),
             format_frame("recv", None), format_frame("recv", 12), format_frame("recv", ""),
             format_frame("recv", bytearray(b"{}")), format_frame("recv", memoryview(b"abc"))]
    for line in lines:
        assert isinstance(line, str) and line.startswith("recv ") and len(line) <= MAX_LINE_CHARS
        assert "\n" not in line
    assert format_frame("recv", None) == "recv <NoneType frame>"


def test_log_frame_logs_at_debug_on_the_wire_logger(caplog):
    """With the wire logger at DEBUG each frame becomes one redacted record on realtime_client.wire."""
    caplog.set_level(logging.DEBUG, logger=WIRE_LOGGER)
    log_frame("send", json.dumps({"type": "input_audio_buffer.append", "audio": b64(b"\0" * 960)}))
    log_frame("recv", json.dumps({"type": "error", "error": {"message": "bad key sk-live-abcdef"}}))
    records = [r for r in caplog.records if r.name == WIRE_LOGGER]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]
    assert records[0].getMessage() == 'send {"type":"input_audio_buffer.append","audio":"<960 bytes audio>"}'
    assert "sk-live" not in records[1].getMessage()


class Probe(str):
    """A frame that records whether anything looked at its content."""

    touched = False

    def __getitem__(self, index):  # type: ignore[override]
        Probe.touched = True
        return super().__getitem__(index)


def test_log_frame_does_no_work_when_the_wire_log_is_off(caplog):
    """With the wire logger above DEBUG, log_frame neither formats the frame nor logs anything."""
    caplog.set_level(logging.INFO, logger=WIRE_LOGGER)
    Probe.touched = False
    log_frame("recv", Probe('{"type": "session.created"}'))
    assert not Probe.touched
    assert not [r for r in caplog.records if r.name == WIRE_LOGGER]
    caplog.set_level(logging.DEBUG, logger=WIRE_LOGGER)
    log_frame("recv", Probe('{"type": "session.created"}'))
    assert Probe.touched
    assert [r.getMessage() for r in caplog.records if r.name == WIRE_LOGGER] == \
        ['recv {"type":"session.created"}']
