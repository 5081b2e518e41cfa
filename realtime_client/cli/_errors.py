"""Exit statuses and one-line error messages for the command line."""

from __future__ import annotations

from .._errors import RealtimeError

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "CliError", "one_line"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl+C


class CliError(Exception):
    """A failure the command explains in one line (``str(error)``), exiting with ``status``."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line, without the chain of causes behind it.

    A :class:`RealtimeError` already says why (its message names the root cause and never a
    secret); anything else shows its type and text.
    """
    if isinstance(exc, RealtimeError):
        text = exc.message or exc.code
    else:
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, (OSError, ValueError)):
            text = f"{type(exc).__name__}: {text}"
    return " ".join(text.split())
