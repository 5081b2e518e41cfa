"""Bookkeeping for one assistant turn until its message is complete, and building that message."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Set

import attrs

from ._models import AudioPart, RealtimeMessage, TextPart, ToolCallPart, ToolResultPart, TurnMetrics

__all__ = ["Turn", "TurnBook", "build_message"]


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
    follow_up_cut: bool = False  # interrupted while its tools ran: their results ask for no answer
    stop_reason: Optional[str] = None
    message_index: Optional[int] = None
    request: Optional[int] = None  # the response request this turn answers (None: unrequested)
    began: Optional[int] = None  # when it began, in the message log's time (None: when it ends)
    metrics: TurnMetrics = attrs.field(factory=TurnMetrics)  # latency stamps (see TurnMetrics)

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
                           duration_ms=duration, stop_reason=reason or "completed", metrics=turn.metrics)


class TurnBook:
    """The assistant turns of one provider session, and which item belongs to which.

    Owned by the reducer (the only caller), so it needs no lock; it holds bookkeeping only,
    never the conversation's messages.
    """

    def __init__(self) -> None:
        self.turns: Dict[str, Turn] = {}
        self.item_turn: Dict[str, str] = {}
        self.item_message: Dict[str, int] = {}  # items of ended turns -> their message's index
        self.item_audio: Dict[str, float] = {}  # ms of audio received per item
        self.cancelled: Set[str] = set()
        self.silenced: Set[str] = set()  # items whose later audio must not play

    def start(self, turn_id: str) -> Turn:
        turn = self.turns.get(turn_id)
        if turn is None:  # a turn the user cut off stays cut when later frames name it again
            turn = self.turns[turn_id] = Turn(turn_id, cancelled=turn_id in self.cancelled)
        return turn

    def track(self, turn_id: Optional[str], item_id: Optional[str], active: Optional[str]) -> Optional[Turn]:
        """The turn an event belongs to (by turn id, else by item, else the ``active`` one)."""
        if turn_id is None and item_id is not None:
            turn_id = self.item_turn.get(item_id)
        if turn_id is None:
            turn_id = active
        if turn_id is None:
            return None
        turn = self.start(turn_id)
        if item_id is not None:
            self.item_turn.setdefault(item_id, turn_id)
            if turn.message_id is None:
                turn.message_id = item_id
        return turn

    def heard_ms(self, item_id: str, cut: Optional[str], cut_heard: float, unheard: Iterable[str]) -> float:
        """What was heard of the answer ``item_id`` belongs to, when playback stopped ``cut_heard``
        ms into item ``cut`` with the ``unheard`` items never audible: its other items played
        first, so were heard in full."""
        owner = self.item_turn.get(item_id)
        skipped = set(unheard)
        total = 0.0
        for other, turn_id in self.item_turn.items():
            if turn_id != owner or other in skipped:
                continue
            total += cut_heard if other == cut else self.item_audio.get(other, 0.0)
        return total

    def owner(self, item_id: str) -> Optional[Turn]:
        turn_id = self.item_turn.get(item_id)
        return self.turns.get(turn_id) if turn_id is not None else None

    def of_call(self, call_id: str) -> Optional[Turn]:
        return next((t for t in self.turns.values() if call_id in t.tool_calls), None)

    def tools_outstanding(self, *, awaiting_answer: bool = False) -> bool:
        """A tool call is running (with ``awaiting_answer``: one whose result will be answered)."""
        return any(t.tools_outstanding and not (awaiting_answer and t.follow_up_cut)
                   for t in self.turns.values())

    def cut_follow_ups(self) -> List[Turn]:
        """interrupt() while tools run: their results will ask for no answer. Returns those turns."""
        running = [t for t in self.turns.values() if t.tools_outstanding and not t.follow_up_cut]
        for turn in running:
            turn.follow_up_cut = True
        return running

    def cut(self, turn_id: str) -> List[str]:
        """Mark ``turn_id`` cut off by the user; its items are silenced and returned."""
        self.cancelled.add(turn_id)
        turn = self.turns.get(turn_id)
        if turn is not None:
            turn.cancelled = True
        items = [i for i, t in self.item_turn.items() if t == turn_id]
        self.silenced.update(items)
        return items

    def ended(self, turn: Turn, index: Optional[int]) -> None:
        """``turn`` ended (as message ``index``); forget it unless tool results are still due."""
        if index is not None:
            for item, owner in self.item_turn.items():
                if owner == turn.id:
                    self.item_message[item] = index
        if not turn.tools_outstanding:
            self.turns.pop(turn.id, None)

    def add_call(self, call: Any, active: Optional[str]) -> bool:
        """Record tool call ``call`` (a ``ToolCall`` event); False for a repeated announcement."""
        turn = self.track(call.turn, call.item_id, active)
        if turn is None:
            turn = self.start(call.call_id)
            turn.message_id = turn.message_id or call.item_id
        if call.call_id in turn.tool_calls:
            return False
        try:
            parsed = json.loads(call.arguments) if call.arguments else {}
        except ValueError:
            parsed = None
        turn.tool_calls[call.call_id] = ToolCallPart(id=call.call_id, name=call.name,
                                                     arguments=call.arguments, input=parsed)
        return True

    def cancel_calls(self, call_ids: Iterable[str]) -> List[str]:
        """The provider abandoned these calls: they count as answered; returns those still running."""
        cancelled = []
        for call_id in call_ids:
            turn = self.of_call(call_id)
            if turn is not None and call_id not in turn.results:
                turn.results[call_id] = json.dumps({"error": "cancelled by the provider"})
                cancelled.append(call_id)
        return cancelled

    def finish_call(self, outcome: Any) -> Optional[Turn]:
        """Record a ``ToolOutcome``; its turn, or ``None`` when the call is unknown or answered."""
        turn = self.of_call(outcome.call_id)
        if turn is None or outcome.call_id in turn.results:
            return None
        turn.results[outcome.call_id] = outcome.result
        call = turn.tool_calls[outcome.call_id]
        turn.tool_calls[outcome.call_id] = attrs.evolve(
            call, output=outcome.output if outcome.error is None else {"error": outcome.error})
        return turn

    def unfinished(self) -> List[Turn]:
        return list(self.turns.values())
