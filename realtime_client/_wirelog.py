"""The wire log: one DEBUG line per WebSocket frame, with audio elided and secrets redacted.

Enable it with ``logging.getLogger("realtime_client.wire").setLevel(logging.DEBUG)`` (plus a
handler). Each line reads like ``recv {...,"delta":"<4800 bytes audio>",...}`` (the fields that
carry audio are the provider's ``ProviderInfo.audio_fields``): base64 audio and other long
base64 runs are replaced by their decoded size, API keys, ephemeral tokens and bearer values
by ``<redacted>``, and lines are capped in length.

:func:`log_frame` sits on the transport's hot path, so it checks whether the logger is enabled
before doing any work; with the wire log off it costs one cached level check.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Mapping, Optional, Union

__all__ = ["MAX_LINE_CHARS", "WIRE_LOGGER", "format_frame", "log_frame", "redact_text"]

WIRE_LOGGER = "realtime_client.wire"
MAX_LINE_CHARS = 2000

_wire_log = logging.getLogger(WIRE_LOGGER)

REDACTED = "<redacted>"
# Keys whose string value is a credential whatever it looks like (compared lower-cased, with
# "-" read as "_"). ``value`` is the field of OpenAI's client_secrets answer.
_SECRET_KEYS = frozenset({
    "token", "api_key", "apikey", "authorization", "secret", "client_secret", "password",
    "access_token", "refresh_token", "ephemeral_key", "x_api_key", "openai_insecure_api_key",
})
_MAYBE_SECRET_KEYS = frozenset({"value", "key", "credential", "credentials"})
# Fields that carry base64 audio come from the provider (``ProviderInfo.audio_fields``: event
# type -> field); an ``audio`` key holding base64 is audio whatever the provider.
_AUDIO_KEYS = frozenset({"audio"})
_NO_FIELDS: Mapping[str, str] = {}

_SECRET_TOKEN = re.compile(r"(?<![A-Za-z0-9])(?:(?:sk|rk)-|ek_)[A-Za-z0-9_\-*]{3,}")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+")
_SUBPROTOCOL_KEY = re.compile(r"(?i)(openai-insecure-api-key\.)[^\s\"',;]+")
_B64_VALUE = re.compile(r"[A-Za-z0-9+/\r\n]*={0,2}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{64,}={0,2}")
_DATA_URL = re.compile(r"^(data:[^,;]{0,100}(?:;[^,;]{0,100})*;base64,)(.*)$", re.DOTALL)
_MIN_B64 = 64  # shorter strings are shown as they are (ids, short text)


def log_frame(direction: str, frame: Union[str, bytes],
              audio_fields: Mapping[str, str] = _NO_FIELDS) -> None:
    """Log ``frame`` at DEBUG on ``realtime_client.wire`` if that logger is enabled for DEBUG.

    Args:
        direction: a short label such as ``"send"`` or ``"recv"``.
        frame: the frame's text (or bytes for a binary frame).
        audio_fields: the provider's event type -> field holding base64 audio.

    Never raises. Threads: any thread (the reader and every sender).
    """
    if not _wire_log.isEnabledFor(logging.DEBUG):
        return
    try:
        _wire_log.debug("%s", format_frame(direction, frame, audio_fields=audio_fields))
    except Exception:  # a log line must never break the connection
        pass


def format_frame(direction: str, frame: Any, limit: int = MAX_LINE_CHARS,
                 audio_fields: Mapping[str, str] = _NO_FIELDS) -> str:
    """A one-line, log-safe description of a WebSocket frame.

    JSON text frames are re-serialized compactly with base64 payloads replaced by
    ``<N bytes audio>`` (audio fields) or ``<base64, N bytes>`` (other long base64 strings,
    including ``data:`` URLs) and credentials replaced by ``<redacted>``: values of keys such
    as ``token``/``api_key``/``authorization``/``secret``, ``value``/``key`` when they look
    like a key, any ``sk-...``/``ek_...`` string and ``Bearer ...`` values anywhere. Other
    text is redacted and elided the same way, pattern by pattern. Binary frames show their
    size and, if they are UTF-8 text, that text. The result is at most ``limit`` characters.

    Args:
        direction: a label put first, such as ``"send"`` or ``"recv"``.
        frame: ``str`` or ``bytes`` (a decoded dict or list is accepted too).
        limit: the maximum length of the returned line.
        audio_fields: the provider's event type -> field holding base64 audio.

    Returns:
        The line, without newlines. Never raises.
    """
    try:
        body = _describe(frame, limit, audio_fields)
    except Exception as exc:  # pragma: no cover - defensive: describing must never fail
        body = f"<unprintable {type(frame).__name__} frame: {type(exc).__name__}>"
    return _cap(f"{direction} {body}", limit)


def redact_text(text: str) -> str:
    """``text`` with ``sk-...``/``ek_...`` keys, bearer values and subprotocol keys redacted."""
    text = _SECRET_TOKEN.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _SUBPROTOCOL_KEY.sub(lambda m: m.group(1) + REDACTED, text)


# --- internals --------------------------------------------------------------------------


def _describe(frame: Any, limit: int, fields: Mapping[str, str]) -> str:
    if isinstance(frame, (dict, list)):
        return _dumps(_clean(frame, None, None, fields))
    if isinstance(frame, (bytes, bytearray, memoryview)):
        data = bytes(frame)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return f"<binary frame, {len(data)} bytes>"
        return f"<binary frame, {len(data)} bytes> {_describe_text(text, limit, fields)}"
    if isinstance(frame, str):
        return _describe_text(frame, limit, fields)
    return f"<{type(frame).__name__} frame>"


def _describe_text(text: str, limit: int, fields: Mapping[str, str]) -> str:
    if text[:1] in ("{", "["):
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, (dict, list)):
            try:
                return _dumps(_clean(decoded, None, None, fields))
            except RecursionError:  # absurdly deep nesting: fall back to the pattern pass
                pass
    # Not JSON: redact and elide pattern by pattern, on a bounded head of the text.
    head = text[: limit * 8]
    more = len(text) - len(head)
    out = _B64_RUN.sub(lambda m: f"<base64, {_b64_size(m.group())} bytes>", redact_text(head))
    out = json.dumps(out, ensure_ascii=False)  # quotes it and escapes newlines/control chars
    return f"{out} (+{more} chars)" if more > 0 else out


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _clean(value: Any, key: Optional[str], event_type: Optional[str], fields: Mapping[str, str]) -> Any:
    """A copy of a decoded JSON value, safe to log (recursive)."""
    if isinstance(value, dict):
        kind = value.get("type")
        inner_type = kind if isinstance(kind, str) else event_type
        out = {}
        for k, v in value.items():
            out[k] = _clean(v, str(k), inner_type if k != "type" else None, fields)
        return out
    if isinstance(value, list):
        return [_clean(v, key, event_type, fields) for v in value]
    if isinstance(value, str):
        return _clean_str(value, key, event_type, fields)
    return value


def _clean_str(value: str, key: Optional[str], event_type: Optional[str], fields: Mapping[str, str]) -> str:
    name = (key or "").lower().replace("-", "_")
    if name in _SECRET_KEYS and value:
        return REDACTED
    if name in _MAYBE_SECRET_KEYS and _looks_like_secret(value):
        return REDACTED
    audio_field = fields.get(event_type or "")
    if (name == audio_field or name in _AUDIO_KEYS) and _B64_VALUE.fullmatch(value) is not None:
        return f"<{_b64_size(value)} bytes audio>"
    if len(value) >= _MIN_B64:
        match = _DATA_URL.match(value)
        if match is not None:
            return f"{match.group(1)}<{_b64_size(match.group(2))} bytes>"
        if _is_b64(value):
            return f"<base64, {_b64_size(value)} bytes>"
    if len(value) > 4 * MAX_LINE_CHARS:
        value = value[: 4 * MAX_LINE_CHARS]
    return _B64_RUN.sub(lambda m: f"<base64, {_b64_size(m.group())} bytes>", redact_text(value))


def _looks_like_secret(value: str) -> bool:
    v = value.strip()
    return v.lower().startswith(("sk-", "rk-", "ek_", "bearer ")) or bool(_SECRET_TOKEN.fullmatch(v))


def _is_b64(value: str) -> bool:
    return len(value) >= _MIN_B64 and _B64_VALUE.fullmatch(value) is not None


def _b64_size(text: str) -> int:
    """Decoded size of base64 ``text`` without decoding it."""
    n = len(text) - text.count("\n") - text.count("\r")
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return max(0, n * 3 // 4 - pad)


def _cap(line: str, limit: int) -> str:
    line = line.replace("\n", "\\n").replace("\r", "\\r")
    if len(line) <= limit:
        return line
    suffix = f"... (+{len(line) - limit} chars)"
    return (line[: max(0, limit - len(suffix))] + suffix)[:limit]
