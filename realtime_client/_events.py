"""Normalized events: what every adapter turns provider frames into.

They are provider-independent and carry only what the client needs. Ids are the
provider's item/response/call ids. Audio is raw PCM16 little-endian mono at the
adapter's ``output_sample_rate``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import attrs

from ._models import UsageInfo

__all__ = [
    "AssistantItemStarted",
    "AudioDelta",
    "AudioDone",
    "Event",
    "GoAway",
    "Ignored",
    "InputCommitted",
    "ItemTruncated",
    "Malformed",
    "ProviderErrorEvent",
    "ResponseDone",
    "ResponseStarted",
    "SessionReady",
    "SessionUpdated",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCall",
    "TranscriptDelta",
    "TranscriptDone",
    "UnknownEvent",
    "UserTranscriptFailed",
]


@attrs.frozen
class SessionReady:
    """The provider created the session (OpenAI ``session.created``)."""

    session: Dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SessionUpdated:
    """The provider applied a session update; ``session`` is the full effective config."""

    session: Dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SpeechStarted:
    """Server VAD heard the user start speaking; ``item_id`` is the future user item."""

    item_id: Optional[str] = None
    audio_start_ms: Optional[int] = None


@attrs.frozen
class SpeechStopped:
    item_id: Optional[str] = None
    audio_end_ms: Optional[int] = None


@attrs.frozen
class InputCommitted:
    """The input audio buffer became user item ``item_id``."""

    item_id: str
    previous_item_id: Optional[str] = None


@attrs.frozen
class TranscriptDelta:
    """A piece of transcript. ``role`` is ``user`` or ``assistant``; ``kind`` is ``audio``
    (transcript of speech) or ``text`` (text output)."""

    role: str
    item_id: str
    delta: str
    kind: str = "audio"
    response_id: Optional[str] = None


@attrs.frozen
class TranscriptDone:
    """A final transcript (or final text) for one item."""

    role: str
    item_id: str
    text: str
    kind: str = "audio"
    response_id: Optional[str] = None


@attrs.frozen
class UserTranscriptFailed:
    item_id: str
    message: str = ""


@attrs.frozen
class ResponseStarted:
    response_id: str


@attrs.frozen
class AssistantItemStarted:
    """The model started an output item (a message or a function call) in a response."""

    item_id: str
    response_id: Optional[str] = None
    item_type: str = "message"


@attrs.frozen
class AudioDelta:
    """A chunk of assistant audio for ``item_id`` (PCM16 at the adapter's output rate)."""

    item_id: str
    pcm: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")
    response_id: Optional[str] = None
    content_index: int = 0


@attrs.frozen
class AudioDone:
    item_id: str
    response_id: Optional[str] = None


@attrs.frozen
class ToolCall:
    """The model asks the client to run tool ``name`` with JSON ``arguments``."""

    call_id: str
    name: str
    arguments: str
    item_id: Optional[str] = None
    response_id: Optional[str] = None


@attrs.frozen
class ResponseDone:
    """A response ended. ``status`` is ``completed``, ``cancelled``, ``failed`` or
    ``incomplete``; ``reason`` e.g. ``turn_detected`` or ``client_cancelled``."""

    response_id: str
    status: str = "completed"
    reason: Optional[str] = None
    usage: Optional[UsageInfo] = None
    output_item_ids: Tuple[str, ...] = attrs.field(default=(), converter=tuple)
    error_message: Optional[str] = None


@attrs.frozen
class ItemTruncated:
    item_id: str
    audio_end_ms: int = 0


@attrs.frozen
class ProviderErrorEvent:
    """The provider reported an error. ``benign`` marks errors caused by the client's own
    housekeeping racing the server (e.g. cancelling a response that just ended)."""

    message: str
    code: Optional[str] = None
    error_type: Optional[str] = None
    param: Optional[str] = None
    event_id: Optional[str] = None
    benign: bool = False


@attrs.frozen
class GoAway:
    """The provider will end the session in ``time_left`` seconds."""

    time_left: float


@attrs.frozen
class Ignored:
    """A known event the client has no use for."""

    type: str


@attrs.frozen
class UnknownEvent:
    """An event type the adapter does not know; the client logs it once per type."""

    type: str


@attrs.frozen
class Malformed:
    """A frame that could not be understood; ``reason`` says why, ``excerpt`` shows its start."""

    reason: str
    excerpt: str = ""


Event = Union[
    SessionReady, SessionUpdated, SpeechStarted, SpeechStopped, InputCommitted, TranscriptDelta,
    TranscriptDone, UserTranscriptFailed, ResponseStarted, AssistantItemStarted, AudioDelta,
    AudioDone, ToolCall, ResponseDone, ItemTruncated, ProviderErrorEvent, GoAway, Ignored,
    UnknownEvent, Malformed,
]
