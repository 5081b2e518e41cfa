"""Echo handling on the capture path: keep the assistant from hearing (and interrupting) itself.

With speakers, the microphone picks up what the assistant says. Sent to the provider, that
echo trips server VAD and the assistant cuts itself off. Both processors here look at the
audio that was actually played (:class:`~._timeline.PlayedAudio`, placed on the same sample
timeline as the microphone chunks) and return what may be sent instead of each chunk.

* :class:`EchoGate` (``echo="gate"``, the default): no signal processing, just levels. It
  predicts the echo level of each 20 ms chunk from the level envelope of the played audio
  around that moment (a window for unknown acoustic delay, then a room-decay tail) times the
  speaker-to-microphone coupling, which it learns. Chunks clearly louder than the predicted
  echo are sent (the user barging in), the others become digital silence, so the provider's
  VAD hears nothing while the assistant talks. When nothing was played recently, everything
  passes unchanged.
* :class:`EchoCanceller` (``echo="aec"``): WebRTC's acoustic echo canceller from the optional
  ``livekit`` package, fed with the played audio as its reverse stream, 10 ms at a time.

Threads: ``process`` runs on the ``realtime-capture`` thread only; the played audio is
written by ``realtime-playback`` and read here through its own lock.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Union

from ._timeline import PlayedAudio, pcm_level

__all__ = ["ECHO_MODES", "EchoCanceller", "EchoGate", "make_echo"]

ECHO_MODES = ("off", "gate", "aec")

_AEC_HINT = "echo='aec' needs the optional livekit package: pip install 'realtime-client[aec]'"


def _db(x: float) -> float:
    return 10.0 ** (x / 20.0)


class EchoGate:
    """Send a microphone chunk only when it is clearly louder than the expected echo (internal).

    Expected echo of a chunk = coupling x the loudest played piece (the engine's 20 ms
    writes) that could be echoing in it: full weight within ``window_ms`` before the chunk (unknown device and
    acoustic delay) and ``ahead_ms`` after it (timing jitter), then fading by 60 dB over
    ``decay_ms`` (room decay). A chunk passes when its RMS is ``margin_db`` above that, and
    during the ``hangover_ms`` after such a chunk also when it is ``hold_db`` above it, so
    quieter syllables of someone barging in are not chopped. Other chunks become zeros.

    The coupling (echo level / played level) is learned at the start of each burst of
    played audio, when the user has just finished their turn and the microphone hears only
    echo: it is the largest ratio seen in the first ``learn_ms`` of clearly audible playback
    (within the burst's first ``learn_within_ms``), if the microphone was open when the
    burst began. It holds until the next burst re-learns it (so the user's own speech later
    in a burst never raises it), starts at ``prior_db`` and is clamped to
    ``[floor_db, ceiling_db]``.

    Known limit: a microphone opened while the assistant is already talking uses the
    previous estimate (or the prior) until the next burst; in a room whose echo is within
    about ``margin_db + prior_db`` dB of the played level that can let some echo through.
    ``echo="aec"`` has no such limit.

    Args:
        played: the played audio on the capture timeline.
        rate: the capture timeline's rate (the provider's input rate), in Hz.

    Threads: ``process`` and ``start_stream`` from the capture thread only.
    """

    def __init__(self, played: PlayedAudio, rate: int, *, prior_db: float = -15.0, margin_db: float = 8.0,
                 hold_db: float = 3.0, hangover_ms: float = 200.0, learn_ms: float = 300.0,
                 learn_within_ms: float = 1000.0, window_ms: float = 80.0, ahead_ms: float = 20.0,
                 decay_ms: float = 250.0, floor_db: float = -50.0, ceiling_db: float = 12.0,
                 min_reference_dbfs: float = -50.0) -> None:
        self._played = played
        self.rate = int(rate)
        self._prior = _db(prior_db)
        self._margin = _db(margin_db)
        self._hold = _db(hold_db)
        self._hangover = int(hangover_ms * self.rate / 1000.0)
        self._learn = int(learn_ms * self.rate / 1000.0)
        self._learn_within = int(learn_within_ms * self.rate / 1000.0)
        self._window = int(window_ms * self.rate / 1000.0)
        self._ahead = int(ahead_ms * self.rate / 1000.0)
        self._decay = max(1, int(decay_ms * self.rate / 1000.0))
        self._floor = _db(floor_db)
        self._ceiling = _db(ceiling_db)
        self._min_ref = _db(min_reference_dbfs) * 32768.0
        self._estimate = self._prior  # from the last burst learned in full
        self._ratios: List[float] = []  # learned so far in the current burst
        self._stream_start: Optional[int] = None
        self._open_until = -1
        self._burst: Optional[int] = None  # the burst being learned from
        self._learned = 0  # samples of it learned from so far
        self.passed = 0  # chunks sent unchanged while the assistant was audible
        self.gated = 0  # chunks replaced with silence

    def __repr__(self) -> str:
        return f"EchoGate(coupling_db={self.coupling_db:.1f}, passed={self.passed}, gated={self.gated})"

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

    def start_stream(self) -> None:
        """The microphone (re)opened: forget per-stream state, keep the learned coupling."""
        self._stream_start = None
        self._open_until = -1

    def reference_level(self, index: int, n: int) -> float:
        """The played level (int16 RMS) that may be echoing in the chunk at ``index``..``index+n``."""
        lo = index - self._window
        pieces = self._played.envelope(lo - self._decay, index + n + self._ahead)
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
        reference = self.reference_level(index, n)
        if reference <= 0.0:
            return pcm
        if level is None:
            level = pcm_level(pcm)
        ratio = level / reference
        significant = reference >= self._min_ref
        burst = self._played.burst_start(index + n)
        if burst != self._burst:
            self._estimate = self.coupling
            self._burst, self._learned, self._ratios = burst, 0, []
        learning = (significant and burst is not None and self._stream_start <= burst
                    and self._learned < self._learn and index < burst + self._learn_within)
        if learning:
            self._ratios.append(ratio)
            self._learned += n
        expected = self.coupling * reference
        if level > expected * self._margin:
            self._open_until = index + n + self._hangover
            self.passed += 1
            return pcm
        if index < self._open_until and level > expected * self._hold:
            self.passed += 1
            return pcm
        self.gated += 1
        return bytes(len(pcm))


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
