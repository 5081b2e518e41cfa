"""Local speech for the fake server: espeak-ng speaks its replies, pocketsphinx hears the user.

Both are optional and run entirely on this machine; nothing is downloaded at run time.

* :class:`EspeakVoice` runs ``espeak-ng --stdout`` (the system package; CI installs it), reads
  the WAV it writes (22,050 Hz mono PCM16) and resamples it with ``soxr`` to the rate the
  wire wants (24 kHz PCM, 8 kHz for G.711).
* :class:`SphinxEar` decodes an utterance with pocketsphinx, whose English model ships inside
  its wheel (``pip install 'realtime-client[speech]'``). Its transcripts are approximate
  ("hello world" comes back right, a lone "hello" often as "oh").

:func:`make_voice` and :func:`make_ear` turn the ``FakeRealtimeServer(speech=..., hearing=...)``
settings into these objects (or None).

Threads: both objects may be called from any thread; each serialises its own work.
"""

from __future__ import annotations

import collections
import logging
import shutil
import struct
import subprocess
import threading
from typing import Any, Deque, Dict, Optional, Tuple

import numpy as np

__all__ = ["HEARING_CHOICES", "SPEECH_CHOICES", "EspeakVoice", "SphinxEar", "espeak_path",
           "make_ear", "make_voice", "parse_wav"]

_log = logging.getLogger("realtime_client")

#: ``FakeRealtimeServer(speech=...)``: how scripted replies sound
SPEECH_CHOICES = ("synthetic", "espeak", "auto")
#: ``FakeRealtimeServer(hearing=...)``: whether the user's audio is recognised
HEARING_CHOICES = ("off", "pocketsphinx", "auto")

_ESPEAK_TIMEOUT_S = 10.0
_PEAK = 0.5            # espeak's output is normalised to this fraction of full scale
_SPHINX_RATE = 16000   # the rate of pocketsphinx's bundled en-us acoustic model
_CACHE_SIZE = 64


def espeak_path() -> Optional[str]:
    """The ``espeak-ng`` executable on ``PATH``, or None."""
    return shutil.which("espeak-ng")


def parse_wav(data: bytes) -> Tuple[np.ndarray, int]:
    """Mono PCM16 samples and the rate of a WAV byte string.

    Tolerates the placeholder sizes a streaming writer (``espeak-ng --stdout``) puts in the
    RIFF and ``data`` headers: everything after the ``data`` header is taken as samples.

    Raises:
        ValueError: not a 16-bit mono PCM WAV.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE stream")
    pos, rate = 12, 0
    while pos + 8 <= len(data):
        kind, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if kind == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body:body + 16])
            if fmt != 1 or channels != 1 or bits != 16:
                raise ValueError(f"expected 16-bit mono PCM, got format {fmt}, {channels} ch, {bits} bit")
        elif kind == b"data":
            if not rate:
                raise ValueError("WAV 'data' chunk before its 'fmt ' chunk")
            end = min(len(data), body + size) if size < 0x7FFF0000 else len(data)
            end -= (end - body) % 2
            return np.frombuffer(data[body:end], dtype="<i2").astype(np.int16), rate
        pos = body + size + (size & 1)
    raise ValueError("WAV has no 'data' chunk")


def _resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    if in_rate == out_rate or len(samples) == 0:
        return samples.astype(np.int16)
    import soxr

    return np.asarray(soxr.resample(samples.astype(np.int16), in_rate, out_rate, quality="HQ"),
                      dtype=np.int16)


class EspeakVoice:
    """Text to speech with the ``espeak-ng`` program, at any sample rate.

    Args:
        executable: path of ``espeak-ng`` (default: found on ``PATH``).
        voice: the espeak voice (``-v``).
        words_per_minute: speaking rate (``-s``).

    Raises:
        FileNotFoundError: ``espeak-ng`` is not installed.

    Calling the voice returns int16 samples at the requested rate, or None when espeak fails
    (the failure is logged once); recent results are cached.
    """

    def __init__(self, executable: Optional[str] = None, *, voice: str = "en-us",
                 words_per_minute: int = 165) -> None:
        path = executable or espeak_path()
        if path is None:
            raise FileNotFoundError("espeak-ng is not installed (apt-get install espeak-ng)")
        self.executable = path
        self.voice = voice
        self.words_per_minute = int(words_per_minute)
        self._lock = threading.Lock()
        self._cache: Dict[Tuple[str, int], np.ndarray] = {}
        self._order: Deque[Tuple[str, int]] = collections.deque()
        self._warned = False

    def __repr__(self) -> str:
        return f"EspeakVoice({self.executable!r}, voice={self.voice!r})"

    def __call__(self, text: str, rate: int) -> Optional[np.ndarray]:
        """``text`` spoken, as mono int16 samples at ``rate`` Hz (None if espeak failed)."""
        text = " ".join(text.split())
        if not text:
            return np.zeros(0, dtype=np.int16)
        key = (text, int(rate))
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            samples = self._synthesize(text, int(rate))
            if samples is None:
                return None
            self._cache[key] = samples
            self._order.append(key)
            while len(self._order) > _CACHE_SIZE:
                self._cache.pop(self._order.popleft(), None)
            return samples

    def _synthesize(self, text: str, rate: int) -> Optional[np.ndarray]:
        # "--" ends the options, so a reply starting with "-" is spoken, not parsed.
        cmd = [self.executable, "--stdout", "-v", self.voice, "-s", str(self.words_per_minute), "--", text]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=_ESPEAK_TIMEOUT_S, check=False)
            if done.returncode != 0:
                raise OSError(f"exit status {done.returncode}: "
                              f"{done.stderr.decode(errors='replace').strip()[:200]}")
            samples, source_rate = parse_wav(done.stdout)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            if not self._warned:
                self._warned = True
                _log.warning("fake realtime server: espeak-ng failed (%s); using synthetic speech", exc)
            return None
        audio = samples.astype(np.float64)
        peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
        if peak > 0:
            audio *= _PEAK * 32767.0 / peak
        return _resample(np.round(audio).astype(np.int16), source_rate, rate)


class SphinxEar:
    """Speech to text with pocketsphinx's bundled US English model (approximate transcripts).

    Raises:
        ImportError: pocketsphinx is not installed (the message names the extra).

    The decoder is built on first use (about 0.25 s) and shared; calls are serialised.
    """

    def __init__(self) -> None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError as exc:
            raise ImportError("hearing='pocketsphinx' needs pocketsphinx: "
                              "pip install 'realtime-client[speech]'") from exc
        self._lock = threading.Lock()
        self._decoder: Any = None

    def __repr__(self) -> str:
        return "SphinxEar()"

    def __call__(self, samples: np.ndarray, rate: int) -> Optional[str]:
        """The words heard in mono int16 ``samples`` at ``rate`` Hz, or None if none were."""
        audio = _resample(np.asarray(samples, dtype=np.int16), int(rate), _SPHINX_RATE)
        if len(audio) < _SPHINX_RATE // 10:
            return None
        with self._lock:
            if self._decoder is None:
                from pocketsphinx import Decoder

                self._decoder = Decoder(samprate=_SPHINX_RATE, logfn="/dev/null")
            decoder = self._decoder
            decoder.start_utt()
            decoder.process_raw(audio.tobytes(), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        text = " ".join((hyp.hypstr if hyp is not None else "").split())
        return text or None


def make_voice(speech: str) -> Optional[EspeakVoice]:
    """The voice for a ``speech`` setting: None means the deterministic synthetic voice.

    Raises:
        ValueError: an unknown setting, or ``"espeak"`` without espeak-ng installed.
    """
    if speech not in SPEECH_CHOICES:
        raise ValueError(f"speech must be one of {', '.join(SPEECH_CHOICES)}, got {speech!r}")
    if speech == "synthetic":
        return None
    if espeak_path() is None:
        if speech == "espeak":
            raise ValueError("speech='espeak' needs the espeak-ng program (apt-get install espeak-ng)")
        return None
    return EspeakVoice()


def make_ear(hearing: str) -> Optional[SphinxEar]:
    """The recogniser for a ``hearing`` setting: None means the user's audio is not recognised.

    Raises:
        ValueError: an unknown setting, or ``"pocketsphinx"`` without pocketsphinx installed.
    """
    if hearing not in HEARING_CHOICES:
        raise ValueError(f"hearing must be one of {', '.join(HEARING_CHOICES)}, got {hearing!r}")
    if hearing == "off":
        return None
    try:
        return SphinxEar()
    except ImportError as exc:
        if hearing == "pocketsphinx":
            raise ValueError(str(exc)) from None
        return None
