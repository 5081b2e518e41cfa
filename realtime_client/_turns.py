"""Bookkeeping for one assistant turn until its message is complete, and building that message."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import attrs

from ._models import AudioPart, RealtimeMessage, TextPart, ToolCallPart, ToolResultPart

__all__ = ["Turn", "build_message"]


@attrs.define
class Turn:
    """What has arrived of one assistant turn (mutable; owned by the reducer)."""

    id: str
    message_id: Optional[str] = None
    text: str = ""
    kind: Optional[str] = None  # "audio" or "text"
    audio_ms: float = 0.0
    tool_calls: Dict[str, ToolCallPart] = attrs.field(factory=dict)
    results: Dict[str, str] = attrs.field(factory=dict)
    done: bool = False
    cancelled: bool = False  # the user cut it off
    stop_reason: Optional[str] = None
    message_index: Optional[int] = None

    @property
    def has_content(self) -> bool:
        return bool(self.text or self.audio_ms or self.tool_calls)

    @property
    def tools_outstanding(self) -> bool:
        return len(self.results) < len(self.tool_calls)


def build_message(turn: Turn) -> RealtimeMessage:
    """The assistant message for ``turn`` as it stands."""
    parts: List[Any] = []
    duration = round(turn.audio_ms, 1) if turn.audio_ms else None
    if turn.kind == "audio" or turn.audio_ms:
        parts.append(AudioPart(turn.text, duration))
    elif turn.text:
        parts.append(TextPart(turn.text))
    for call in turn.tool_calls.values():
        parts.append(call)
        if call.id in turn.results:
            parts.append(ToolResultPart(call.id, turn.results[call.id]))
    reason = "interrupted" if turn.cancelled and turn.stop_reason in (None, "completed") else turn.stop_reason
    return RealtimeMessage(id=turn.message_id or turn.id, role="assistant", parts=tuple(parts),
                           interrupted=turn.cancelled or reason in ("interrupted", "disconnected"),
                           duration_ms=duration, stop_reason=reason or "completed")
