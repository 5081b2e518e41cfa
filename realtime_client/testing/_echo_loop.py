"""EchoLoop: a simulated room in which the speaker's sound comes back into the microphone.

Plug ``loop.output`` and ``loop.input`` into a client (``audio_output=``, ``audio_input=``):
whatever the client plays returns in what it captures, delayed and attenuated like the echo
of laptop speakers, and :meth:`EchoLoop.say` mixes a user's voice on top. Both sides run
at real-time pace on the monotonic clock, so the client's echo handling sees the same
timing it would see with real devices.
"""

from __future__ import annotations

import threading
import time
from typing import Any, List, Optional, Tuple

import numpy as np

from ..audio._timeline import AudioRing

__all__ = ["EchoLoop"]

_STEP_S = 0.01  # ``played`` grows in 10 ms steps
_SLACK_S = 0.05  # a write arriving this late still continues the sound (like a device buffer)


class _LoopOutput:
    """The loop's speaker, paced like ``BufferOutput(realtime=True)``.

    A write is scheduled on the monotonic clock (continuing the previous one unless the
    speaker went idle); its sound enters the air at its scheduled times, independent of how
    promptly this thread is scheduled, and ``played`` grows in 10 ms steps as they pass. An
    abort silences the air from that moment on.
    """

    def __init__(self, loop: EchoLoop) -> None:
        self._loop = loop
        self.sample_rate = loop.sample_rate
        self._cond = threading.Condition()
        self._played = bytearray()
        self._closed = False
        self._aborts = 0
        self._clock = 0.0  # when everything scheduled so far has played

    def __repr__(self) -> str:
        return f"EchoLoop.output(sample_rate={self.sample_rate}, played_ms={self.played_ms:.0f})"

    def open(self) -> None:
        self._closed = False

    def write(self, pcm: bytes) -> None:
        if self._closed:
            from .._errors import AudioDeviceError

            raise AudioDeviceError("EchoLoop output is closed; call open() before writing again")
        pcm = bytes(pcm[: len(pcm) - len(pcm) % 2])
        rate = float(self.sample_rate)
        with self._cond:
            ticket = self._aborts
            now = time.monotonic()
            start = self._clock if now - self._clock <= _SLACK_S else now
            self._clock = start + len(pcm) / 2 / rate
            self._loop._emit(pcm, start)
        step = max(2, int(self.sample_rate * _STEP_S) * 2)
        for offset in range(0, len(pcm), step):
            piece = pcm[offset : offset + step]
            deadline = start + (offset + len(piece)) / 2 / rate
            with self._cond:
                while self._aborts == ticket and time.monotonic() < deadline:
                    self._cond.wait(max(0.0, deadline - time.monotonic()))
                if self._aborts != ticket:
                    return
                self._played += piece

    def abort(self) -> None:
        with self._cond:
            self._aborts += 1
            now = time.monotonic()
            if self._clock > now:
                self._loop._silence_from(now)
                self._clock = now
            self._cond.notify_all()

    @property
    def latency_ms(self) -> float:
        return 0.0

    @property
    def played(self) -> bytes:
        """PCM16 the speaker played so far (aborted audio excluded)."""
        with self._cond:
            return bytes(self._played)

    @property
    def played_ms(self) -> float:
        """Milliseconds played so far."""
        with self._cond:
            n = len(self._played)
        return n / 2.0 / self.sample_rate * 1000.0

    def close(self) -> None:
        self._closed = True
        self.abort()


class _LoopInput:
    """The loop's microphone: paced reads of echo + voice + noise."""

    def __init__(self, loop: EchoLoop) -> None:
        self._loop = loop
        self.sample_rate = loop.sample_rate
        self._closed = threading.Event()
        self._t0: Optional[float] = None
        self._pos = 0

    def __repr__(self) -> str:
        return f"EchoLoop.input(sample_rate={self.sample_rate})"

    def open(self) -> None:
        self._closed.clear()
        self._t0 = None
        self._pos = 0

    def read(self, frames: int) -> bytes:
        if self._closed.is_set():
            return b""
        if self._t0 is None:
            self._t0 = time.monotonic()
        start = self._pos
        self._pos += frames
        deadline = self._t0 + self._pos / float(self.sample_rate)
        remaining = deadline - time.monotonic()
        if remaining > 0 and self._closed.wait(remaining):
            return b""
        t_start = self._t0 + start / float(self.sample_rate)
        return self._loop._capture(t_start, frames)

    @property
    def latency_ms(self) -> float:
        return 0.0

    def close(self) -> None:
        self._closed.set()


class EchoLoop:
    """A speaker and a microphone joined by a simulated echo path, for testing echo handling.

    What ``output`` plays is heard by ``input`` ``delay_ms`` later, ``attenuation_db`` quieter;
    :meth:`say` adds a user's voice; optional white noise models the room and the microphone.
    Both devices report 0 ms latency, so the echo arrives ``delay_ms`` later than the client
    can know, as with real rooms and devices.

    Args:
        sample_rate: rate of both devices, in Hz.
        delay_ms: echo path delay.
        attenuation_db: how much quieter the echo is than what was played (0 = as loud).
        noise_dbfs: RMS level of white noise added to the microphone, or ``None``.
        seed: seeds the noise.

    Attributes:
        output: an ``AudioOutput`` paced like ``BufferOutput(realtime=True)``, with ``played``
            and ``played_ms``.
        input: an ``AudioInput`` paced like ``WavFileInput(realtime=True)``.

    Threads: ``say`` and the properties from any thread; the devices as any device.

    Example::

        loop = EchoLoop(delay_ms=40, attenuation_db=12)
        client = RealtimeClient(..., audio_output=loop.output, audio_input=loop.input)

    .. versionadded:: 0.1.0
    """

    def __init__(self, sample_rate: int = 24000, delay_ms: float = 40.0, attenuation_db: float = 12.0,
                 noise_dbfs: Optional[float] = None, seed: int = 0) -> None:
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        if delay_ms < 0:
            raise ValueError(f"delay_ms must not be negative, got {delay_ms!r}")
        self.sample_rate = int(sample_rate)
        self.delay_ms = float(delay_ms)
        self.attenuation_db = float(attenuation_db)
        self.noise_dbfs = noise_dbfs
        self._gain = 10.0 ** (-self.attenuation_db / 20.0)
        self._origin = time.monotonic()
        self._air = AudioRing(self.sample_rate * 30)
        self._air_head: Optional[int] = None
        self._lock = threading.Lock()
        self._voices: List[Tuple[int, np.ndarray]] = []
        self._rng = np.random.default_rng(seed)
        self.output = _LoopOutput(self)
        self.input = _LoopInput(self)

    def __repr__(self) -> str:
        return (f"EchoLoop(sample_rate={self.sample_rate}, delay_ms={self.delay_ms}, "
                f"attenuation_db={self.attenuation_db})")

    def _index(self, t: float) -> int:
        return round((t - self._origin) * self.sample_rate)

    def _emit(self, pcm: bytes, t_start: float) -> None:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        with self._lock:
            start = self._index(t_start)
            head = self._air_head
            if head is not None and abs(start - head) <= 2:
                start = head  # a continuation: keep it sample-contiguous
            self._air_head = start + samples.size
            self._air.write(start, samples)

    def _silence_from(self, t: float) -> None:
        with self._lock:
            self._air.truncate(self._index(t))
            self._air_head = None

    def _capture(self, t_start: float, frames: int) -> bytes:
        start = self._index(t_start)
        delay = round(self.delay_ms * self.sample_rate / 1000.0)
        mic = self._air.read(start - delay, frames).astype(np.float64) * self._gain
        with self._lock:
            voices = list(self._voices)
        for at, voice in voices:
            lo, hi = max(start, at), min(start + frames, at + voice.size)
            if hi > lo:
                mic[lo - start : hi - start] += voice[lo - at : hi - at]
        if self.noise_dbfs is not None:
            mic += self._rng.standard_normal(frames) * (10.0 ** (self.noise_dbfs / 20.0) * 32768.0)
        return np.clip(np.round(mic), -32768, 32767).astype("<i2").tobytes()

    def say(self, samples: Any, at: Optional[float] = None) -> float:
        """Mix a user's voice (int16 samples or PCM16 bytes) into the microphone.

        Args:
            samples: the voice, at ``sample_rate``.
            at: the ``time.monotonic()`` at which it starts; default now.

        Returns:
            The monotonic time at which the voice starts.
        """
        if isinstance(samples, (bytes, bytearray, memoryview)):
            voice = np.frombuffer(bytes(samples), dtype="<i2").astype(np.float64)
        else:
            voice = np.asarray(samples, dtype=np.float64)
        start_t = time.monotonic() if at is None else float(at)
        with self._lock:
            self._voices.append((self._index(start_t), voice))
        return start_t
