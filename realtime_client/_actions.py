"""Client actions: what the facade and the live session tell the reducer, besides events.

Provider events (``_events.py``) say what the provider did; these say what the user or the
client's own machinery did. Both go through the reducer's one entry point.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import attrs

from ._models import RealtimeMessage, RealtimeStatus, SessionConfig
from ._provider import ProviderInfo

__all__ = [
    "Action",
    "CapturedAudio",
    "ChangeConfig",
    "ConnectFailed",
    "Connected",
    "Connecting",
    "Flushed",
    "MicChanged",
    "PlaybackIdle",
    "PlaybackStarted",
    "PushToTalkEnded",
    "ReportError",
    "RequestInterrupt",
    "Resumed",
    "SendIntent",
    "SendUser",
    "SessionEnded",
    "SessionLost",
    "SessionOpened",
    "ToolFinished",
]


@attrs.frozen
class Connecting:
    """``connect()`` started: forget the previous session, status ``connecting``."""

    manual: bool


@attrs.frozen
class SessionOpened:
    """A connection's provider session exists (its capabilities are known). ``can_move``: the
    live session can leave a connection on purpose and resume on a new one (reconnecting is on)."""

    info: ProviderInfo
    can_move: bool = True


@attrs.frozen
class Connected:
    """``connect()`` succeeded: status ``connected`` (the current error clears). ``playback``:
    assistant audio is played (else a turn counts as speaking while its audio streams)."""

    mic_open: bool
    playback: bool = True


@attrs.frozen
class ConnectFailed:
    """``connect()`` failed: status ``error`` with ``error``."""

    error: Exception


@attrs.frozen
class Resumed:
    """A connection is live again after a reconnect: replay the history (at most
    ``history_chars`` of the newest text), then send what was queued."""

    replay: bool
    history_chars: int = 20_000


@attrs.frozen
class SessionLost:
    """The connection dropped and the client will reconnect: status ``reconnecting``.
    ``planned``: the client is leaving it itself, at a quiet moment (a move)."""

    go_away: bool = False
    planned: bool = False


@attrs.frozen
class SessionEnded:
    """The session is over: ``status`` is ``idle`` (clean) or ``error`` (with ``error``)."""

    status: RealtimeStatus
    error: Optional[Exception] = None
    notify_error: bool = False
    go_away: bool = False


@attrs.frozen
class MicChanged:
    """The microphone opened or closed."""

    open: bool


@attrs.frozen
class CapturedAudio:
    """The microphone captured ``ms`` of audio, already in the provider's input format."""

    audio: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    ms: float = 0.0


@attrs.frozen
class PushToTalkEnded:
    """The microphone closed; in manual mode the captured audio is the user's turn."""


@attrs.frozen
class SendUser:
    """The user sent a text/image message; ``respond``: ask for a response to it."""

    message: RealtimeMessage
    respond: bool = True


@attrs.frozen
class SendIntent:
    """The app asked for an optional intent (``send_context``, ``signal_activity``)."""

    intent: Any


@attrs.frozen
class RequestInterrupt:
    """``interrupt()``: cut the assistant off (phase one: decide and flush)."""


@attrs.frozen
class Flushed:
    """Playback was flushed for an interrupt (phase two: tell the provider what was heard).

    ``played`` is the audio engine's ``PlayedItem`` (or ``None``)."""

    played: Any
    by_user_speech: bool


@attrs.frozen
class PlaybackStarted:
    """Audio of ``item_id`` became audible (its first, or after the speaker went quiet);
    ``audible_at``: when, on the ``time.monotonic()`` clock (``None``: now)."""

    item_id: str
    audible_at: Optional[float] = None


@attrs.frozen
class PlaybackIdle:
    """The speaker went quiet; the first ``played_through`` chunks handed to it are over
    (``None``: all of them)."""

    played_through: Optional[int] = None


@attrs.frozen
class ToolFinished:
    """A tool call ended; ``outcome`` is a ``ToolOutcome``."""

    outcome: Any


@attrs.frozen
class ChangeConfig:
    """``update_session(**changes)``: ``config`` is the new desired configuration."""

    update_id: str
    config: SessionConfig
    changed: Tuple[str, ...]


@attrs.frozen
class ReportError:
    """An error from the client's own machinery (a device, the token refresh)."""

    error: Exception


Action = Any
