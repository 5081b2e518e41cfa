"""An independent check of xAI Grok frames, written from protocols.md §8.2 (not from our code).

There is no official xAI Python realtime SDK to validate against, so the xAI-only parts are
checked against the field list of §8.2 copied here as data: the session object (no undeclared
field at any depth, types and ranges), ``ping``, cumulative ``...input_audio_transcription.updated``
and the top-level ``usage`` of ``response.done``. Everything xAI shares with OpenAI's GA events is
validated by the ``openai`` package's models (``tests/_conformance.py``).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Union

from openai.types.realtime import RealtimeResponseUsage
from pydantic import TypeAdapter

from tests._conformance import validate_client_frame, validate_server_frame

Check = Callable[[Any, str], None]


def _fail(path: str, what: str, value: Any) -> None:
    raise AssertionError(f"{path}: expected {what}, got {value!r}")


def _string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        _fail(path, "a string", value)


def _boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        _fail(path, "a boolean", value)


def _number(lo: float, hi: float, integer: bool = False) -> Check:
    def check(value: Any, path: str) -> None:
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not lo <= value <= hi:
            _fail(path, f"{'an integer' if integer else 'a number'} in [{lo}, {hi}]", value)
    return check


def _nullable(inner: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if value is not None:
            inner(value, path)
    return check


def _one_of(*values: Any) -> Check:
    def check(value: Any, path: str) -> None:
        if value not in values:
            _fail(path, f"one of {values}", value)
    return check


def _list(inner: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            _fail(path, "an array", value)
        for i, entry in enumerate(value):
            inner(entry, f"{path}[{i}]")
    return check


def _obj(fields: Dict[str, Check], required: tuple = (), free: bool = False) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict):
            _fail(path, "an object", value)
        for key in required:
            if key not in value:
                raise AssertionError(f"{path}.{key}: required by protocols.md §8.2")
        for key, entry in value.items():
            if key not in fields:
                if free:
                    continue
                raise AssertionError(f"{path}.{key}: not a field of the xAI session (protocols.md §8.2)")
            fields[key](entry, f"{path}.{key}")
    return check


def _tagged(variants: Dict[str, Check]) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, dict) or value.get("type") not in variants:
            _fail(path, f"an object with type in {tuple(variants)}", value)
        variants[value["type"]](value, path)
    return check


def _string_map(value: Any, path: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        _fail(path, "an object of strings", value)


# --- protocols.md §8.2, as data ------------------------------------------------------------------
# "PCM rates 8000-48000"; G.711 is audio/pcmu or audio/pcma (8 kHz, no rate).
_FORMAT = _tagged({
    "audio/pcm": _obj({"type": _string, "rate": _number(8000, 48000, integer=True)}, required=("rate",)),
    "audio/pcmu": _obj({"type": _string}),
    "audio/pcma": _obj({"type": _string}),
})
# "top-level turn_detection {type:"server_vad"|null, threshold, silence_duration_ms, prefix_padding_ms,
# idle_timeout_ms}"; §2 gives threshold 0.1-0.9 and prefix_padding_ms 0-10000.
_TURN_DETECTION = _nullable(_obj({
    "type": _one_of("server_vad"), "threshold": _number(0.1, 0.9),
    "silence_duration_ms": _number(0, 1e9, True),
    "prefix_padding_ms": _number(0, 10000, True), "idle_timeout_ms": _nullable(_number(0, 1e9, True)),
}, required=("type",)))
# "tools (function, web_search, x_search, file_search, mcp)"; §2 gives the server tools' fields.
_TOOL = _tagged({
    "function": _obj({"type": _string, "name": _string, "description": _string,
                      "parameters": _obj({}, free=True)}, required=("name",)),
    "web_search": _obj({"type": _string}),
    "x_search": _obj({"type": _string, "allowed_x_handles": _list(_string)}),
    "file_search": _obj({"type": _string, "vector_store_ids": _list(_string),
                         "max_num_results": _number(1, 1e9, True)}, required=("vector_store_ids",)),
    "mcp": _obj({"type": _string}, free=True),  # §8.2 names mcp tools without listing their fields
})
SESSION = _obj({
    "instructions": _string,
    "voice": _string,  # eve, ara, rex, sal, leo (case-insensitive) or a custom voice id
    "turn_detection": _TURN_DETECTION,
    "audio": _obj({
        "input": _obj({"format": _FORMAT, "transcription": _nullable(_obj({
            "model": _string, "language_hint": _string, "keyterms": _list(_string)}))}),
        "output": _obj({"format": _FORMAT, "speed": _number(0.7, 1.5)}),
    }),
    "tools": _list(_TOOL),
    "reasoning": _nullable(_obj({"effort": _string})),
    "resumption": _obj({"enabled": _boolean}),
    "replace": _string_map,
})

_USAGE = TypeAdapter(RealtimeResponseUsage)


def _load(frame: Union[str, bytes, dict]) -> Dict[str, Any]:
    data = json.loads(frame) if isinstance(frame, (str, bytes)) else frame
    assert isinstance(data, dict), f"a frame must be a JSON object, got {type(data).__name__}"
    return data


def validate_session(session: Any, path: str = "session") -> None:
    """Raise AssertionError unless ``session`` uses only §8.2's xAI session fields, well typed."""
    SESSION(session, path)


def validate_grok_client_frame(frame: Union[str, bytes, dict]) -> None:
    """A frame our client sends to xAI: ``session.update`` against §8.2, the rest against the
    openai client event models (xAI shares them)."""
    data = _load(frame)
    if data.get("type") == "session.update":
        extra = set(data) - {"type", "event_id", "session"}
        assert not extra, f"session.update: undeclared field(s) {sorted(extra)}"
        validate_session(data["session"])
        return
    validate_client_frame(data)


def validate_grok_server_frame(frame: Union[str, bytes, dict]) -> None:
    """A frame the fake xAI server sends: the xAI-only shapes here, the shared ones by openai's models."""
    data = _load(frame)
    kind = data.get("type")
    if kind in ("session.created", "session.updated"):
        extra = set(data) - {"type", "event_id", "session"}
        assert not extra, f"{kind}: undeclared field(s) {sorted(extra)}"
        validate_session(data["session"])
    elif kind == "ping":
        _obj({"type": _string, "event_id": _string, "timestamp": _number(0, 1e15, True)},
             required=("timestamp",))(data, "ping")
    elif kind == "conversation.item.input_audio_transcription.updated":
        _obj({"type": _string, "event_id": _string, "item_id": _string,
              "content_index": _number(0, 1e9, True), "transcript": _string},
             required=("item_id", "transcript"))(data, kind)
    elif kind in ("response.text.delta", "response.text.done"):
        validate_server_frame(dict(data, type=kind.replace("response.text", "response.output_text")))
    elif kind == "response.done" and "usage" in data:
        usage = data["usage"]
        if usage is not None:
            _USAGE.validate_python(usage)
        validate_server_frame({k: v for k, v in data.items() if k != "usage"})
    else:
        validate_server_frame(data)
