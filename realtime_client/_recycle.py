"""Recycling a connection shortly before the provider's session cap, at a quiet moment.

Providers end a connection after a fixed time (OpenAI 60 minutes, Azure OpenAI 30). Waiting for
that close would cut off whatever turn is running when it comes. When reconnecting is enabled and
the provider declares its cap (``ProviderInfo.session_cap``), one ``realtime-recycle`` thread per
``connect()`` waits until :func:`recycle_margin` before the cap, then for a quiet moment (no
response requested or streaming, nothing audible or queued for the speaker, no tool running, the
user neither speaking nor awaiting a transcript) and hands over to a new connection through the
reconnector, which resumes or replays as the provider says. If no quiet moment comes before the
cap, the provider's own close is handled as before (reconnect, ``on_go_away(0)``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Optional

from ._models import RealtimeStatus

if TYPE_CHECKING:
    from ._live import LiveSession

__all__ = ["Recycler", "recycle_margin"]

log = logging.getLogger("realtime_client")

MAX_MARGIN_S = 120.0
_IDLE_WAIT_S = 5.0  # at most this long between looks at the clock while nothing changes


def recycle_margin(cap: float) -> float:
    """How long before the cap the client starts looking for a quiet moment: two minutes, or a
    quarter of the cap for short caps (tests)."""
    return min(MAX_MARGIN_S, cap / 4.0)


class Recycler:
    """The ``realtime-recycle`` thread of one live session.

    Threads: ``start``/``stop``/``request_stop`` from the live session; the loop runs on its own
    thread and waits on the state owner's condition (every state change wakes it).
    """

    def __init__(self, live: LiveSession) -> None:
        self._live = live
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()  # start and stop may race (connect() and disconnect())

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            thread = threading.Thread(target=self._loop, name="realtime-recycle", daemon=True)
            thread.start()
            self._thread = thread

    def request_stop(self) -> None:
        """Ask the thread to end without waiting for it."""
        self._stop.set()
        state = self._live.state_owner
        with state.lock:
            state.cond.notify_all()

    def stop(self, timeout: float) -> None:
        """End the thread and join it within ``timeout`` seconds (never from the thread itself)."""
        self.request_stop()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.05, timeout))
            if thread.is_alive():
                log.warning("realtime-recycle did not stop in time")

    def _loop(self) -> None:
        live, state = self._live, self._live.state_owner
        while not self._stop.is_set() and not live.closing:
            with state.lock:
                connection = live.current_connection
                cap = connection.provider.info.session_cap if connection is not None else None
                ready_at = connection.ready_at if connection is not None else None
            if connection is None or cap is None or ready_at is None or connection.recycling:
                self._stop.wait(_IDLE_WAIT_S)
                continue
            due = ready_at + cap - recycle_margin(cap)
            now = time.monotonic()
            if now < due:  # sleep on our own event: state changes need not wake us yet
                self._stop.wait(min(due - now, _IDLE_WAIT_S))
                continue
            with state.cond:  # in the window: every state change may be the quiet moment
                conv = state.conv
                if self._stop.is_set() or live.closing or connection is not live.current_connection:
                    continue
                if conv.status is not RealtimeStatus.CONNECTED or not conv.quiet:
                    state.cond.wait(_IDLE_WAIT_S)
                    continue
                connection.recycling = True
                time_left = max(0.0, ready_at + cap - time.monotonic())
            try:
                live.recycle(connection, time_left)
            except Exception:  # a bug here must not kill the session: the provider's close still works
                log.exception("recycling the connection failed")
