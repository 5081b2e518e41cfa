"""The shared sample timeline: stream placement, the ring of recent audio, and played audio with cuts."""

from __future__ import annotations

import numpy as np
import pytest

from realtime_client.audio._timeline import AudioRing, InputTimer, PlayedAudio, StreamClock


def test_clock_keeps_jittery_chunks_contiguous_and_leaves_real_gaps() -> None:
    """Chunks arriving a few ms early or late continue the stream; one arriving much later starts a gap."""
    clock = StreamClock(origin=100.0, rate=1000)
    assert clock.place(100.0, 20) == 0
    assert clock.place(100.025, 20) == 20  # 5 ms late: still contiguous
    assert clock.place(100.035, 20) == 40  # 5 ms early: contiguous too
    assert clock.place(100.200, 20) == 200  # a real gap
    clock.restart()
    assert clock.place(100.210, 20) == 210  # after a restart: the nominal time


def test_clock_keeps_a_faster_than_real_time_stream_contiguous() -> None:
    """A source read faster than real time stays sample-contiguous instead of overlapping itself."""
    clock = StreamClock(origin=0.0, rate=1000)
    starts = [clock.place(0.001 * k, 20) for k in range(5)]
    assert starts == [0, 20, 40, 60, 80]


def test_ring_reads_zeros_for_gaps_future_and_forgotten_past() -> None:
    """The ring returns stored samples by absolute index and zeros wherever nothing is stored."""
    ring = AudioRing(capacity=100)
    assert not ring.read(0, 10).any() and ring.head is None
    ring.write(50, np.arange(1, 21, dtype=np.int16))
    ring.write(90, np.full(10, 7, dtype=np.int16))  # leaves a gap 70..90
    got = ring.read(45, 60)
    assert not got[:5].any()
    assert list(got[5:25]) == list(range(1, 21))
    assert not got[25:45].any()
    assert list(got[45:55]) == [7] * 10
    assert not got[55:].any()
    assert ring.head == 100 and ring.start == 50
    ring.write(200, np.full(30, 3, dtype=np.int16))  # wraps; everything before 130 is forgotten
    assert not ring.read(50, 80).any()
    assert list(ring.read(195, 40)) == [0] * 5 + [3] * 30 + [0] * 5


def test_ring_truncate_forgets_the_tail() -> None:
    """After truncate(i) samples from i on read as zeros, and the next write continues from there."""
    ring = AudioRing(capacity=1000)
    ring.write(0, np.full(100, 5, dtype=np.int16))
    ring.truncate(60)
    assert ring.head == 60
    assert list(ring.read(55, 10)) == [5] * 5 + [0] * 5
    ring.write(80, np.full(10, 9, dtype=np.int16))
    assert list(ring.read(58, 34)) == [5] * 2 + [0] * 20 + [9] * 10 + [0] * 2


def test_played_audio_cut_removes_what_was_not_heard_and_starts_a_new_burst() -> None:
    """A flush at time t drops played audio scheduled after t; the next piece begins a new burst."""
    played = PlayedAudio(origin=0.0, rate=1000)
    tone = np.full(100, 1000, dtype=np.int16).tobytes()
    assert played.add(1.0, tone) == 1000
    assert played.add(1.1, tone) == 1100
    assert played.burst_start(1150) == 1000
    played.cut(1.15)
    assert played.read(1140, 20).tolist() == [1000] * 10 + [0] * 10
    assert played.add(1.18, tone) == 1180
    assert played.burst_start(1200) == 1180 and played.burst_start(1100) == 1000
    assert played.first_index == 1000 and played.head == 1280


def test_played_audio_after_a_long_pause_is_a_new_burst() -> None:
    """Audio that resumes after half a second of nothing begins a new burst; a short gap does not."""
    played = PlayedAudio(origin=0.0, rate=1000)
    piece = np.full(100, 1, dtype=np.int16).tobytes()
    played.add(0.0, piece)
    played.add(0.2, piece)  # 100 ms gap: same burst
    assert played.burst_start(250) == 0
    played.add(1.0, piece)  # 700 ms gap: a new burst
    assert played.burst_start(1050) == 1000


def test_input_timer_ignores_a_late_read_and_follows_lost_samples() -> None:
    """A read returning late does not shift the timeline; reads staying late (samples lost) do."""
    timer = InputTimer(rate=1000)
    starts = [timer.read(20, 10.0 + 0.02 * (k + 1)) for k in range(5)]
    assert starts == pytest.approx([10.0, 10.02, 10.04, 10.06, 10.08])
    assert timer.read(20, 10.12 + 0.035) == pytest.approx(10.10, abs=0.001)  # the thread woke 35 ms late
    assert timer.read(20, 10.14 + 0.001) == pytest.approx(10.12, abs=0.001)  # caught up: same timeline
    # 200 ms of input were lost: every later read returns 200 ms "late"; after ten the timeline follows.
    late = [timer.read(20, 10.16 + 0.2 + 0.02 * k) for k in range(12)]
    assert late[0] == pytest.approx(10.14, abs=0.002)
    assert late[-1] == pytest.approx(10.14 + 0.2 + 0.02 * 11, abs=0.002)


def test_played_levels_without_samples_and_their_cut() -> None:
    """Without kept samples the level envelope still answers, and a flush trims it at the cut."""
    played = PlayedAudio(origin=0.0, rate=1000, keep_samples=False)
    played.add(1.0, n=20, level=500.0)
    played.add(1.02, n=20, level=800.0)
    assert not played.keep_samples and not played.read(1000, 40).any()
    assert played.envelope(1010, 1030) == [(1000, 1020, 500.0), (1020, 1040, 800.0)]
    assert played.envelope(1040, 1100) == []
    played.cut(1.03)
    assert played.envelope(0, 2000) == [(1000, 1020, 500.0), (1020, 1030, 800.0)]
    assert played.head == 1030
