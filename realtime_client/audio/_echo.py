"""Echo handling on the capture path: keep the assistant from hearing (and interrupting) itself.

With speakers, the microphone picks up what the assistant says. Sent to the provider, that
echo trips server VAD and the assistant cuts itself off. Both processors here look at the
audio that was actually played (:class:`~._timeline.PlayedAudio`, placed on the same sample
timeline as the microphone chunks) and return what may be sent instead of each chunk.

* :class:`EchoGate` (``echo="gate"``, the default): no signal processing, just levels. It
  predicts the echo level of each 20 ms chunk from the level envelope of the played audio
  around the moment its echo would arrive (a window around the echo delay, then a room-decay
  tail) times the speaker-to-microphone coupling; it learns both delay and coupling from the
  start of each answer. Chunks clearly louder than the predicted echo are sent (the user
  barging in), the others become digital silence, so the provider's VAD hears nothing while
  the assistant talks; with a coupling near 0 dB (a speaker looped into the microphone) it
  sends nothing at all while the assistant may be heard. When nothing was played recently,
  everything passes unchanged.
* :class:`EchoCanceller` (``echo="aec"``): WebRTC's acoustic echo canceller from the optional
  ``livekit`` package, fed with the played audio as its reverse stream, 10 ms at a time.

Threads: ``process`` runs on the ``realtime-capture`` thread only; the played audio is
written by ``realtime-playback`` and read here through its own lock.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._timeline import PlayedAudio, pcm_level

__all__ = ["ECHO_MODES", "EchoCanceller", "EchoGate", "make_echo"]

ECHO_MODES = ("off", "gate", "aec")

_AEC_HINT = "echo='aec' needs the optional livekit package: pip install 'realtime-client[aec]'"


def _db(x: float) -> float:
    return 10.0 ** (x / 20.0)


_FAINT = _db(-30.0)  # an echo this far below the played level hardly matters where it falls


class EchoGate:
    """Send a microphone chunk only when it is clearly louder than the expected echo (internal).

    Expected echo of a chunk = coupling x the loudest played piece (the engine's 20 ms
    writes) that could be echoing in it. The echo of a piece arrives some time after the
    timeline says it became audible: the *echo delay* (sound travel, sound-server buffers,
    a device latency reported wrongly; negative when the reported latency is too large).
    The gate learns it (see below); a piece counts with full weight from ``window_ms``
    before to ``ahead_ms`` after the chunk, shifted by that delay, then fades by 60 dB over
    ``decay_ms`` (room decay). While the delay is not known yet, the window spans every
    delay from ``-max_lead_ms`` to ``max_delay_ms``. A chunk passes when its RMS is
    ``margin_db`` above the expected echo, and during the ``hangover_ms`` after such a chunk
    also when it is ``hold_db`` above it, so quieter syllables of someone barging in are
    not chopped. Other chunks become zeros.

    Both the delay and the coupling (echo level / played level) are learned at the start of
    each burst of played audio, when the user has just finished their turn and the
    microphone hears only echo, if the microphone was open when the burst began (or opened
    at most ``late_open_ms`` after: too soon for anyone to be talking over the assistant,
    as when the microphone opens at connect and a greeting starts at once):

    * the delay is the lag at which the level envelope of the first ``learn_within_ms``
      heard best matches the envelope of what was played (correlation at least
      ``min_correlation``, searched in 10 ms steps); it holds until a later burst gives a
      confident estimate again;
    * the coupling is the largest ratio seen in the first ``learn_ms`` of clearly audible
      playback at that delay (within the burst's first ``learn_within_ms``; while the delay
      is unknown, all of it). It holds until the next burst re-learns it (so the user's own
      speech later in a burst never raises it), starts at ``prior_db`` and is clamped to
      ``[floor_db, ceiling_db]``.

    While a burst is being learned, each chunk's own ratio counts, so nothing passes. When
    the coupling is ``half_duplex_db`` or more (the microphone hears the assistant about as
    loudly as it plays, e.g. a sound server looping the speaker into the microphone), a
    voice could not be told from the echo anyway: the gate becomes half-duplex and sends
    nothing while played audio may be echoing.

    Known limit: a microphone opened later while the assistant is already talking uses the
    previous estimates (or the prior and an unknown delay) until the next burst; in a room
    whose echo is within about ``margin_db + prior_db`` dB of the played level that can let
    some echo through. ``echo="aec"`` has no such limit.

    Args:
        played: the played audio on the capture timeline.
        rate: the capture timeline's rate (the provider's input rate), in Hz.

    Threads: ``process`` and ``start_stream`` from the capture thread only.
    """

    def __init__(self, played: PlayedAudio, rate: int, *, prior_db: float = -15.0, margin_db: float = 8.0,
                 hold_db: float = 3.0, hangover_ms: float = 200.0, learn_ms: float = 300.0,
                 learn_within_ms: float = 1000.0, window_ms: float = 80.0, ahead_ms: float = 20.0,
                 decay_ms: float = 250.0, floor_db: float = -50.0, ceiling_db: float = 12.0,
                 min_reference_dbfs: float = -50.0, max_delay_ms: float = 500.0, max_lead_ms: float = 100.0,
                 half_duplex_db: float = -6.0, min_correlation: float = 0.6,
                 late_open_ms: float = 250.0) -> None:
        self._played = played
        self.rate = int(rate)
        per_ms = self.rate / 1000.0
        self._prior = _db(prior_db)
        self._margin = _db(margin_db)
        self._hold = _db(hold_db)
        self._hangover = int(hangover_ms * per_ms)
        self._learn = int(learn_ms * per_ms)
        self._learn_within = int(learn_within_ms * per_ms)
        self._window = int(window_ms * per_ms)
        self._ahead = int(ahead_ms * per_ms)
        self._decay = max(1, int(decay_ms * per_ms))
        self._floor = _db(floor_db)
        self._ceiling = _db(ceiling_db)
        self._min_ref = _db(min_reference_dbfs) * 32768.0
        self._half_duplex = _db(half_duplex_db)
        self._cell = max(1, self.rate // 100)  # the delay is searched in 10 ms steps
        self._max_lag = int(max_delay_ms * per_ms)
        self._min_lag = -int(max_lead_ms * per_ms)
        self._min_corr = float(min_correlation)
        self._late_open = int(late_open_ms * per_ms)
        self._lag: Optional[int] = None  # the learned echo delay in samples (None: not known yet)
        self._estimate = self._prior  # from the last burst learned in full
        self._ratios: List[float] = []  # learned so far in the current burst
        self._stream_start: Optional[int] = None
        self._open_until = -1
        self._burst: Optional[int] = None  # the burst being learned from
        self._learned = 0  # samples of it learned from so far
        self._recording = False  # the current burst's chunk levels are kept, for the delay
        self._heard: List[Tuple[int, int, float]] = []  # (index, n, rms) of this burst's chunks
        self.passed = 0  # chunks sent unchanged while the assistant was audible
        self.gated = 0  # chunks replaced with silence

    def __repr__(self) -> str:
        delay = "unknown" if self.delay_ms is None else f"{self.delay_ms:.0f}"
        return (f"EchoGate(coupling_db={self.coupling_db:.1f}, delay_ms={delay}, "
                f"passed={self.passed}, gated={self.gated})")

    @property
    def coupling(self) -> float:
        """The current speaker-to-microphone coupling estimate (linear amplitude ratio)."""
        c = self._estimate
        if self._ratios:
            # a burst learned in full replaces the estimate; a partial one can only raise it
            c = max(self._ratios) if self._learned >= self._learn else max(c, *self._ratios)
        return min(self._ceiling, max(self._floor, c))

    @property
    def coupling_db(self) -> float:
        """:attr:`coupling` in dB."""
        return 20.0 * math.log10(self.coupling)

    @property
    def delay_ms(self) -> Optional[float]:
        """The learned echo delay beyond the reported device latencies, in ms (``None``: not yet)."""
        return None if self._lag is None else self._lag * 1000.0 / self.rate

    @property
    def half_duplex(self) -> bool:
        """The coupling is so strong that nothing is sent while the assistant may be heard."""
        return self.coupling >= self._half_duplex

    def start_stream(self) -> None:
        """The microphone (re)opened: forget per-stream state, keep the learned coupling and delay."""
        self._stream_start = None
        self._open_until = -1
        self._recording = False
        self._heard = []

    def reference_level(self, index: int, n: int) -> float:
        """The played level (int16 RMS) that may be echoing in the chunk at ``index``..``index+n``."""
        late, early = (self._max_lag, self._min_lag) if self._lag is None else (self._lag, self._lag)
        lo = index - late - self._window
        pieces = self._played.envelope(lo - self._decay, index + n - early + self._ahead)
        best = 0.0
        for _start, end, level in reversed(pieces):  # newest first: the loudest weights come first
            if level <= best:
                continue
            if end < lo:  # finished before the window: its room echo has been decaying since
                level *= 10.0 ** (-3.0 * (lo - end) / self._decay)  # noqa: PLW2901
            best = max(best, level)
        return best

    def process(self, index: int, pcm: bytes, level: Optional[float] = None) -> bytes:
        """Return ``pcm`` (PCM16 at ``rate``, starting at timeline ``index``) or silence of its length.

        ``level`` is the chunk's RMS in int16 units when the caller already knows it.
        """
        n = len(pcm) // 2
        if self._stream_start is None:
            self._stream_start = index
        # a burst may be heard up to max_lead_ms before the timeline says it is audible
        burst = self._played.burst_start(index + n - self._min_lag)
        if burst != self._burst:
            self._finish_learning()
            self._estimate = self.coupling
            self._burst, self._learned, self._ratios, self._heard = burst, 0, [], []
            self._recording = burst is not None and self._stream_start <= burst + self._late_open
        elif self._recording and burst is not None and index >= burst + self._learn_within:
            self._finish_learning()
        if self._recording:
            if level is None:
                level = pcm_level(pcm)
            self._heard.append((index, n, level))
        reference = self.reference_level(index, n)
        if reference <= 0.0:
            return pcm
        if level is None:
            level = pcm_level(pcm)
        significant = reference >= self._min_ref
        if self._recording and significant and (self._lag is None or self._learned < self._learn):
            self._ratios.append(level / reference)
            self._learned += n
        coupling = self.coupling
        if significant and coupling >= self._half_duplex:
            self.gated += 1
            return bytes(len(pcm))
        expected = coupling * reference
        if level > expected * self._margin:
            self._open_until = index + n + self._hangover
            self.passed += 1
            return pcm
        if index < self._open_until and level > expected * self._hold:
            self.passed += 1
            return pcm
        self.gated += 1
        return bytes(len(pcm))

    def _finish_learning(self) -> None:
        """The burst's learning span is over: estimate the delay, then re-learn the coupling at it."""
        if not self._recording:
            return
        self._recording = False
        heard, self._heard = self._heard, []
        lag = self._find_lag(heard)
        if lag is None:
            if self._lag is None and self._ratios and max(self._ratios) < _FAINT:
                self._lag = 0  # the echo is too faint to matter (headphones): stop waiting for it
            return
        self._lag = lag
        ratios: List[float] = []
        learned = 0
        for index, n, level in heard:
            if learned >= self._learn:
                break
            reference = self.reference_level(index, n)
            if reference >= self._min_ref:
                ratios.append(level / reference)
                learned += n
        if ratios:
            self._ratios, self._learned = ratios, learned

    def _find_lag(self, heard: Sequence[Tuple[int, int, float]]) -> Optional[int]:
        """The echo delay (samples) at which ``heard`` best follows the played levels, or ``None``."""
        cell = self._cell
        if len(heard) < 5:
            return None
        first = heard[0][0]
        cells = (heard[-1][0] + heard[-1][1] - first) // cell
        if cells < 10:
            return None
        mic = np.zeros(cells)
        have = np.zeros(cells, dtype=bool)
        for index, n, level in heard:
            a, b = (index - first) // cell, min(cells, (index + n - first) // cell)
            mic[a:b] = level
            have[a:b] = True
        low, high = self._min_lag // cell, self._max_lag // cell  # the lags searched, in cells
        origin = first - high * cell  # played cell 0: what mic cell 0 hears at the largest lag
        played = np.zeros(cells + high - low)
        for start, end, level in self._played.envelope(origin, origin + played.size * cell):
            a, b = max(0, (start - origin) // cell), min(played.size, -(-(end - origin) // cell))
            if b > a:
                np.maximum(played[a:b], level, out=played[a:b])
        at = np.flatnonzero(have)
        x = mic[at]
        if x.std() == 0.0:
            return None
        best, best_r = None, self._min_corr
        for k in range(low, high + 1):
            y = played[at + high - k]
            if y.std() == 0.0:
                continue
            r = float(np.corrcoef(x, y)[0, 1])
            if r > best_r:
                best, best_r = k, r
        # one step earlier: the window has more slack for a late echo than for an early one
        return None if best is None else (best - 1) * cell


class EchoCanceller:
    """Acoustic echo cancellation with WebRTC's audio processing module (the ``livekit`` wheel).

    Each 10 ms microphone frame is processed right after the played audio of the same
    instant is given as the reverse stream, so render and capture stay in lock-step on the
    engine's timeline; the canceller's own delay estimator absorbs the acoustic path and
    any latency the devices did not report.

    Args:
        played: the played audio on the capture timeline.
        rate: the capture timeline's rate in Hz (a multiple of 100: 10 ms frames).
        noise_suppression: also run WebRTC's noise suppressor on the microphone.

    Raises:
        ImportError: ``livekit`` is not installed (the message names the extra to install).
        ValueError: ``rate`` is not a multiple of 100 Hz.

    Threads: ``process`` and ``start_stream`` from the capture thread only.
    """

    def __init__(self, played: PlayedAudio, rate: int, *, noise_suppression: bool = False) -> None:
        try:
            from livekit import rtc
        except ImportError as exc:
            raise ImportError(_AEC_HINT) from exc
        if int(rate) % 100:
            raise ValueError(f"echo='aec' needs a sample rate that is a multiple of 100 Hz, got {rate}")
        self._rtc: Any = rtc
        self._played = played
        self.rate = int(rate)
        self._frame = self.rate // 100
        self._apm: Any = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True,
                                                    noise_suppression=noise_suppression)
        self.frames = 0

    def __repr__(self) -> str:
        return f"EchoCanceller(rate={self.rate}, frames={self.frames})"

    def start_stream(self) -> None:
        """The microphone (re)opened. The canceller keeps its adapted filter."""

    def process(self, index: int, pcm: bytes, level: Optional[float] = None) -> bytes:
        """Return ``pcm`` (PCM16 at ``rate`` from timeline ``index``) with the echo removed.

        Whole 10 ms frames are processed; a shorter tail (only at the end of a stream)
        passes unchanged.
        """
        usable = len(pcm) - len(pcm) % 2
        n = usable // 2
        f = self._frame
        if n < f:
            return pcm
        rtc = self._rtc
        out = bytearray(pcm)
        reference = self._played.read(index, n - n % f)
        for k in range(0, n - f + 1, f):
            far = rtc.AudioFrame(reference[k : k + f].tobytes(), self.rate, 1, f)
            self._apm.process_reverse_stream(far)
            self._apm.set_stream_delay_ms(0)
            near = rtc.AudioFrame(pcm[2 * k : 2 * (k + f)], self.rate, 1, f)
            self._apm.process_stream(near)
            out[2 * k : 2 * (k + f)] = bytes(near.data)
            self.frames += 1
        return bytes(out)


EchoProcessor = Union[EchoGate, EchoCanceller]


def make_echo(mode: str, played: PlayedAudio, rate: int) -> Optional[EchoProcessor]:
    """The processor for ``echo=mode`` (``None`` for ``"off"``).

    Raises:
        ValueError: an unknown mode.
        ImportError: ``"aec"`` without the ``livekit`` package.
    """
    if mode == "off":
        return None
    if mode == "gate":
        return EchoGate(played, rate)
    if mode == "aec":
        return EchoCanceller(played, rate)
    raise ValueError(f"echo must be one of {', '.join(map(repr, ECHO_MODES))}, got {mode!r}")
