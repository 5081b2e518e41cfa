"""The token refresh timer: keeps a valid token at hand for the next connection."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from ._errors import RealtimeError
from ._models import RealtimeToken

__all__ = ["TokenRefresher", "refresh_delay"]

log = logging.getLogger("realtime_client")

EARLY_S = 60.0
MAX_RETRY_S = 30.0


def refresh_delay(seconds_left: float) -> float:
    """Refresh 60 s before expiry, or halfway through the remaining lifetime of short tokens."""
    if seconds_left > 2 * EARLY_S:
        return seconds_left - EARLY_S
    return max(0.0, seconds_left / 2.0)


class TokenRefresher:
    """A ``realtime-token-refresh`` thread that fetches a new token before the current expires.

    Failures are reported through ``on_error`` and retried with exponential backoff (1 s up to
    30 s); they never touch the live session.

    Threads: ``start``/``stop`` from the client's control paths; ``fetch`` and the callbacks
    run on the refresh thread (``fetch`` is the user's ``get_token``).
    """

    def __init__(self, token: RealtimeToken, fetch: Callable[[], RealtimeToken],
                 on_token: Callable[[RealtimeToken], None],
                 on_error: Callable[[RealtimeError], None]) -> None:
        self._token = token
        self._fetch = fetch
        self._on_token = on_token
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()  # start() and stop() may race (disconnect during connect)

    def start(self) -> None:
        """Start the refresh thread; does nothing once a stop was requested."""
        with self._lock:
            if self._token.expires_at is None or self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="realtime-token-refresh", daemon=True)
            self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end without waiting for it."""
        self._stop.set()

    def stop(self, timeout: float = 1.0) -> None:
        """End the thread and join it within ``timeout`` seconds."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("the token refresh thread is still inside get_token after %.1f s", timeout)

    def _run(self) -> None:
        retry = 1.0
        while not self._stop.is_set():
            left = self._token.seconds_left()
            if left is None or self._stop.wait(refresh_delay(left)):
                return
            try:
                token = self._fetch()
            except RealtimeError as exc:
                self._on_error(exc)
                if self._stop.wait(retry):
                    return
                retry = min(retry * 2, MAX_RETRY_S)
                continue
            retry = 1.0
            self._token = token
            self._on_token(token)
            log.debug("refreshed the realtime token")
