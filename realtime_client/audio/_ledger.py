"""Per-item playback counters: what was received, handed to the device, and heard.

Timeline model: ``pos_s`` is the total audio handed to the device, in seconds. A write in
progress counts as handed progressively (blocking writes accept audio at the device's pace).
What is audible lags by the device latency (what the device held right after the latest
write), which drains away while nothing more is written; a write that starts after a pause
starts behind what is left of it, not behind all of it.
The audio not yet heard is always the most recently handed, so an item's heard time is its
handed time minus the part of that lag that falls inside its latest audio; a flush freezes it.

The ledger does no I/O and takes no lock: its owner (``_playback.Playback``) calls it with its
own lock held, from the control thread and the ``realtime-playback`` thread alike.
"""

from __future__ import annotations

import collections
from typing import List, Optional, Sequence

import attrs

__all__ = ["PlaybackLedger", "PlayedItem"]

_MAX_ITEMS = 512  # per-item counters kept (oldest forgotten first)
_MAX_TIMELINE = 16  # items remembered on the timeline since the last flush


@attrs.frozen
class PlayedItem:
    """What was heard of the item last audible before playback was flushed."""

    item_id: str
    heard_ms: float
    received_ms: float


class _Item:
    __slots__ = ("end_pos", "frozen_s", "handed_s", "received_s", "started")

    def __init__(self) -> None:
        self.received_s = 0.0
        self.handed_s = 0.0
        self.end_pos: Optional[float] = None  # timeline position where its latest audio ends
        self.frozen_s: Optional[float] = None
        self.started = False


@attrs.define
class _Write:
    item_id: str
    item: _Item
    gen: int
    start_t: float
    dur_s: float
    lag_s: float  # handed before it and not heard yet, when it started


class PlaybackLedger:
    """Counters for each item and the timeline they are measured on (internal).

    ``gen`` is the flush generation: :meth:`cut` bumps it, and audio of an older generation
    is dead. Times are ``time.monotonic()`` seconds passed in by the caller.

    Threads: not thread-safe; the owner serializes every call with its lock.
    """

    def __init__(self) -> None:
        self.gen = 0
        self.latency_s = 0.0
        self._items: collections.OrderedDict[str, _Item] = collections.OrderedDict()
        self._dropped: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._timeline: List[str] = []  # items handed to the device since the last flush
        self._pos_s = 0.0
        self._last_end_t = float("-inf")
        self._write: Optional[_Write] = None

    # --- counters -----------------------------------------------------------------------------

    def _item(self, item_id: str) -> _Item:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item()
            while len(self._items) > _MAX_ITEMS:
                self._items.popitem(last=False)
        return item

    def receive(self, item_id: str, seconds: float) -> None:
        """Count ``seconds`` of ``item_id`` given to the engine."""
        self._item(item_id).received_s += seconds

    def drop(self, item_id: str) -> None:
        """Never play ``item_id`` again."""
        self._dropped[item_id] = None
        while len(self._dropped) > _MAX_ITEMS:
            self._dropped.popitem(last=False)

    def is_dropped(self, item_id: str) -> bool:
        """``item_id`` was dropped or flushed."""
        return item_id in self._dropped

    def received_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` received (0 for an unknown item)."""
        item = self._items.get(item_id)
        return 0.0 if item is None else round(item.received_s * 1000.0, 3)

    def heard_ms(self, item_id: str, now: float) -> float:
        """Milliseconds of ``item_id`` heard by ``now`` (0 for an unknown item)."""
        item = self._items.get(item_id)
        return 0.0 if item is None else round(self._heard_s(item, now) * 1000.0, 3)

    # --- the timeline ---------------------------------------------------------------------------

    def _heard_pos(self, now: float) -> float:
        w = self._write
        if w is not None and w.gen == self.gen:
            return self._pos_s + min(w.dur_s, max(0.0, now - w.start_t)) - w.lag_s
        return self._pos_s - self.pending_s(now)

    def pending_s(self, now: float) -> float:
        """Audio handed to the device and not heard by ``now``, with no write in progress."""
        return min(self.latency_s, max(0.0, self._last_end_t + self.latency_s - now))

    def _heard_s(self, item: _Item, now: float) -> float:
        if item.frozen_s is not None:
            return item.frozen_s
        w = self._write
        progress = 0.0
        if w is not None and w.gen == self.gen and w.item is item:
            progress = min(w.dur_s, max(0.0, now - w.start_t))
            end = self._pos_s + progress
        elif item.end_pos is not None:
            end = item.end_pos
        else:
            return 0.0
        handed = item.handed_s + progress
        unheard = max(0.0, end - self._heard_pos(now))
        return max(0.0, handed - unheard)

    def _heard_item(self, now: float) -> Optional[str]:
        for item_id in reversed(self._timeline):
            item = self._items.get(item_id)
            if item is not None and self._heard_s(item, now) > 0:
                return item_id
        return self._timeline[0] if self._timeline else None

    def begin_write(self, item_id: str, gen: int, start_t: float, dur_s: float) -> None:
        """A write of ``dur_s`` seconds of ``item_id`` starts at ``start_t``."""
        if not self._timeline or self._timeline[-1] != item_id:
            if item_id in self._timeline:
                self._timeline.remove(item_id)
            self._timeline.append(item_id)
            del self._timeline[:-_MAX_TIMELINE]
        self._write = _Write(item_id, self._item(item_id), gen, start_t, dur_s, self.pending_s(start_t))

    def end_write(self, now: float) -> bool:
        """The write ended at ``now``; True when it counts (no flush froze or outdated it)."""
        w, self._write = self._write, None
        if w is None or w.gen != self.gen or w.item.frozen_s is not None:
            return False
        self._pos_s += w.dur_s
        w.item.handed_s += w.dur_s
        w.item.end_pos = self._pos_s
        self._last_end_t = now
        return True

    def abandon_write(self) -> None:
        """The write failed: it never counts."""
        self._write = None

    def writing_stale(self) -> bool:
        """A write of an older generation (one a flush raced) is still in progress."""
        return self._write is not None and self._write.gen != self.gen

    def mark_started(self, item_id: str) -> bool:
        """Note that ``item_id`` was audible; True the first time."""
        item = self._item(item_id)
        first, item.started = not item.started, True
        return first

    def cut(self, now: float, queued: Sequence[str]) -> Optional[PlayedItem]:
        """Flush: freeze every item's heard time, drop them and the ``queued`` ones, start afresh.

        Returns:
            The item last audible since the previous cut (else the first queued one), or
            ``None`` when there is none.
        """
        target = self._heard_item(now)
        if target is None and queued:
            target = queued[0]
        for item_id in self._timeline:
            item = self._items.get(item_id)
            if item is not None and item.frozen_s is None:
                item.frozen_s = self._heard_s(item, now)
        result = None
        if target is not None:
            received_ms = self.received_ms(target)
            result = PlayedItem(target, min(self.heard_ms(target, now), received_ms), received_ms)
        for item_id in list(queued) + self._timeline:
            self.drop(item_id)
        self._timeline = []
        self.gen += 1
        self._last_end_t = float("-inf")  # the device buffer is discarded
        return result
