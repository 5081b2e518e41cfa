"""What a fake server has seen: connections, received and sent frames, and waits on them.

One :class:`Recorder` belongs to a server; its connections report into it through
:meth:`Recorder.record_received` and :meth:`Recorder.record_sent`. Every method may be called
from any thread; one condition covers the lists and wakes the waiters.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

FrameType = Callable[[Dict[str, Any]], Optional[str]]

if TYPE_CHECKING:
    from ._connection import FakeConnection

__all__ = ["Recorder"]


class Recorder:
    """Connections and frames of one server, in arrival order, with blocking waits.

    Attributes:
        received: every parsed frame received, all connections.
        sent: every protocol frame sent (raw text), all connections; fault frames excluded.
        connections: every connection accepted, open or closed.

    Threads: any thread; the lists are appended under :attr:`condition`.
    """

    def __init__(self, frame_type: Optional[FrameType] = None) -> None:
        self._type_of: FrameType = frame_type or (lambda frame: frame.get("type"))
        self.condition = threading.Condition()
        self.received: List[Any] = []
        self.sent: List[str] = []
        self.connections: List[FakeConnection] = []
        self._sent_types: List[Optional[str]] = []

    def add_connection(self, make: Callable[[int], FakeConnection]) -> FakeConnection:
        """Build the next connection with its number (1, 2, ...) and register it."""
        with self.condition:
            conn = make(len(self.connections) + 1)
            self.connections.append(conn)
            self.condition.notify_all()
            return conn

    def live(self) -> List[FakeConnection]:
        """The connections that have not ended."""
        with self.condition:
            return [c for c in self.connections if not c.closed]

    def record_received(self, event: Any) -> None:
        """Note a parsed frame a connection received."""
        with self.condition:
            self.received.append(event)
            self.condition.notify_all()

    def record_sent(self, text: str, type_: Optional[str]) -> None:
        """Note a frame a connection sent, with its ``type`` (for :meth:`wait_for_sent`)."""
        with self.condition:
            self.sent.append(text)
            self._sent_types.append(type_)
            self.condition.notify_all()

    def wait_for_frame(self, type_: str, timeout: float, count: int) -> Dict[str, Any]:
        """Block until ``count`` received frames have type ``type_``; return the ``count``-th."""

        def matches() -> List[Dict[str, Any]]:
            return [e for e in self.received if isinstance(e, dict) and self._type_of(e) == type_]

        with self.condition:
            if not self.condition.wait_for(lambda: len(matches()) >= count, timeout):
                got = sorted({str(self._type_of(e)) for e in self.received if isinstance(e, dict)})
                raise TimeoutError(f"received {len(matches())} of {count} '{type_}' frame(s) within "
                                   f"{timeout}s; types received: {got}")
            return matches()[count - 1] if count > 0 else {}

    def wait_for_sent(self, type_: str, timeout: float, count: int) -> Dict[str, Any]:
        """Block until ``count`` sent frames have type ``type_``; return the ``count``-th, parsed."""
        with self.condition:
            if not self.condition.wait_for(lambda: self._sent_types.count(type_) >= count, timeout):
                raise TimeoutError(f"sent {self._sent_types.count(type_)} of {count} '{type_}' frame(s) "
                                   f"within {timeout}s")
            indexes = [i for i, t in enumerate(self._sent_types) if t == type_]
            return json.loads(self.sent[indexes[count - 1]]) if count > 0 else {}

    def wait_for_connection(self, count: int, timeout: float) -> FakeConnection:
        """Block until ``count`` connections have opened in total; return the ``count``-th."""
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.connections) >= count, timeout):
                raise TimeoutError(f"{len(self.connections)} of {count} connection(s) opened within "
                                   f"{timeout}s")
            return self.connections[count - 1]
