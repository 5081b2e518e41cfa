"""``record_to=``: the conversation as heard, in one stereo WAV file.

Left channel: the user, i.e. the microphone audio exactly as it was sent (after echo
handling). Right channel: the assistant, i.e. the audio that was actually played (what a
barge-in flushed is not in it). Both sit on the engine's sample timeline, so a second in
the file is a second of wall-clock time; silence fills the gaps. 16-bit PCM at the
provider's input rate.

A ``realtime-recorder`` thread writes audio to the file once it can no longer change (half a
second after it was heard), so the audio threads never touch the disk; :meth:`close` writes
the rest and finalizes the header.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import wave
from typing import BinaryIO, Callable, Optional, Union

import numpy as np

from .._errors import AudioDeviceError
from ._timeline import AudioRing, PlayedAudio

__all__ = ["ConversationRecorder"]

_log = logging.getLogger("realtime_client")

PathLike = Union[str, "os.PathLike[str]"]

_PERIOD_S = 0.25  # how often the writer thread wakes up
_GUARD_S = 0.5  # audio this recent may still change (capture in flight, a flush); not written yet
_BLOCK_S = 1.0  # largest piece interleaved at once


class ConversationRecorder:
    """Records user (left) and assistant (right) audio on one timeline into a stereo WAV (internal).

    Args:
        path: the WAV file to create (overwritten).
        played: the assistant's played audio, on the engine's timeline.
        rate: the timeline's rate in Hz; the file's rate.
        on_error: called once (on the recorder thread) if writing fails; recording stops.
        seconds: how much unwritten user audio is kept in memory.

    Raises:
        AudioDeviceError: the file cannot be created.

    Threads: :meth:`add_user` from the capture thread; :meth:`start` and :meth:`close`
    from the engine's control thread. The ``realtime-recorder`` thread does the writing.
    """

    def __init__(self, path: PathLike, played: PlayedAudio, rate: int,
                 on_error: Optional[Callable[[Exception], None]] = None, seconds: float = 10.0) -> None:
        self.path = os.fspath(path)
        self.rate = int(rate)
        self._played = played
        self._on_error = on_error
        self._user = AudioRing(int(seconds * self.rate))
        self._lock = threading.Lock()  # the wave writer and the written position (one resource)
        self._written: Optional[int] = None  # timeline index written up to
        self._first_user: Optional[int] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._failed = False
        try:
            fh: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - lives until close()
        except OSError as exc:
            raise AudioDeviceError(f"cannot create the recording {self.path!r}: {exc}") from exc
        wav = wave.open(fh, "wb")  # noqa: SIM115 - lives until close()
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(self.rate)
        self._fh: Optional[BinaryIO] = fh
        self._wav: Optional[wave.Wave_write] = wav
        self.frames_written = 0

    def __repr__(self) -> str:
        return f"ConversationRecorder({self.path!r}, rate={self.rate}, frames_written={self.frames_written})"

    def start(self) -> None:
        """Start the ``realtime-recorder`` thread. Idempotent."""
        if self._thread is not None or self._stop.is_set():
            return
        self._thread = threading.Thread(target=self._main, name="realtime-recorder", daemon=True)
        self._thread.start()

    def add_user(self, index: int, pcm: bytes) -> None:
        """Record PCM16 sent to the provider, which was captured from timeline ``index`` on."""
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2")
        if self._first_user is None:
            self._first_user = index
        self._user.write(index, samples.astype(np.int16, copy=False))

    def _main(self) -> None:
        while not self._stop.wait(_PERIOD_S):
            now = self._played.index(time.monotonic())
            if not self._write_until(now - int(_GUARD_S * self.rate)):
                return

    def _start_index(self) -> Optional[int]:
        starts = [i for i in (self._first_user, self._played.first_index) if i is not None]
        return min(starts) if starts else None

    def _write_until(self, end: int) -> bool:
        """Write the timeline up to ``end``; False once writing has failed."""
        with self._lock:
            wav = self._wav
            if wav is None or self._failed:
                return False
            start = self._written if self._written is not None else self._start_index()
            if start is None or end <= start:
                return True
            block = max(1, int(_BLOCK_S * self.rate))
            try:
                for lo in range(start, end, block):
                    n = min(block, end - lo)
                    frames = np.empty((n, 2), dtype="<i2")
                    frames[:, 0] = self._user.read(lo, n)
                    frames[:, 1] = self._played.read(lo, n)
                    wav.writeframes(frames.tobytes())
                    self.frames_written += n
                    self._written = lo + n
            except (OSError, wave.Error) as exc:
                self._failed = True
                err = AudioDeviceError(f"writing the recording {self.path!r} failed: {exc}")
                err.__cause__ = exc
                failure: Optional[AudioDeviceError] = err
            else:
                failure = None
        if failure is not None:
            _log.warning("recording stopped: %s", failure)
            if self._on_error is not None:
                try:
                    self._on_error(failure)
                except Exception:
                    _log.exception("recorder on_error raised")
            return False
        return True

    def close(self, timeout: float = 1.0) -> None:
        """Stop the writer thread, write everything recorded so far and finalize the file. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout))
            if thread.is_alive():
                _log.warning("realtime-recorder did not stop within %.1f s", timeout)
        ends = [i for i in (self._user.head, self._played.head) if i is not None]
        if ends:
            self._write_until(max(ends))
        with self._lock:
            wav, self._wav = self._wav, None
            fh, self._fh = self._fh, None
        try:
            if wav is not None:
                wav.close()
        except (OSError, wave.Error) as exc:
            _log.warning("finalizing the recording %r failed: %s", self.path, exc)
        finally:
            if fh is not None:
                fh.close()
