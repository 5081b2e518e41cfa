"""The error hierarchy of realtime_client.

::

    RealtimeError (Exception)
    ├── TokenExpiredError        code TOKEN_EXPIRED       (also PermissionError)
    ├── ConnectionFailedError    code CONNECTION_FAILED   (also ConnectionError)
    ├── PermissionDeniedError    code PERMISSION_DENIED   (also PermissionError)
    ├── ProviderError            code PROVIDER_ERROR
    ├── AudioDeviceError         code AUDIO_DEVICE        (also OSError)
    └── UnknownRealtimeError     code UNKNOWN

``RealtimeError(message, code=...)`` builds the matching subclass, so
``except ConnectionFailedError`` and ``except RealtimeError as e: e.code`` both work.
Messages never contain tokens or API keys.
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Mapping, Optional, Type

__all__ = [
    "AudioDeviceError",
    "ConnectionFailedError",
    "ErrorCode",
    "PermissionDeniedError",
    "ProviderError",
    "RealtimeError",
    "TokenExpiredError",
    "UnknownRealtimeError",
]


class ErrorCode:
    """The error codes of :class:`RealtimeError` (plain strings)."""

    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    CONNECTION_FAILED = "CONNECTION_FAILED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    AUDIO_DEVICE = "AUDIO_DEVICE"
    UNKNOWN = "UNKNOWN"

    ALL = (TOKEN_EXPIRED, CONNECTION_FAILED, PERMISSION_DENIED, PROVIDER_ERROR, AUDIO_DEVICE, UNKNOWN)


_BY_CODE: Dict[str, Type[RealtimeError]] = {}


class RealtimeError(Exception):
    """Base class of every error the SDK raises or reports through ``on_error``.

    Args:
        message: a sentence saying what went wrong and, where known, why.
        code: one of :class:`ErrorCode`; ``RealtimeError(msg, code=X)`` returns the subclass for X.
        provider: the provider involved (``"openai"``), if any.
        details: extra machine-readable facts (never secrets).

    .. versionadded:: 0.1.0
    """

    default_code: ClassVar[str] = ErrorCode.UNKNOWN

    def __new__(cls, message: str = "", code: Optional[str] = None, *args: Any, **kw: Any) -> RealtimeError:
        target = cls
        if cls is RealtimeError:
            target = _BY_CODE.get(code or ErrorCode.UNKNOWN, UnknownRealtimeError)
        # OSError subclasses refuse Exception.__new__; use the first builtin base's constructor.
        builtin = next(b for b in target.__mro__
                       if b.__module__ == "builtins" and issubclass(b, BaseException))
        return builtin.__new__(target)

    def __init__(
        self,
        message: str = "",
        code: Optional[str] = None,
        *,
        provider: Optional[str] = None,
        details: Optional[Mapping[str, Any]] = None,
    ) -> None:
        code = code or self.default_code
        if code not in ErrorCode.ALL:
            raise ValueError(f"unknown RealtimeError code {code!r}; expected one of {ErrorCode.ALL}")
        super().__init__(message)
        self.message = message
        self.code = code
        self.provider = provider
        self.details: Dict[str, Any] = dict(details or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _BY_CODE.setdefault(cls.default_code, cls)

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.code, self.provider, self.details))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.message else self.code


def _rebuild(cls: Type[RealtimeError], message: str, code: str, provider: Any, details: Any) -> RealtimeError:
    return cls(message, code, provider=provider, details=details)


class TokenExpiredError(RealtimeError, PermissionError):
    """The token was past its ``expires_at`` when a connection needed it."""

    default_code = ErrorCode.TOKEN_EXPIRED


class ConnectionFailedError(RealtimeError, ConnectionError):
    """A token could not be fetched, or the connection was refused, timed out or dropped."""

    default_code = ErrorCode.CONNECTION_FAILED


class PermissionDeniedError(RealtimeError, PermissionError):
    """The provider refused the credentials (HTTP 401/403 at the handshake)."""

    default_code = ErrorCode.PERMISSION_DENIED


class ProviderError(RealtimeError):
    """The provider reported an error event; the session usually continues."""

    default_code = ErrorCode.PROVIDER_ERROR


class AudioDeviceError(RealtimeError, OSError):
    """An audio device is missing, cannot open, or failed mid-stream."""

    default_code = ErrorCode.AUDIO_DEVICE


class UnknownRealtimeError(RealtimeError):
    """Anything that fits no other code."""

    default_code = ErrorCode.UNKNOWN
