"""One client connection of the fake server: its protocol session, outgoing queue and sender thread.

Threads: the websockets handler thread runs :meth:`FakeConnection._run` (receive and handle);
``realtime-fake-sender-N`` sends queued frames and steps active responses; every other method
may be called from any thread. Lock order: a connection's lock may be held while taking the
server's lock, never the reverse.
"""

from __future__ import annotations

import collections
import copy
import json
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Tuple, Union

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from ._session import ProtocolSession

if TYPE_CHECKING:
    from ._server import FakeRealtimeServer

__all__ = ["SESSION_LIMIT_REASON", "SHUTDOWN_REASON", "FakeConnection"]

_log = logging.getLogger("realtime_client")
SESSION_LIMIT_REASON = "Your session hit the maximum duration of 60 minutes."
SHUTDOWN_REASON = "Server shutting down."
_Action = Tuple[Any, ...]


class FakeConnection:
    """One client connection of a :class:`FakeRealtimeServer` (inspect it; do not build one).

    Attributes:
        number: 1 for the server's first connection, then 2, ...
        model: the ``?model=`` of the URL (or the server's default).
        path: the request path with its query string.
        headers: the request headers, credentials removed.
        received: the JSON frames this connection received, parsed, in order.
        sent: the protocol frames sent on this connection (raw text), fault frames excluded.
        close_code, close_reason: the close this server initiated (None if it did not);
            ``close_code`` is 1006 after :meth:`FakeRealtimeServer.drop_connections`.

    Threads: attributes are safe to read from any thread.
    """

    def __init__(self, server: FakeRealtimeServer, ws: ServerConnection, number: int,
                 info: Dict[str, Any]) -> None:
        self.number = number
        self.model: str = info["model"]
        self.path: str = info["path"]
        self.headers: Dict[str, str] = info["headers"]
        self.received: List[Any] = []
        self.sent: List[str] = []
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self._server = server
        self._ws = ws
        self._cond = threading.Condition()
        self._proto = ProtocolSession(
            model=self.model, next_reply=server._pop_reply, next_transcript=server._pop_transcript,
            audio_chunk_ms=server.audio_chunk_ms, rate_limits=server.rate_limits,
            instructions=server.instructions, voice=server.voice)
        self._outq: Deque[_Action] = collections.deque()
        self._due: Dict[str, float] = {}
        self._stall_until = server._stall_until
        self._close_request: Optional[Tuple[int, str]] = None
        self._closed = False
        self._finished = threading.Event()
        limit = server.max_session_seconds
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
            return copy.deepcopy(self._proto.session)

    @property
    def items(self) -> List[Dict[str, Any]]:
        """A copy of the conversation items, in order (audio omitted)."""
        with self._cond:
            return copy.deepcopy(self._proto.items)

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self._finished.is_set() or self._closed

    # -- control (any thread) -------------------------------------------------------------------

    def _enqueue(self, action: _Action) -> None:
        with self._cond:
            self._outq.append(action)
            self._cond.notify_all()

    def _request_close(self, code: int, reason: str) -> None:
        with self._cond:
            if self._close_request is None:
                self._close_request = (code, reason)
            self._cond.notify_all()

    def _stall(self, until: float) -> None:
        with self._cond:
            self._stall_until = max(self._stall_until, until)
            self._cond.notify_all()

    def _drop(self) -> None:
        self.close_code, self.close_reason = 1006, ""
        try:
            self._ws.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- handler thread --------------------------------------------------------------------------

    def _run(self) -> None:
        """Serve the connection until it closes. Threads: the websockets handler thread."""
        try:
            with self._cond:
                self._proto.open()
                self._flush_locked()
            self._sender.start()
            for message in self._ws:
                self._receive(message)
        except ConnectionClosed:
            pass
        except Exception:
            _log.exception("fake realtime server: connection #%d failed", self.number)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._sender.is_alive():
                self._sender.join(2.0)
            self._finished.set()

    def _receive(self, message: Union[str, bytes]) -> None:
        event: Any = None
        with self._cond:
            if isinstance(message, bytes):
                self._proto.error("invalid_value", "Binary frames are not supported; send JSON text frames.")
            else:
                try:
                    event = json.loads(message)
                except ValueError as exc:
                    self._proto.error("invalid_json", f"Invalid JSON in client event: {exc}.")
                else:
                    self._proto.handle(event)
            self._flush_locked()
            self._cond.notify_all()
        if event is not None:
            self.received.append(event)
            self._server._record_received(event)

    def _flush_locked(self) -> None:
        for frame in self._proto.take_outbox():
            self._outq.append(("frame", frame))

    # -- sender thread ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        try:
            while True:
                action = self._next_action()
                if action is None:
                    return
                if action[0] == "frame":
                    text = json.dumps(action[1])
                    self.sent.append(text)
                    self._server._record_sent(text, action[1].get("type"))
                    self._ws.send(text)
                elif action[0] == "raw":
                    self._ws.send(action[1])
                else:
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
                    return ("close", 1001, SESSION_LIMIT_REASON)
                if self._close_request is not None:
                    return ("close", *self._close_request)
                wake = self._deadline
                if now < self._stall_until:
                    wake = self._stall_until if wake is None else min(wake, self._stall_until)
                    self._cond.wait(wake - now)
                    continue
                if self._outq:
                    return self._outq.popleft()
                runs = self._proto.runs
                if runs:
                    run = min(runs, key=lambda r: self._due.get(r.id, now))
                    due = self._due.get(run.id, now)
                    if due <= now:
                        frames, pace_ms = self._proto.step(run)
                        if run.done:
                            self._due.pop(run.id, None)
                        elif self._server.pacing == "realtime":
                            self._due[run.id] = max(due, now - 0.05) + pace_ms / 1000.0
                        self._outq.extend(("frame", f) for f in frames)
                        continue
                    wake = due if wake is None else min(wake, due)
                self._cond.wait(None if wake is None else max(0.0, wake - now))
