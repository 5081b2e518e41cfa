"""Images for ``send_image``: type sniffing by magic bytes and bounded fetching of http(s) URLs.

The type of an image is read from its first bytes (PNG, JPEG, WebP, GIF), never taken from the
caller's word or a server's ``Content-Type``. Which of those a provider takes is the provider's
business (``adapter.image_types``; OpenAI: PNG and JPEG only), and nothing is converted: any other
type is refused with a message naming what it is and what would be accepted.

The OpenAI Realtime API takes ``input_image.image_url`` only as a base64 ``data:`` URI, so an
http(s) URL is fetched here, on the caller's thread, and inlined. The fetch is bounded in time
(one deadline covers connecting, every redirect and the body), in size (the body is streamed
and reading stops past the limit) and in redirects; nothing here ever waits unbounded.
"""

from __future__ import annotations

import threading
from typing import Any, Optional, Sequence, Tuple, Union
from urllib.parse import urljoin, urlsplit

from ._errors import ConnectionFailedError
from ._util import Deadline

__all__ = ["FETCH_TIMEOUT", "IMAGE_TYPES", "KNOWN_IMAGE_TYPES", "MAX_IMAGE_BYTES", "MAX_REDIRECTS",
           "fetch_image", "image_type", "sniff_image_type", "type_list"]

IMAGE_TYPES = ("image/png", "image/jpeg")
"""What a provider accepts unless its adapter says otherwise (``adapter.image_types``)."""
KNOWN_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
"""Every type :func:`sniff_image_type` recognises."""
MAX_IMAGE_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT = 10.0
MAX_REDIRECTS = 5

_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP", "image/gif": "GIF"}
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_GIF = (b"GIF87a", b"GIF89a")
_SNIFF_BYTES = 32  # enough to recognise every format we name in errors
_CHUNK = 64 * 1024
# Types a server sends when it does not know better: the magic bytes decide.
_UNTYPED = ("", "application/octet-stream", "binary/octet-stream")
_REDIRECTS = (301, 302, 303, 307, 308)


def sniff_image_type(data: Union[bytes, bytearray, memoryview]) -> Optional[str]:
    """The mime type ``data`` starts like: PNG, JPEG, WebP or GIF; ``None`` for anything else.

    Only the first 12 bytes are read: the PNG signature, the JPEG SOI marker followed by a
    marker byte, ``RIFF....WEBP``, or ``GIF87a``/``GIF89a``.
    """
    head = bytes(data[:12])
    if head.startswith(_PNG):
        return "image/png"
    if head.startswith(_JPEG):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(_GIF):
        return "image/gif"
    return None


def _joined(words: Sequence[str], last: str = "and") -> str:
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def type_list(types: Sequence[str], last: str = "and") -> str:
    """``"PNG and JPEG"`` for ``("image/png", "image/jpeg")``; ``last`` joins the final two."""
    return _joined([_NAMES.get(t, t) for t in types], last)


def _other_format(head: bytes) -> Optional[str]:
    """The name of a common non-image or unsupported image format ``head`` starts with, if known."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIC" if brand[:3] in (b"hei", b"mif") else None
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith(b"%PDF"):
        return "PDF"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if text.startswith((b"<svg", b"<?xml")):
        return "SVG/XML"
    return None


def image_type(data: Union[bytes, bytearray, memoryview], what: str = "image data",
               accepted: Sequence[str] = IMAGE_TYPES, provider: Optional[str] = None) -> str:
    """The mime type of ``data`` from its magic bytes, if it is one of ``accepted``.

    Args:
        data: the image bytes (only the first few are read).
        what: how the message names the data (``"the image at https://host/cat.png"``).
        accepted: the mime types the provider takes (default PNG and JPEG).
        provider: the provider's name, for the message.

    Raises:
        ValueError: ``data`` is not one of the ``accepted`` types. The message names the format
            it is (an image type the provider does not take, or a known non-image format), or
            shows its first bytes, and lists what would be accepted. Nothing is converted.
    """
    if not accepted:
        raise ValueError(f"{provider or 'this provider'} takes no images")
    mime = sniff_image_type(data)
    if mime is not None and mime in accepted:
        return mime
    allowed = f"only {type_list(accepted)} images can be sent" + (f" to {provider}" if provider else "")
    if mime is not None:
        raise ValueError(f"{what} is {_NAMES[mime]}; {allowed} (convert it first, e.g. with Pillow)")
    head = bytes(data[:_SNIFF_BYTES])
    other = _other_format(head)
    if other is not None:
        raise ValueError(f"{what} is {other}; {allowed}")
    raise ValueError(f"{what} is not a {type_list(accepted, 'or')} image "
                     f"(it starts with {head[:8].hex(' ') or 'nothing'}); {allowed}")


def _content_type(response: Any, where: str, accepted: Sequence[str]) -> str:
    """The response's mime type, or ``""``; an explicit type outside ``accepted`` is refused
    before the body is read."""
    mime = str(response.headers.get("Content-Type", "")).split(";")[0].strip().lower()
    if mime == "image/jpg":
        mime = "image/jpeg"
    if mime not in accepted and mime not in _UNTYPED:
        raise ValueError(f"{where} has Content-Type {mime!r}; only {_joined(accepted)} can be sent")
    return mime


def _stop_reading(raw: Any, fired: threading.Event) -> None:
    """Shut the socket for reading, waking a ``recv`` blocked past the deadline (urllib3 >= 2.3)."""
    fired.set()
    try:
        raw.shutdown()
    except Exception:  # urllib3 < 2.3, or the body just ended and the connection went back to the pool
        pass


def _read_body(response: Any, deadline: Deadline, max_bytes: int, where: str,
               *, accepted: Sequence[str], provider: Optional[str]) -> bytes:
    """The body, streamed and abandoned as soon as it passes ``max_bytes`` or shows it is not
    an ``accepted`` image.

    A timer shuts the socket at the deadline, so neither a stall nor a trickle outlives it; each
    read is one ``recv`` where urllib3 offers ``read1`` (else a bounded ``read``).
    """
    raw = response.raw
    read = getattr(raw, "read1", None) or raw.read
    fired = threading.Event()
    timer = threading.Timer(deadline.remaining(), _stop_reading, (raw, fired))
    timer.name = "realtime-image-deadline"
    timer.daemon = True
    timer.start()
    body = bytearray()
    sniffed = False
    try:
        while not (fired.is_set() or deadline.expired):
            try:
                chunk = read(_CHUNK, decode_content=True)
            except Exception:
                if fired.is_set():
                    break  # the timer shut the socket mid-read
                raise
            if not chunk:
                if fired.is_set():
                    break  # a shut socket reads as the end of the body
                return bytes(body)
            body += chunk
            if len(body) > max_bytes:
                raise ValueError(f"{where} is more than {max_bytes} bytes; the limit is {max_bytes}")
            if not sniffed and len(body) >= _SNIFF_BYTES:
                image_type(body, where, accepted, provider)
                sniffed = True
        raise TimeoutError(f"no complete body within {deadline.timeout:g} s")
    finally:
        timer.cancel()
        timer.join()


def fetch_image(url: str, *, timeout: float = FETCH_TIMEOUT, max_bytes: int = MAX_IMAGE_BYTES,
                max_redirects: int = MAX_REDIRECTS, accepted: Sequence[str] = IMAGE_TYPES,
                provider: Optional[str] = None) -> Tuple[bytes, str]:
    """Download an image from an http(s) URL and return ``(image_bytes, mime_type)``.

    One deadline of ``timeout`` seconds covers connecting, each redirect and the whole body, which
    is streamed and abandoned as soon as it passes ``max_bytes``. The server's ``Content-Type`` must
    be one of ``accepted`` (a missing or ``application/octet-stream`` type is left to the magic
    bytes), and the magic bytes must say one of ``accepted``; they decide the returned type. The
    request's ``Accept`` header lists ``accepted``, so a server that negotiates formats (a CDN
    that would send WebP) sends one the provider takes.
    Messages show the URL without its query string or credentials (they may carry a signature).
    Host name resolution is done by the OS and is not covered by ``timeout``.

    Args:
        url: an ``http://`` or ``https://`` URL.
        timeout: seconds for the whole fetch (default 10).
        max_bytes: the largest body accepted (default 20 MiB, the image limit).
        max_redirects: how many redirects to follow (default 5).
        accepted: the image mime types the provider takes (default PNG and JPEG).
        provider: the provider's name, for messages.

    Returns:
        The image bytes and their sniffed mime type (one of ``accepted``).

    Raises:
        ValueError: not an http(s) URL; the body is empty, too large, typed as something outside
            ``accepted``, or not one of them by its magic bytes.
        ConnectionFailedError: the server could not be reached, answered with an HTTP error status,
            redirected too often or elsewhere than http(s), or the deadline passed. The cause is chained.

    Threads: any thread; it blocks the caller for at most about ``timeout`` seconds.

    .. versionadded:: 0.1.0
    """
    import requests
    import urllib3

    from .tokens import _safe_url

    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an image URL must be http(s) with a host, got {_safe_url(url)!r}")
    deadline = Deadline(timeout)
    where = f"the image at {_safe_url(url)}"
    headers = {"Accept": ", ".join(accepted), "Accept-Encoding": "identity"}
    try:
        with requests.Session() as session:
            for hop in range(max_redirects + 1):
                if deadline.expired:
                    raise TimeoutError(f"not done within {deadline.timeout:g} s")
                wait = max(deadline.remaining(), 0.001)
                with session.get(url, stream=True, allow_redirects=False, timeout=(wait, wait),
                                 headers=headers) as response:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        url = _next_hop(url, response.headers["location"], hop, max_redirects, where)
                        where = f"the image at {_safe_url(url)}"
                        continue
                    response.raise_for_status()
                    if response.status_code >= 300:
                        raise ConnectionFailedError(f"could not fetch {where}: HTTP "
                                                    f"{response.status_code} without a usable Location")
                    _content_type(response, where, accepted)
                    declared = response.headers.get("Content-Length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise ValueError(f"{where} is {int(declared)} bytes; the limit is {max_bytes}")
                    body = _read_body(response, deadline, max_bytes, where,
                                      accepted=accepted, provider=provider)
                    break
    except ConnectionFailedError:
        raise
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        reason = exc.response.reason if exc.response is not None else ""
        raise ConnectionFailedError(f"could not fetch {where}: HTTP {status} {reason}".rstrip(),
                                    details={"url": _safe_url(url), "status": status}) from exc
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        timed_out = isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
        why = (f"timed out after {timeout:g} s" if timed_out
               else f"the connection failed ({type(exc).__name__})")
        raise ConnectionFailedError(f"could not fetch {where}: {why}",
                                    details={"url": _safe_url(url)}) from exc
    if not body:
        raise ValueError(f"{where} is empty")
    return body, image_type(body, where, accepted, provider)


def _next_hop(url: str, location: str, hop: int, max_redirects: int, where: str) -> str:
    """The URL a redirect points to, refusing non-http(s) targets and one redirect too many."""
    target = urljoin(url, location)
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise ConnectionFailedError(f"could not fetch {where}: redirected to a non-http(s) URL")
    if hop == max_redirects:
        raise ConnectionFailedError(f"could not fetch {where}: more than {max_redirects} redirects")
    return target
