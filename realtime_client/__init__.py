"""realtime-client: realtime voice-to-voice AI conversations for code that is not async.

The public names live here; the code lives in private modules. ``import realtime_client``
does not import PyAudio (audio devices load on first use).
"""

from __future__ import annotations

from ._client import RealtimeClient
from ._errors import (
    AudioDeviceError,
    ConnectionFailedError,
    ErrorCode,
    PermissionDeniedError,
    ProviderError,
    RealtimeError,
    TokenExpiredError,
    UnknownRealtimeError,
)
from ._models import (
    AudioPart,
    ClientState,
    ImagePart,
    RealtimeMessage,
    RealtimeMode,
    RealtimeStatus,
    RealtimeToken,
    ReconnectPolicy,
    SessionConfig,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    TurnMetrics,
    UsageInfo,
    VADConfig,
)
from ._tools import Tool, tool

__version__ = "0.2.0.dev0"

__all__ = [
    "AudioDeviceError",
    "AudioPart",
    "ClientState",
    "ConnectionFailedError",
    "ErrorCode",
    "ImagePart",
    "PermissionDeniedError",
    "ProviderError",
    "RealtimeClient",
    "RealtimeError",
    "RealtimeMessage",
    "RealtimeMode",
    "RealtimeStatus",
    "RealtimeToken",
    "ReconnectPolicy",
    "SessionConfig",
    "TextPart",
    "TokenExpiredError",
    "Tool",
    "ToolCallPart",
    "ToolResultPart",
    "TurnMetrics",
    "UnknownRealtimeError",
    "UsageInfo",
    "VADConfig",
    "tool",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("realtime_client._"):
        try:
            _obj.__module__ = "realtime_client"
        except (AttributeError, TypeError):
            pass
del _name, _obj
