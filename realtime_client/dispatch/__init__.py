"""Where user callbacks run.

A dispatcher is any callable ``dispatcher(fn)`` that arranges for the zero-argument ``fn()`` to
run soon, on a thread of its choosing, without blocking the caller. The client never runs user
callbacks on its socket-reader or audio threads: it hands them to the dispatcher.

* :class:`ThreadDispatcher` (the default): one named thread, ``realtime-callbacks``, runs
  callbacks in the order they were scheduled.
* :func:`tk_dispatcher` runs callbacks on a Tkinter main loop.
* :func:`qt_dispatcher` runs callbacks on the Qt GUI thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Optional

from .._types import Dispatcher

__all__ = ["Dispatcher", "ThreadDispatcher", "qt_dispatcher", "tk_dispatcher"]

log = logging.getLogger("realtime_client")

_STOP = object()


class ThreadDispatcher:
    """Runs scheduled functions, in order, on one daemon thread named ``realtime-callbacks``.

    An exception raised by a function is logged (logger ``realtime_client``, with the
    traceback) and the thread carries on.

    Threads: ``__call__`` may be called from any thread and never blocks. ``stop`` may be
    called from any thread, including from inside a callback (then it does not join itself).

    .. versionadded:: 0.1.0
    """

    def __init__(self, name: str = "realtime-callbacks") -> None:
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: Optional[threading.Thread] = None
        self._stop_requested = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread if it is not running (idempotent).

        After ``stop()`` a new thread with a new queue is started, even while the old thread
        still finishes what was queued before the stop.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and not self._stop_requested:
                return
            self._stop_requested = False
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, args=(self._queue,), name=self._name,
                                            daemon=True)
            self._thread.start()

    def __call__(self, fn: Callable[[], None]) -> None:
        self._queue.put(fn)

    @property
    def running(self) -> bool:
        """Whether the ``realtime-callbacks`` thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def on_own_thread(self) -> bool:
        """Whether the caller is this dispatcher's thread."""
        return threading.current_thread() is self._thread

    def request_stop(self) -> None:
        """Let the thread end once it has run what is already queued; does not wait."""
        with self._lock:
            if self._thread is None or self._stop_requested:
                return
            self._stop_requested = True
            self._queue.put(_STOP)

    def stop(self, timeout: float = 1.0) -> bool:
        """Run what is already queued, then end the thread. Returns whether it ended in time."""
        with self._lock:
            thread = self._thread
            self._stop_requested = True
            self._queue.put(_STOP)
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("callback thread %s still busy after %.1f s; a callback is blocking", self._name,
                        timeout)
            return False
        return True

    @staticmethod
    def _run(q: queue.SimpleQueue[Any]) -> None:
        while True:
            fn = q.get()
            if fn is _STOP:
                return
            run_guarded(fn)


def run_guarded(fn: Callable[[], None]) -> None:
    """Run ``fn``; log any exception with its traceback instead of propagating it."""
    try:
        fn()
    except Exception:
        log.exception("a realtime_client callback raised (%s); the client carries on", _describe(fn))


def _describe(fn: Callable[..., Any]) -> str:
    target = getattr(fn, "callback", fn)
    return getattr(target, "__qualname__", None) or repr(target)


def tk_dispatcher(root: Any, poll_ms: int = 10) -> Dispatcher:
    """A dispatcher that runs callbacks on the Tkinter main loop of ``root``.

    Tk is not thread-safe, so background threads only put work on a queue; the main loop
    drains it every ``poll_ms`` milliseconds with ``root.after``.

    Threads: create it on the Tk thread; the returned dispatcher may be called from any thread.
    """
    pending: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def drain() -> None:
        while True:
            try:
                fn = pending.get_nowait()
            except queue.Empty:
                break
            run_guarded(fn)
        try:
            root.after(poll_ms, drain)
        except Exception:  # the window was destroyed: stop polling
            log.debug("tk_dispatcher stopped: root is gone")

    root.after(poll_ms, drain)
    return pending.put


def qt_dispatcher() -> Dispatcher:
    """A dispatcher that runs callbacks on the Qt GUI thread (PySide6, PyQt6 or PyQt5).

    Threads: create it after the ``QApplication`` exists, on the GUI thread.
    """
    qtcore: Any = None
    for name in ("PySide6.QtCore", "PyQt6.QtCore", "PyQt5.QtCore"):
        try:
            qtcore = __import__(name, fromlist=["QObject"])
            break
        except ImportError:
            continue
    if qtcore is None:
        raise ImportError("qt_dispatcher needs PySide6, PyQt6 or PyQt5: pip install PySide6-Essentials")
    signal_cls = getattr(qtcore, "Signal", None) or qtcore.pyqtSignal

    class _Bridge(qtcore.QObject):
        run = signal_cls(object)

    bridge = _Bridge()
    bridge.run.connect(run_guarded, qtcore.Qt.ConnectionType.QueuedConnection)

    def dispatch(fn: Callable[[], None]) -> None:
        bridge.run.emit(fn)

    dispatch.bridge = bridge  # type: ignore[attr-defined]  # keep the QObject alive with the dispatcher
    return dispatch
