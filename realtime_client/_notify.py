"""Hands callbacks to the dispatcher in the order the state changed.

Notifications are queued while the state lock is held (a deque append, never user code) and
handed to the dispatcher after the lock is released. One small lock keeps that hand-over in
order when several threads change state at once; the dispatcher only enqueues, so nothing
waits on user code while holding it.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any, Callable, Deque, Tuple

from ._types import Dispatcher

__all__ = ["Notifier"]

log = logging.getLogger("realtime_client")


class _Call:
    """A callback bound to its arguments; logs instead of raising, naming the callback."""

    __slots__ = ("args", "callback")

    def __init__(self, callback: Callable[..., Any], args: Tuple[Any, ...]) -> None:
        self.callback = callback
        self.args = args

    def __call__(self) -> None:
        try:
            self.callback(*self.args)
        except Exception:
            name = getattr(self.callback, "__qualname__", None) or repr(self.callback)
            log.exception("callback %s raised; the client carries on", name)


class Notifier:
    """An ordered outbox in front of a dispatcher.

    Threads: ``queue`` only under the caller's state lock; ``flush`` from any thread, never
    under the state lock.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._outbox: Deque[_Call] = collections.deque()
        self._handover = threading.Lock()
        self._handing_over = 0  # the thread inside flush(), if any

    def queue(self, callback: Callable[..., Any], *args: Any) -> None:
        self._outbox.append(_Call(callback, args))

    def flush(self) -> None:
        me = threading.get_ident()
        if self._handing_over == me:
            # A dispatcher that runs callbacks synchronously, and a callback that called the
            # client: the loop below (further up this stack) delivers what was just queued.
            return
        with self._handover:
            self._handing_over = me
            try:
                while self._outbox:
                    call = self._outbox.popleft()
                    try:
                        self._dispatcher(call)
                    except Exception:
                        log.exception("the dispatcher refused a callback (%s)", call.callback)
            finally:
                self._handing_over = 0
