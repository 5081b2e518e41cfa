"""The play-head estimate against a simulated device that reports its room in whole periods."""

from __future__ import annotations

import random

from realtime_client.audio._playhead import PlayHead

RATE, PERIOD, CAPACITY = 24000, 480, 1440


class Device:
    """Plays at ``speed`` x ``RATE`` from when audio is written; reports room rounded down to a
    period, as PortAudio's ALSA host does through the pulse plugin."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self.written = 0
        self.head = 0.0
        self.t = 0.0

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.head = min(float(self.written), self.head + seconds * RATE * self.speed)

    def queued(self) -> float:
        return self.written - self.head

    def room(self) -> int:
        true_room = CAPACITY - self.queued()
        return int(true_room // PERIOD) * PERIOD

    def write(self, frames: int) -> None:
        self.written += frames


def keep_full(device: Device, head: PlayHead, seconds: float, rng: random.Random) -> float:
    """Write like the playback thread (a report before each write, at jittered times) and
    return the worst error of ``queued()`` seen right after a report."""
    worst = 0.0
    end = device.t + seconds
    while device.t < end:
        device.advance(rng.uniform(0.002, 0.015))
        room = device.room()
        head.report(room, device.t)
        assert head.queued_at_most(device.t) >= device.queued() - 1e-6  # never below the truth
        worst = max(worst, abs(head.queued(device.t) - device.queued()))
        if room:
            device.write(room)
            head.wrote(room)
    return worst


def test_reports_in_whole_periods_narrow_to_a_fraction_of_one() -> None:
    device, head, rng = Device(), PlayHead(RATE, CAPACITY, PERIOD), random.Random(1)
    device.write(CAPACITY)
    head.wrote(CAPACITY)
    keep_full(device, head, 0.5, rng)  # a few periods to converge
    worst = keep_full(device, head, 5.0, rng)
    assert worst < PERIOD / 8, worst  # taken at face value, the reports err by up to a period


def test_the_estimate_moves_with_time_between_reports() -> None:
    device, head, rng = Device(), PlayHead(RATE, CAPACITY, PERIOD), random.Random(2)
    device.write(CAPACITY)
    head.wrote(CAPACITY)
    keep_full(device, head, 1.0, rng)
    device.advance(0.03)  # 30 ms with no report and no write
    assert abs(head.queued(device.t) - device.queued()) < PERIOD / 8


def test_a_device_that_ran_dry_is_unknown_until_the_next_report() -> None:
    device, head, rng = Device(), PlayHead(RATE, CAPACITY, PERIOD), random.Random(3)
    device.write(CAPACITY)
    head.wrote(CAPACITY)
    keep_full(device, head, 0.5, rng)
    device.advance(0.2)  # nothing written: it plays out everything
    head.report(device.room(), device.t)
    assert not head.known and head.queued(device.t) == 0.0
    device.write(PERIOD)
    head.wrote(PERIOD)
    head.report(device.room(), device.t)
    assert head.known and head.queued_at_most(device.t) >= device.queued()


def test_a_stall_that_contradicts_the_bounds_restarts_them() -> None:
    device, head, rng = Device(), PlayHead(RATE, CAPACITY, PERIOD), random.Random(4)
    device.write(CAPACITY)
    head.wrote(CAPACITY)
    keep_full(device, head, 0.5, rng)
    device.speed = 0.0
    device.advance(0.05)  # the device stalls for 50 ms (a sound server hiccup)
    device.speed = 1.0
    keep_full(device, head, 0.3, rng)
    assert keep_full(device, head, 2.0, rng) < PERIOD / 4


def test_a_device_clock_off_by_300_ppm_stays_tracked() -> None:
    device, head, rng = Device(speed=1.0003), PlayHead(RATE, CAPACITY, PERIOD), random.Random(5)
    device.write(CAPACITY)
    head.wrote(CAPACITY)
    keep_full(device, head, 0.5, rng)
    assert keep_full(device, head, 60.0, rng) < PERIOD / 4
