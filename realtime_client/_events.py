"""Normalized, turn-shaped events: what every provider session turns its frames into.

They say what happened in the conversation, not which frame said it: a turn started, a piece of
assistant transcript arrived, the turn ended and why. A ``turn`` is whatever id the provider
has (the OpenAI response id, a counter, an event id); ``item_id`` names one output of a turn
(an assistant message) and is what truncation and playback bookkeeping key on. Audio is in the
provider's output format (``ProviderInfo.output_format``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Tuple, Union

import attrs

from ._models import UsageInfo
from .audio._format import PCM16_24K, AudioFormat

__all__ = [
    "OUTCOMES",
    "AssistantTranscript",
    "AssistantTranscriptCorrected",
    "AudioChunk",
    "ConfigApplied",
    "ConfigRejected",
    "Event",
    "GoAway",
    "Ignored",
    "Interrupted",
    "Malformed",
    "OutputStarted",
    "ProviderErrorEvent",
    "ProviderNotice",
    "Ready",
    "ResumptionUpdate",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "ToolCallCancelled",
    "TurnEnded",
    "TurnStarted",
    "UnknownEvent",
    "UserAudioCommitted",
    "UserTranscript",
    "UserTranscriptFailed",
]

OUTCOMES = ("completed", "interrupted", "failed", "cut_off")
ERROR_KINDS = ("benign", "retry", "response_rejected", "config_rejected", "fatal", "other")


def _as_tuple(items: Iterable[Any]) -> Tuple[Any, ...]:
    return tuple(items)


@attrs.frozen
class Ready:
    """The handshake is over and the session configuration is applied: the session is live.

    ``history_lost``: this connection was meant to resume a conversation the provider keeps
    (``ResumeState.conversation_id``/``handle``), but the provider no longer has it (expired):
    the client seeds the new session with the history instead.
    """

    input_format: AudioFormat = PCM16_24K
    output_format: AudioFormat = PCM16_24K
    session_id: Optional[str] = None
    history_lost: bool = False


@attrs.frozen
class ConfigApplied:
    """The provider accepted the session update ``update_id``."""

    update_id: str


@attrs.frozen
class ConfigRejected:
    """The provider refused the session update ``update_id``; nothing of it was applied."""

    update_id: str
    message: str
    code: Optional[str] = None


@attrs.frozen
class SpeechStarted:
    """The provider's VAD heard the user start speaking; ``item_id`` is the future user message."""

    item_id: Optional[str] = None
    audio_start_ms: Optional[int] = None


@attrs.frozen
class SpeechStopped:
    """The provider's VAD heard the user stop speaking."""

    item_id: Optional[str] = None
    audio_end_ms: Optional[int] = None


@attrs.frozen
class UserAudioCommitted:
    """The user's spoken turn became message ``item_id`` (its transcript may follow)."""

    item_id: str


@attrs.frozen
class UserTranscript:
    """User speech as text: a ``final`` transcript, or a delta of a pending one (with
    ``cumulative``, the whole pending transcript so far, replacing the previous one)."""

    item_id: Optional[str]
    text: str
    final: bool
    cumulative: bool = False


@attrs.frozen
class UserTranscriptFailed:
    """Transcribing ``item_id`` failed; the message stays without a transcript."""

    item_id: Optional[str]
    message: str = ""


@attrs.frozen
class TurnStarted:
    """The assistant started turn ``turn``."""

    turn: str


@attrs.frozen
class OutputStarted:
    """Turn ``turn`` started output ``item_id`` (``kind``: ``message`` or ``function_call``)."""

    turn: Optional[str]
    item_id: str
    kind: str = "message"


@attrs.frozen
class AssistantTranscript:
    """Assistant text: a ``final`` text for the item, or a delta. ``kind`` is ``audio`` (the
    transcript of speech) or ``text`` (text output)."""

    turn: Optional[str]
    item_id: Optional[str]
    text: str
    final: bool
    kind: str = "audio"


@attrs.frozen
class AssistantTranscriptCorrected:
    """What item ``item_id`` actually said, replacing its text, even after its turn ended
    (ElevenLabs ``agent_response_correction``: the part spoken before an interruption)."""

    item_id: str
    text: str


@attrs.frozen
class AudioChunk:
    """Assistant audio of ``item_id`` in the provider's output format."""

    turn: Optional[str]
    item_id: str
    audio: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")


@attrs.frozen
class ToolCall:
    """The model asks the client to run tool ``name`` with JSON ``arguments``."""

    turn: Optional[str]
    call_id: str
    name: str
    arguments: str
    item_id: Optional[str] = None


@attrs.frozen
class ToolCallCancelled:
    """The provider abandoned these tool calls (the user interrupted): drop their results."""

    call_ids: Tuple[str, ...] = attrs.field(converter=_as_tuple)


@attrs.frozen
class TurnEnded:
    """Turn ``turn`` ended.

    Attributes:
        outcome: ``completed``, ``interrupted`` (barge-in or cancel), ``failed`` (``error``
            says why) or ``cut_off`` (a length limit).
        usage: token usage, when the provider reports it with the turn.
        item_ids: the turn's output items, in order.
        reason: the provider's reason, e.g. ``max_output_tokens``.
    """

    turn: str
    outcome: str = attrs.field(default="completed", validator=attrs.validators.in_(OUTCOMES))
    usage: Optional[UsageInfo] = None
    item_ids: Tuple[str, ...] = attrs.field(default=(), converter=_as_tuple)
    error: Optional[str] = None
    code: Optional[str] = None
    reason: Optional[str] = None


@attrs.frozen
class Interrupted:
    """The provider cut the assistant off itself (server-side barge-in): flush playback."""

    turn: Optional[str] = None


@attrs.frozen
class GoAway:
    """The provider will end the connection in ``time_left`` seconds."""

    time_left: float


@attrs.frozen
class ResumptionUpdate:
    """A handle the next connection can resume this session with."""

    handle: str


@attrs.frozen
class ProviderErrorEvent:
    """The provider reported an error; ``kind`` says what the client should make of it.

    ``benign``: an answer to the client's own housekeeping (a cancel that raced the end of a
    response); never surfaced. ``retry``: our request raced the server; ask again later.
    ``response_rejected``: our request for a response was refused (the turn fails).
    ``config_rejected``: a session update was refused. ``fatal``: the session cannot go on.
    ``other``: reported, and the session continues.
    """

    message: str
    code: Optional[str] = None
    kind: str = attrs.field(default="other", validator=attrs.validators.in_(ERROR_KINDS))
    error_type: Optional[str] = None
    param: Optional[str] = None
    event_id: Optional[str] = None


@attrs.frozen
class ProviderNotice:
    """Provider-specific news the app may want but the conversation state does not use (a VAD
    score, a latency estimate, a conversation id): handed to ``on_provider_event(name, data)``."""

    name: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Ignored:
    """A known frame the client has no use for."""

    type: str


@attrs.frozen
class UnknownEvent:
    """A frame type the provider session does not know; the client logs it once per type."""

    type: str


@attrs.frozen
class Malformed:
    """A frame that could not be understood; ``reason`` says why, ``excerpt`` shows its start."""

    reason: str
    excerpt: str = ""


Event = Union[
    Ready, ConfigApplied, ConfigRejected, SpeechStarted, SpeechStopped, UserAudioCommitted,
    UserTranscript, UserTranscriptFailed, TurnStarted, OutputStarted, AssistantTranscript,
    AssistantTranscriptCorrected, AudioChunk, ToolCall, ToolCallCancelled, TurnEnded, Interrupted,
    GoAway, ResumptionUpdate,
    ProviderErrorEvent, ProviderNotice, Ignored, UnknownEvent, Malformed,
]
