"""Extension points, declared as Protocols: implement them, never inherit.

* :class:`Adapter` speaks one provider's wire protocol (frames in, normalized events out;
  intents in, frames out). No sockets, threads, clocks, audio devices or callbacks.
* :class:`AudioInput` / :class:`AudioOutput` are blocking PCM16 mono sources and sinks,
  driven by the client's capture and playback threads.
* :data:`Dispatcher` decides on which thread user callbacks run.
"""

from __future__ import annotations

from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
    runtime_checkable,
)

import attrs

from ._events import Event
from ._models import ImagePart, RealtimeMessage, RealtimeToken, SessionConfig, TextPart

__all__ = [
    "Adapter",
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
choosing. It must not block and must not run ``fn`` on the calling thread."""


def _hide_headers(headers: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k!r}: <redacted>" for k in headers) + "}"


@attrs.frozen
class ConnectionRequest:
    """Where and how to open the WebSocket. Header values are hidden from ``repr``."""

    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=_hide_headers)
    subprotocols: Tuple[str, ...] = attrs.field(default=(), repr=False)


@runtime_checkable
class Adapter(Protocol):
    """A provider's wire protocol, as a pure translator.

    Threads: ``parse`` is called on the reader thread only; the frame builders may be
    called from any thread and must not keep mutable state they share with ``parse``
    beyond what is documented.
    """

    provider: str
    input_sample_rate: int
    output_sample_rate: int
    supports_truncate: bool

    def connection_request(self, token: RealtimeToken, config: SessionConfig) -> ConnectionRequest:
        """The URL, headers and subprotocols for a new connection with ``token``."""

    def parse(self, frame: Union[str, bytes]) -> List[Event]:
        """Turn one received frame into zero or more normalized events. Never raises:
        bad input becomes :class:`~realtime_client._events.Malformed`."""

    def session_update(self, config: SessionConfig, event_id: Optional[str] = None) -> Frame:
        """A frame applying ``config`` to the live session."""

    def user_message(self, item_id: str, parts: Sequence[Union[TextPart, ImagePart]]) -> Frame:
        """A frame adding a user message with text and/or image parts."""

    def create_response(self) -> Frame:
        """A frame asking the model to respond now."""

    def cancel_response(self, response_id: Optional[str] = None) -> Frame:
        """A frame cancelling the active response."""

    def append_audio(self, pcm: bytes) -> Frame:
        """A frame appending PCM16 input audio at ``input_sample_rate``."""

    def commit_audio(self) -> Frame:
        """A frame committing the input audio buffer (push-to-talk)."""

    def clear_audio(self) -> Frame:
        """A frame discarding the input audio buffer."""

    def truncate(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> Frame:
        """A frame telling the provider the user heard only ``audio_end_ms`` of ``item_id``."""

    def tool_result(self, call_id: str, output: str) -> Frame:
        """A frame returning a tool's result (a string) for ``call_id``."""

    def history_items(self, messages: Sequence[RealtimeMessage]) -> List[Frame]:
        """Frames that replay ``messages`` as conversation items into a fresh session."""

    def server_cancels_on_speech(self, config: SessionConfig) -> bool:
        """Whether the provider cancels the active response by itself when the user starts
        speaking (so the client must not also send a cancel)."""


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
