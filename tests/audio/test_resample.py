"""StreamResampler quality: in-band SNR, continuity across chunk edges, anti-aliasing."""

from __future__ import annotations

from typing import Iterable, List

import numpy as np
import pytest

from realtime_client.audio._resample import StreamResampler


def log_sweep(rate: int, seconds: float, f0: float = 50.0, f1: float = 10000.0,
              amp: float = 0.5) -> np.ndarray:
    """An exponential sine sweep f0 → f1, as floats in [-1, 1], sampled at ``rate``."""
    t = np.arange(int(rate * seconds)) / rate
    k = np.log(f1 / f0) / seconds
    return amp * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)


def pcm16(x: np.ndarray) -> bytes:
    return np.round(np.asarray(x) * 32767).astype(np.int16).tobytes()


def floats(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, np.int16).astype(np.float64) / 32767


def stream(resampler: StreamResampler, pcm: bytes, sizes: Iterable[int]) -> bytes:
    """Feed ``pcm`` in pieces of the given byte sizes (cycled), then flush."""
    out = bytearray()
    sizes = list(sizes)
    k = i = 0
    while k < len(pcm):
        n = sizes[i % len(sizes)]
        out += resampler.process(pcm[k:k + n])
        k += n
        i += 1
    return bytes(out + resampler.flush())


def snr_db(signal: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((signal - reference) ** 2)))


@pytest.mark.parametrize(("in_rate", "out_rate"), [(48000, 24000), (24000, 48000)])
def test_log_sweep_keeps_60_db_snr_in_band(in_rate: int, out_rate: int) -> None:
    """A 50 Hz-10 kHz log sweep fed in 20 ms chunks matches the ideal sweep at the new rate, SNR ≥ 60 dB."""
    seconds = 3.0
    out = floats(stream(StreamResampler(in_rate, out_rate), pcm16(log_sweep(in_rate, seconds)),
                        [in_rate * 20 // 1000 * 2]))
    ideal = log_sweep(out_rate, seconds)
    assert out.size == ideal.size  # no delay, nothing lost: flush returns the held-back tail
    edge = out_rate // 20  # the abrupt start and end of the sweep ring for a few ms
    assert snr_db(out[edge:-edge], ideal[edge:-edge]) >= 60


@pytest.mark.parametrize(("in_rate", "out_rate"),
                         [(48000, 24000), (24000, 48000), (44100, 24000), (24000, 16000)])
def test_odd_chunks_give_the_same_output_as_one_shot(in_rate: int, out_rate: int) -> None:
    """Chunks of odd byte sizes (half samples carried over) resample like one call: no clicks at the edges."""
    t = np.arange(in_rate * 2) / in_rate
    pcm = pcm16(0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t))
    one = StreamResampler(in_rate, out_rate)
    whole = np.frombuffer(one.process(pcm) + one.flush(), np.int16).astype(int)
    pieces = np.frombuffer(stream(StreamResampler(in_rate, out_rate), pcm, [1, 3, 7, 101, 479, 961, 1999]),
                           np.int16).astype(int)
    assert pieces.size == whole.size == out_rate * 2
    assert np.abs(pieces - whole).max() <= 4  # float rounding only; an edge artefact would be far larger


def test_15_khz_tone_is_removed_not_aliased_going_to_24k() -> None:
    """48k → 24k: a 15 kHz tone (above the new Nyquist) is attenuated ≥ 60 dB; a 1 kHz tone passes at 0 dB."""
    t = np.arange(48000) / 48000
    levels: List[float] = []
    for freq in (15000, 1000):
        tone = 0.5 * np.sin(2 * np.pi * freq * t)
        out = floats(stream(StreamResampler(48000, 24000), pcm16(tone), [960]))[1200:-1200]
        levels.append(20 * np.log10(np.sqrt(np.mean(out ** 2)) / np.sqrt(np.mean(tone ** 2))))
        if freq == 15000:  # whatever is left is not a 9 kHz alias standing out of the floor
            spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
            assert spectrum.max() < 1e-3 * 0.5 * out.size / 4
    alias_db, pass_db = levels
    assert alias_db <= -60
    assert abs(pass_db) < 0.1


def test_equal_rates_pass_through_and_flush_reset_work() -> None:
    """Equal rates return the bytes unchanged; flush ends a stream (tail out), reset drops held audio."""
    same = StreamResampler(24000, 24000)
    assert same.passthrough
    assert same.process(b"\x01\x02\x03") == b"\x01\x02" and same.process(b"\x04") == b"\x03\x04"
    assert same.flush() == b""
    rs = StreamResampler(48000, 24000)
    pcm = pcm16(0.5 * np.sin(2 * np.pi * 440 * np.arange(960) / 48000))
    first = rs.process(pcm)
    tail = rs.flush()
    assert len(first) + len(tail) == 480 * 2 and tail
    rs.process(pcm)
    rs.reset()
    assert rs.flush() == b""  # nothing held back after a reset
    with pytest.raises(ValueError):
        StreamResampler(0, 24000)
