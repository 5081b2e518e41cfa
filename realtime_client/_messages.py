"""The message log: the conversation's messages, what is pending, and voice turns in flight.

Owned by the reducer (its only caller). It keeps messages in conversation order, counts
changes for snapshots, records each finished turn's result for ``ask()``/``wait_for_response()``
waiters, and places a voice message when its audio is committed, filling the transcript in
when it arrives (in any order relative to the answer).
"""

from __future__ import annotations

import bisect
import collections
from typing import Deque, Dict, List, Optional, Tuple, Union

import attrs

from ._models import AudioPart, RealtimeMessage

__all__ = ["MessageLog", "within_budget"]

TurnResult = Union[RealtimeMessage, Exception]


def within_budget(messages: List[RealtimeMessage], budget: int) -> List[RealtimeMessage]:
    """The newest messages whose text fits in ``budget`` characters, oldest first."""
    kept: List[RealtimeMessage] = []
    used = 0
    for msg in reversed(messages):
        used += len(msg.text)
        if used > budget:
            break
        kept.append(msg)
    return kept[::-1]


class MessageLog:
    """Messages and pending transcripts (mutable; the reducer is the only writer).

    A message keeps the index it was appended at (``messages``, for updates), but the
    conversation shows messages ordered by when each *began* (:meth:`ordered`): an answer
    that started streaming before the user typed the next question comes before it, even
    though it completes after it.
    """

    def __init__(self) -> None:
        self.messages: List[RealtimeMessage] = []  # in the order they were appended
        self._order: List[Tuple[int, int]] = []  # (began, index), sorted: the display order
        self._clock = 0
        self.pending_user = ""
        self.pending_assistant = ""
        self.version = 0  # bumped on every change a snapshot would show
        self.turns_completed = 0
        self.last_result: Optional[TurnResult] = None
        # (the response request a turn answered, its result), newest last, for ask()
        self.results: Deque[Tuple[Optional[int], TurnResult]] = collections.deque(maxlen=64)
        self.reset_session()

    def reset_session(self) -> None:
        self.voice_items: Dict[str, int] = {}  # committed voice messages awaiting a transcript
        self.speech_ms: Dict[str, int] = {}  # speech start, then duration, per future item
        self.speech_began: Dict[str, int] = {}  # when the user began speaking each future item

    def tick(self) -> int:
        """A new point in conversation time: something began now."""
        self._clock += 1
        return self._clock

    def append(self, msg: RealtimeMessage, began: Optional[int] = None) -> int:
        """Add ``msg``, shown where ``began`` (a :meth:`tick`; default now) places it."""
        index = len(self.messages)
        self.messages.append(msg)
        bisect.insort(self._order, (self.tick() if began is None else began, index))
        self.version += 1
        return index

    def index_of(self, message_id: str) -> Optional[int]:
        """Where the message with this id was appended (searched newest first), or ``None``."""
        for index in range(len(self.messages) - 1, -1, -1):
            if self.messages[index].id == message_id:
                return index
        return None

    def has(self, message_id: str) -> bool:
        """A message with this id was appended."""
        return self.index_of(message_id) is not None

    def ordered(self) -> List[RealtimeMessage]:
        """The messages in conversation order (by when each began)."""
        return [self.messages[i] for _, i in self._order]

    def put(self, index: int, msg: RealtimeMessage) -> None:
        self.messages[index] = msg
        self.version += 1

    def turn_result(self, result: TurnResult, request: Optional[int] = None) -> None:
        """A turn ended with ``result``; ``request`` is the response request it answered
        (``None`` for a turn the provider started on its own). Waiters wake up with it."""
        self.turns_completed += 1
        self.last_result = result
        self.results.append((request, result))

    def answer_to(self, request: int) -> Optional[TurnResult]:
        """The first result of a turn answering response request ``request`` or a later one."""
        return next((r for seq, r in self.results if seq is not None and seq >= request), None)

    def set_pending_assistant(self, text: str) -> None:
        self.pending_assistant = text
        self.version += 1

    def mark_interrupted(self, index: int, heard_ms: float) -> None:
        msg = self.messages[index]
        duration = round(heard_ms, 1)
        parts = tuple(attrs.evolve(p, duration_ms=duration) if isinstance(p, AudioPart) else p
                      for p in msg.parts)
        self.put(index, attrs.evolve(msg, interrupted=True, stop_reason="interrupted",
                                     duration_ms=duration, parts=parts))

    # --- voice turns ---------------------------------------------------------------------------

    def speech_started(self, item_id: Optional[str], at_ms: Optional[int]) -> None:
        if item_id:
            self.speech_began[item_id] = self.tick()
        if item_id and at_ms is not None:
            self.speech_ms[item_id] = at_ms

    def speech_stopped(self, item_id: Optional[str], at_ms: Optional[int]) -> None:
        if item_id and at_ms is not None and item_id in self.speech_ms:
            self.speech_ms[item_id] = at_ms - self.speech_ms[item_id]

    def voice_committed(self, item_id: str) -> Optional[RealtimeMessage]:
        """Place the voice message ``item_id`` now (its transcript may follow); ``None`` if placed."""
        if item_id in self.voice_items:
            return None
        duration = self.speech_ms.pop(item_id, None)
        msg = RealtimeMessage(id=item_id, role="user", parts=(AudioPart(None, duration),),
                              duration_ms=duration)
        self.voice_items[item_id] = self.append(msg, self.speech_began.pop(item_id, None))
        return msg

    def user_delta(self, text: str) -> None:
        self.pending_user += text
        self.version += 1

    def user_partial(self, text: str) -> None:
        """The whole pending transcript so far (a provider that revises it sends it whole)."""
        self.pending_user = text
        self.version += 1

    def user_transcript(self, item_id: Optional[str], text: str) -> Optional[RealtimeMessage]:
        """The final transcript of ``item_id``: the message, completed (placed now if unseen),
        to announce; ``None`` when it was already final (a repeated transcript only updates it)."""
        self.pending_user = ""
        index = self.voice_items.pop(item_id, None) if item_id else None
        announce = True
        if index is None and item_id:  # already completed once: update it, do not announce again
            index = self.index_of(item_id)
            announce = index is None
        if index is None:  # a transcript for audio we never saw committed
            index = self.append(RealtimeMessage(id=item_id or f"user_{len(self.messages)}", role="user",
                                                parts=(AudioPart(None),)))
        msg = self.messages[index]
        audio = next((p for p in msg.parts if isinstance(p, AudioPart)), AudioPart())
        msg = attrs.evolve(msg, parts=(AudioPart(text, audio.duration_ms),))
        self.put(index, msg)
        return msg if announce else None

    def user_transcript_failed(self, item_id: Optional[str]) -> Optional[RealtimeMessage]:
        """Transcription of ``item_id`` failed: the message as it stands, to announce."""
        self.pending_user = ""
        self.version += 1
        index = self.voice_items.pop(item_id, None) if item_id else None
        return self.messages[index] if index is not None else None
