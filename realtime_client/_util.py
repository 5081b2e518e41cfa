"""Small shared helpers: one deadline across many steps, ids."""

from __future__ import annotations

import ipaddress
import os
import time

__all__ = ["Deadline", "is_loopback_host", "new_id"]


class Deadline:
    """A point in monotonic time; ``remaining()`` is what is left of ``timeout`` (never negative)."""

    __slots__ = ("_end", "timeout")

    def __init__(self, timeout: float) -> None:
        if timeout is None or timeout < 0:
            raise ValueError(f"timeout must be a non-negative number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self._end = time.monotonic() + self.timeout

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end


def new_id(prefix: str) -> str:
    """A short unique id such as ``msg_1f3a...`` (at most 32 characters, as OpenAI allows)."""
    return f"{prefix}_{os.urandom(10).hex()}"[:32]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1`` (brackets allowed)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
