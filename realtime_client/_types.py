"""Extension points, declared as Protocols: implement them, never inherit.

* ``Adapter`` and ``ProviderSession`` (the provider seam) live in ``_provider.py``.
* :class:`AudioInput` / :class:`AudioOutput` are blocking PCM16 mono sources and sinks,
  driven by the client's capture and playback threads.
* :data:`Dispatcher` decides on which thread user callbacks run.
"""

from __future__ import annotations

from typing import (
    Any,
    Callable,
    Dict,
    Mapping,
    Protocol,
    Tuple,
    runtime_checkable,
)

import attrs

__all__ = [
    "AudioInput",
    "AudioOutput",
    "ConnectionRequest",
    "Dispatcher",
    "Frame",
]

Frame = Dict[str, Any]
"""One outgoing frame: a JSON-serializable dict."""

Dispatcher = Callable[[Callable[[], None]], None]
"""``dispatcher(fn)`` arranges for the zero-argument ``fn()`` to run soon on a thread of its
choosing, without blocking the caller for long. Running ``fn`` right away on the calling
thread (``lambda fn: fn()``) works, but then callbacks run on the client's socket-reader and
audio threads, and a slow callback stalls them: keep such callbacks short."""


def _hide_headers(headers: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k!r}: <redacted>" for k in headers) + "}"


def _hide_query(url: str) -> str:
    head, sep, _ = url.partition("?")
    return repr(head + ("?<redacted>" if sep else ""))


@attrs.frozen
class ConnectionRequest:
    """Where and how to open the WebSocket. Header values and the URL's query string (it may
    carry a credential, e.g. a signed URL's signature) are hidden from ``repr``."""

    url: str = attrs.field(repr=_hide_query)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=_hide_headers)
    subprotocols: Tuple[str, ...] = attrs.field(default=(), repr=False)


@runtime_checkable
class AudioInput(Protocol):
    """A blocking PCM16 mono source (a microphone, a file).

    Threads: ``open``/``close`` from the client's control thread, ``read`` only from the
    ``realtime-capture`` thread. ``close`` must make a blocked ``read`` return.
    """

    sample_rate: int

    def open(self) -> None: ...

    def read(self, frames: int) -> bytes:
        """Block until ``frames`` samples are available; ``b""`` means the stream ended."""

    def close(self) -> None: ...


@runtime_checkable
class AudioOutput(Protocol):
    """A blocking PCM16 mono sink (a speaker, a buffer, a file).

    Threads: ``write`` only from the ``realtime-playback`` thread; ``abort`` from any thread.
    ``write`` blocks at the device's pace and must not take more than a few tens of ms per call.
    """

    sample_rate: int

    def open(self) -> None: ...

    def write(self, pcm: bytes) -> None:
        """Play ``pcm`` (PCM16 mono at ``sample_rate``), blocking at device pace."""

    def abort(self) -> None:
        """Discard audio written but not yet played, at once (barge-in)."""

    @property
    def latency_ms(self) -> float:
        """Milliseconds of written audio not yet audible (device buffer)."""

    def close(self) -> None: ...
