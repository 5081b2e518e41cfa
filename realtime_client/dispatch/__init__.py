"""Where user callbacks run.

A dispatcher is any callable ``dispatcher(fn)`` that arranges for the zero-argument ``fn()`` to
run soon, on a thread of its choosing, without blocking the caller. The client never runs user
callbacks on its socket-reader or audio threads: it hands them to the dispatcher.

* :class:`ThreadDispatcher` (the default): one named thread, ``realtime-callbacks``, runs
  callbacks in the order they were scheduled.
* :func:`tk_dispatcher` runs callbacks on a Tkinter main loop.
* :func:`qt_dispatcher` runs callbacks on the Qt GUI thread.

GUI toolkits are not thread-safe: a callback that updates a widget must run on the GUI thread,
so pass ``dispatcher=tk_dispatcher(root)`` or ``dispatcher=qt_dispatcher()``. Forgetting it in a
Qt app tends to crash the process with no hint, so the default dispatcher logs one warning
(logger ``realtime_client``) when it runs a callback while a Qt ``QApplication`` exists.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from typing import Any, Callable, Dict, Optional, Tuple

from .._types import Dispatcher

__all__ = ["Dispatcher", "ThreadDispatcher", "qt_dispatcher", "tk_dispatcher"]

log = logging.getLogger("realtime_client")

_STOP = object()


class ThreadDispatcher:
    """Runs scheduled functions, in order, on one daemon thread named ``realtime-callbacks``.

    An exception raised by a function is logged (logger ``realtime_client``, with the
    traceback) and the thread carries on. When it runs a function while a Qt ``QApplication``
    exists in the process (a binding already imported; Qt is never imported for this), it logs
    one warning per process suggesting :func:`qt_dispatcher`, because a callback touching Qt
    widgets from this thread can crash the process.

    Threads: ``__call__`` may be called from any thread and never blocks. ``stop`` may be
    called from any thread, including from inside a callback (then it does not join itself).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 The warning about a Qt application.
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
        still finishes what was queued before the stop; the new one runs nothing until the old
        one has ended, so callbacks still run one at a time and in order, and joining the new
        thread joins both.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and not self._stop_requested:
                return
            previous = self._thread if self._thread is not None and self._thread.is_alive() else None
            self._stop_requested = False
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, args=(self._queue, previous),
                                            name=self._name, daemon=True)
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
    def _run(q: queue.SimpleQueue[Any], previous: Optional[threading.Thread]) -> None:
        if previous is not None:
            previous.join()  # it still runs what was queued before its stop
        while True:
            fn = q.get()
            if fn is _STOP:
                return
            if not _qt_warned:
                _warn_if_qt_gui()
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
    """A dispatcher that runs callbacks on the Qt GUI thread (PySide6, PyQt6, PyQt5 or PySide2).

    Qt widgets may only be touched from the GUI thread; a callback that updates a widget from
    the client's own ``realtime-callbacks`` thread can crash the process without a hint. Pass
    ``dispatcher=qt_dispatcher()`` in every Qt app; the default dispatcher logs one warning
    when it sees a ``QApplication`` in the process.

    Callbacks travel as a queued signal to a small ``QObject`` that lives in the GUI thread as
    a child of the application, so Qt deletes it together with the application, on the GUI
    thread, and discards invocations still pending then. Callbacks scheduled after the
    application is gone are dropped. The binding is the one whose ``QApplication`` exists;
    nothing is imported.

    Raises:
        RuntimeError: no Qt application exists yet (create the ``QApplication`` first).

    Threads: create it after the ``QApplication`` exists, preferably on the GUI thread; the
    returned dispatcher may be called from any thread and never blocks.

    Example::

        app = QApplication(sys.argv)
        client = RealtimeClient(get_token=..., dispatcher=qt_dispatcher(),
                                on_message=lambda m: label.setText(m.text))

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 The bridge object is a child of the application, created in its
       thread; a missing application raises ``RuntimeError`` instead of silently never running
       callbacks; PySide2 is recognised.
    """
    qtcore, app = _qt_application()
    bridge = _bridge_class(qtcore)()
    bridge.moveToThread(app.thread())  # the slot runs where the application's event loop runs
    bridge.setParent(app)  # owned and deleted by Qt, with the application, on the GUI thread

    def dispatch(fn: Callable[[], None]) -> None:
        try:
            bridge.scheduled.emit(fn)
        except RuntimeError:  # the application, and the bridge with it, was deleted
            log.debug("qt_dispatcher dropped a callback: the Qt application is gone")

    dispatch.bridge = bridge  # type: ignore[attr-defined]
    return dispatch


_QT_BINDINGS = ("PySide6", "PyQt6", "PyQt5", "PySide2")
_bridge_classes: Dict[str, Any] = {}
_qt_warned = False


def _qt_application() -> Tuple[Any, Any]:
    """The QtCore module and application instance of the Qt binding this process runs."""
    for binding in _QT_BINDINGS:
        qtcore = sys.modules.get(f"{binding}.QtCore")
        app = qtcore.QCoreApplication.instance() if qtcore is not None else None
        if app is not None:
            return qtcore, app
    raise RuntimeError("qt_dispatcher() needs a Qt application: create the QApplication (PySide6, PyQt6 "
                       "or PyQt5; pip install PySide6-Essentials) before calling it")


def _bridge_class(qtcore: Any) -> Any:
    """One QObject subclass per binding: a queued signal connected to its own slot."""
    cls = _bridge_classes.get(qtcore.__name__)
    if cls is not None:
        return cls
    signal = getattr(qtcore, "Signal", None) or qtcore.pyqtSignal
    slot = getattr(qtcore, "Slot", None) or qtcore.pyqtSlot
    kinds = getattr(qtcore.Qt, "ConnectionType", qtcore.Qt)
    queued = getattr(kinds, "QueuedConnection", None) or qtcore.Qt.QueuedConnection

    class RealtimeCallbackBridge(qtcore.QObject):
        # A slot of its own rather than a plain-function receiver: the binding then creates no
        # hidden receiver object whose lifetime it manages apart from this one.
        scheduled = signal(object)

        def __init__(self) -> None:
            super().__init__()
            self.setObjectName("realtime_client.qt_dispatcher")
            self.scheduled.connect(self.run, queued)

        @slot(object)
        def run(self, fn: Callable[[], None]) -> None:
            run_guarded(fn)

    cls = _bridge_classes[qtcore.__name__] = RealtimeCallbackBridge
    return cls


def _warn_if_qt_gui() -> None:
    """Warn (once per process) that callbacks run off the GUI thread of a running Qt widgets app.

    Only looks at bindings already imported (``sys.modules``) and asks whether their
    ``QApplication`` exists; it never imports Qt.
    """
    global _qt_warned
    for binding in _QT_BINDINGS:
        widgets = sys.modules.get(f"{binding}.QtWidgets")
        app_class = getattr(widgets, "QApplication", None)
        if app_class is not None and app_class.instance() is not None:
            _qt_warned = True
            log.warning("realtime_client callbacks run on the %r thread, but this process runs a %s "
                        "QApplication: a callback that touches a widget from this thread can crash "
                        "the process. Pass dispatcher=realtime_client.dispatch.qt_dispatcher() to "
                        "run callbacks on the GUI thread.", threading.current_thread().name, binding)
            return
