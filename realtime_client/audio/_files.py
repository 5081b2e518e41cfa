"""Audio devices backed by files and memory: WAV in, WAV out, and an in-memory "speaker".

All three implement :class:`~realtime_client._types.AudioInput` /
:class:`~realtime_client._types.AudioOutput`, so they plug into ``RealtimeClient(audio_input=...,
audio_output=...)`` in place of a microphone and speaker: for tests, batch jobs, or machines
without sound hardware.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import wave
from typing import Any, BinaryIO, Callable, Optional, Union

import numpy as np

from .._errors import AudioDeviceError

__all__ = ["BufferOutput", "WavFileInput", "WavFileOutput"]

_log = logging.getLogger("realtime_client")

PathLike = Union[str, "os.PathLike[str]"]

_STEP_MS = 10  # real-time outputs play in steps this long
_SLACK_S = 0.05  # a write arriving this late still continues the schedule (like a device buffer)


class _PacedPlayer:
    """Hands PCM16 to ``deliver`` in <= 10 ms steps, each when its time has come (``realtime``),
    or all at once.

    The schedule runs on the monotonic clock: consecutive writes continue where the previous
    one ended, so per-call overheads do not accumulate as drift. :meth:`abort` makes an
    in-progress :meth:`play` return at once, discarding what it had not delivered yet.
    """

    def __init__(self, rate: int, deliver: Callable[[bytes], None], realtime: bool) -> None:
        self._rate = rate
        self._deliver = deliver
        self._realtime = realtime
        self._cond = threading.Condition()
        self._aborts = 0
        self._clock = 0.0  # monotonic time at which everything delivered so far has played

    def play(self, pcm: bytes, cancelled: Optional[Callable[[], bool]] = None) -> None:
        if not self._realtime:
            if cancelled is None or not cancelled():
                self._deliver(pcm)
            return
        step = max(2, self._rate * _STEP_MS // 1000 * 2)
        with self._cond:
            ticket = self._aborts
            now = time.monotonic()
            start = self._clock if now - self._clock <= _SLACK_S else now
        offset = 0
        while offset < len(pcm):
            piece = pcm[offset : offset + step]
            deadline = start + (offset + len(piece)) / 2.0 / self._rate
            with self._cond:
                while self._aborts == ticket:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._aborts != ticket or (cancelled is not None and cancelled()):
                    self._clock = time.monotonic()
                    return
                self._clock = deadline
            self._deliver(piece)
            offset += len(piece)

    def abort(self) -> None:
        with self._cond:
            self._aborts += 1
            self._cond.notify_all()


class BufferOutput:
    """An output device that plays into memory: ``.played`` holds exactly what was "heard".

    It consumes audio like a real speaker. With ``realtime=True`` a ``write`` of one second
    blocks for one second (scheduled on the monotonic clock, delivered in 10 ms steps), and
    each step is appended to :attr:`played` only once its time has come, so :attr:`played`
    is what a listener would have heard so far. :meth:`abort` from another thread makes an
    in-progress ``write`` return promptly; the rest of that write is discarded and never
    appears in :attr:`played`. With ``realtime=False`` writes append at once.

    Args:
        sample_rate: the rate of the PCM16 mono audio it accepts, in Hz.
        realtime: pace writes at real time (default) or accept them instantly.

    Threads: ``write`` from one thread at a time (the ``realtime-playback`` thread);
    ``abort``, ``played``, ``played_ms`` and ``close`` from any thread.

    Example::

        >>> out = BufferOutput(sample_rate=24000, realtime=False)
        >>> out.write(b"\\x00\\x00" * 240)
        >>> out.played_ms
        10.0

    .. versionadded:: 0.1.0
    """

    def __init__(self, sample_rate: int = 24000, realtime: bool = True) -> None:
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self.realtime = bool(realtime)
        self._lock = threading.Lock()
        self._played = bytearray()
        self._closed = False
        self._player = _PacedPlayer(self.sample_rate, self._append, self.realtime)

    def __repr__(self) -> str:
        return (
            f"BufferOutput(sample_rate={self.sample_rate}, realtime={self.realtime}, "
            f"played_ms={self.played_ms:.0f})"
        )

    def _append(self, pcm: bytes) -> None:
        with self._lock:
            self._played += pcm

    def open(self) -> None:
        """Make the device usable (again after :meth:`close`); ``.played`` is kept."""
        self._closed = False

    def write(self, pcm: bytes) -> None:
        """Play ``pcm`` (PCM16 mono at ``sample_rate``), blocking at real-time pace if ``realtime``.

        Raises:
            AudioDeviceError: the device was closed.
        """
        self.write_unless(pcm, None)

    def write_unless(self, pcm: bytes, cancelled: Optional[Callable[[], bool]]) -> None:
        """:meth:`write`, but deliver nothing more once ``cancelled()`` is true (engine hook:
        asked before each 10 ms step, so audio a barge-in made stale is never "heard")."""
        if self._closed:
            raise AudioDeviceError("BufferOutput is closed; call open() before writing again")
        self._player.play(bytes(pcm), cancelled)

    def abort(self) -> None:
        """Make an in-progress ``write`` return now, discarding what it has not played yet."""
        self._player.abort()

    @property
    def latency_ms(self) -> float:
        """Always 0: what ``write`` has returned from has been heard."""
        return 0.0

    @property
    def played(self) -> bytes:
        """A copy of the PCM16 audio played so far (aborted audio excluded)."""
        with self._lock:
            return bytes(self._played)

    @property
    def played_ms(self) -> float:
        """Milliseconds of audio played so far."""
        with self._lock:
            n = len(self._played)
        return n / 2.0 / self.sample_rate * 1000.0

    def clear(self) -> None:
        """Forget what was played so far."""
        with self._lock:
            self._played.clear()

    def close(self) -> None:
        """Stop accepting audio; an in-progress ``write`` returns at once. Idempotent."""
        self._closed = True
        self._player.abort()

    def __enter__(self) -> BufferOutput:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class WavFileOutput:
    """An output device that records what is played into a 16-bit mono WAV file.

    The file is created by :meth:`open` (or the first ``write``) and finalized by
    :meth:`close`. With ``realtime=True`` writes are paced like :class:`BufferOutput`.
    :meth:`abort` never removes audio already written (there is no device buffer); with
    ``realtime=True`` it ends an in-progress write early.

    Args:
        path: where to write the WAV file (overwritten).
        sample_rate: the rate of the PCM16 mono audio it accepts, in Hz.
        realtime: pace writes at real time (default ``False``: as fast as the caller goes).

    Raises:
        AudioDeviceError: from ``open``/``write`` when the file cannot be written.

    Threads: ``write`` from one thread at a time; ``abort`` and ``close`` from any thread.

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: PathLike, sample_rate: int = 24000, realtime: bool = False) -> None:
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.path = os.fspath(path)
        self.sample_rate = int(sample_rate)
        self.realtime = bool(realtime)
        self._lock = threading.Lock()  # guards the wave writer (one resource)
        self._wav: Optional[wave.Wave_write] = None
        self._fh: Optional[BinaryIO] = None
        self._closed = False
        self._frames = 0
        self._player = _PacedPlayer(self.sample_rate, self._append, self.realtime)

    def __repr__(self) -> str:
        return f"WavFileOutput({self.path!r}, sample_rate={self.sample_rate}, realtime={self.realtime})"

    def open(self) -> None:
        """Create (truncate) the WAV file.

        Raises:
            AudioDeviceError: the file cannot be created.
        """
        with self._lock:
            if self._wav is not None:
                return
            try:
                # Open the file ourselves: wave.open(path) leaves a broken object behind on failure.
                fh = open(self.path, "wb")  # noqa: SIM115 - lives until close()
            except OSError as exc:
                raise AudioDeviceError(f"cannot create WAV file {self.path!r}: {exc}") from exc
            wav = wave.open(fh, "wb")  # noqa: SIM115 - lives until close()
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            self._fh = fh
            self._wav = wav
            self._closed = False
            self._frames = 0

    def _append(self, pcm: bytes) -> None:
        with self._lock:
            if self._wav is None:
                return
            try:
                self._wav.writeframes(pcm)
            except (OSError, wave.Error) as exc:
                raise AudioDeviceError(f"cannot write WAV file {self.path!r}: {exc}") from exc
            self._frames += len(pcm) // 2

    def write(self, pcm: bytes) -> None:
        """Append ``pcm`` (PCM16 mono at ``sample_rate``) to the file.

        Raises:
            AudioDeviceError: the device was closed, or the file cannot be written.
        """
        if self._closed:
            raise AudioDeviceError(f"WavFileOutput({self.path!r}) is closed")
        if self._wav is None:
            self.open()
        self._player.play(bytes(pcm))

    def abort(self) -> None:
        """End an in-progress paced write early; audio already in the file stays."""
        self._player.abort()

    @property
    def latency_ms(self) -> float:
        """Always 0: the file has no buffer."""
        return 0.0

    @property
    def frames_written(self) -> int:
        """Samples written to the file so far."""
        return self._frames

    def close(self) -> None:
        """Finalize the WAV header and close the file. Idempotent."""
        self._closed = True
        self._player.abort()
        with self._lock:
            wav, self._wav = self._wav, None
            fh, self._fh = self._fh, None
            try:
                if wav is not None:
                    wav.close()  # writes the final header sizes
            except (OSError, wave.Error) as exc:
                _log.warning("closing WAV file %r failed: %s", self.path, exc)
            finally:
                if fh is not None:
                    fh.close()

    def __enter__(self) -> WavFileOutput:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class WavFileInput:
    """An input device that reads a 16-bit PCM WAV file, like a microphone would.

    Any sample rate works (:attr:`sample_rate` comes from the file; the client resamples).
    Stereo and multi-channel files are mixed down to mono by averaging the channels.

    ``read(frames)`` returns exactly ``frames * 2`` bytes until the file runs out, then one
    shorter final chunk, then ``b""`` (end of stream). With ``realtime=True`` reads are paced
    on a monotonic-clock schedule, so one second of audio takes one second to read; with
    ``realtime=False`` they return as fast as the file can be read. :meth:`close` makes a
    read that is waiting for its time return ``b""``. :meth:`open` rewinds to the start.

    Args:
        path: a WAV file with 16-bit PCM samples.
        realtime: pace reads at real time (default) or read as fast as possible.
        chunk_ms: the read size used when ``read()`` is called without ``frames``.

    Raises:
        AudioDeviceError: the file is missing, is not a WAV file, or its samples are not
            16-bit PCM.

    Threads: ``read`` from one thread (the ``realtime-capture`` thread); ``open`` and
    ``close`` from any thread.

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: PathLike, realtime: bool = True, chunk_ms: int = 20) -> None:
        if chunk_ms <= 0:
            raise ValueError(f"chunk_ms must be positive, got {chunk_ms!r}")
        self.path = os.fspath(path)
        self.realtime = bool(realtime)
        self.chunk_ms = int(chunk_ms)
        wav = self._open_wave()
        try:
            self.sample_rate: int = wav.getframerate()
            self.channels: int = wav.getnchannels()
            self.total_frames: int = wav.getnframes()
        finally:
            wav.close()
        self._io_lock = threading.Lock()  # guards the wave reader (one resource)
        self._wav: Optional[wave.Wave_read] = None
        self._closed = threading.Event()
        self._pos = 0
        self._t0: Optional[float] = None

    def __repr__(self) -> str:
        return f"WavFileInput({self.path!r}, sample_rate={self.sample_rate}, realtime={self.realtime})"

    @property
    def duration_s(self) -> float:
        """Length of the file in seconds."""
        return self.total_frames / float(self.sample_rate)

    def _open_wave(self) -> wave.Wave_read:
        try:
            wav = wave.open(self.path, "rb")  # noqa: SIM115 - lives until close()
        except FileNotFoundError as exc:
            raise AudioDeviceError(f"WAV file not found: {self.path!r}") from exc
        except (OSError, EOFError, wave.Error) as exc:
            raise AudioDeviceError(
                f"cannot read {self.path!r} as a 16-bit PCM WAV file ({exc}); "
                "convert it, e.g. `sox in.wav -b 16 -e signed-integer out.wav`"
            ) from exc
        width = wav.getsampwidth()
        if width != 2:
            wav.close()
            raise AudioDeviceError(
                f"{self.path!r} has {8 * width}-bit samples; WavFileInput needs 16-bit PCM "
                "(convert it, e.g. `sox in.wav -b 16 -e signed-integer out.wav`)"
            )
        return wav

    def open(self) -> None:
        """Open (or rewind) the file; the real-time schedule starts at the first read.

        Raises:
            AudioDeviceError: the file can no longer be read.
        """
        wav = self._open_wave()
        with self._io_lock:
            old, self._wav = self._wav, wav
            self._pos = 0
            self._t0 = None
            self._closed.clear()
        if old is not None:
            old.close()

    def read(self, frames: Optional[int] = None) -> bytes:
        """Return the next ``frames`` samples as PCM16 mono bytes; ``b""`` at the end.

        Args:
            frames: samples to read; default ``chunk_ms`` worth.

        Raises:
            AudioDeviceError: the file could not be read.
        """
        if frames is None:
            frames = max(1, self.sample_rate * self.chunk_ms // 1000)
        if self._wav is None and not self._closed.is_set():
            self.open()
        with self._io_lock:
            wav = self._wav
            if wav is None or self._closed.is_set():
                return b""
            try:
                raw = wav.readframes(frames)
            except (OSError, EOFError, wave.Error) as exc:
                raise AudioDeviceError(f"reading {self.path!r} failed: {exc}") from exc
        if self.channels > 1:
            raw = _downmix(raw, self.channels)
        got = len(raw) // 2
        if not got:
            return b""
        if self.realtime:
            if self._t0 is None:
                self._t0 = time.monotonic()
            deadline = self._t0 + (self._pos + got) / float(self.sample_rate)
            remaining = deadline - time.monotonic()
            if remaining > 0 and self._closed.wait(remaining):
                return b""
        self._pos += got
        return raw

    def close(self) -> None:
        """Close the file; a waiting ``read`` returns ``b""``. Idempotent."""
        self._closed.set()
        with self._io_lock:
            wav, self._wav = self._wav, None
        if wav is not None:
            wav.close()

    def __enter__(self) -> WavFileInput:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _downmix(raw: bytes, channels: int) -> bytes:
    samples = np.frombuffer(raw, dtype="<i2")
    usable = samples.size - samples.size % channels
    mixed = samples[:usable].reshape(-1, channels).astype(np.int32).mean(axis=1)
    return bytes(np.round(mixed).astype("<i2").tobytes())
