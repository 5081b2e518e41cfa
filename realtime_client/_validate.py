"""Validation of what users pass in, so bad input fails on the caller's line with a clear message."""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any, Mapping, Optional, Tuple, Union

from ._images import FETCH_TIMEOUT, IMAGE_TYPES, MAX_IMAGE_BYTES, fetch_image, image_type
from ._provider import Adapter
from ._types import AudioInput, AudioOutput

__all__ = ["IMAGE_TYPES", "MAX_IMAGE_BYTES", "check_client_options", "image_payload"]

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


def _checked(image: bytes) -> str:
    """The sniffed mime type of ``image`` after checking it is non-empty and within the limit."""
    if not image:
        raise ValueError("image data is empty")
    if len(image) > MAX_IMAGE_BYTES:
        raise ValueError(f"image is {len(image)} bytes; the limit is {MAX_IMAGE_BYTES}")
    return image_type(image)


def _decoded(b64: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("image data is not valid base64") from exc


def image_payload(data: Union[str, bytes, bytearray], mime_type: str,
                  *, timeout: float = FETCH_TIMEOUT) -> Tuple[str, str]:
    """Normalize ``send_image`` input to ``(data, mime_type)`` for an ``ImagePart``.

    ``data`` may be raw bytes, base64 text (whitespace removed), a ``data:`` URL, or an http(s)
    URL, which is downloaded (see :func:`realtime_client._images.fetch_image`) and returned as
    base64. Only PNG and JPEG are accepted, recognised by their magic bytes; the sniffed type is
    the one returned, so ``mime_type`` (and a data URL's declared type) only has to be one of
    ``image/png``/``image/jpeg``. A data URL comes back as a data URL of the sniffed type.

    Args:
        data: the image.
        mime_type: ``"image/png"`` or ``"image/jpeg"`` (``image/jpg`` is taken as jpeg).
        timeout: seconds for downloading an http(s) URL: connect, redirects and body together.

    Raises:
        TypeError: data is not str/bytes, or mime_type is not a str.
        ValueError: empty, not base64, over 20 MiB, or not a PNG/JPEG (the message names the type
            it got); for a URL also a Content-Type other than PNG/JPEG.
        ConnectionFailedError: a URL could not be fetched (network failure, timeout, HTTP error).

    Threads: the caller's; a URL blocks it for at most about ``timeout`` seconds.
    """
    if isinstance(data, (bytes, bytearray)):
        _mime(mime_type)
        mime = _checked(bytes(data))
        return base64.b64encode(bytes(data)).decode("ascii"), mime
    if not isinstance(data, str):
        raise TypeError(f"send_image data must be str or bytes, got {type(data).__name__}")
    _mime(mime_type)
    text = data.strip()
    if not text:
        raise ValueError("image data is empty")
    if text.lower().startswith(("http://", "https://")):
        image, mime = fetch_image(text, timeout=timeout)
        return base64.b64encode(image).decode("ascii"), mime
    if text.lower().startswith("data:"):
        match = _DATA_URL.match(text)
        if match is None:
            raise ValueError("a data: URL must look like data:image/png;base64,<data>")
        _mime(match.group(1))
        payload = _WHITESPACE.sub("", match.group(2))
        mime = _checked(_decoded(payload))
        return f"data:{mime};base64,{payload}", mime
    payload = _WHITESPACE.sub("", text)
    return payload, _checked(_decoded(payload))


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
