"""Protocol-independent helpers shared by the provider adapters.

Everything here is pure: URL checks, strict field access on decoded JSON frames, base64,
event ids, image data URLs, tool schemas and a deep merge. No I/O, no state.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._events import Malformed
from .._models import (
    AudioPart,
    ImagePart,
    RealtimeMessage,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    UsageInfo,
)
from .._util import is_loopback_host

__all__ = [
    "FrameError",
    "as_text",
    "b64decode_strict",
    "b64encode",
    "check_ws_url",
    "conversation_items",
    "decode_frame",
    "deep_merge",
    "excerpt",
    "image_url",
    "is_loopback_host",
    "new_event_id",
    "opt_int",
    "opt_obj",
    "opt_str",
    "req_obj",
    "req_str",
    "tool_schema",
    "type_name",
    "usage_info",
    "with_query_param",
]


class FrameError(ValueError):
    """A received frame has a missing or mistyped field; the message says which."""


def type_name(value: Any) -> str:
    """The JSON-ish type name of a decoded value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


# --- strict field access (type(v) is str rejects subclasses; JSON never makes them) -----


def req_str(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    """``obj[key]`` if it is a string, else :class:`FrameError`."""
    value = obj.get(key)
    if type(value) is str:
        return value
    raise FrameError(f"{where}{key} must be a string, got {type_name(value)}")


def opt_str(obj: Mapping[str, Any], key: str, where: str = "") -> Optional[str]:
    """``obj[key]`` if it is a string, ``None`` if absent or null, else :class:`FrameError`."""
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise FrameError(f"{where}{key} must be a string, got {type_name(value)}")


def opt_int(obj: Mapping[str, Any], key: str, where: str = "") -> Optional[int]:
    """``obj[key]`` if it is an integer (not a bool), ``None`` if absent or null."""
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    raise FrameError(f"{where}{key} must be an integer, got {type_name(value)}")


def req_obj(obj: Mapping[str, Any], key: str, where: str = "") -> Dict[str, Any]:
    """``obj[key]`` if it is a JSON object, else :class:`FrameError`."""
    value = obj.get(key)
    if type(value) is dict:
        return value
    raise FrameError(f"{where}{key} must be an object, got {type_name(value)}")


def opt_obj(obj: Mapping[str, Any], key: str, where: str = "") -> Optional[Dict[str, Any]]:
    """``obj[key]`` if it is a JSON object, ``None`` if absent or null."""
    value = obj.get(key)
    if value is None or type(value) is dict:
        return value
    raise FrameError(f"{where}{key} must be an object, got {type_name(value)}")


# --- base64 ---------------------------------------------------------------------------

try:  # Python >= 3.11: one C call that rejects non-alphabet characters and bad padding
    binascii.a2b_base64("", strict_mode=True)

    def b64decode_strict(data: str) -> bytes:
        """Decode standard base64, rejecting anything that is not canonical base64.

        Raises:
            ValueError: ``data`` is not valid base64 (``binascii.Error`` is a ValueError).
        """
        return binascii.a2b_base64(data, strict_mode=True)

except TypeError:  # pragma: no cover - Python 3.9 and 3.10

    def b64decode_strict(data: str) -> bytes:
        """Decode standard base64, rejecting characters outside the alphabet.

        Raises:
            ValueError: ``data`` is not valid base64.
        """
        return base64.b64decode(data, validate=True)


def b64encode(data: bytes) -> str:
    """Standard base64 text of ``data`` (no newline)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


# --- excerpts for Malformed events ------------------------------------------------------

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{48,}={0,2}")


def excerpt(text: str, limit: int = 200) -> str:
    """The start of ``text`` (at most ``limit`` chars) with long base64 runs elided.

    Audio payloads are replaced by ``<base64, N chars>`` so a bad frame's excerpt stays
    readable and never carries the audio itself.
    """
    head = text[: limit * 4]
    head = _B64_RUN.sub(lambda m: f"<base64, {len(m.group())} chars>", head)
    return head[:limit]


def decode_frame(frame: Union[str, bytes]) -> Union[Malformed, Tuple[Dict[str, Any], str, str]]:
    """``(message, type, text)`` for a UTF-8 JSON object frame with a string ``type``, else
    a :class:`Malformed` saying why. Never raises."""
    if isinstance(frame, str):
        text = frame
    elif isinstance(frame, (bytes, bytearray, memoryview)):
        try:
            text = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            head = bytes(frame[:400]).decode("utf-8", "replace")
            return Malformed("frame is not valid UTF-8", excerpt(head))
    else:
        return Malformed(f"frame must be str or bytes, got {type(frame).__name__}")
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return Malformed("frame is not valid JSON", excerpt(text))
    if type(msg) is not dict:
        return Malformed("frame is not a JSON object", excerpt(text))
    kind = msg.get("type")
    if type(kind) is not str:
        return Malformed("frame has no string 'type'", excerpt(text))
    return msg, kind, text


# --- ids ------------------------------------------------------------------------------


def new_event_id(prefix: str = "evt_") -> str:
    """A fresh random client event id such as ``evt_3f9a1c0d2b4e6f70``."""
    return prefix + os.urandom(8).hex()


# --- URLs -----------------------------------------------------------------------------


def check_ws_url(url: str) -> str:
    """Validate a WebSocket URL and return it unchanged.

    ``wss://`` is always accepted. Plain ``ws://`` sends the credentials in clear text, so it
    is accepted only for a loopback host.
    Messages name the scheme and host only, never the whole URL (it may carry a key).

    Raises:
        ValueError: not a ws/wss URL, no host, or ``ws://`` to a non-loopback host.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"url is not a valid WebSocket URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise ValueError("url must use wss:// (or ws:// to a loopback host), "
                         f"got scheme {scheme or '(none)'!r}")
    if not host:
        raise ValueError("url has no host")
    if scheme == "ws" and not is_loopback_host(host):
        raise ValueError(
            f"refusing plain ws:// to non-loopback host {host!r}: the token would travel unencrypted; "
            "use wss://, or ws:// only to localhost / 127.0.0.1 / [::1]"
        )
    return url.strip()


def with_query_param(url: str, key: str, value: str, *, unless: tuple = ()) -> str:
    """``url`` with ``key=value`` appended to its query, unless the query already has ``key``
    or any of the names in ``unless``."""
    parts = urlsplit(url)
    present = {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if key in present or present.intersection(unless):
        return url
    extra = urlencode({key: value})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --- outgoing content -----------------------------------------------------------------


def image_url(part: ImagePart) -> str:
    """An image part as a URL: http(s) and ``data:`` URLs pass through, raw base64 becomes
    ``data:<mime>;base64,<data>`` (whitespace such as MIME line breaks removed)."""
    data = part.data.strip()
    lowered = data[:8].lower()
    if lowered.startswith(("http://", "https://", "data:")):
        return data
    return f"data:{part.mime_type};base64,{''.join(data.split())}"


def tool_schema(tool: Any) -> Dict[str, Any]:
    """The JSON schema dict of a tool: ``tool.to_schema()`` or a plain mapping (copied).

    Raises:
        TypeError: ``tool`` is neither, or ``to_schema()`` did not return a mapping.
    """
    to_schema = getattr(tool, "to_schema", None)
    schema = to_schema() if callable(to_schema) else tool
    if not isinstance(schema, Mapping):
        raise TypeError(
            f"a tool must have to_schema() or be a dict, got {type(tool).__name__}"
        )
    return dict(schema)


def deep_merge(base: Dict[str, Any], extra: Mapping[str, Any]) -> Dict[str, Any]:
    """A new dict: ``base`` with ``extra`` merged in, recursing where both sides are
    mappings; other values from ``extra`` (including ``None``) replace. Inputs are not
    modified and nothing from ``extra`` is aliased."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = deep_merge(dict(old), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def as_text(value: Any) -> str:
    """``value`` if it is a string, else its JSON encoding (tool outputs are strings)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


# --- the OpenAI item and usage shapes (also used by OpenAI-compatible providers) ---------


def conversation_items(messages: Sequence[RealtimeMessage]) -> List[Dict[str, Any]]:
    """OpenAI-style conversation items replaying ``messages`` in order.

    User text and transcripts become ``input_text``, user images ``input_image``;
    assistant text and transcripts become ``output_text``. A tool call becomes a
    ``function_call`` item followed by its ``function_call_output`` (from a ToolResultPart
    with its id, else the call's ``output``); calls with no known result are left out, since
    the model would otherwise see a call that never finished. A message is split into
    several items around its tool parts, keeping part order. Item ids are left to the server.
    """
    results: Dict[str, str] = {}
    for msg in messages:
        for part in msg.parts:
            if isinstance(part, ToolResultPart):
                results.setdefault(part.tool_call_id, part.content)
    items: List[Dict[str, Any]] = []
    done_calls: Set[str] = set()
    for msg in messages:
        content: List[Dict[str, Any]] = []
        user = msg.role == "user"
        text_type = "input_text" if user else "output_text"
        for part in msg.parts:
            if isinstance(part, TextPart) and part.content:
                content.append({"type": text_type, "text": part.content})
            elif isinstance(part, AudioPart) and part.transcript:
                content.append({"type": text_type, "text": part.transcript})
            elif isinstance(part, ImagePart) and user:
                content.append({"type": "input_image", "image_url": image_url(part)})
            elif isinstance(part, ToolCallPart):
                output = results.get(part.id)
                if output is None and part.output is not None:
                    output = as_text(part.output)
                if output is None or part.id in done_calls:
                    continue
                _flush_message(items, msg.role, content)
                items.append({"type": "function_call", "call_id": part.id, "name": part.name,
                              "arguments": part.arguments or "{}"})
                items.append({"type": "function_call_output", "call_id": part.id, "output": output})
                done_calls.add(part.id)
        _flush_message(items, msg.role, content)
    return items


def _flush_message(items: List[Dict[str, Any]], role: str, content: List[Dict[str, Any]]) -> None:
    if content:
        items.append({"type": "message", "role": role, "content": list(content)})
        content.clear()


def _count(obj: Any, key: str) -> int:
    value = obj.get(key) if type(obj) is dict else None
    return value if type(value) is int else 0


def usage_info(usage: Any, response_id: Optional[str] = None) -> Optional[UsageInfo]:
    """A :class:`UsageInfo` from an OpenAI ``response.usage`` object; ``None`` if it is not an
    object. Missing or mistyped counts read as 0 (usage is informational)."""
    if type(usage) is not dict:
        return None
    inp = usage.get("input_token_details")
    out = usage.get("output_token_details")
    return UsageInfo(
        input_tokens=_count(usage, "input_tokens"), output_tokens=_count(usage, "output_tokens"),
        total_tokens=_count(usage, "total_tokens"), input_text_tokens=_count(inp, "text_tokens"),
        input_audio_tokens=_count(inp, "audio_tokens"), input_image_tokens=_count(inp, "image_tokens"),
        cached_tokens=_count(inp, "cached_tokens"), output_text_tokens=_count(out, "text_tokens"),
        output_audio_tokens=_count(out, "audio_tokens"), response_id=response_id,
    )
