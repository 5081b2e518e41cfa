"""One sample timeline for everything the engine hears and plays (echo handling, recording).

The engine picks an origin (a ``time.monotonic()`` value) and a rate (the provider's input
rate); sample index ``i`` then stands for the instant ``origin + i / rate``. Microphone
chunks are placed on it when captured, and played audio when it becomes audible (write time
plus the device latency), so "what was playing when this was captured" is an index lookup.

* :class:`StreamClock` places the consecutive chunks of one stream: jitter below a slack is
  absorbed (the chunk continues where the previous one ended), a real gap starts afresh.
* :class:`AudioRing` keeps the last seconds of PCM16 by absolute index; gaps read as zeros.
* :class:`PlayedAudio` is the speaker's side: clock plus ring plus where each burst of
  audio began; a flush cuts what had not been heard yet.
"""

from __future__ import annotations

import collections
import math
import sys
import threading
import warnings
from typing import Any, Deque, List, Optional, Tuple

import numpy as np

_audioop: Any
try:  # deprecated since 3.11 and gone in 3.13; pcm_level falls back to numpy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop as _audioop
except ImportError:  # pragma: no cover - Python 3.13+
    _audioop = None

__all__ = ["AudioRing", "InputTimer", "PlayedAudio", "StreamClock", "pcm_level"]

_SLACK_S = 0.03  # placement jitter absorbed by continuing the stream
_PLAY_SLACK_S = 0.06  # a write this late still continues the sound (outputs buffer at least that)
_BURST_GAP_S = 0.5  # a pause this long (or a flush) ends a burst of played audio


class StreamClock:
    """Places consecutive chunks of one stream on the shared timeline (internal).

    A chunk whose nominal start is no later than the end of the previous chunk plus a
    small slack continues the stream exactly (so 20 ms chunks stay sample-contiguous, and
    a source that runs faster than real time stays contiguous too); a later one starts a
    new run at its nominal index, leaving a gap.

    Threads: not thread-safe; one thread places (callers serialize).
    """

    def __init__(self, origin: float, rate: int, slack_s: float = _SLACK_S) -> None:
        self.origin = float(origin)
        self.rate = int(rate)
        self._slack = max(1, round(slack_s * rate))
        self.head: Optional[int] = None  # end of the last placed chunk

    def index(self, t: float) -> int:
        """The sample index of monotonic time ``t``."""
        return round((t - self.origin) * self.rate)

    def place(self, t: float, n: int) -> int:
        """Place ``n`` samples nominally starting at monotonic time ``t``; return the start index."""
        start = self.index(t)
        head = self.head
        if head is not None and start < head + self._slack:
            start = head
        self.head = start + n
        return start

    def restart(self) -> None:
        """Forget the previous chunk: the next one is placed at its nominal time."""
        self.head = None


class InputTimer:
    """Estimates when each sample of an input stream was heard, from jittery read return times.

    A blocking read returns at or after the moment its last sample was heard: never earlier,
    but later when the reading thread was scheduled late or the device had buffered data.
    So the earliest estimate ``return_time - samples_so_far / rate`` seen is the best anchor
    for sample 0. The anchor may creep later by ``drift`` per second (device clocks that run
    slightly slow), and moves at once when reads stay late for ``resync_reads`` in a row
    (samples were lost).

    Threads: not thread-safe; the capture thread owns it.
    """

    def __init__(self, rate: int, drift: float = 0.001, late_s: float = 0.05, resync_reads: int = 10) -> None:
        self.rate = int(rate)
        self._drift = drift
        self._late = late_s
        self._resync = resync_reads
        self._anchor: Optional[float] = None
        self._last_t = 0.0
        self._samples = 0
        self._late_reads = 0
        self._late_min = 0.0

    def restart(self) -> None:
        """A new stream: forget the anchor."""
        self._anchor = None
        self._samples = 0

    def read(self, n: int, t_heard: float) -> float:
        """``n`` samples were read; the last one was heard no later than ``t_heard``.

        Returns:
            The estimated monotonic time at which the first of these samples was heard.
        """
        start_sample = self._samples
        self._samples += n
        candidate = t_heard - self._samples / self.rate
        anchor = self._anchor
        if anchor is None:
            anchor = candidate
        else:
            anchor = min(candidate, anchor + self._drift * max(0.0, t_heard - self._last_t))
            if candidate - anchor > self._late:
                self._late_min = min(self._late_min, candidate) if self._late_reads else candidate
                self._late_reads += 1
                if self._late_reads >= self._resync:
                    anchor, self._late_reads = self._late_min, 0
            else:
                self._late_reads = 0
        self._anchor = anchor
        self._last_t = t_heard
        return anchor + start_sample / self.rate


class AudioRing:
    """The last ``capacity`` samples of a PCM16 stream, addressed by absolute timeline index.

    Indices never written (gaps, the future, the forgotten past) read as zeros.

    Threads: every method may be called from any thread (one internal lock, held only
    for copies).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._buf = np.zeros(self.capacity, dtype=np.int16)
        self._lock = threading.Lock()
        self._start: Optional[int] = None  # first index ever written
        self._head: Optional[int] = None  # end of the written data

    @property
    def head(self) -> Optional[int]:
        """The index just after the newest sample, or ``None`` before the first write."""
        with self._lock:
            return self._head

    @property
    def start(self) -> Optional[int]:
        """The index of the first sample ever written, or ``None`` before the first write."""
        with self._lock:
            return self._start

    def _zero_locked(self, lo: int, hi: int) -> None:
        if hi - lo >= self.capacity:
            self._buf[:] = 0
            return
        a, b = lo % self.capacity, hi % self.capacity
        if a < b:
            self._buf[a:b] = 0
        elif hi > lo:
            self._buf[a:] = 0
            self._buf[:b] = 0

    def write(self, index: int, samples: np.ndarray) -> None:
        """Store int16 ``samples`` from ``index`` on; a gap since the last write becomes zeros."""
        n = int(samples.size)
        if n == 0:
            return
        if n > self.capacity:
            index, samples, n = index + n - self.capacity, samples[-self.capacity :], self.capacity
        with self._lock:
            if self._head is None or self._start is None:
                self._start = index
            elif index > self._head:
                self._zero_locked(max(self._head, index - self.capacity), index)
            elif index < self._start:
                self._start = index
            a = index % self.capacity
            first = min(n, self.capacity - a)
            self._buf[a : a + first] = samples[:first]
            if n > first:
                self._buf[: n - first] = samples[first:]
            self._head = index + n

    def read(self, index: int, n: int) -> np.ndarray:
        """Return ``n`` int16 samples from ``index`` on (zeros where nothing is stored)."""
        out = np.zeros(max(0, int(n)), dtype=np.int16)
        with self._lock:
            if self._head is None or self._start is None or n <= 0:
                return out
            lo = max(index, self._start, self._head - self.capacity)
            hi = min(index + n, self._head)
            if hi <= lo:
                return out
            a = lo % self.capacity
            count = hi - lo
            first = min(count, self.capacity - a)
            out[lo - index : lo - index + first] = self._buf[a : a + first]
            if count > first:
                out[lo - index + first : hi - index] = self._buf[: count - first]
        return out

    def truncate(self, index: int) -> None:
        """Forget everything from ``index`` on (it reads as zeros until written again)."""
        with self._lock:
            if self._head is not None and index < self._head:
                self._head = max(index, self._start if self._start is not None else index)


def pcm_level(pcm: bytes) -> float:
    """RMS of PCM16 ``pcm`` in int16 units (0 for nothing).

    Uses ``audioop`` where it still exists (Python < 3.13): the audio threads call this right
    after waking up, when a first numpy call costs about 100 us of cold caches.
    """
    usable = len(pcm) - len(pcm) % 2
    if usable == 0:
        return 0.0
    if _audioop is not None and sys.byteorder == "little":
        return float(_audioop.rms(pcm[:usable] if usable != len(pcm) else pcm, 2))
    samples = np.frombuffer(pcm, dtype="<i2", count=usable // 2)
    scaled = samples.astype(np.float32)
    return math.sqrt(float(np.dot(scaled, scaled)) / samples.size)


class PlayedAudio:
    """What the speaker made audible, on the engine's timeline (the echo reference).

    The playback thread adds each piece as it is handed to the device, at the moment it
    will be heard, with its level; a flush cuts everything not yet heard. The level envelope
    (one entry per piece) is always kept, for the echo gate; the samples themselves only
    with ``keep_samples`` (for the canceller and the recorder).

    Args:
        origin: the timeline's time zero (``time.monotonic()``).
        rate: the timeline's sample rate in Hz (pieces must already be at this rate).
        keep_samples: keep the played samples, not just their levels.
        seconds: how much recent audio is kept.

    Threads: ``add`` and ``cut`` are serialized by the caller (the engine's lock); the
    readers may run on any thread.
    """

    def __init__(self, origin: float, rate: int, keep_samples: bool = True, seconds: float = 10.0) -> None:
        self.rate = int(rate)
        self.clock = StreamClock(origin, rate, _PLAY_SLACK_S)
        self.ring: Optional[AudioRing] = AudioRing(int(seconds * rate)) if keep_samples else None
        self._lock = threading.Lock()  # levels, head and bursts
        self._levels: Deque[Tuple[int, int, float]] = collections.deque()  # (start, end, rms)
        self._keep = int(seconds * rate)
        self._head: Optional[int] = None
        self._first: Optional[int] = None
        self._bursts: Deque[int] = collections.deque(maxlen=64)
        self._burst_gap = int(_BURST_GAP_S * rate)
        self._new_burst = True

    @property
    def keep_samples(self) -> bool:
        """Whether the samples (not just levels) are kept."""
        return self.ring is not None

    def index(self, t: float) -> int:
        """The timeline index of monotonic time ``t``."""
        return self.clock.index(t)

    def add(self, t_audible: float, pcm: Optional[bytes] = None, *, n: Optional[int] = None,
            level: Optional[float] = None) -> int:
        """Add a piece played from monotonic time ``t_audible`` on; returns where it was placed.

        Args:
            t_audible: when its first sample is heard.
            pcm: its PCM16 samples at ``rate`` (needed when samples are kept).
            n: its length in samples at ``rate`` (default: from ``pcm``).
            level: its RMS in int16 units (default: computed from ``pcm``).
        """
        if n is None:
            n = len(pcm) // 2 if pcm is not None else 0
        if level is None:
            level = pcm_level(pcm) if pcm is not None else 0.0
        if n <= 0:
            return self.clock.head or 0
        head = self.clock.head
        start = self.clock.place(t_audible, n)
        with self._lock:
            if self._new_burst or head is None or start - head >= self._burst_gap:
                self._bursts.append(start)
                self._new_burst = False
            self._levels.append((start, start + n, level))
            while self._levels and self._levels[0][1] < start - self._keep:
                self._levels.popleft()
            self._head = start + n
            if self._first is None:
                self._first = start
        if self.ring is not None and pcm is not None:
            samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
            self.ring.write(start, samples.astype(np.int16, copy=False))
        return start

    def cut(self, t: float) -> None:
        """Playback was flushed at monotonic time ``t``: what would have played later never will."""
        at = self.clock.index(t)
        if self.ring is not None:
            self.ring.truncate(at)
        self.clock.restart()
        with self._lock:
            self._new_burst = True
            while self._levels and self._levels[-1][0] >= at:
                self._levels.pop()
            if self._levels and self._levels[-1][1] > at:
                begin, _end, level = self._levels.pop()
                self._levels.append((begin, at, level))
            if self._head is not None and self._head > at:
                self._head = max(at, self._levels[-1][1] if self._levels else at)

    def read(self, index: int, n: int) -> np.ndarray:
        """``n`` int16 samples of played audio from ``index`` (zeros where nothing played or kept)."""
        if self.ring is None:
            return np.zeros(max(0, n), dtype=np.int16)
        return self.ring.read(index, n)

    def envelope(self, lo: int, hi: int) -> List[Tuple[int, int, float]]:
        """The pieces ``(start, end, rms)`` that overlap ``[lo, hi)``, oldest first."""
        found: List[Tuple[int, int, float]] = []
        with self._lock:
            for entry in reversed(self._levels):
                if entry[1] <= lo:
                    break
                if entry[0] < hi:
                    found.append(entry)
        found.reverse()
        return found

    def burst_start(self, index: int) -> Optional[int]:
        """Where the burst of played audio that was audible at ``index`` began (``None``: none yet)."""
        with self._lock:
            for start in reversed(self._bursts):
                if start <= index:
                    return start
            return None

    @property
    def head(self) -> Optional[int]:
        """The index just after the last played sample placed so far."""
        with self._lock:
            return self._head

    @property
    def first_index(self) -> Optional[int]:
        """Where the first played audio was placed (``None``: nothing played yet)."""
        with self._lock:
            return self._first
