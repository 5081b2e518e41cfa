"""Where a speaker is in what was written to it, from fill reports that come in whole periods.

PortAudio's ALSA host reports an output's free room in whole buffer periods (measured through
ALSA's pulse plugin: only 0, 480 and 960 frames for a 480-frame period), so "capacity minus
room" overstates what is still queued by up to a period: 20 ms at the default buffer. While
the device plays without running dry, its play head moves at its rate, so every report bounds
one constant, ``head - rate * t``, from both sides; intersecting the bounds of successive
reports, taken at different points of the period, narrows it to a fraction of a period.

Pure arithmetic, no I/O and no lock: the output that owns it calls it from its writing thread.
"""

from __future__ import annotations

import math

__all__ = ["PlayHead"]

_DRIFT = 0.0005  # bounds widen by this fraction of elapsed time (device clock vs monotonic)


class PlayHead:
    """Estimates how much of what was written a device still holds (internal).

    Args:
        rate: the device's frames per second.
        capacity: the frames its buffer holds.
        period: the granularity of its fill reports, in frames.
    """

    def __init__(self, rate: int, capacity: int, period: int) -> None:
        self._rate = float(rate)
        self._capacity = max(1, int(capacity))
        self.period = max(1, min(int(period), self._capacity))
        self.written = 0  # frames written since the stream opened
        self._lo = -math.inf  # bounds on head - rate * t, in frames
        self._hi = math.inf
        self._at = 0.0  # when the bounds were last narrowed

    def wrote(self, frames: int) -> None:
        """``frames`` more were written."""
        self.written += int(frames)

    def report(self, room: int, now: float) -> None:
        """The device said it has ``room`` free frames at ``now`` (after the writes so far)."""
        queued = self._capacity - int(room)
        if queued <= 0:  # it ran dry: the head stopped at the end of what was written
            self._lo, self._hi = -math.inf, math.inf
            return
        widen = _DRIFT * self._rate * max(0.0, now - self._at)
        lo = self.written - queued - self._rate * now  # it holds at most `queued`...
        hi = lo + self.period  # ...and at least a period less
        self._lo, self._hi = max(self._lo - widen, lo), min(self._hi + widen, hi)
        if self._lo > self._hi:  # the bounds disagree (a stall, a restart): trust the latest
            self._lo, self._hi = lo, hi
        self._at = now

    @property
    def known(self) -> bool:
        """A report since the device last ran dry bounds the head."""
        return not math.isinf(self._lo)

    def queued(self, now: float) -> float:
        """Frames written and not yet played at ``now``, by the estimate (0 when unknown)."""
        return self._queued((self._lo + self._hi) / 2.0, now)

    def queued_at_most(self, now: float) -> float:
        """The most the device can still hold at ``now`` (0 when unknown)."""
        return self._queued(self._lo, now)

    def _queued(self, c: float, now: float) -> float:
        if not self.known:
            return 0.0
        return min(float(self._capacity), max(0.0, self.written - (c + self._rate * now)))
