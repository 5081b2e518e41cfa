"""Helpers shared by the test modules (a plain module: conftest files are not importable reliably)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

from tests._conformance import validate_client_frame, validate_server_frame


def check_conformance(server: Any) -> None:
    """Every frame the client sent and the server sent validates against the openai models."""
    for frame in list(server.received):
        validate_client_frame(frame)
    for raw in list(server.sent):
        validate_server_frame(raw)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    """Collects callback invocations (name, args) with the thread they ran on."""

    def __init__(self) -> None:
        self.calls: List[tuple] = []
        self.threads: set = set()
        self.lock = threading.Lock()

    def cb(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            with self.lock:
                self.calls.append((name, *args))
                self.threads.add(threading.current_thread().name)
        return record

    def options(self) -> dict:
        names = ("on_status_change", "on_mode_change", "on_message", "on_error", "on_connect",
                 "on_disconnect", "on_interrupted", "on_usage", "on_go_away")
        return {n: self.cb(n) for n in names}

    def of(self, name: str) -> List[Any]:
        with self.lock:
            return [c[1] if len(c) > 1 else None for c in self.calls if c[0] == name]


def frames_of(server: Any, type_: str) -> List[dict]:
    return [f for f in server.received if f.get("type") == type_]


