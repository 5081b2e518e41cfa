"""The reconnector: after a drop, open new connections with backoff until one is live.

The provider session of the dead connection says what the next one needs (``resume_state``:
replay the history, a resumption handle, a conversation id); the live session opens it and
the reducer replays and sends what was queued once it is ready.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING, Any, Optional

from . import _actions as act
from ._errors import ConnectionFailedError, PermissionDeniedError, RealtimeError
from ._models import RealtimeStatus, ReconnectPolicy
from ._provider import ResumeState
from ._util import Deadline

if TYPE_CHECKING:
    from ._live import LiveSession

__all__ = ["Reconnector"]

log = logging.getLogger("realtime_client")


class Reconnector:
    """A ``realtime-reconnect`` thread per outage, following ``policy``.

    Threads: ``start``/``stop`` from the live session; the loop runs on its own thread.
    """

    def __init__(self, live: LiveSession, policy: ReconnectPolicy) -> None:
        self._live = live
        self._policy = policy
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # start() against stop(): a thread is joined only once started
        self._stopped = False

    def start(self, resume: Optional[ResumeState], retire: Any = None) -> None:
        """Reconnect with ``resume``; with ``retire`` (a planned move), close that connection
        first and resume what it says. Does nothing once :meth:`stop` was called: a drop or a
        planned move noticed just before the session closed starts no thread."""
        with self._lock:
            if self._stopped:
                return
            self._stop = threading.Event()
            thread = threading.Thread(target=self._loop, args=(self._stop, resume, retire),
                                      name="realtime-reconnect", daemon=True)
            thread.start()
            self._thread = thread

    def stop(self, timeout: float) -> None:
        with self._lock:
            self._stopped = True
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.05, timeout))
            if thread.is_alive():
                log.warning("the reconnect thread is still opening a connection; abandoning it")

    def _loop(self, stop: threading.Event, resume: Optional[ResumeState], retire: Any) -> None:
        policy, live = self._policy, self._live
        last: Optional[RealtimeError] = None
        if retire is not None:
            resume = live.retire(retire, min(2.0, policy.connect_timeout))
        assert resume is not None
        for attempt in range(policy.attempts):
            if stop.wait(policy.delay(attempt, random.random())) or live.closing:
                return
            try:
                live.open_connection(Deadline(policy.connect_timeout), resume)
            except PermissionDeniedError as exc:
                last = exc
                break  # the credentials were refused: retrying cannot help
            except RealtimeError as exc:
                last = exc
                if stop.is_set() or live.closing:  # disconnect() or destroy() ended the attempt
                    log.debug("reconnect attempt %d stopped: %s", attempt + 1, exc)
                    live.close_connection()
                    return
                log.warning("reconnect attempt %d of %d failed: %s", attempt + 1, policy.attempts, exc)
                refused = live.resume_refused(exc)
                live.close_connection()
                if resume.resumes and refused:
                    # The server answered but would not continue that conversation (expired, or
                    # a refused handle): start fresh and seed it with the history instead.
                    log.info("the provider did not resume the conversation; reconnecting with a "
                             "fresh session seeded with the history")
                    resume = ResumeState(replay=True)
                continue
            if stop.is_set():
                return
            live.run(act.Resumed(replay=resume.replay, history_chars=policy.history_chars))
            log.info("reconnected after %d attempt(s)", attempt + 1)
            return
        if stop.is_set() or live.closing:
            return
        error = last or ConnectionFailedError("could not reconnect")
        live.end(RealtimeStatus.ERROR, error, notify_error=True)
