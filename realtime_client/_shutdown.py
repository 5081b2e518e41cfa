"""Bounded shutdown at interpreter exit: every live client is disconnected, none can hang the exit.

Each :class:`~realtime_client.RealtimeClient` registers itself here when it is built. The
registry holds clients weakly, so it never keeps one alive. At interpreter exit (a script that
simply ends, ``sys.exit``, an uncaught ``KeyboardInterrupt`` from Ctrl+C) an ``atexit`` hook
disconnects the clients that are still connected, in parallel, under one short overall
deadline. A client whose ``disconnect()`` overruns it (a hung tool handler or callback, a
wedged device driver) is skipped: all the client's threads are daemon threads, so the
interpreter exits anyway.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from typing import Any, List

__all__ = ["EXIT_TIMEOUT", "disconnect_all", "live_clients", "register"]

log = logging.getLogger("realtime_client")

#: seconds the exit hook waits, in total, for the clients' ``disconnect()`` calls
EXIT_TIMEOUT = 1.0

_lock = threading.Lock()
_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_hook_installed = False


def register(client: Any) -> None:
    """Track ``client`` (weakly) so the exit hook disconnects it; installs the hook once.

    Threads: any thread.
    """
    global _hook_installed
    with _lock:
        _clients.add(client)
        if not _hook_installed:
            atexit.register(_at_exit)
            _hook_installed = True


def live_clients() -> List[Any]:
    """The registered clients that still exist, in no particular order."""
    with _lock:
        return list(_clients)


def disconnect_all(timeout: float = EXIT_TIMEOUT) -> List[Any]:
    """Call ``disconnect()`` on every registered client not already idle, under one deadline.

    Each call runs on its own daemon thread (``realtime-shutdown``), all at once; the function
    returns when they have all finished or ``timeout`` seconds have passed, whichever is first.
    A ``disconnect()`` that raises is logged. Never raises.

    Returns:
        The clients whose ``disconnect()`` had not finished by the deadline.

    Threads: any thread; it never waits on a client's own threads beyond ``timeout``.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    clients = [c for c in live_clients() if _needs_disconnect(c)]
    workers = []
    for client in clients:
        worker = threading.Thread(target=_disconnect, args=(client,), name="realtime-shutdown", daemon=True)
        try:
            worker.start()
        except RuntimeError:  # no new threads this late in interpreter shutdown: do it here
            _disconnect(client)
            continue
        workers.append((client, worker))
    late = []
    for client, worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            late.append(client)
    if late:
        log.warning("%d realtime client(s) did not disconnect within %.1f s at exit; their daemon "
                    "threads are abandoned", len(late), timeout)
    return late


def _needs_disconnect(client: Any) -> bool:
    try:
        return bool(client.status != "idle")
    except Exception:  # a half-built client: let disconnect() decide
        return True


def _disconnect(client: Any) -> None:
    try:
        client.disconnect()
    except Exception:
        log.warning("disconnect() failed at exit for %r", client, exc_info=True)


def _at_exit() -> None:
    try:
        disconnect_all(EXIT_TIMEOUT)
    except Exception:  # pragma: no cover - an exit hook must never raise
        pass
