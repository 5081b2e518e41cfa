"""Validation of what users pass in, so bad input fails on the caller's line with a clear message."""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from ._images import FETCH_TIMEOUT, IMAGE_TYPES, KNOWN_IMAGE_TYPES, MAX_IMAGE_BYTES, fetch_image, image_type
from ._provider import Adapter
from ._types import AudioInput, AudioOutput

__all__ = ["IMAGE_TYPES", "MAX_IMAGE_BYTES", "ImageData", "check_client_options", "image_payload",
           "image_types_of"]

_WHITESPACE = re.compile(r"\s+")
_DATA_URL = re.compile(r"^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$", re.DOTALL | re.IGNORECASE)
_KINDS = ("raw image bytes, a file path (str or pathlib.Path), base64 text, a data: URL "
          "or an http(s) URL")
_MAX_PATH_CHARS = 4096  # longer text is never taken for a file name (it is base64)
_PATHLIKE = re.compile(r"[/\\~]|\.[A-Za-z0-9]{2,5}$")  # a separator, ~ or a file extension


def _shown(text: str) -> str:
    """``text`` for a message: quoted, at most 60 characters (its start and its end)."""
    return repr(text if len(text) <= 60 else f"{text[:24]}...{text[-33:]}")


def _declared(mime_type: Any) -> None:
    """Check the caller's ``mime_type``: a known image type, or ``None``. It is never trusted."""
    if mime_type is None:
        return
    if not isinstance(mime_type, str):
        raise TypeError(f"mime_type must be a string or None, got {type(mime_type).__name__}")
    mime = mime_type.strip().lower()
    if mime not in KNOWN_IMAGE_TYPES and mime != "image/jpg":
        raise ValueError(f"unsupported image type {mime_type!r}; use one of {', '.join(KNOWN_IMAGE_TYPES)} "
                         "or leave mime_type out (the type is read from the data)")


def _checked(image: bytes, what: str, accepted: Sequence[str], provider: Optional[str]) -> str:
    """The sniffed mime type of ``image`` after checking it is non-empty and within the limit."""
    if not image:
        raise ValueError(f"{what} is empty")
    if len(image) > MAX_IMAGE_BYTES:
        raise ValueError(f"{what} is {len(image)} bytes; the limit is {MAX_IMAGE_BYTES}")
    return image_type(image, what, accepted, provider)


def _decoded(b64: str) -> Optional[bytes]:
    """``b64`` decoded if it is valid standard base64, else ``None``."""
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return None


def _existing_file(text: str) -> Optional[str]:
    """``text`` (``~`` expanded) if it names an existing file; a directory is refused."""
    if len(text) > _MAX_PATH_CHARS or "\n" in text or "\0" in text:
        return None
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        raise ValueError(f"image path {_shown(text)} is a directory, not an image file")
    return path if os.path.isfile(path) else None


def _read_file(path: Union[str, bytes], shown: str) -> bytes:
    """The bytes of the image file at ``path``, refusing files over the limit before reading them."""
    try:
        size = os.path.getsize(path)
        if size > MAX_IMAGE_BYTES:
            raise ValueError(f"image file {shown} is {size} bytes; the limit is {MAX_IMAGE_BYTES}")
        with open(path, "rb") as file:
            return file.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read image file {shown}: {exc.strerror or exc}") from exc


def _from_file(path: Union[str, bytes], shown: str, accepted: Sequence[str],
               provider: Optional[str]) -> Tuple[str, str]:
    image = _read_file(path, shown)
    return base64.b64encode(image).decode("ascii"), _checked(image, f"image file {shown}", accepted, provider)


def image_types_of(adapter: Any) -> Tuple[Tuple[str, ...], Optional[str]]:
    """The image mime types ``adapter`` accepts (its ``image_types``, default PNG and JPEG) and
    its provider name, for messages."""
    if adapter is None:
        return IMAGE_TYPES, None
    accepted = tuple(getattr(adapter, "image_types", IMAGE_TYPES))
    return accepted, str(getattr(adapter, "provider", "")) or None


ImageData = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]"]


def image_payload(data: ImageData, mime_type: Optional[str] = None, *, adapter: Any = None,
                  timeout: float = FETCH_TIMEOUT) -> Tuple[str, str]:
    """Normalize ``send_image`` input to ``(data, mime_type)`` for an ``ImagePart``.

    ``data`` may be:

    * raw bytes (``bytes``, ``bytearray``, ``memoryview``);
    * a :class:`os.PathLike` (``pathlib.Path``): the file is read;
    * a ``str``, tried in this order: an ``http(s)://`` URL (downloaded, see
      :func:`realtime_client._images.fetch_image`); a ``data:...;base64,`` URL; the path of an
      existing file (``~`` expanded); base64 text (whitespace removed). A string that is both an
      existing file's name and valid base64 is read as the **file**. So a string from an
      untrusted source may name a local image file that then gets sent: decode such input to
      ``bytes`` first.

    The type is read from the content's magic bytes (PNG, JPEG, WebP, GIF) and must be one the
    adapter accepts (``adapter.image_types``; default, and OpenAI: PNG and JPEG). Nothing is
    converted. ``mime_type`` and a data URL's declared type are not trusted: the sniffed type is
    the one returned. A data URL comes back as a data URL of the sniffed type, anything else as
    base64.

    Args:
        data: the image.
        mime_type: ``None`` (default), or a declared type, which must name an image type
            (``image/png``, ``image/jpeg``, ``image/webp``, ``image/gif``; ``image/jpg`` is jpeg).
        adapter: the provider adapter, whose ``image_types`` and ``provider`` are used.
        timeout: seconds for downloading an http(s) URL: connect, redirects and body together.

    Raises:
        TypeError: data is none of the accepted kinds, or mime_type is not a str.
        ValueError: empty; a file that does not exist or cannot be read; text that is none of the
            accepted kinds; over 20 MiB; or not an image type the provider takes (the message
            names the type it got and the types accepted). For a URL also a Content-Type the
            provider does not take.
        ConnectionFailedError: a URL could not be fetched (network failure, timeout, HTTP error).

    Threads: the caller's; a URL blocks it for at most about ``timeout`` seconds, a file for
    as long as reading it takes.
    """
    accepted, provider = image_types_of(adapter)
    _declared(mime_type)
    if isinstance(data, os.PathLike):
        path = os.fspath(data)
        return _from_file(path, _shown(os.fsdecode(path)), accepted, provider)
    if isinstance(data, (bytes, bytearray, memoryview)):
        image = bytes(data)
        return base64.b64encode(image).decode("ascii"), _checked(image, "image data", accepted, provider)
    if not isinstance(data, str):
        raise TypeError(f"send_image needs {_KINDS}; got {type(data).__name__}")
    text = data.strip()
    if not text:
        raise ValueError("image data is empty")
    if text[:8].lower().startswith(("http://", "https://")):
        image, mime = fetch_image(text, timeout=timeout, accepted=accepted, provider=provider)
        return base64.b64encode(image).decode("ascii"), mime
    if text[:5].lower() == "data:":
        match = _DATA_URL.match(text)
        if match is None:
            raise ValueError("a data: URL must look like data:image/png;base64,<data>")
        declared = match.group(1).strip().lower()
        if not declared.startswith("image/"):
            raise ValueError(f"a data: URL of type {match.group(1)!r} is not an image")
        payload = _WHITESPACE.sub("", match.group(2))
        decoded = _decoded(payload)
        if decoded is None:
            raise ValueError("the data: URL's payload is not valid base64")
        mime = _checked(decoded, "the data: URL's image", accepted, provider)
        return f"data:{mime};base64,{payload}", mime
    found = _existing_file(text)
    if found is not None:
        return _from_file(found, _shown(text), accepted, provider)
    payload = _WHITESPACE.sub("", text)
    decoded = _decoded(payload)
    looks_like_path = len(text) <= _MAX_PATH_CHARS and _PATHLIKE.search(text) is not None
    if decoded is None:
        if looks_like_path:
            raise ValueError(f"no image file {_shown(text)} exists, and the text is not valid base64 "
                             f"either; send_image accepts {_KINDS}")
        raise ValueError(f"image data {_shown(text)} is not an existing file, not valid base64, and not "
                         f"a data: or http(s) URL; send_image accepts {_KINDS}")
    what = "image data (no file of that name exists; read as base64)" if looks_like_path else "image data"
    return payload, _checked(decoded, what, accepted, provider)


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
                         token_refresh: Any, echo: Any, ca_file: Any = None,
                         capture_chunk_ms: Any = None) -> None:
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
    _optional("ca_file", ca_file, (str, os.PathLike), "a file path")
    if ca_file is not None and not os.path.isfile(ca_file):
        raise ValueError(f"ca_file {os.fspath(ca_file)!r} is not a file (a PEM bundle of trusted CAs)")
    _positive_number("tool_timeout", tool_timeout)
    for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout)):
        if value is not None and value != 0:  # None: the provider's default; 0: no pings
            _positive_number(name, value)
    if isinstance(max_frame_bytes, bool) or not isinstance(max_frame_bytes, int) or max_frame_bytes <= 0:
        raise ValueError(f"max_frame_bytes must be a positive int, got {max_frame_bytes!r}")
    if not isinstance(token_refresh, bool):
        raise TypeError(f"token_refresh must be True or False, got {token_refresh!r}")
    if capture_chunk_ms is not None and (isinstance(capture_chunk_ms, bool)
                                         or not isinstance(capture_chunk_ms, int)
                                         or not 20 <= capture_chunk_ms <= 1000):
        raise ValueError(f"capture_chunk_ms must be an int from 20 to 1000, got {capture_chunk_ms!r}")
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
