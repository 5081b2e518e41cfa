"""Synthetic speech-like audio, G.711 codecs and an energy-based voice activity detector.

Everything here is deterministic and pure (numpy in, numpy out), so tests can build input audio
that the fake server's VAD reliably hears as speech, and the server can produce assistant audio
that looks like speech to a level meter or a client-side VAD.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

__all__ = [
    "EnergyVAD",
    "alaw_decode",
    "alaw_encode",
    "pcm16_bytes",
    "rms_dbfs",
    "silence",
    "synthesize_speech",
    "threshold_to_dbfs",
    "ulaw_decode",
    "ulaw_encode",
]


def synthesize_speech(duration_ms: float, sample_rate: int = 24000, seed: int = 0,
                      level: float = 0.4) -> np.ndarray:
    """A deterministic voice-like int16 signal: harmonics of a gliding pitch, shaped into syllables.

    Syllables last 120-260 ms with gaps under 80 ms, so an energy VAD with a silence window of a
    few hundred milliseconds hears one continuous utterance.

    Args:
        duration_ms: length of the signal.
        sample_rate: samples per second.
        seed: selects pitch, timbre and syllable rhythm; the same seed gives the same samples.
        level: peak amplitude as a fraction of full scale (0-1).

    Returns:
        mono int16 samples.
    """
    n = max(0, round(duration_ms * sample_rate / 1000.0))
    if n == 0:
        return np.zeros(0, dtype=np.int16)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    f0 = 105.0 + 60.0 * rng.random()
    drift = 0.05 * t / max(t[-1], 1e-3)
    pitch = f0 * (1.0 + 0.08 * np.sin(2 * math.pi * 0.9 * t + rng.random() * 6.0) - drift)
    phase = 2 * math.pi * np.cumsum(pitch) / sample_rate
    nyquist = sample_rate / 2.0
    wave = np.zeros(n)
    for h in range(1, 13):
        if h * f0 * 1.1 >= nyquist:
            break
        # A crude two-formant weighting makes the spectrum vowel-like rather than buzzy.
        centre = h * f0
        weight = (math.exp(-(((centre - 600.0) / 350.0) ** 2))
                  + 0.6 * math.exp(-(((centre - 1700.0) / 500.0) ** 2)) + 0.15 / h)
        wave += weight * np.sin(h * phase + rng.random() * 2 * math.pi)
    envelope = np.zeros(n)
    pos = int(0.01 * sample_rate)
    while pos < n:
        length = int(rng.uniform(0.12, 0.26) * sample_rate)
        end = min(n, pos + length)
        envelope[pos:end] = np.hanning(length)[: end - pos] ** 0.5
        pos = end + int(rng.uniform(0.02, 0.08) * sample_rate)
    wave *= envelope
    peak = float(np.max(np.abs(wave))) or 1.0
    return np.round(wave / peak * level * 32767.0).astype(np.int16)


def silence(duration_ms: float, sample_rate: int = 24000) -> np.ndarray:
    """``duration_ms`` of digital silence as int16 samples."""
    return np.zeros(max(0, round(duration_ms * sample_rate / 1000.0)), dtype=np.int16)


def pcm16_bytes(samples: np.ndarray) -> bytes:
    """Little-endian PCM16 bytes of int16 ``samples``."""
    return np.asarray(samples, dtype="<i2").tobytes()


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level of int16 ``samples`` in dBFS (``-inf`` for silence or no samples)."""
    if len(samples) == 0:
        return float("-inf")
    rms = math.sqrt(float(np.mean(np.square(samples.astype(np.float64)))))
    return 20.0 * math.log10(rms / 32768.0) if rms > 0 else float("-inf")


def threshold_to_dbfs(threshold: float) -> float:
    """Map the API's VAD ``threshold`` (0-1, higher needs louder audio) to an RMS level in dBFS.

    0.0 → -60 dBFS, 0.5 (the default) → -40 dBFS, 1.0 → -20 dBFS.
    """
    return -60.0 + 40.0 * min(1.0, max(0.0, float(threshold)))


class EnergyVAD:
    """Frame-based energy detector over 20 ms frames, fed with int16 samples as they arrive.

    Speech starts when ``min_speech_ms`` of consecutive frames are louder than the threshold (the
    reported start is the first of those frames); it stops once ``silence_duration_ms`` of
    consecutive quieter frames have been seen (the reported stop is the end of that silence, as
    the real API's ``audio_end_ms`` is). Offsets are milliseconds of audio fed so far.

    Threads: not thread-safe; the fake server calls it under its connection lock.
    """

    def __init__(self, sample_rate: int = 24000, threshold: float = 0.5, silence_duration_ms: float = 500,
                 frame_ms: int = 20, min_speech_ms: float = 60) -> None:
        self.sample_rate = sample_rate
        self.threshold_dbfs = threshold_to_dbfs(threshold)
        self.silence_duration_ms = float(silence_duration_ms)
        self.frame_ms = frame_ms
        self._frame_len = max(1, sample_rate * frame_ms // 1000)
        self._min_speech_frames = max(1, math.ceil(min_speech_ms / frame_ms))
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames = 0
        self.in_speech = False
        self._loud_run = 0
        self._quiet_run = 0

    @property
    def position_ms(self) -> float:
        """Milliseconds of audio consumed into whole frames so far."""
        return self._frames * self.frame_ms

    def feed(self, samples: np.ndarray) -> List[Tuple[str, float]]:
        """Consume samples; return ``("start", ms)`` / ``("stop", ms)`` events in order."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.int16)])
        events: List[Tuple[str, float]] = []
        whole = len(data) // self._frame_len
        for i in range(whole):
            frame = data[i * self._frame_len:(i + 1) * self._frame_len]
            self._frames += 1
            loud = rms_dbfs(frame) >= self.threshold_dbfs
            if not self.in_speech:
                self._loud_run = self._loud_run + 1 if loud else 0
                if self._loud_run >= self._min_speech_frames:
                    self.in_speech = True
                    self._quiet_run = 0
                    events.append(("start", (self._frames - self._loud_run) * self.frame_ms))
            else:
                self._quiet_run = 0 if loud else self._quiet_run + 1
                if self._quiet_run * self.frame_ms >= self.silence_duration_ms:
                    self.in_speech = False
                    self._loud_run = 0
                    events.append(("stop", self._frames * self.frame_ms))
        self._pending = data[whole * self._frame_len:]
        return events

    def reset(self, position_ms: Optional[float] = None) -> None:
        """Forget any speech in progress (after ``input_audio_buffer.clear``)."""
        self.in_speech = False
        self._loud_run = 0
        self._quiet_run = 0
        if position_ms is not None:
            self._frames = int(position_ms // self.frame_ms)


# --- G.711 (ITU-T) µ-law and A-law, vectorized ---------------------------------------------

_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def ulaw_encode(samples: np.ndarray) -> bytes:
    """Encode int16 samples as G.711 µ-law bytes."""
    pcm = np.asarray(samples, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 33
    seg = np.searchsorted(_ULAW_SEG_END, mag, side="left")
    val = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0x0F)
    val = np.where(seg >= 8, 0x7F, val)
    return (val ^ mask).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 µ-law bytes to int16 samples."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def alaw_encode(samples: np.ndarray) -> bytes:
    """Encode int16 samples as G.711 A-law bytes."""
    pcm = np.asarray(samples, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, pcm, side="left")
    shift = np.where(seg < 2, 1, seg)
    val = (np.minimum(seg, 7) << 4) | ((pcm >> np.minimum(shift, 7)) & 0x0F)
    val = np.where(seg >= 8, 0x7F, val)
    return (val ^ mask).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 A-law bytes to int16 samples."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)
