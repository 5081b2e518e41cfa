"""AudioEngine: real threads playing into BufferOutput and capturing from WavFileInput."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest

from realtime_client import AudioDeviceError
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.audio._engine import PlayedItem
from tests.audio.engine_support import Dispatcher, capture_all, chunks, peak_hz, tone, write_wav


def test_plays_one_second_in_real_time_and_tracks_heard(make_engine: Callable[..., Any]) -> None:
    """One second of audio plays in about a second, exactly, and heard_ms follows what was played."""
    out = BufferOutput(24000, realtime=True)
    engine, rec = make_engine(output=out)
    engine.start_playback()
    engine.start_playback()  # idempotent
    pcm = tone(440, 24000, 1.0)
    t0 = time.monotonic()
    for piece in chunks(pcm, 4800):  # 100 ms deltas
        engine.play("item-a", piece)
    assert engine.is_playing
    assert engine.received_ms("item-a") == 1000.0
    time.sleep(0.5)
    heard = engine.heard_ms("item-a")
    assert abs(heard - len(out.played) / 48) <= 30
    assert rec.idle.wait(5.0)
    assert time.monotonic() - t0 >= 0.97
    assert out.played == pcm
    assert engine.heard_ms("item-a") == pytest.approx(1000.0, abs=0.01)
    assert not engine.is_playing
    assert rec.kinds() == [("started", "item-a"), ("idle", None)]
    assert all(name == "realtime-playback" for _, _, name, _ in rec.events)


def test_flush_reports_heard_and_stops_writing(make_engine: Callable[..., Any]) -> None:
    """flush() after ~0.5 s returns what was heard, and nothing more of the item is ever played."""
    out = BufferOutput(24000, realtime=True)
    engine, _rec = make_engine(output=out)
    engine.start_playback()
    for piece in chunks(tone(440, 24000, 3.0), 4800):
        engine.play("item-a", piece)
    time.sleep(0.5)
    played = engine.flush()
    played_now = len(out.played)
    assert isinstance(played, PlayedItem)
    assert played.item_id == "item-a"
    assert played.received_ms == 3000.0
    assert abs(played.heard_ms - played_now / 48) <= 30
    assert 300 <= played.heard_ms <= 900
    assert not engine.is_playing
    engine.play("item-a", tone(440, 24000, 0.5))  # a late delta of the interrupted item
    time.sleep(0.3)
    assert len(out.played) == played_now
    assert engine.heard_ms("item-a") == played.heard_ms
    assert engine.received_ms("item-a") == 3500.0
    assert engine.flush() is None  # nothing playing any more


def test_flush_with_nothing_playing_returns_none(make_engine: Callable[..., Any]) -> None:
    """flush() before any audio returns None and playback still works afterwards."""
    out = BufferOutput(24000, realtime=False)
    engine, rec = make_engine(output=out)
    assert engine.flush() is None
    engine.start_playback()
    assert engine.flush() is None
    engine.play("b", b"\x01\x00" * 480)
    assert rec.idle.wait(2.0)
    assert out.played == b"\x01\x00" * 480


def test_new_item_plays_after_a_flush(make_engine: Callable[..., Any]) -> None:
    """After a barge-in, audio of a new item plays normally and is counted on its own."""
    out = BufferOutput(24000, realtime=True)
    engine, rec = make_engine(output=out)
    engine.start_playback()
    engine.play("old", tone(440, 24000, 2.0))
    time.sleep(0.2)
    engine.flush()
    before = len(out.played)
    new = tone(880, 24000, 0.3)
    rec.idle.clear()
    engine.play("new", new)
    assert rec.idle.wait(3.0)
    assert out.played[before:] == new
    assert engine.heard_ms("new") == pytest.approx(300.0, abs=0.01)
    assert ("started", "new") in rec.kinds()


def test_two_items_are_counted_separately_in_order(make_engine: Callable[..., Any]) -> None:
    """Two consecutive items each get their own counters, start events in order, then one idle."""
    out = BufferOutput(24000, realtime=True)
    engine, rec = make_engine(output=out)
    engine.start_playback()
    a, b = tone(440, 24000, 0.3), tone(660, 24000, 0.2)
    for piece in chunks(a, 2400):
        engine.play("a", piece)
    for piece in chunks(b, 2400):
        engine.play("b", piece)
    assert rec.idle.wait(3.0)
    assert out.played == a + b
    assert engine.heard_ms("a") == pytest.approx(300.0, abs=0.01)
    assert engine.heard_ms("b") == pytest.approx(200.0, abs=0.01)
    assert engine.received_ms("b") == 200.0
    assert engine.heard_ms("unknown") == 0.0 and engine.received_ms("unknown") == 0.0
    assert rec.kinds() == [("started", "a"), ("started", "b"), ("idle", None)]
    times = {v: t for k, v, _, t in rec.events if k == "started"}
    assert times["b"] - times["a"] >= 0.25


def test_drop_item_discards_its_queued_audio(make_engine: Callable[..., Any]) -> None:
    """drop_item removes one item's queued audio (and later deltas) while others still play."""
    out = BufferOutput(24000, realtime=True)
    engine, rec = make_engine(output=out)
    engine.start_playback()
    a, b, c = tone(440, 24000, 0.4), tone(660, 24000, 0.4), tone(880, 24000, 0.1)
    engine.play("a", a)
    engine.play("b", b)
    engine.play("c", c)
    engine.drop_item("b")
    engine.play("b", b)  # late delta of the dropped item
    assert rec.idle.wait(3.0)
    assert out.played == a + c
    assert engine.heard_ms("b") == 0.0
    assert engine.received_ms("b") == 800.0


class LatentOutput(BufferOutput):
    """A BufferOutput that claims a device latency, like a speaker with a 100 ms buffer."""

    @property
    def latency_ms(self) -> float:
        return 100.0


def test_heard_subtracts_latency_and_idle_waits_for_it(make_engine: Callable[..., Any]) -> None:
    """heard_ms lags the handed-over audio by the device latency, and idle waits until it drained."""
    out = LatentOutput(24000, realtime=True)
    engine, rec = make_engine(output=out)
    engine.start_playback()
    engine.play("a", tone(440, 24000, 0.6))
    time.sleep(0.4)
    heard = engine.heard_ms("a")
    assert abs(heard - (len(out.played) / 48 - 100)) <= 30
    assert rec.idle.wait(3.0)
    idle_at = next(t for k, _, _, t in rec.events if k == "idle")
    assert engine.heard_ms("a") == pytest.approx(600.0, abs=0.01)
    # the 600 ms of audio from the moment its first piece was handed over, then the latency
    # (on_playback_started itself fires once that piece's write returns)
    assert engine.started_audible_at is not None
    assert idle_at - engine.started_audible_at >= 0.6 + 0.1 - 0.05


def test_resamples_24k_playback_to_a_48k_device_without_clicks(make_engine: Callable[..., Any]) -> None:
    """24 kHz audio played on a 48 kHz output keeps its pitch, its length, and has no chunk-edge clicks."""
    out = BufferOutput(48000, realtime=False)
    engine, rec = make_engine(output=out, out_rate=24000)
    engine.start_playback()
    pcm = tone(1000, 24000, 1.0, amplitude=0.5)
    for piece in chunks(pcm, 480 * 2 + 34):  # odd-sized deltas, as a provider may send
        engine.play("a", piece)
    assert rec.idle.wait(5.0)
    played = out.played
    samples = np.frombuffer(played, np.int16).astype(np.int32)
    assert abs(samples.size - 48000) <= 48
    assert peak_hz(played, 48000) == pytest.approx(1000, abs=2)
    max_step = 0.5 * 32767 * 2 * np.pi * 1000 / 48000  # steepest slope of the sine
    assert np.max(np.abs(np.diff(samples[48:-48]))) <= max_step * 1.1
    assert engine.heard_ms("a") == pytest.approx(1000.0, abs=2.0)
    assert engine.visualization.output_sample_rate == 48000


def test_captures_a_48k_file_at_24k_until_end_of_file(
    tmp_path: Path, make_engine: Callable[..., Any]
) -> None:
    """A 48 kHz WAV is captured as 24 kHz 20 ms chunks with the tone kept at 1 kHz, ending quietly."""
    path = tmp_path / "mic.wav"
    write_wav(path, tone(1000, 48000, 1.0), 48000)
    engine, rec = make_engine(input=WavFileInput(path, realtime=False), in_rate=24000)
    capture_all(engine)
    assert not engine.is_capturing
    assert rec.errors == []
    captured = b"".join(rec.captured)
    assert abs(len(captured) // 2 - 24000) <= 24
    assert all(len(c) % 960 == 0 for c in rec.captured[:-1])  # whole 20 ms chunks, as read
    assert peak_hz(captured, 24000) == pytest.approx(1000, abs=2)
    assert engine.visualization.input_sample_rate == 48000
    assert engine.visualization.input_level > 0.3


@pytest.mark.parametrize("echo", ["off", "gate"])
def test_capture_sends_send_ms_pieces_made_of_processed_chunks(
    tmp_path: Path, make_engine: Callable[..., Any], echo: str
) -> None:
    """send_ms=100: on_capture gets 100 ms pieces (then the rest), the audio unchanged."""
    path = tmp_path / "mic.wav"
    write_wav(path, tone(440, 24000, 1.03), 24000)
    engine, rec = make_engine(input=WavFileInput(path, realtime=False), send_ms=100, echo=echo)
    capture_all(engine)
    assert rec.errors == []
    sizes = [len(c) for c in rec.captured]
    assert sizes[:10] == [4800] * 10 and sum(sizes) == 49440  # then the last 30 ms
    with wave.open(str(path), "rb") as w:
        assert b"".join(rec.captured) == w.readframes(w.getnframes())


def test_resampled_capture_sends_each_reads_chunks_at_once(tmp_path: Path,
                                                          make_engine: Callable[..., Any]) -> None:
    """48 kHz read in 100 ms into 16 kHz: each read's audio is sent with it, about 100 ms.

    The resampler holds a few samples back, so a piece that waited for a full 100 ms would
    wait for the next read: about 80 ms of extra delay on every frame.
    """
    path = tmp_path / "mic.wav"
    write_wav(path, tone(440, 48000, 1.0), 48000)
    engine, rec = make_engine(input=WavFileInput(path, realtime=False), in_rate=16000, send_ms=100)
    capture_all(engine)
    sizes = [len(c) for c in rec.captured]
    # each read's 100 ms go out with it, give or take the chunk the resampler's jitter moves
    assert set(sizes[:-2]) <= {2560, 3200, 3840}, sizes
    assert abs(sum(sizes) // 2 - 16000) <= 16


def test_stopping_capture_still_sends_what_was_read(make_engine: Callable[..., Any]) -> None:
    """stop_capture() in the middle of a 1 s read sends the part already recorded (push-to-talk's
    last words), not nothing."""
    class SlowInput:
        sample_rate = 24000

        def __init__(self) -> None:
            self.closed = threading.Event()

        def open(self) -> None:
            self.closed.clear()

        def read(self, frames: int) -> bytes:
            if self.closed.wait(5.0):  # cut short by close(): 300 ms had been recorded
                return tone(300, 24000, 0.3)
            return tone(300, 24000, frames / 24000)

        def close(self) -> None:
            self.closed.set()

    engine, rec = make_engine(input=SlowInput(), send_ms=1000)
    engine.start_capture()
    time.sleep(0.1)
    engine.stop_capture()
    assert [len(c) for c in rec.captured] == [14400]


def test_send_ms_is_a_whole_number_of_chunks(tmp_path: Path, make_engine: Callable[..., Any]) -> None:
    """send_ms=50 with 20 ms chunks sends 60 ms pieces (rounded up to whole chunks)."""
    path = tmp_path / "mic.wav"
    write_wav(path, tone(440, 24000, 0.6), 24000)
    engine, rec = make_engine(input=WavFileInput(path, realtime=False), send_ms=50)
    capture_all(engine)
    assert [len(c) for c in rec.captured] == [2880] * 10


def test_capture_runs_on_its_thread_at_real_time_and_restarts(
    tmp_path: Path, make_engine: Callable[..., Any]
) -> None:
    """Capture calls on_capture from realtime-capture at file pace; stop and start again works."""
    path = tmp_path / "mic.wav"
    write_wav(path, tone(300, 24000, 3.0), 24000)
    engine, rec = make_engine(input=WavFileInput(path, realtime=True))
    engine.start_capture()
    engine.start_capture()  # idempotent while running
    assert [t.name for t in threading.enumerate()].count("realtime-capture") == 1
    time.sleep(0.3)
    engine.stop_capture()
    assert not engine.is_capturing
    got = len(rec.captured)
    assert 5 <= got <= 25  # ~15 chunks of 20 ms in 0.3 s
    assert set(rec.capture_threads) == {"realtime-capture"}
    time.sleep(0.1)
    assert len(rec.captured) == got  # nothing after stop
    engine.start_capture()
    time.sleep(0.2)
    engine.stop_capture()
    assert len(rec.captured) > got
    assert rec.errors == []


class FailingOutput(BufferOutput):
    """An output whose device dies after a few writes."""

    def __init__(self) -> None:
        super().__init__(24000, realtime=False)
        self.writes = 0

    def write(self, pcm: bytes) -> None:
        self.writes += 1
        if self.writes > 3:
            raise OSError("device unplugged")
        super().write(pcm)


class FailingInput:
    """An input whose device dies on the second read."""

    sample_rate = 24000

    def __init__(self) -> None:
        self.reads = 0

    def open(self) -> None:
        pass

    def read(self, frames: int) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise OSError("microphone unplugged")
        return b"\x00\x00" * frames

    def close(self) -> None:
        pass


def test_device_failures_become_audio_device_errors(
    make_engine: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """Output and input failures reach on_error as AudioDeviceError, the threads end, no traceback."""
    engine, rec = make_engine(output=FailingOutput(), input=FailingInput())
    engine.start_playback()
    engine.start_capture()
    engine.play("a", tone(440, 24000, 0.5))
    deadline = time.monotonic() + 3.0
    while len(rec.errors) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(rec.errors) == 2
    assert all(isinstance(e, AudioDeviceError) and e.code == "AUDIO_DEVICE" for e in rec.errors)
    text = " ".join(str(e) for e in rec.errors)
    assert "device unplugged" in text and "microphone unplugged" in text
    assert isinstance(rec.errors[0].__cause__, OSError)
    assert not engine.is_playing
    engine.play("a", b"\x00\x00" * 100)  # after a failure play() is a harmless no-op
    assert not engine.is_playing
    assert "Traceback" not in capfd.readouterr().err


def test_open_failure_raises_on_the_callers_thread(tmp_path: Path, make_engine: Callable[..., Any]) -> None:
    """A device that cannot open raises AudioDeviceError from start_capture, not in a thread."""
    path = tmp_path / "mic.wav"
    write_wav(path, b"\x00\x00" * 10, 24000)
    src = WavFileInput(path)
    path.unlink()
    engine, _rec = make_engine(input=src)
    with pytest.raises(AudioDeviceError, match="not found"):
        engine.start_capture()
    assert not engine.is_capturing


def test_play_never_blocks_and_close_is_bounded(tmp_path: Path, make_engine: Callable[..., Any]) -> None:
    """Queuing 10 s of audio returns at once, and close() stops both threads within its timeout."""
    path = tmp_path / "mic.wav"
    write_wav(path, tone(300, 24000, 10.0), 24000)
    out = BufferOutput(24000, realtime=True)
    engine, _rec = make_engine(output=out, input=WavFileInput(path, realtime=True))
    engine.start_playback()
    engine.start_capture()
    t0 = time.monotonic()
    for piece in chunks(tone(440, 24000, 10.0), 960):
        engine.play("a", piece)
    assert time.monotonic() - t0 < 1.0
    time.sleep(0.2)
    t0 = time.monotonic()
    engine.close(timeout=1.0)
    assert time.monotonic() - t0 < 1.5
    assert not [t.name for t in threading.enumerate() if t.name.startswith("realtime-")]
    played = len(out.played)
    assert played < 24000 * 2  # far less than the 10 s queued
    engine.close()  # idempotent
    engine.play("a", b"\x00\x00" * 480)
    time.sleep(0.05)
    assert len(out.played) == played
    with pytest.raises(AudioDeviceError, match="closed"):
        engine.start_playback()


def test_no_output_counts_and_drops(make_engine: Callable[..., Any]) -> None:
    """Without an output device, play() only counts what was received."""
    engine, _rec = make_engine(output=None)
    engine.start_playback()
    engine.play("a", b"\x00\x00" * 2400)
    assert engine.received_ms("a") == 100.0
    assert not engine.is_playing
    assert engine.flush() is None
    assert not engine.has_output and not engine.has_input


def test_visualization_taps_are_fed_from_playback(
    make_engine: Callable[..., Any], dispatcher: Dispatcher
) -> None:
    """Output audio reaches the visualization and its taps run on the dispatcher thread."""
    out = BufferOutput(24000, realtime=False)
    engine, rec = make_engine(output=out)
    seen: List[Tuple[str, int, int]] = []
    engine.visualization.on_output_audio(
        lambda s, r: seen.append((threading.current_thread().name, s.size, r))
    )
    engine.start_playback()
    engine.play("a", tone(1000, 24000, 0.1, amplitude=1.0))
    assert rec.idle.wait(2.0)
    dispatcher.drain()
    assert sum(n for _, n, _ in seen) == 2400
    assert {name for name, _, _ in seen} == {"test-dispatcher"}
    assert engine.visualization.output_level > 0.5
    assert int(np.argmax(engine.visualization.get_output_frequency_data())) == round(1000 * 2048 / 24000)


def test_a_subclass_that_overrides_write_is_still_called(make_engine: Callable[..., Any]) -> None:
    """Playback uses an output's write_unless hook only when write itself was not overridden."""
    class Counting(BufferOutput):
        def __init__(self) -> None:
            super().__init__(24000, realtime=False)
            self.calls = 0

        def write(self, pcm: bytes) -> None:
            self.calls += 1
            super().write(pcm)

    out = Counting()
    engine, rec = make_engine(output=out)
    engine.start_playback()
    engine.play("a", tone(440, 24000, 0.1))
    assert rec.idle.wait(3.0)
    assert out.calls == 2 and len(out.played) == 4800  # 100 ms in 60 ms pieces


def test_queued_audio_of_one_item_is_joined_into_fewer_writes(make_engine: Callable[..., Any]) -> None:
    """Chunks that queued up while the device was busy are written together, in order, in
    pieces of at most 60 ms: every write is a wake-up of the playback thread."""
    class HeldFirstWrite(BufferOutput):
        def __init__(self) -> None:
            super().__init__(24000, realtime=False)
            self.sizes: List[int] = []
            self.release = threading.Event()

        def write(self, pcm: bytes) -> None:
            self.sizes.append(len(pcm) // 48)  # in ms
            if len(self.sizes) == 1:
                assert self.release.wait(3.0)
            super().write(pcm)

    out = HeldFirstWrite()
    engine, rec = make_engine(output=out)
    engine.start_playback()
    pieces = [tone(200 + 50 * n, 24000, 0.02) for n in range(10)]
    engine.play("a", pieces[0])
    deadline = time.monotonic() + 3.0
    while not out.sizes and time.monotonic() < deadline:
        time.sleep(0.005)
    for piece in pieces[1:]:
        engine.play("a", piece)
    engine.play("b", tone(900, 24000, 0.02))  # another item is never joined to the first
    out.release.set()
    assert rec.idle.wait(3.0)
    assert out.sizes == [20, 60, 60, 60, 20]
    assert out.played == b"".join(pieces) + tone(900, 24000, 0.02)


def test_the_echo_reference_keeps_one_level_per_chunk_of_a_longer_piece() -> None:
    """A 60 ms piece reaches the echo gate as three 20 ms levels, split at the same instants
    in the resampled reference (whose length need not divide evenly)."""
    from realtime_client.audio._playback import _echo_slices

    loud = np.full(480, 8000, dtype=np.int16)
    piece = np.concatenate([np.zeros(480, np.int16), loud, loud // 2]).tobytes()  # 60 ms at 24 kHz
    ref = bytes(range(256)) * 7 + b"\x00" * 126  # 959 samples at 16 kHz, as a resampler may give
    slices = _echo_slices(piece, 24000, ref, 16000, 20)
    assert [n for _part, n, _level in slices] == [320, 320, 319]
    assert b"".join(part for part, _n, _level in slices if part is not None) == ref
    assert [round(level) for _part, _n, level in slices] == [0, 8000, 4000]
    assert [n for _part, n, _level in _echo_slices(piece, 24000, None, 16000, 20)] == [320, 320, 320]
