"""Audio visualization data: levels, spectra and waveforms of the microphone and the speaker.

The audio threads only copy samples into a small ring buffer and update a level envelope;
FFTs are computed lazily on whichever thread calls a getter. The byte spectra follow the
browser's ``AnalyserNode`` (fftSize 2048, minDecibels -100, maxDecibels -30,
smoothingTimeConstant 0.8), so UIs ported from web code look the same.

Silence needs no thread either. An ``AnalyserNode`` keeps receiving zeros after its source
stops; here nothing arrives, so each getter works out from the clock how much silence has
"arrived" since the last chunk should have ended (plus ``_GRACE_S`` for jitter): the
waveform fills with zeros from the end, the smoothing carries the spectrum down with them,
and the level's release runs on to exactly 0. A chunk arriving after a pause lands behind
that silence, never next to audio from before the pause.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Callable, Optional, Tuple, Union

import numpy as np

from ._timeline import pcm_level

__all__ = ["AudioVisualization"]

_log = logging.getLogger("realtime_client")

FFT_SIZE = 2048
MIN_DB = -100.0
MAX_DB = -30.0
SMOOTHING = 0.8
_RELEASE_S = 0.3  # level decays by 1/e in this time once the sound stops
_GRACE_S = 0.05  # a chunk this much later than the previous one's end still continues the sound
_FRAME_S = 1.0 / 60.0  # the spectrum is smoothed by SMOOTHING once per frame of this length
_LSB = 1.0 / 32768.0  # a decaying level under one int16 step reads 0

_clock = time.monotonic  # every timestamp here (tests replace it with a fake clock)

AudioTap = Callable[[np.ndarray, int], None]
Dispatcher = Callable[[Callable[[], None]], None]


class _Channel:
    """One direction (input or output): ring buffer, level envelope, smoothing state, taps.

    The audio threads call :meth:`push` for every chunk, right after waking up, so it does as
    little as it can and avoids numpy (whose first call after a sleep costs ~100 us of cold
    caches): the ring is a bytearray of raw PCM16, converted only by the getters, the level
    comes from the caller or ``audioop``, and float copies are made only for subscribed taps.

    Once no chunk has arrived for ``_GRACE_S`` past the end of the last one, the channel is
    silent from then on: the getters count the samples of silence that would have arrived
    since (:meth:`_silent_locked`) and the next push writes them into the ring first.
    """

    def __init__(self, name: str, rate: int) -> None:
        self.name = name
        self.rate = rate
        self._lock = threading.Lock()  # ring, level, silence and taps; held only for copies
        self._ring = bytearray(FFT_SIZE * 2)  # PCM16
        self._head = 0  # next write position, in bytes
        self._level = 0.0
        self._level_t = 0.0
        self._quiet_from = 0.0  # when the channel falls silent unless another chunk arrives
        self._taps: Tuple[AudioTap, ...] = ()  # replaced, never mutated: push reads it unlocked
        self._fft_lock = threading.Lock()  # smoothing state, on the getters' threads
        self._smoothed = np.zeros(FFT_SIZE // 2, dtype=np.float64)
        self._smoothed_t: Optional[float] = None  # when the smoothing last ran (None: never)
        self._window = np.hanning(FFT_SIZE).astype(np.float64)

    def _silent_locked(self, now: float) -> int:
        """Samples of silence since the sound stopped (at most a window's worth)."""
        gap = now - self._quiet_from
        return 0 if gap <= 0.0 else min(FFT_SIZE, int(gap * self.rate))

    def _write_locked(self, data: Union[bytes, memoryview]) -> None:
        size = len(self._ring)
        k = len(data)
        first = min(k, size - self._head)
        self._ring[self._head : self._head + first] = data[:first]
        if k > first:
            self._ring[: k - first] = data[first:]
        self._head = (self._head + k) % size

    def push(self, pcm: bytes, rate: int, dispatcher: Dispatcher, rms: Optional[float] = None) -> None:
        usable = len(pcm) - len(pcm) % 2
        if usable == 0:
            return
        if rms is None:
            rms = pcm_level(pcm) / 32768.0
        now = _clock()
        view = memoryview(pcm)[max(0, usable - len(self._ring)) : usable]
        with self._lock:
            silent = self._silent_locked(now)
            if silent:  # the pause before this chunk, as the zeros an AnalyserNode would have had
                self._write_locked(bytes(2 * silent))
            self.rate = rate
            self._write_locked(view)
            decayed = self._level * math.exp(-max(0.0, now - self._level_t) / _RELEASE_S)
            self._level = min(1.0, max(rms, decayed))  # fast attack, slow release
            self._level_t = now
            self._quiet_from = now + usable / 2.0 / rate + _GRACE_S
        taps = self._taps
        if taps:
            samples = np.frombuffer(pcm, dtype="<i2", count=usable // 2)
            scaled = samples.astype(np.float32) * np.float32(1.0 / 32768.0)
            for i, tap in enumerate(taps):
                _schedule(dispatcher, tap, scaled if i == len(taps) - 1 else scaled.copy(), rate)

    def level(self) -> float:
        with self._lock:
            level, at = self._level, self._level_t
        if level <= 0.0:
            return 0.0
        level *= math.exp(-max(0.0, _clock() - at) / _RELEASE_S)
        return level if level >= _LSB else 0.0

    def window(self) -> np.ndarray:
        """The latest FFT_SIZE samples (silence included), oldest first, as float64 in [-1, 1)."""
        with self._lock:
            raw, head = bytes(self._ring), self._head
            silent = self._silent_locked(_clock())
        ring = np.roll(np.frombuffer(raw, dtype="<i2"), -(head // 2))
        if silent:
            ring = np.concatenate([ring[silent:], np.zeros(silent, dtype=ring.dtype)])
        return ring.astype(np.float64) / 32768.0

    def frequency_data(self) -> np.ndarray:
        frame = self.window()
        spectrum = np.abs(np.fft.rfft(frame * self._window))[: FFT_SIZE // 2] / FFT_SIZE
        now = _clock()
        with self._fft_lock:
            # SMOOTHING per 1/60 s frame that passed (at least once per call, as a browser
            # does per read), as if the spectrum had been the current one since the last read
            last, self._smoothed_t = self._smoothed_t, now
            keep = SMOOTHING if last is None else SMOOTHING ** max(1.0, (now - last) / _FRAME_S)
            self._smoothed = keep * self._smoothed + (1.0 - keep) * spectrum
            smoothed = self._smoothed.copy()
        with np.errstate(divide="ignore"):
            db = 20.0 * np.log10(smoothed)
        scaled = np.floor((255.0 / (MAX_DB - MIN_DB)) * (db - MIN_DB))
        return np.clip(np.nan_to_num(scaled, neginf=0.0), 0, 255).astype(np.uint8)

    def time_domain_data(self) -> np.ndarray:
        frame = self.window()
        return np.clip(np.floor(128.0 * (frame + 1.0)), 0, 255).astype(np.uint8)

    def subscribe(self, tap: AudioTap) -> Callable[[], None]:
        if not callable(tap):
            raise TypeError(f"on_{self.name}_audio needs a callable, got {type(tap).__name__}")
        with self._lock:
            self._taps = (*self._taps, tap)

        def unsubscribe() -> None:
            with self._lock:
                if tap in self._taps:
                    taps = list(self._taps)
                    taps.remove(tap)
                    self._taps = tuple(taps)

        return unsubscribe


def _schedule(dispatcher: Dispatcher, tap: AudioTap, samples: np.ndarray, rate: int) -> None:
    def run() -> None:
        try:
            tap(samples, rate)
        except Exception:
            _log.exception("audio tap %r raised", getattr(tap, "__qualname__", tap))

    try:
        dispatcher(run)
    except Exception as exc:  # a stopped dispatcher must not break the audio thread
        _log.debug("audio tap not scheduled: %s", exc)


class AudioVisualization:
    """Live levels, spectra and waveforms of the microphone (input) and speaker (output).

    ``client.audio`` returns one while connected. Levels are RMS-based (0 = silence, about
    0.707 for a full-scale sine) with an instant attack and a 0.3 s release. Spectra are
    1024 bins from a 2048-point FFT with a Hann window, mapped to bytes the way a browser's
    ``AnalyserNode`` does (-100 dB → 0, -30 dB → 255, smoothing 0.8); bin ``k`` is centred on
    ``k * sample_rate / 2048`` Hz. Waveforms are the latest 2048 samples as bytes, 128 being
    silence.

    The smoothing is applied once per 1/60 s that passed since the previous read, and at
    least once per read: read every animation frame, it is the browser's; read less often,
    it does not lag behind, but shows what a 60 fps reader would see had the sound changed
    right after the previous read (exact for a steady sound, a little ahead when it fades).

    When audio stops arriving (playback finished or was interrupted, the microphone closed,
    a device stalled), the channel goes silent 50 ms after the last chunk should have ended,
    as an ``AnalyserNode`` fed zeros: the waveform flattens to 128 within one window (about
    85 ms at 24 kHz), the spectrum decays by the smoothing to all zeros in under a second,
    and the level releases to exactly 0 (about 3 s after a full-scale sound). Nothing runs
    meanwhile: the getters compute it from the time since the last chunk.

    Args:
        dispatcher: runs the ``on_*_audio`` taps (user code) off the audio threads.
        input_sample_rate: initial input rate in Hz (updated when audio arrives).
        output_sample_rate: initial output rate in Hz (updated when audio arrives).

    Threads: getters from any thread (they do the FFT work on the caller's thread); the
    engine's audio threads only copy samples in.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        input_sample_rate: int = 24000,
        output_sample_rate: int = 24000,
    ) -> None:
        self._dispatcher = dispatcher
        self._input = _Channel("input", int(input_sample_rate))
        self._output = _Channel("output", int(output_sample_rate))

    def __repr__(self) -> str:
        return (
            f"AudioVisualization(input_level={self.input_level:.2f}, output_level={self.output_level:.2f}, "
            f"input_sample_rate={self.input_sample_rate}, output_sample_rate={self.output_sample_rate})"
        )

    # --- fed by the engine (audio threads) -------------------------------------------

    def _push_input(self, pcm: bytes, rate: int, rms: Optional[float] = None) -> None:
        """Record captured PCM16 at ``rate`` (``rms`` 0-1 if known). Threads: ``realtime-capture``."""
        self._input.push(pcm, rate, self._dispatcher, rms)

    def _push_output(self, pcm: bytes, rate: int, rms: Optional[float] = None) -> None:
        """Record played PCM16 at ``rate`` (``rms`` 0-1 if known). Threads: ``realtime-playback``."""
        self._output.push(pcm, rate, self._dispatcher, rms)

    def _set_input_rate(self, rate: int) -> None:
        """The input device opened at ``rate`` Hz. Threads: the control thread."""
        self._input.rate = int(rate)

    def _set_output_rate(self, rate: int) -> None:
        """The output device opened at ``rate`` Hz. Threads: the control thread."""
        self._output.rate = int(rate)

    # --- public ------------------------------------------------------------------------

    @property
    def input_level(self) -> float:
        """Microphone level, 0 to 1."""
        return self._input.level()

    @property
    def output_level(self) -> float:
        """Speaker level, 0 to 1."""
        return self._output.level()

    @property
    def input_sample_rate(self) -> int:
        """Sample rate of the microphone samples (the device's rate), in Hz."""
        return self._input.rate

    @property
    def output_sample_rate(self) -> int:
        """Sample rate of the speaker samples (the device's rate), in Hz."""
        return self._output.rate

    def get_input_frequency_data(self) -> np.ndarray:
        """Microphone spectrum: ``uint8[1024]``, like ``AnalyserNode.getByteFrequencyData``."""
        return self._input.frequency_data()

    def get_output_frequency_data(self) -> np.ndarray:
        """Speaker spectrum: ``uint8[1024]``, like ``AnalyserNode.getByteFrequencyData``."""
        return self._output.frequency_data()

    def get_input_time_domain_data(self) -> np.ndarray:
        """Microphone waveform: ``uint8[2048]``, 128 = silence."""
        return self._input.time_domain_data()

    def get_output_time_domain_data(self) -> np.ndarray:
        """Speaker waveform: ``uint8[2048]``, 128 = silence."""
        return self._output.time_domain_data()

    def on_input_audio(self, callback: AudioTap) -> Callable[[], None]:
        """Call ``callback(samples, rate)`` with every captured chunk (float32 in [-1, 1]).

        Returns:
            A function that unsubscribes ``callback``.

        Threads: the callback runs through the client's dispatcher, never on the audio
        thread; one that raises is logged and stays subscribed.
        """
        return self._input.subscribe(callback)

    def on_output_audio(self, callback: AudioTap) -> Callable[[], None]:
        """Call ``callback(samples, rate)`` with every played chunk (float32 in [-1, 1]).

        Returns:
            A function that unsubscribes ``callback``.

        Threads: the callback runs through the client's dispatcher, never on the audio
        thread; one that raises is logged and stays subscribed.
        """
        return self._output.subscribe(callback)

    @staticmethod
    def frequency_of_bin(index: int, sample_rate: int) -> float:
        """The centre frequency in Hz of spectrum bin ``index`` at ``sample_rate``."""
        return index * sample_rate / float(FFT_SIZE)
