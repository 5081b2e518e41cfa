"""The GA session, response and item schemas as data, with strict validation and deep merge.

A schema is built from a few small spec classes (``Obj``, ``Tagged``, ``Enum``, ...). Validation
runs in two passes, as the real API appears to: first every key is checked against the allowed
keys (the first unknown one gives ``unknown_parameter``), then required keys, types and values.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from ...adapters._openai._wire import MAX_OUTPUT_TOKENS as _MAX_TOKENS
from ...adapters._openai._wire import PCM_RATE, UNKNOWN_PARAMETER, UNLIMITED_OUTPUT_TOKENS, VOICES

__all__ = [
    "CLIENT_EVENT_FIELDS",
    "ITEM",
    "RESPONSE",
    "SESSION",
    "VOICES",
    "AnyJSON",
    "Bool",
    "Enum",
    "Int",
    "ListOf",
    "Nullable",
    "Num",
    "Obj",
    "OneOf",
    "SchemaError",
    "Str",
    "Tagged",
    "default_session",
    "find_unknown",
    "merge",
    "validate",
]


class SchemaError(Exception):
    """A validation failure, carrying the wire ``code``, ``param`` and ``message``."""

    def __init__(self, code: str, param: Optional[str], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.message = message


# --- spec vocabulary ---------------------------------------------------------------------


class Str:
    """Any string."""


class Bool:
    """``true`` or ``false``."""


class Int:
    """An integer (not a boolean) within ``[lo, hi]``."""

    def __init__(self, lo: Optional[float] = None, hi: Optional[float] = None) -> None:
        self.lo, self.hi = lo, hi


class Num(Int):
    """A number (int or float, not a boolean) within ``[lo, hi]``."""


class Enum:
    """One of ``values``."""

    def __init__(self, *values: Any) -> None:
        self.values = values


class AnyJSON:
    """Free-form JSON (``kind="object"`` requires an object); keys are not checked."""

    def __init__(self, kind: Optional[str] = None) -> None:
        self.kind = kind


class ListOf:
    """A list whose items all match ``item``."""

    def __init__(self, item: Any, min_len: int = 0, max_len: Optional[int] = None) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len


class Obj:
    """An object with exactly these allowed ``fields`` (name → spec) and ``required`` names."""

    def __init__(self, fields: Mapping[str, Any], required: Iterable[str] = ()) -> None:
        self.fields = dict(fields)
        self.required = tuple(required)


class Tagged:
    """An object whose ``type`` key selects one of ``variants``; ``defaults`` fill a new value."""

    def __init__(self, variants: Mapping[str, Obj], defaults: Optional[Mapping[str, dict]] = None) -> None:
        self.variants = dict(variants)
        self.defaults = dict(defaults or {})


class Nullable:
    """``null`` or ``inner``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner


class OneOf:
    """The first of ``options`` that the value matches."""

    def __init__(self, *options: Any) -> None:
        self.options = options


# --- the GA schemas (protocols.md §1.4, §1.6; field lists from the openai package's models) ----

_PCM_DEFAULT = {"type": "audio/pcm", "rate": PCM_RATE}
FORMAT = Tagged(
    {"audio/pcm": Obj({"type": Str(), "rate": Enum(PCM_RATE)}),
     "audio/pcmu": Obj({"type": Str()}),
     "audio/pcma": Obj({"type": Str()})},
    defaults={"audio/pcm": _PCM_DEFAULT, "audio/pcmu": {"type": "audio/pcmu"},
              "audio/pcma": {"type": "audio/pcma"}},
)
TURN_DETECTION = Nullable(Tagged(
    {"server_vad": Obj({"type": Str(), "threshold": Num(0, 1), "prefix_padding_ms": Int(0, 10000),
                        "silence_duration_ms": Int(0, 10000), "idle_timeout_ms": Nullable(Int(5000, 30000)),
                        "create_response": Bool(), "interrupt_response": Bool()}),
     "semantic_vad": Obj({"type": Str(), "eagerness": Enum("low", "medium", "high", "auto"),
                          "create_response": Bool(), "interrupt_response": Bool()})},
    defaults={
        "server_vad": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                       "silence_duration_ms": 500, "idle_timeout_ms": None, "create_response": True,
                       "interrupt_response": True},
        "semantic_vad": {"type": "semantic_vad", "eagerness": "auto", "create_response": True,
                         "interrupt_response": True},
    },
))
TRANSCRIPTION = Nullable(Obj({
    "model": Str(), "language": Nullable(Str()), "prompt": Nullable(Str()), "languages": ListOf(Str()),
    "keywords": ListOf(Str()), "delay": Enum("minimal", "low", "medium", "high", "xhigh")}))
NOISE_REDUCTION = Nullable(Obj({"type": Enum("near_field", "far_field"), "strength": Num(0, 1)}))
VOICE = OneOf(Enum(*VOICES), Obj({"id": Str()}, required=("id",)))
FUNCTION_TOOL = Obj({"type": Str(), "name": Str(), "description": Str(), "parameters": AnyJSON("object")})
MCP_TOOL = Obj({
    "type": Str(), "server_label": Str(), "server_url": Str(), "connector_id": Str(), "tunnel_id": Str(),
    "authorization": Str(), "headers": Nullable(AnyJSON("object")), "allowed_tools": Nullable(AnyJSON()),
    "allowed_callers": ListOf(Enum("direct", "programmatic")), "require_approval": Nullable(AnyJSON()),
    "server_description": Str(), "defer_loading": Bool()}, required=("server_label",))
TOOLS = ListOf(Tagged({"function": FUNCTION_TOOL, "mcp": MCP_TOOL}))
TOOL_CHOICE = OneOf(
    Enum("auto", "none", "required"),
    Tagged({"function": Obj({"type": Str(), "name": Str()}, required=("name",)),
            "mcp": Obj({"type": Str(), "server_label": Str(), "name": Nullable(Str())},
                       required=("server_label",))}),
)
MAX_OUTPUT_TOKENS = OneOf(Int(1, _MAX_TOKENS), Enum(UNLIMITED_OUTPUT_TOKENS))
PROMPT = Nullable(Obj({"id": Str(), "version": Nullable(Str()), "variables": Nullable(AnyJSON("object"))},
                      required=("id",)))
REASONING = Nullable(Obj({"effort": Enum("minimal", "low", "medium", "high", "xhigh")}))
MODALITIES = ListOf(Enum("audio", "text"))

SESSION = Obj({
    "type": Enum("realtime"),
    "model": Str(),
    "instructions": Str(),
    "output_modalities": MODALITIES,
    "audio": Obj({
        "input": Obj({"format": FORMAT, "transcription": TRANSCRIPTION, "noise_reduction": NOISE_REDUCTION,
                      "turn_detection": TURN_DETECTION}),
        "output": Obj({"format": FORMAT, "voice": VOICE, "speed": Num(0.25, 1.5)}),
    }),
    "tools": TOOLS,
    "tool_choice": TOOL_CHOICE,
    "max_output_tokens": MAX_OUTPUT_TOKENS,
    "truncation": OneOf(Enum("auto", "disabled"), Tagged({"retention_ratio": Obj(
        {"type": Str(), "retention_ratio": Num(0, 1), "token_limits": Obj({"post_instructions": Int(0)})},
        required=("retention_ratio",))})),
    "include": Nullable(ListOf(Enum("item.input_audio_transcription.logprobs"))),
    "tracing": Nullable(OneOf(Enum("auto"), Obj({"workflow_name": Str(), "group_id": Str(),
                                                 "metadata": AnyJSON("object")}))),
    "prompt": PROMPT,
    "reasoning": REASONING,
    "parallel_tool_calls": Bool(),
}, required=("type",))

RESPONSE = Obj({
    "output_modalities": MODALITIES,
    "instructions": Str(),
    "tools": TOOLS,
    "tool_choice": TOOL_CHOICE,
    "max_output_tokens": MAX_OUTPUT_TOKENS,
    "metadata": Nullable(AnyJSON("object")),
    "audio": Obj({"output": Obj({"format": FORMAT, "voice": VOICE})}),
    "conversation": Str(),
    "input": ListOf(AnyJSON("object")),
    "prompt": PROMPT,
    "reasoning": REASONING,
    "parallel_tool_calls": Bool(),
})

_ITEM_COMMON = {"id": Str(), "object": Enum("realtime.item"),
                "status": Enum("completed", "incomplete", "in_progress")}
_CONTENT = Tagged({
    "input_text": Obj({"type": Str(), "text": Str()}, required=("text",)),
    "input_audio": Obj({"type": Str(), "audio": Str(), "transcript": Nullable(Str())}),
    "input_image": Obj({"type": Str(), "image_url": Str(), "detail": Enum("auto", "low", "high")}),
    "output_text": Obj({"type": Str(), "text": Str()}, required=("text",)),
    "output_audio": Obj({"type": Str(), "audio": Str(), "transcript": Nullable(Str())}),
})
ITEM = Tagged({
    "message": Obj({**_ITEM_COMMON, "type": Str(), "role": Enum("user", "system", "assistant"),
                    "content": ListOf(_CONTENT)}, required=("role", "content")),
    "function_call": Obj({**_ITEM_COMMON, "type": Str(), "call_id": Str(), "name": Str(), "arguments": Str()},
                         required=("name", "arguments")),
    "function_call_output": Obj({**_ITEM_COMMON, "type": Str(), "call_id": Str(), "output": Str()},
                                required=("call_id", "output")),
})

#: Allowed top-level keys of each client event (besides ``type`` and ``event_id``), and required ones.
CLIENT_EVENT_FIELDS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "session.update": (("session",), ("session",)),
    "input_audio_buffer.append": (("audio",), ("audio",)),
    "input_audio_buffer.commit": ((), ()),
    "input_audio_buffer.clear": ((), ()),
    "output_audio_buffer.clear": ((), ()),
    "conversation.item.create": (("item", "previous_item_id"), ("item",)),
    "conversation.item.retrieve": (("item_id",), ("item_id",)),
    "conversation.item.delete": (("item_id",), ("item_id",)),
    "conversation.item.truncate": (("item_id", "content_index", "audio_end_ms"),
                                   ("item_id", "content_index", "audio_end_ms")),
    "response.create": (("response",), ()),
    "response.cancel": (("response_id",), ()),
}


def default_session(model: str, instructions: str, voice: str) -> Dict[str, Any]:
    """The complete default GA session the fake server reports in ``session.created``.

    ``id``, ``object`` and ``expires_at`` are left out: the openai package's
    ``session.created`` model does not declare them.
    """
    return {
        "type": "realtime",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": instructions,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": UNLIMITED_OUTPUT_TOKENS,
        "truncation": "auto",
        "tracing": None,
        "prompt": None,
        "include": None,
        "audio": {
            "input": {
                "format": dict(_PCM_DEFAULT),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(TURN_DETECTION.inner.defaults["server_vad"]),
            },
            "output": {"format": dict(_PCM_DEFAULT), "voice": voice, "speed": 1.0},
        },
    }


# --- validation ------------------------------------------------------------------------------


def _resolve(spec: Any, value: Mapping[str, Any]) -> Optional[Obj]:
    """The object spec that governs the keys of dict ``value`` under ``spec`` (None: free-form)."""
    if isinstance(spec, Nullable):
        return _resolve(spec.inner, value)
    if isinstance(spec, Obj):
        return spec
    if isinstance(spec, Tagged):
        tag = value.get("type")
        return spec.variants.get(tag) if isinstance(tag, str) else None
    if isinstance(spec, OneOf):
        for option in spec.options:
            found = _resolve(option, value)
            if found is not None:
                return found
    return None


def _list_item(spec: Any) -> Any:
    while isinstance(spec, Nullable):
        spec = spec.inner
    if isinstance(spec, OneOf):
        for option in spec.options:
            if isinstance(option, ListOf):
                return option.item
    return spec.item if isinstance(spec, ListOf) else None


def find_unknown(spec: Any, value: Any, path: str) -> Optional[str]:
    """The dotted path of the first key in ``value`` that ``spec`` does not allow, if any."""
    if isinstance(value, dict):
        obj = _resolve(spec, value)
        if obj is None:
            return None
        for key, sub in value.items():
            if key not in obj.fields:
                return f"{path}.{key}"
            found = find_unknown(obj.fields[key], sub, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        item = _list_item(spec)
        if item is not None:
            for i, sub in enumerate(value):
                found = find_unknown(item, sub, f"{path}[{i}]")
                if found:
                    return found
    return None


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string",
               list: "an array", dict: "an object", type(None): "null"}


def _got(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _type_error(path: str, expected: str, value: Any) -> SchemaError:
    return SchemaError("invalid_type", path,
                       f"Invalid type for '{path}': expected {expected}, but got {_got(value)} instead.")


def _quote(values: Sequence[Any]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(spec: Any, value: Any, path: str) -> None:
    if isinstance(spec, Nullable):
        if value is not None:
            _check(spec.inner, value, path)
    elif isinstance(spec, Str):
        if not isinstance(value, str):
            raise _type_error(path, "a string", value)
    elif isinstance(spec, Bool):
        if not isinstance(value, bool):
            raise _type_error(path, "a boolean", value)
    elif isinstance(spec, Int):
        is_int = isinstance(spec, Num) or (isinstance(value, int) and not isinstance(value, bool))
        if not _is_number(value) or not is_int:
            raise _type_error(path, "a number" if isinstance(spec, Num) else "an integer", value)
        if spec.lo is not None and value < spec.lo:
            raise SchemaError("invalid_value", path, f"Invalid '{path}': expected a value >= {spec.lo}, "
                                                     f"but got {value} instead.")
        if spec.hi is not None and value > spec.hi:
            raise SchemaError("invalid_value", path, f"Invalid '{path}': expected a value <= {spec.hi}, "
                                                     f"but got {value} instead.")
    elif isinstance(spec, Enum):
        if isinstance(value, bool) or value not in spec.values or type(value) is not type(spec.values[0]):
            raise SchemaError("invalid_value", path,
                              f"Invalid value: '{value}'. Supported values are: {_quote(spec.values)}.")
    elif isinstance(spec, AnyJSON):
        if spec.kind == "object" and not isinstance(value, dict):
            raise _type_error(path, "an object", value)
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise _type_error(path, "an array", value)
        if len(value) < spec.min_len or (spec.max_len is not None and len(value) > spec.max_len):
            raise SchemaError("invalid_value", path,
                              f"Invalid '{path}': array length {len(value)} is out of range.")
        for i, sub in enumerate(value):
            _check(spec.item, sub, f"{path}[{i}]")
    elif isinstance(spec, Obj):
        if not isinstance(value, dict):
            raise _type_error(path, "an object", value)
        for name in spec.required:
            if name not in value:
                raise SchemaError("missing_required_parameter", f"{path}.{name}",
                                  f"Missing required parameter: '{path}.{name}'.")
        for key, sub in value.items():
            _check(spec.fields[key], sub, f"{path}.{key}")
    elif isinstance(spec, Tagged):
        if not isinstance(value, dict):
            raise _type_error(path, "an object", value)
        if "type" not in value:
            raise SchemaError("missing_required_parameter", f"{path}.type",
                              f"Missing required parameter: '{path}.type'.")
        if value["type"] not in spec.variants:
            raise SchemaError("invalid_value", f"{path}.type", f"Invalid value: '{value['type']}'. "
                              f"Supported values are: {_quote(list(spec.variants))}.")
        _check(spec.variants[value["type"]], value, path)
    elif isinstance(spec, OneOf):
        first: Optional[SchemaError] = None
        for option in spec.options:
            try:
                _check(option, value, path)
                return
            except SchemaError as exc:
                # Report the error of the option that has the value's JSON type (a dict goes to
                # the object option, a string to the enum), not the first option's.
                if first is None or (isinstance(value, dict) and _resolve(option, value) is not None):
                    first = exc
        assert first is not None
        raise first


def validate(spec: Any, value: Any, path: str) -> None:
    """Raise :class:`SchemaError` for the first unknown key, else the first bad value."""
    unknown = find_unknown(spec, value, path)
    if unknown:
        raise SchemaError(UNKNOWN_PARAMETER, unknown, f"Unknown parameter: '{unknown}'.")
    _check(spec, value, path)


def merge(spec: Any, old: Any, new: Any) -> Any:
    """Deep-merge validated ``new`` into ``old``: objects merge key by key, explicit ``null``
    clears, lists and scalars replace, and a tagged object whose ``type`` changes is replaced by
    that type's defaults updated with ``new``."""
    if new is None:
        return None
    while isinstance(spec, Nullable):
        spec = spec.inner
    if not isinstance(new, dict):
        return copy.deepcopy(new)
    if isinstance(spec, OneOf):
        spec = next((o for o in spec.options if _resolve(o, new) is not None), None)
    if isinstance(spec, Tagged):
        tag = new.get("type")
        if not (isinstance(old, dict) and old.get("type") == tag):
            old = copy.deepcopy(spec.defaults.get(tag, {}) if isinstance(tag, str) else {})
        spec = spec.variants.get(tag) if isinstance(tag, str) else None
    if not isinstance(spec, Obj):
        return copy.deepcopy(new)
    result = copy.deepcopy(old) if isinstance(old, dict) else {}
    for key, sub in new.items():
        result[key] = merge(spec.fields.get(key), result.get(key), sub)
    return result
