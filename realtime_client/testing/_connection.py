"""One client connection of the fake server: its peer, outgoing queue and sender thread.

The connection knows nothing of the server object: it is built with its WebSocket, the
provider :class:`~._peer.Peer`, a :class:`FrameSink` to report frames into, and its options.
The server drives it only through the public methods below.

Threads: the websockets handler thread runs :meth:`FakeConnection.serve` (receive and handle);
``realtime-fake-sender-N`` sends queued frames, steps the peer's streams and its timers; every
other method may be called from any thread. Lock order: a connection's lock may be held while
taking the sink's lock, never the reverse.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Tuple, Union

import attrs
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ._peer import Close, Frame, Peer

__all__ = ["SHUTDOWN_REASON", "ConnectionOptions", "FakeConnection", "FrameSink"]

_log = logging.getLogger("realtime_client")
SHUTDOWN_REASON = "Server shutting down."
_Action = Tuple[Any, ...]


class FrameSink(Protocol):
    """Where a connection reports the frames it received and sent (the server's recorder)."""

    def record_received(self, event: Any) -> None:
        """Note a parsed frame the connection received."""

    def record_sent(self, text: str, type_: Optional[str]) -> None:
        """Note a frame the connection sent, with its type."""


@attrs.frozen
class ConnectionOptions:
    """How a connection behaves, fixed when it opens.

    Attributes:
        pacing: ``"fast"`` or ``"realtime"`` (streams wait for the audio time they carry).
        max_session_seconds: close this long after opening (None: never).
        session_cap: the close code and reason used then.
        stall_until: send nothing before this monotonic time.
        binary: send frames as binary messages (UTF-8 JSON), as Gemini does.
        frame_type: the name a frame is recorded under (default: its ``type``).
    """

    pacing: str = "fast"
    max_session_seconds: Optional[float] = None
    session_cap: Tuple[int, str] = (1001, "")
    stall_until: float = 0.0
    binary: bool = False
    frame_type: Callable[[Frame], Optional[str]] = attrs.field(default=lambda frame: frame.get("type"))


class FakeConnection:
    """One client connection of a :class:`FakeRealtimeServer` (inspect it; do not build one).

    Attributes:
        number: 1 for the server's first connection, then 2, ...
        model: the model this connection serves (the ``?model=`` of the URL or the default).
        path: the request path with its query string.
        headers: the request headers, credentials removed.
        peer: the provider protocol object serving this connection.
        received: the JSON frames this connection received, parsed, in order.
        sent: the protocol frames sent on this connection (raw text), fault frames excluded.
        close_code, close_reason: the close this server initiated (None if it did not);
            ``close_code`` is 1006 after :meth:`abort`.

    Threads: attributes are safe to read, and the control methods safe to call, from any thread.

    .. versionchanged:: 0.2.0 ``peer`` and the public control methods.
    """

    def __init__(self, number: int, ws: ServerConnection, peer: Peer, sink: FrameSink, *,
                 path: str = "", headers: Optional[Dict[str, str]] = None,
                 options: ConnectionOptions = ConnectionOptions()) -> None:
        self.number = number
        self.peer = peer
        self.model: str = peer.model
        self.path = path
        self.headers: Dict[str, str] = dict(headers or {})
        self.received: List[Any] = []
        self.sent: List[str] = []
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self._ws = ws
        self._sink = sink
        self._options = options
        self._pacing = options.pacing
        self._cond = threading.Condition()
        self._outq: Deque[_Action] = collections.deque()
        self._due: Dict[str, float] = {}
        self._tick_at: Optional[float] = 0.0  # when to call peer.tick() next; None: never
        self._stall_until = options.stall_until
        self._close_request: Optional[Tuple[int, str]] = None
        self._closed = False
        self._peer_told = False
        self._finished = threading.Event()
        limit = options.max_session_seconds
        self._deadline = None if limit is None else time.monotonic() + limit
        self._sender = threading.Thread(target=self._send_loop, name=f"realtime-fake-sender-{number}",
                                        daemon=True)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<FakeConnection #{self.number} {state} model={self.model!r} received={len(self.received)}>"

    @property
    def session(self) -> Dict[str, Any]:
        """A copy of the connection's current effective session."""
        with self._cond:
            return copy.deepcopy(self.peer.session)

    @property
    def items(self) -> List[Dict[str, Any]]:
        """A copy of the conversation items, in order (audio omitted)."""
        with self._cond:
            return copy.deepcopy(self.peer.items)

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self._finished.is_set() or self._closed

    # -- control (any thread) -------------------------------------------------------------------

    def send_event(self, event: Frame) -> None:
        """Queue a server frame (the peer fills a missing ``event_id``); it is recorded in ``sent``."""
        with self._cond:
            self._outq.append(("frame", self.peer.complete_event(copy.deepcopy(event))))
            self._cond.notify_all()

    def send_error(self, code: str, message: str, *, error_type: str = "invalid_request_error",
                   param: Optional[str] = None) -> None:
        """Queue the provider's error frame."""
        with self._cond:
            self._outq.append(("frame", self.peer.error_event(code, message, error_type=error_type,
                                                              param=param)))
            self._take_close_locked()
            self._cond.notify_all()

    def send_raw(self, data: Union[str, bytes]) -> None:
        """Queue ``data`` to send as-is (a text or binary frame); not recorded."""
        self._enqueue(("raw", data))

    def close(self, code: int, reason: str = "") -> None:
        """Close with a close frame after the frames already queued."""
        self._enqueue(("close", code, reason))

    def close_now(self, code: int, reason: str = "") -> None:
        """Close with a close frame before anything still queued (used when the server stops)."""
        with self._cond:
            if self._close_request is None:
                self._close_request = (code, reason)
            self._cond.notify_all()

    def stall(self, until: float) -> None:
        """Send nothing before the monotonic time ``until``; frames queue up meanwhile."""
        with self._cond:
            self._stall_until = max(self._stall_until, until)
            self._cond.notify_all()

    def set_pacing(self, pacing: str) -> None:
        """Switch between ``"fast"`` and ``"realtime"`` streaming from the next step on."""
        with self._cond:
            self._pacing = pacing
            self._cond.notify_all()

    def abort(self) -> None:
        """Shut the TCP socket down without a close frame (the client sees an abnormal drop)."""
        self.close_code, self.close_reason = 1006, ""
        try:
            self._ws.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_closed(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for the connection to end; return whether it did."""
        return self._finished.wait(max(0.0, timeout))

    def _take_close_locked(self) -> None:
        """Queue the close the peer asked for, if any, after the frames already queued."""
        take = getattr(self.peer, "take_close", None)
        close = take() if callable(take) else None
        if close is not None:
            self._outq.append(("close", close[0], close[1]))

    def _enqueue(self, action: _Action) -> None:
        with self._cond:
            self._outq.append(action)
            self._cond.notify_all()

    # -- handler thread --------------------------------------------------------------------------

    def serve(self) -> None:
        """Serve the connection until it closes. Threads: the websockets handler thread only."""
        try:
            with self._cond:
                self._outq.extend(("frame", f) for f in self.peer.open())
            self._sender.start()
            for message in self._ws:
                self._receive(message)
        except ConnectionClosed:
            pass
        except Exception:
            _log.exception("fake realtime server: connection #%d failed", self.number)
        finally:
            self._peer_closed()  # at once: a resumable session may be resumed elsewhere now
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._sender.is_alive():
                self._sender.join(2.0)
            self._finished.set()

    def _peer_closed(self) -> None:
        """Tell the peer (once) that its connection is closing: as soon as the server sends its
        close frame, or when the client's close has ended the connection."""
        closed = getattr(self.peer, "closed", None)
        with self._cond:
            if self._peer_told or not callable(closed):
                return
            self._peer_told = True
            closed()

    def _receive(self, message: Union[str, bytes]) -> None:
        with self._cond:
            handled = self.peer.receive(message)
            self._outq.extend(("frame", f) for f in handled.frames)
            self._take_close_locked()
            self._cond.notify_all()
        if handled.record:
            self.received.append(handled.event)
            self._sink.record_received(handled.event)

    # -- sender thread ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        try:
            while True:
                action = self._next_action()
                if action is None:
                    return
                if action[0] == "frame" and isinstance(action[1], Close):
                    self._peer_closed()
                    # a close reason is at most 123 bytes of UTF-8 (RFC 6455 5.5): cut, as servers do
                    reason = action[1].reason.encode("utf-8")[:123].decode("utf-8", "ignore")
                    self.close_code, self.close_reason = action[1].code, reason
                    self._ws.close(action[1].code, reason)
                    return
                if action[0] == "frame":
                    text = json.dumps(action[1])
                    self.sent.append(text)
                    self._sink.record_sent(text, self._options.frame_type(action[1]))
                    self._ws.send(text.encode("utf-8") if self._options.binary else text)
                elif action[0] == "raw":
                    self._ws.send(action[1])
                else:
                    self._peer_closed()
                    self.close_code, self.close_reason = action[1], action[2]
                    self._ws.close(action[1], action[2])
                    return
        except ConnectionClosed:
            pass
        except Exception:
            _log.warning("fake realtime server: sender of connection #%d failed", self.number, exc_info=True)

    def _next_action(self) -> Optional[_Action]:
        with self._cond:
            while True:
                now = time.monotonic()
                if self._closed:
                    return None
                if self._deadline is not None and now >= self._deadline:
                    return ("close", *self._options.session_cap)
                if self._close_request is not None:
                    return ("close", *self._close_request)
                wake = self._deadline
                if now < self._stall_until:
                    wake = self._stall_until if wake is None else min(wake, self._stall_until)
                    self._cond.wait(wake - now)
                    continue
                if self._tick_at is not None and self._tick_at <= now:
                    frames, self._tick_at = self.peer.tick(now)
                    self._outq.extend(("frame", f) for f in frames)
                    self._take_close_locked()
                if self._outq:
                    return self._outq.popleft()
                wake = _earliest(wake, self._tick_at)
                stepped, due = self._step_streams_locked(now)
                if stepped:
                    continue
                wake = _earliest(wake, due)
                self._cond.wait(None if wake is None else max(0.0, wake - now))

    def _step_streams_locked(self, now: float) -> Tuple[bool, Optional[float]]:
        """Step the stream that is due: ``(True, None)``; else ``(False, when the next is due or None)``."""
        streams = self.peer.streams()
        for gone in set(self._due) - set(streams):
            del self._due[gone]
        if not streams:
            return False, None
        stream = min(streams, key=lambda s: self._due.get(s, now))
        due = self._due.get(stream, now)
        if due > now:
            return False, due
        step = self.peer.advance(stream)
        if step.done:
            self._due.pop(stream, None)
        elif self._pacing == "realtime":
            self._due[stream] = max(due, now - 0.05) + step.audio_ms / 1000.0
        self._outq.extend(("frame", f) for f in step.frames)
        self._take_close_locked()
        return True, None


def _earliest(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None:
        return b
    return a if b is None else min(a, b)
