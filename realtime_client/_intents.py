"""Intents: what the client asks a provider session to do, as small frozen values.

The reducer decides *what* should happen (respond now, cut the assistant off at 1 840 ms of
item X, return a tool's result); the provider session turns each intent into zero or more
wire frames (``ProviderSession.send``). A provider that has no such thing returns no frame:
Gemini has no response.create, ElevenLabs no truncate.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple, Union

import attrs

from ._models import ImagePart, RealtimeMessage, SessionConfig, TextPart

__all__ = [
    "AppendAudio",
    "ClearAudio",
    "CommitAudio",
    "ContextUpdate",
    "Intent",
    "Interrupt",
    "Replay",
    "RequestResponse",
    "ToolResult",
    "UpdateSession",
    "UserActivity",
    "UserMessage",
]


def _as_tuple(items: Iterable[Any]) -> Tuple[Any, ...]:
    return tuple(items)


@attrs.frozen
class UserMessage:
    """A user message of text and image parts (``message_id`` is the client's id for it)."""

    message_id: str
    parts: Tuple[Union[TextPart, ImagePart], ...] = attrs.field(converter=_as_tuple)


@attrs.frozen
class RequestResponse:
    """Ask the model to respond now (OpenAI ``response.create``; implicit elsewhere)."""


@attrs.frozen
class AppendAudio:
    """Captured microphone audio, already in the provider's input format."""

    audio: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen
class CommitAudio:
    """Push-to-talk ended: the user's turn is the ``captured_ms`` of audio sent since it began."""

    captured_ms: float


@attrs.frozen
class ClearAudio:
    """Push-to-talk ended with too little audio to be a turn: discard it."""


@attrs.frozen
class Interrupt:
    """Cut the assistant off.

    Attributes:
        turn: the turn still streaming, if any (a cancel is due).
        item_id: the assistant item the user last heard, if any.
        heard_ms: how much of ``item_id`` was audible, clamped to what was received.
        by_user_speech: the provider's own VAD heard the user (the server may cancel itself).
        unheard: assistant items that were queued for the speaker and never became audible;
            the provider should forget them (the user never heard a word of them).
    """

    turn: Optional[str] = None
    item_id: Optional[str] = None
    heard_ms: Optional[float] = None
    by_user_speech: bool = False
    unheard: Tuple[str, ...] = ()


@attrs.frozen
class ToolResult:
    """A tool call's outcome: ``output`` is the string for the wire, ``is_error`` marks failures."""

    call_id: str
    name: str
    output: str
    is_error: bool = False


@attrs.frozen
class UpdateSession:
    """Change the live session from ``previous`` to ``config``: only the difference goes on the
    wire. ``update_id`` comes back in ConfigApplied/ConfigRejected."""

    update_id: str
    config: SessionConfig
    previous: SessionConfig


@attrs.frozen
class Replay:
    """Seed a fresh session with the conversation so far (after a reconnect)."""

    messages: Tuple[RealtimeMessage, ...] = attrs.field(converter=_as_tuple)


@attrs.frozen
class ContextUpdate:
    """Background information for the model that asks for no answer (``send_context``).

    ``context_id``: a later update with the same id replaces this one, where the provider
    supports that. Optional: only sent to providers listing it in ``ProviderInfo.optional_intents``.
    """

    text: str
    context_id: Optional[str] = None


@attrs.frozen
class UserActivity:
    """The user is active (typing, or just cut the assistant off): hold back, and reset the
    provider's inactivity timeout (``signal_activity``). Optional, like :class:`ContextUpdate`."""


Intent = Union[UserMessage, RequestResponse, AppendAudio, CommitAudio, ClearAudio, Interrupt,
               ToolResult, UpdateSession, Replay, ContextUpdate, UserActivity]
