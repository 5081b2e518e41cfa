"""The playback half of the audio engine: per-item heard-time bookkeeping and the playback thread.

``AudioEngine`` (``_engine.py``) builds the state and offers the control methods (``play``,
``flush``, ``drop_item``); this base class holds what runs under its lock and on the
``realtime-playback`` thread. See ``_engine.py`` for the timeline model.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, Deque, List, Optional, Tuple

import attrs

from .._types import AudioOutput
from ._analysis import AudioVisualization
from ._capture import safe_call, wrap_error
from ._resample import StreamResampler
from ._timeline import PlayedAudio, pcm_level

__all__ = ["PlaybackCore", "PlayedItem"]

_log = logging.getLogger("realtime_client")

_MAX_ITEMS = 512  # per-item counters kept (oldest forgotten first)
_MAX_TIMELINE = 16  # items remembered on the timeline since the last flush


@attrs.frozen
class PlayedItem:
    """What was heard of the item playing when playback was flushed."""

    item_id: str
    heard_ms: float
    received_ms: float


class _Item:
    __slots__ = ("frozen_s", "handed_s", "received_s", "start_pos", "started")

    def __init__(self) -> None:
        self.received_s = 0.0
        self.handed_s = 0.0
        self.start_pos: Optional[float] = None
        self.frozen_s: Optional[float] = None
        self.started = False


@attrs.define
class _Write:
    item_id: str
    gen: int
    start_t: float
    dur_s: float



class PlaybackCore:
    """Internal base of :class:`~._engine.AudioEngine`: bookkeeping and the playback loop.

    Methods named ``*_locked`` need ``self._cond`` held; the others run on ``realtime-playback``.
    """

    _cond: threading.Condition
    _queue: Deque[Tuple[str, bytes, int]]
    _items: collections.OrderedDict[str, _Item]
    _dropped: collections.OrderedDict[str, None]
    _timeline: List[str]
    _gen: int
    _pos_s: float
    _last_end_t: float
    _latency_s: float
    _write: Optional[_Write]
    _active: bool
    _audible_announced: bool
    _flushing: int
    _stopping: bool
    _playback_state: str
    _chunk_ms: int
    _played: Optional[PlayedAudio]
    _ref_resampler: Optional[StreamResampler]
    _on_playback_started: Callable[[str], None]
    _on_playback_idle: Callable[[], None]
    visualization: AudioVisualization

    def _report(self, err: Exception) -> None:
        raise NotImplementedError

    # --- playback: bookkeeping (call with self._cond held) ---------------------------------

    def _item_locked(self, item_id: str) -> _Item:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item()
            while len(self._items) > _MAX_ITEMS:
                self._items.popitem(last=False)
        return item

    def _drop_locked(self, item_id: str) -> None:
        self._dropped[item_id] = None
        while len(self._dropped) > _MAX_ITEMS:
            self._dropped.popitem(last=False)

    def _heard_pos_locked(self, now: float) -> float:
        w = self._write
        if w is not None and w.gen == self._gen:
            return self._pos_s + min(w.dur_s, max(0.0, now - w.start_t)) - self._latency_s
        pending = min(self._latency_s, max(0.0, self._last_end_t + self._latency_s - now))
        return self._pos_s - pending

    def _heard_s_locked(self, item_id: str, item: _Item, now: float) -> float:
        if item.frozen_s is not None:
            return item.frozen_s
        if item.start_pos is None:
            return 0.0
        handed = item.handed_s
        w = self._write
        if w is not None and w.gen == self._gen and w.item_id == item_id:
            handed += min(w.dur_s, max(0.0, now - w.start_t))
        return max(0.0, min(handed, self._heard_pos_locked(now) - item.start_pos))

    def _heard_ms_of(self, item_id: str, item: _Item, now: float) -> float:
        return round(self._heard_s_locked(item_id, item, now) * 1000.0, 3)

    def _heard_item_locked(self, now: float) -> Optional[str]:
        for item_id in reversed(self._timeline):
            item = self._items.get(item_id)
            if item is not None and self._heard_s_locked(item_id, item, now) > 0:
                return item_id
        return self._timeline[0] if self._timeline else None

    # --- playback thread --------------------------------------------------------------------

    def _playback_main(self, out: AudioOutput, resampler: StreamResampler) -> None:
        try:
            self._playback_loop(out, resampler)
        except Exception as exc:
            err = wrap_error(exc, "audio output failed")
            _log.warning("playback stopped: %s", err)
            with self._cond:
                self._playback_state = "failed"
                self._queue.clear()
                self._active = False
                self._write = None
                was_audible, self._audible_announced = self._audible_announced, False
                self._cond.notify_all()
            self._report(err)
            if was_audible:  # the speaker went silent for good: let the client leave 'speaking'
                safe_call(self._on_playback_idle)

    def _playback_loop(self, out: AudioOutput, resampler: StreamResampler) -> None:
        res_gen = 0
        last_item: Optional[str] = None
        while True:
            with self._cond:
                while not self._queue and not self._stopping and not self._active:
                    self._cond.wait()
                if self._stopping:
                    return
                entry = self._queue.popleft() if self._queue else None
                gen = self._gen
                if entry is not None:
                    self._active = True
            if gen != res_gen:  # a flush happened: forget audio held in the resamplers
                resampler.reset()
                if self._ref_resampler is not None:
                    self._ref_resampler.reset()
                res_gen = gen
            if entry is None:
                if self._drain(out, resampler, last_item, gen):
                    safe_call(self._on_playback_idle)
                last_item = None
                continue
            item_id, pcm, entry_gen = entry
            if entry_gen != gen:
                continue
            last_item = item_id
            self._write_pieces(out, item_id, gen, resampler.process(pcm))

    def _drain(self, out: AudioOutput, resampler: StreamResampler, last_item: Optional[str],
               gen: int) -> bool:
        """The queue ran dry: play the resampler's tail, wait out the latency. True = now idle."""
        tail = resampler.flush()
        if tail and last_item is not None:
            self._write_pieces(out, last_item, gen, tail)
        with self._cond:
            if gen == self._gen:
                deadline = time.monotonic() + self._latency_s
                while not self._queue and not self._stopping and gen == self._gen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._queue or self._stopping or gen != self._gen:
                return False  # more audio came, or a flush already ended this playback
            self._active = False
            self._audible_announced = False
            return True  # the timeline stays: a flush still reports what was heard last

    def _write_pieces(self, out: AudioOutput, item_id: str, gen: int, data: bytes) -> None:
        step = max(2, out.sample_rate * self._chunk_ms // 1000 * 2)
        for offset in range(0, len(data), step):
            if not self._write_piece(out, item_id, gen, data[offset : offset + step]):
                return

    def _write_piece(self, out: AudioOutput, item_id: str, gen: int, data: bytes) -> bool:
        """Write one piece unless it was flushed or dropped meanwhile. False = stop this chunk."""
        dur_s = len(data) / 2.0 / out.sample_rate
        played, ref = self._played, None
        level = pcm_level(data)  # shared by the echo reference and the visualization
        if played is not None and self._ref_resampler is not None:
            ref = self._ref_resampler.process(data)
        with self._cond:
            while self._flushing and not self._stopping:
                self._cond.wait(0.05)
            if self._stopping or gen != self._gen or item_id in self._dropped:
                return False
            item = self._item_locked(item_id)
            if item.start_pos is None:
                item.start_pos = self._pos_s
            if not self._timeline or self._timeline[-1] != item_id:
                if item_id in self._timeline:
                    self._timeline.remove(item_id)
                self._timeline.append(item_id)
                del self._timeline[:-_MAX_TIMELINE]
            start_t = time.monotonic()
            self._write = _Write(item_id, gen, start_t, dur_s)
            if played is not None:
                # under the lock, so a concurrent flush either sees it (and cuts it) or precedes it
                n = len(ref) // 2 if ref is not None else round(dur_s * played.rate)
                played.add(start_t + self._latency_s, ref, n=n, level=level)
        try:
            out.write(data)
        finally:
            with self._cond:
                self._write = None
                committed = gen == self._gen and item.frozen_s is None
                if committed:
                    self._pos_s += dur_s
                    item.handed_s += dur_s
                    self._last_end_t = time.monotonic()
                # announce the first audio of an item, and any resumption after the output went idle
                fire_started = committed and (not item.started or not self._audible_announced)
                if fire_started:
                    item.started = True
                    self._audible_announced = True
                self._cond.notify_all()
        latency_s = max(0.0, float(out.latency_ms) / 1000.0)
        with self._cond:
            self._latency_s = latency_s
        if committed:
            self.visualization._push_output(data, out.sample_rate, level / 32768.0)
        if fire_started:
            safe_call(self._on_playback_started, item_id)
        return committed

