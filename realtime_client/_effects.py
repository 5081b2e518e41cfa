"""Effects: what one reduction asks the live session to do after the state lock is released."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import attrs

from . import _events as ev
from . import _intents as it
from ._errors import RealtimeError

__all__ = ["Effects"]


@attrs.define
class Effects:
    """What must happen after a reduction, outside the lock, in this order."""

    intents: List[it.Intent] = attrs.field(factory=list)
    flush: bool = False  # flush playback, then reduce Flushed (phase two of an interrupt)
    flush_by_speech: bool = False
    play: List[Tuple[str, bytes]] = attrs.field(factory=list)
    drop_items: List[str] = attrs.field(factory=list)
    tool_calls: List[ev.ToolCall] = attrs.field(factory=list)
    cancel_tools: List[str] = attrs.field(factory=list)
    fail: Optional[RealtimeError] = None  # a fatal provider error: end the session
    reconnect: bool = False  # move to a new connection now (planned: GoAway, a setting change)
    notifications: List[Tuple[str, Tuple[Any, ...]]] = attrs.field(factory=list)

    def notify(self, name: str, *args: Any) -> None:
        self.notifications.append((name, args))

    def absorb(self, other: Effects) -> None:
        """Take on what ``other`` asks of the live session beyond its frames and callbacks
        (which its own commit already queued): a reduction nested in this one's commit."""
        self.flush = self.flush or other.flush
        self.flush_by_speech = self.flush_by_speech or other.flush_by_speech
        self.play += other.play
        self.drop_items += other.drop_items
        self.tool_calls += other.tool_calls
        self.cancel_tools += other.cancel_tools
        self.fail = self.fail or other.fail
        self.reconnect = self.reconnect or other.reconnect
