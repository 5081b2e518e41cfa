"""Validation of what users pass in, so bad input fails on the caller's line with a clear message."""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any, Mapping, Optional, Tuple, Union

from ._provider import Adapter
from ._types import AudioInput, AudioOutput

__all__ = ["IMAGE_TYPES", "MAX_IMAGE_BYTES", "check_client_options", "image_payload"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
_WHITESPACE = re.compile(r"\s+")
_DATA_URL = re.compile(r"^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$", re.DOTALL | re.IGNORECASE)


def _mime(mime_type: Any) -> str:
    if not isinstance(mime_type, str):
        raise TypeError(f"mime_type must be a string, got {type(mime_type).__name__}")
    mime = mime_type.strip().lower()
    if mime == "image/jpg":
        mime = "image/jpeg"
    if mime not in IMAGE_TYPES:
        raise ValueError(f"unsupported image type {mime_type!r}; use one of {', '.join(IMAGE_TYPES)}")
    return mime


def _decoded_size(b64: str) -> int:
    try:
        size = len(base64.b64decode(b64, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("image data is not valid base64") from exc
    if size == 0:
        raise ValueError("image data is empty")
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"image is {size} bytes; the limit is {MAX_IMAGE_BYTES}")
    return size


def image_payload(data: Union[str, bytes, bytearray], mime_type: str) -> Tuple[str, str]:
    """Normalize ``send_image`` input to ``(data, mime_type)``: base64 text (whitespace removed), an
    http(s) URL, or a ``data:`` URL whose declared type is an allowed image type.

    Raises:
        TypeError: data is not str/bytes, or mime_type is not a str.
        ValueError: empty, not base64, over 20 MiB, or not an allowed image type.
    """
    if isinstance(data, (bytes, bytearray)):
        if not data:
            raise ValueError("image data is empty")
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
        return base64.b64encode(bytes(data)).decode("ascii"), _mime(mime_type)
    if not isinstance(data, str):
        raise TypeError(f"send_image data must be str or bytes, got {type(data).__name__}")
    text = data.strip()
    if not text:
        raise ValueError("image data is empty")
    if text.lower().startswith(("http://", "https://")):
        return text, _mime(mime_type)
    if text.lower().startswith("data:"):
        match = _DATA_URL.match(text)
        if match is None:
            raise ValueError("a data: URL must look like data:image/png;base64,<data>")
        mime = _mime(match.group(1))
        payload = _WHITESPACE.sub("", match.group(2))
        _decoded_size(payload)
        return f"data:{mime};base64,{payload}", mime
    payload = _WHITESPACE.sub("", text)
    _decoded_size(payload)
    return payload, _mime(mime_type)


def _optional(name: str, value: Any, kinds: Any, what: str) -> None:
    if value is not None and not isinstance(value, kinds):
        raise TypeError(f"{name} must be {what} or None, got {type(value).__name__}")


def _positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def check_client_options(*, adapter: Any, instructions: Any, voice: Any, model: Any,
                         provider_options: Any, audio_input: Any, audio_output: Any,
                         input_device: Any, output_device: Any, record_to: Any, tool_timeout: Any,
                         ping_interval: Any, ping_timeout: Any, max_frame_bytes: Any,
                         token_refresh: Any, echo: Any) -> None:
    """Check ``RealtimeClient`` options that have no value object of their own."""
    if adapter is not None and not isinstance(adapter, Adapter):
        raise TypeError(f"adapter must implement the Adapter protocol (e.g. openai_realtime()), "
                        f"got {type(adapter).__name__}")
    _optional("instructions", instructions, str, "a string")
    _optional("voice", voice, str, "a string")
    _optional("model", model, str, "a string")
    _optional("provider_options", provider_options, Mapping, "a mapping")
    if audio_input is not None and not isinstance(audio_input, AudioInput):
        raise TypeError("audio_input must be an AudioInput (sample_rate, open, read, close), "
                        f"got {type(audio_input).__name__}")
    if audio_output is not None and not isinstance(audio_output, AudioOutput):
        raise TypeError("audio_output must be an AudioOutput (sample_rate, open, write, abort, "
                        f"latency_ms, close), got {type(audio_output).__name__}")
    for name, device in (("input_device", input_device), ("output_device", output_device)):
        if device is not None and (isinstance(device, bool) or not isinstance(device, (int, str))):
            raise TypeError(f"{name} must be a device index, a name substring or None, got {device!r}")
    _optional("record_to", record_to, (str, os.PathLike), "a file path")
    _positive_number("tool_timeout", tool_timeout)
    for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
        if value is not None and value != 0:  # None: the provider's default; 0: no pings
            _positive_number(name, value)
    if isinstance(max_frame_bytes, bool) or not isinstance(max_frame_bytes, int) or max_frame_bytes <= 0:
        raise ValueError(f"max_frame_bytes must be a positive int, got {max_frame_bytes!r}")
    if not isinstance(token_refresh, bool):
        raise TypeError(f"token_refresh must be True or False, got {token_refresh!r}")
    if echo not in ("off", "gate", "aec"):
        raise ValueError(f"echo must be 'off', 'gate' or 'aec', got {echo!r}")
    if echo == "aec":
        try:
            import livekit.rtc  # noqa: F401  (the WebRTC echo canceller)
        except ImportError as exc:
            raise ImportError("echo='aec' needs the livekit package: "
                              "pip install 'realtime-client[aec]'") from exc


def optional_path(value: Optional[Any]) -> Optional[str]:
    return None if value is None else os.fspath(value)
