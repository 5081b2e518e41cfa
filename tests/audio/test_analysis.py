"""AudioVisualization: spectra, levels, waveforms, and taps that run through the dispatcher."""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from typing import Callable, Iterator, List, Tuple

import numpy as np
import pytest

from realtime_client.audio import AudioVisualization


def tone(freq: float, rate: int, n: int, amplitude: float = 0.5) -> bytes:
    t = np.arange(n) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16).tobytes()


class QueueDispatcher:
    """A dispatcher running callbacks on its own thread, in order."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="test-dispatcher", daemon=True)
        self.thread.start()

    def __call__(self, fn: Callable[[], None]) -> None:
        self.jobs.put(fn)

    def _run(self) -> None:
        while True:
            fn = self.jobs.get()
            if fn is None:
                return
            fn()

    def drain(self, timeout: float = 2.0) -> None:
        done = threading.Event()
        self.jobs.put(done.set)
        assert done.wait(timeout)

    def stop(self) -> None:
        self.jobs.put(None)  # type: ignore[arg-type]
        self.thread.join(2.0)


@pytest.fixture
def dispatcher() -> Iterator[QueueDispatcher]:
    d = QueueDispatcher()
    yield d
    d.stop()


def test_before_any_audio_everything_is_silent() -> None:
    """A fresh visualization reports zero levels, an empty spectrum and a flat waveform."""
    vis = AudioVisualization(lambda fn: None)
    assert vis.input_level == 0.0 and vis.output_level == 0.0
    for data in (vis.get_input_frequency_data(), vis.get_output_frequency_data()):
        assert data.dtype == np.uint8 and data.shape == (1024,)
        assert not data.any()
    for data in (vis.get_input_time_domain_data(), vis.get_output_time_domain_data()):
        assert data.dtype == np.uint8 and data.shape == (2048,)
        assert np.all(data == 128)


@pytest.mark.parametrize("rate, bin_index", [(24000, 100), (48000, 64), (16000, 300)])
def test_tone_peaks_at_its_frequency_bin(rate: int, bin_index: int) -> None:
    """A pure tone puts the spectrum's maximum on the bin of its frequency."""
    vis = AudioVisualization(lambda fn: None, input_sample_rate=rate)
    freq = AudioVisualization.frequency_of_bin(bin_index, rate)
    pcm = tone(freq, rate, 4096)
    for k in range(0, len(pcm), 960):
        vis._push_input(pcm[k : k + 960], rate)
    data = vis.get_input_frequency_data()
    assert int(np.argmax(data)) == bin_index
    assert data[bin_index] > 200
    assert data[bin_index // 2] < data[bin_index] - 100  # far away from the tone: much lower
    assert vis.input_sample_rate == rate


def test_output_spectrum_uses_the_output_channel() -> None:
    """Output audio shows in the output spectrum and leaves the input spectrum empty."""
    vis = AudioVisualization(lambda fn: None)
    vis._push_output(tone(3000, 48000, 4800), 48000)
    out = vis.get_output_frequency_data()
    assert int(np.argmax(out)) == round(3000 * 2048 / 48000)
    assert not vis.get_input_frequency_data().any()
    assert vis.output_sample_rate == 48000


def test_spectrum_smoothing_decays_gradually() -> None:
    """After the tone stops the spectrum falls off over several reads, like an AnalyserNode."""
    vis = AudioVisualization(lambda fn: None)
    vis._push_input(tone(1171.875, 24000, 2048, amplitude=0.005), 24000)  # about -58 dB
    for _ in range(30):
        vis.get_input_frequency_data()  # let the smoothing settle on the tone
    peak = int(vis.get_input_frequency_data()[100])
    vis._push_input(b"\x00\x00" * 2048, 24000)
    after = [int(vis.get_input_frequency_data()[100]) for _ in range(5)]
    assert peak > after[0] > after[-1] > 0
    assert after == sorted(after, reverse=True)


def test_levels_are_zero_for_silence_and_rms_for_a_sine() -> None:
    """Silence gives level 0; a full-scale sine gives about 0.707."""
    vis = AudioVisualization(lambda fn: None)
    vis._push_input(b"\x00\x00" * 4800, 24000)
    assert vis.input_level == 0.0
    vis._push_output(tone(440, 24000, 4800, amplitude=1.0), 24000)
    assert vis.output_level == pytest.approx(0.7071, abs=0.01)
    vis._push_input(tone(440, 24000, 4800, amplitude=0.25), 24000)
    assert vis.input_level == pytest.approx(0.25 * 0.7071, abs=0.01)


def test_level_releases_slowly_after_sound_stops() -> None:
    """The level falls gradually after loud audio, not instantly, and heads to zero."""
    vis = AudioVisualization(lambda fn: None)
    vis._push_input(tone(440, 24000, 2400, amplitude=1.0), 24000)
    vis._push_input(b"\x00\x00" * 480, 24000)
    right_after = vis.input_level
    assert right_after > 0.5
    time.sleep(0.35)
    later = vis.input_level
    assert 0 < later < right_after * 0.5


def test_time_domain_is_128_for_silence_and_swings_for_a_sine() -> None:
    """The waveform bytes are 128 for silence and span nearly 0..255 for a full-scale sine."""
    vis = AudioVisualization(lambda fn: None)
    vis._push_input(b"\x00\x00" * 4096, 24000)
    assert np.all(vis.get_input_time_domain_data() == 128)
    vis._push_input(tone(500, 24000, 4096, amplitude=1.0), 24000)
    wave = vis.get_input_time_domain_data()
    assert wave.min() <= 2 and wave.max() >= 253


def test_waveform_holds_the_latest_samples_in_order() -> None:
    """The time-domain data is the most recent 2048 samples, oldest first, across chunk pushes."""
    vis = AudioVisualization(lambda fn: None)
    ramp = (np.arange(3000) * 10 - 15000).astype(np.int16)
    for k in range(0, 3000, 700):
        vis._push_output(ramp[k : k + 700].tobytes(), 24000)
    expected = np.clip(np.floor(128.0 * (ramp[-2048:].astype(np.float64) / 32768.0 + 1.0)), 0, 255)
    assert np.array_equal(vis.get_output_time_domain_data(), expected.astype(np.uint8))


def test_taps_run_through_the_dispatcher_not_the_audio_thread(dispatcher: QueueDispatcher) -> None:
    """on_input_audio callbacks run on the dispatcher's thread with float32 samples and the rate."""
    vis = AudioVisualization(dispatcher)
    calls: List[Tuple[str, np.ndarray, int]] = []
    unsubscribe = vis.on_input_audio(lambda s, r: calls.append((threading.current_thread().name, s, r)))
    pcm = tone(440, 16000, 320)
    audio = threading.Thread(target=vis._push_input, args=(pcm, 16000), name="realtime-capture-test")
    audio.start()
    audio.join()
    dispatcher.drain()
    assert len(calls) == 1
    name, samples, rate = calls[0]
    assert name == "test-dispatcher"
    assert samples.dtype == np.float32 and rate == 16000
    assert np.allclose(samples, np.frombuffer(pcm, np.int16) / 32768.0)
    unsubscribe()
    unsubscribe()
    vis._push_input(pcm, 16000)
    dispatcher.drain()
    assert len(calls) == 1


def test_a_raising_tap_is_logged_and_stays_subscribed(
    dispatcher: QueueDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A tap that raises is logged with its name and still gets later audio."""
    vis = AudioVisualization(dispatcher)
    seen: List[int] = []

    def broken_tap(samples: np.ndarray, rate: int) -> None:
        seen.append(samples.size)
        raise ValueError("boom")

    vis.on_output_audio(broken_tap)
    with caplog.at_level(logging.ERROR, logger="realtime_client"):
        vis._push_output(b"\x00\x00" * 10, 24000)
        vis._push_output(b"\x00\x00" * 20, 24000)
        dispatcher.drain()
    assert seen == [10, 20]
    assert "broken_tap" in caplog.text


def test_a_refusing_dispatcher_does_not_break_the_audio_thread() -> None:
    """If the dispatcher raises (stopped), pushing audio still works."""

    def stopped(fn: Callable[[], None]) -> None:
        raise RuntimeError("dispatcher stopped")

    vis = AudioVisualization(stopped)
    vis.on_input_audio(lambda s, r: None)
    vis._push_input(tone(440, 24000, 480, amplitude=1.0), 24000)
    assert vis.input_level > 0.5


def test_subscribe_requires_a_callable() -> None:
    """on_input_audio rejects something that is not callable."""
    vis = AudioVisualization(lambda fn: None)
    with pytest.raises(TypeError, match="callable"):
        vis.on_input_audio(42)  # type: ignore[arg-type]


def settled_spectrum(vis: AudioVisualization, reads: int = 80) -> np.ndarray:
    """Read the input spectrum until the 0.8 smoothing has converged on the current window."""
    data = vis.get_input_frequency_data()
    for _ in range(reads):
        data = vis.get_input_frequency_data()
    return data


@pytest.mark.parametrize("amplitude", [0.1, 0.001])
def test_spectrum_bytes_follow_the_analyser_node_db_mapping(amplitude: float) -> None:
    """A bin-centred tone of amplitude A reads 20*log10(A/4) dB (Hann), mapped -100..-30 dB onto 0..255."""
    vis = AudioVisualization(lambda fn: None, input_sample_rate=24000)
    freq = AudioVisualization.frequency_of_bin(64, 24000)
    t = np.arange(2048) / 24000
    vis._push_input((np.sin(2 * np.pi * freq * t) * amplitude * 32768).astype(np.int16).tobytes(), 24000)
    db = 20 * np.log10(amplitude / 4)  # a Hann window halves the peak, the spectrum splits it in two
    expected = np.floor(255 / 70 * (db + 100))
    assert int(settled_spectrum(vis)[64]) == pytest.approx(expected, abs=1)


def test_spectrum_saturates_at_255_and_leaks_little_with_the_hann_window() -> None:
    """A full-scale tone clips at 255; between bins, energy 20 bins away is over 40 dB down."""
    vis = AudioVisualization(lambda fn: None, input_sample_rate=24000)
    t = np.arange(2048) / 24000
    off_bin = AudioVisualization.frequency_of_bin(100, 24000) + 24000 / 2048 / 2  # halfway to bin 101
    vis._push_input((np.sin(2 * np.pi * off_bin * t) * 32000).astype(np.int16).tobytes(), 24000)
    data = settled_spectrum(vis)
    assert data[100] == 255 and data[101] == 255
    assert int(data[121]) < 255 - 40 * 255 / 70  # a rectangular window would leak ~-36 dB here


def test_levels_stay_within_zero_and_one() -> None:
    """A full-scale square wave (RMS 1.0) reads level 1.0, never more."""
    vis = AudioVisualization(lambda fn: None)
    square = np.where(np.arange(4800) % 40 < 20, 32767, -32768).astype(np.int16)
    vis._push_output(square.tobytes(), 24000)
    assert vis.output_level == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= vis.output_level <= 1.0


def test_output_visualization_shows_what_was_played_not_what_was_flushed(dispatcher: QueueDispatcher) -> None:
    """Through the engine, the output taps receive the audio the speaker played; flushed audio never."""
    from realtime_client.audio import BufferOutput
    from realtime_client.audio._engine import AudioEngine

    out = BufferOutput(24000, realtime=True)
    engine = AudioEngine(output=out, input=None, provider_output_rate=24000, provider_input_rate=24000,
                         on_capture=lambda pcm: None, on_playback_started=lambda item: None,
                         on_playback_idle=lambda: None, on_error=lambda exc: None, dispatcher=dispatcher)
    tapped: List[int] = []
    engine.visualization.on_output_audio(lambda samples, rate: tapped.append(samples.size))
    try:
        engine.start_playback()
        engine.play("a", tone(440, 24000, 24000))  # one second
        deadline = time.monotonic() + 5
        while out.played_ms < 300 and time.monotonic() < deadline:
            time.sleep(0.005)
        engine.flush()
        time.sleep(0.1)
        dispatcher.drain()
    finally:
        engine.close(timeout=2)
    played = len(out.played) // 2
    assert 0 <= played - sum(tapped) <= 480  # at most the piece the flush cut short
    assert played < 24000 * 0.5


# --- silence: levels, spectra and waveforms decay when no audio arrives --------------------------


class FakeClock:
    """Stands in for ``time.monotonic`` inside the visualization."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from realtime_client.audio import _analysis

    fake = FakeClock()
    monkeypatch.setattr(_analysis, "_clock", fake)
    return fake


BIN_100 = AudioVisualization.frequency_of_bin(100, 24000)


def play_in_chunks(vis: AudioVisualization, clock: FakeClock, pcm: bytes) -> None:
    """Push ``pcm`` as 20 ms output chunks, the clock moving on by 20 ms after each."""
    for k in range(0, len(pcm), 960):
        vis._push_output(pcm[k : k + 960], 24000)
        clock.advance(0.02)


def test_after_the_audio_stops_the_waveform_flattens_and_the_spectrum_empties(clock: FakeClock) -> None:
    """Read at 60 fps after playback stops: flat waveform within 0.15 s, empty spectrum within 1 s."""
    vis = AudioVisualization(lambda fn: None)
    play_in_chunks(vis, clock, tone(BIN_100, 24000, 4800))  # 200 ms, ends "now"
    for _ in range(30):
        vis.get_output_frequency_data()  # settle the smoothing on the tone (reads within one frame)
    wave = vis.get_output_time_domain_data()
    assert wave.min() < 100 and int(vis.get_output_frequency_data()[100]) > 200
    clock.advance(0.04)  # a late next chunk is not silence yet
    assert np.array_equal(vis.get_output_time_domain_data(), wave)
    peaks, flat_at, empty_at = [], None, None
    for frame in range(1, 61):  # one second at 60 fps
        clock.advance(1 / 60)
        spectrum = vis.get_output_frequency_data()
        peaks.append(int(spectrum[100]))
        if flat_at is None and np.all(vis.get_output_time_domain_data() == 128):
            flat_at = frame / 60
        if empty_at is None and not spectrum.any():
            empty_at = frame / 60
    assert peaks == sorted(peaks, reverse=True), peaks
    assert flat_at is not None and flat_at <= 0.15, flat_at
    assert empty_at is not None and empty_at <= 1.0, (empty_at, peaks)


@pytest.mark.parametrize("pause_s", [0.3, 1.0])
def test_a_slow_reader_is_never_stuck_on_old_audio(pause_s: float) -> None:
    """One read after a silent pause has decayed at least as far as reading every 1/60 s would have."""
    from realtime_client.audio import _analysis

    peaks = []
    for every_frame in (True, False):
        fake = FakeClock()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_analysis, "_clock", fake)
            vis = AudioVisualization(lambda fn: None)
            play_in_chunks(vis, fake, tone(BIN_100, 24000, 4800, amplitude=0.01))
            for _ in range(30):
                vis.get_output_frequency_data()
            before = int(vis.get_output_frequency_data()[100])
            for _ in range(round(pause_s * 60)):
                fake.advance(1 / 60)
                if every_frame:
                    vis.get_output_frequency_data()
            peaks.append(int(vis.get_output_frequency_data()[100]))
    steady, once = peaks
    assert once <= steady and (once == 0 or pause_s < 1.0), (before, peaks)
    assert once < before - 50, (before, peaks)  # per-read smoothing would have left it 7 below


def test_the_level_releases_to_exactly_zero(clock: FakeClock) -> None:
    """After a full-scale sound the level falls by 1/e per 0.3 s and reads exactly 0 a few seconds later."""
    vis = AudioVisualization(lambda fn: None)
    vis._push_input(tone(440, 24000, 480, amplitude=1.0), 24000)
    clock.advance(0.3)
    assert vis.input_level == pytest.approx(0.7071 / math.e, rel=0.05)
    clock.advance(3.2)
    assert vis.input_level == 0.0


def test_sound_after_a_pause_follows_silence_not_the_audio_before_it(clock: FakeClock) -> None:
    """A chunk arriving 2 s after the last one is preceded by silence in the waveform, not by old audio."""
    vis = AudioVisualization(lambda fn: None)
    play_in_chunks(vis, clock, tone(440, 24000, 2400, amplitude=1.0))
    clock.advance(2.0)
    vis._push_output(np.full(480, 4096, np.int16).tobytes(), 24000)
    wave = vis.get_output_time_domain_data()
    assert np.all(wave[:-480] == 128) and np.all(wave[-480:] == 144)


def test_chunks_arriving_with_jitter_never_show_silence(clock: FakeClock) -> None:
    """20 ms chunks arriving 5 to 45 ms apart read as continuous sound: no silence slips in between."""
    vis = AudioVisualization(lambda fn: None)
    steady = np.full(24000, 8000, np.int16).tobytes()  # one second of a constant: any silence shows as 128
    for i, k in enumerate(range(0, len(steady), 960)):
        vis._push_input(steady[k : k + 960], 24000)
        clock.advance(0.045 if i % 2 else 0.005)  # late by up to 25 ms, caught up by the next
        if i >= 5:
            assert not np.any(vis.get_input_time_domain_data() == 128), i


def test_engine_output_falls_silent_after_playback_ends(dispatcher: QueueDispatcher) -> None:
    """Through the engine (real clock): once the speaker is idle, waveform, spectrum and level fade."""
    from realtime_client.audio import BufferOutput
    from realtime_client.audio._engine import AudioEngine

    idle = threading.Event()
    engine = AudioEngine(output=BufferOutput(24000, realtime=True), input=None, provider_output_rate=24000,
                         provider_input_rate=24000, on_capture=lambda pcm: None,
                         on_playback_started=lambda item: None, on_playback_idle=idle.set,
                         on_error=lambda exc: None, dispatcher=dispatcher)
    vis = engine.visualization
    try:
        engine.start_playback()
        engine.play("a", tone(BIN_100, 24000, 7200))  # 300 ms
        assert idle.wait(5)
        level = vis.output_level
        deadline = time.monotonic() + 2.0
        while vis.get_output_frequency_data().any() and time.monotonic() < deadline:
            time.sleep(1 / 60)
        assert not vis.get_output_frequency_data().any(), "the spectrum froze"
        assert np.all(vis.get_output_time_domain_data() == 128), "the waveform froze"
        assert vis.output_level < level / 5
    finally:
        engine.close(timeout=2)
