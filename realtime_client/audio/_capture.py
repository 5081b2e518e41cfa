"""The capture side of the audio engine: microphone → resample → echo handling → provider.

Each read from the input is stamped with the moment it was heard (the read's return time
minus the input latency) and cut into chunks (20 ms for the client); each chunk is placed on
the engine's sample timeline, passed through the echo processor (which compares it with what
was playing at that moment) and recorded. What a read completed is handed to ``on_capture``
at once, in one piece of about ``send_ms`` (a resampler holds a little back, so pieces vary
by up to a chunk): a provider that takes larger pieces gets fewer frames (and fewer wake-ups)
without changing how finely echo is handled. On stop, what was read is still sent.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from .._errors import AudioDeviceError
from .._types import AudioInput
from ._analysis import AudioVisualization
from ._echo import EchoProcessor
from ._format import AudioFormat
from ._g711 import encode
from ._record import ConversationRecorder
from ._resample import StreamResampler
from ._timeline import InputTimer, StreamClock, pcm_level

__all__ = ["CaptureLoop", "safe_call", "wrap_error"]

_log = logging.getLogger("realtime_client")


def wrap_error(exc: BaseException, what: str) -> AudioDeviceError:
    """``exc`` as an :class:`AudioDeviceError` saying ``what`` failed (chained)."""
    if isinstance(exc, AudioDeviceError):
        return exc
    err = AudioDeviceError(f"{what}: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


def safe_call(fn: Callable[..., Any], *args: Any) -> None:
    """Call an internal callback; log (never raise) what it raises."""
    try:
        fn(*args)
    except Exception:
        _log.exception("audio engine callback %r raised", getattr(fn, "__qualname__", fn))


class CaptureLoop:
    """Owns the input device and the ``realtime-capture`` thread (internal; see ``AudioEngine``).

    Args:
        input: the microphone (or ``None``: :meth:`start` does nothing).
        provider_format: what ``on_capture`` receives: audio is resampled to its rate and
            encoded last, after echo handling and recording (which work on PCM16).
        chunk_ms: size of the chunks echo handling and recording work on.
        send_ms: size of the device reads (rounded up to a multiple of ``chunk_ms``): each
            read's chunks go to ``on_capture`` at once, in one piece, and to the visualization
            (levels, taps) as one block; larger costs less CPU and reaches the provider later.
        visualization: fed with the raw captured audio.
        on_capture: receives each processed chunk, on ``realtime-capture``.
        on_error: device failures, on ``realtime-capture``.
        clock: places chunks on the engine's timeline (needed by ``echo`` and ``recorder``).
        echo: replaces each chunk with what may be sent (``None``: send as captured).
        recorder: records each chunk as sent.

    Threads: :meth:`start` and :meth:`stop` from any thread; the loop runs on its own thread.
    """

    def __init__(self, *, input: Optional[AudioInput], provider_format: AudioFormat, chunk_ms: int,
                 send_ms: Optional[int] = None, visualization: AudioVisualization,
                 on_capture: Callable[[bytes], None],
                 on_error: Callable[[Exception], None], clock: Optional[StreamClock] = None,
                 echo: Optional[EchoProcessor] = None,
                 recorder: Optional[ConversationRecorder] = None) -> None:
        self._input = input
        self._rate = provider_format.rate
        self._encoding = provider_format.encoding
        self._chunk_ms = int(chunk_ms)
        # a whole number of chunks, so every piece sent has the same size
        self._send_ms = max(1, -(-int(send_ms or chunk_ms) // self._chunk_ms)) * self._chunk_ms
        self._vis = visualization
        self._on_capture = on_capture
        self._on_error = on_error
        self._clock = clock
        self._echo = echo
        self._recorder = recorder
        self._lock = threading.Lock()
        self._starting = False
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._echo_failed = False

    @property
    def has_input(self) -> bool:
        """An input device was given."""
        return self._input is not None

    @property
    def is_capturing(self) -> bool:
        """The ``realtime-capture`` thread is running."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        """Open the input and start the ``realtime-capture`` thread. Idempotent.

        Raises:
            AudioDeviceError: the input could not be opened, or a previous capture thread is
                still stuck in a device read.
        """
        inp = self._input
        with self._lock:
            if inp is None or self._starting:
                return
            old = self._thread
            if old is not None and old.is_alive():
                if not self._stop.is_set():
                    return
                raise AudioDeviceError("the previous capture is stuck in a device read; try again later")
            self._starting = True
        try:
            try:
                prefer = getattr(inp, "prefer_sample_rate", None)
                if callable(prefer):
                    prefer(self._rate)
                prefer_buffer = getattr(inp, "prefer_buffer_ms", None)
                if callable(prefer_buffer):
                    prefer_buffer(self._send_ms)
                inp.open()
                rate = int(inp.sample_rate)
            except Exception as exc:
                raise wrap_error(exc, "could not open the audio input") from exc
            stop = threading.Event()
            resampler = StreamResampler(rate, self._rate)
            self._vis._set_input_rate(rate)
            if self._clock is not None:
                self._clock.restart()
            if self._echo is not None:
                self._echo.start_stream()
            thread = threading.Thread(target=self._main, args=(inp, rate, resampler, stop),
                                      name="realtime-capture", daemon=True)
            with self._lock:
                self._stop = stop
                self._thread = thread
            thread.start()
        finally:
            with self._lock:
                self._starting = False

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the capture thread and close the input; waits at most ``timeout`` seconds."""
        with self._lock:
            thread, stop = self._thread, self._stop
        if thread is None:
            return
        stop.set()
        if self._input is not None:
            try:
                self._input.close()
            except Exception as exc:
                _log.warning("closing the audio input failed: %s", exc)
        if thread is not threading.current_thread():
            thread.join(max(0.0, timeout))
            if thread.is_alive():
                _log.warning("realtime-capture did not stop within %.1f s", timeout)
                return
        with self._lock:
            if self._thread is thread:
                self._thread = None

    def _main(self, inp: AudioInput, rate: int, resampler: StreamResampler, stop: threading.Event) -> None:
        frames = max(1, rate * self._send_ms // 1000)
        chunk_bytes = max(2, self._rate * self._chunk_ms // 1000 * 2)
        bytes_per_s = 2.0 * self._rate
        timer = InputTimer(rate)
        latency_s = max(0.0, float(getattr(inp, "latency_ms", 0.0) or 0.0)) / 1000.0
        pending = bytearray()  # resampled, not processed yet
        heard_t = time.monotonic()

        def process(whole_chunks_only: bool, level: Optional[float] = None) -> None:
            outgoing = bytearray()
            while len(pending) >= chunk_bytes or (pending and not whole_chunks_only):
                piece = bytes(pending[:chunk_bytes])
                outgoing += self._process(piece, heard_t - len(pending) / bytes_per_s, level)
                del pending[: len(piece)]
                level = None
            if outgoing:  # everything this read completed, at once: never held for the next read
                self._send(bytes(outgoing))

        try:
            while not stop.is_set():
                data = inp.read(frames)  # a read cut short by stop() returns what it had
                # the last sample read was heard by now, minus what the device still buffers
                now = time.monotonic() - latency_s
                if not data:
                    if stop.is_set():
                        break
                    _log.debug("audio input ended (end of stream)")
                    pending += resampler.flush()
                    process(whole_chunks_only=False)
                    return
                n = len(data) // 2
                heard_t = timer.read(n, now) + n / rate  # when the last sample read was heard
                rms = pcm_level(data)
                self._vis._push_input(data, rate, rms / 32768.0)
                # the usual case: this read is exactly the next chunk, so its level is known
                exact = not pending and len(data) == chunk_bytes and resampler.passthrough
                pending += resampler.process(data)
                process(whole_chunks_only=True, level=rms if exact else None)
            # stopped (stop_listening, disconnect): the user's last words still go out
            process(whole_chunks_only=False)
        except Exception as exc:
            if stop.is_set():
                _log.debug("audio input raised while stopping: %s", exc)
                return
            err = wrap_error(exc, "audio input failed")
            _log.warning("capture stopped: %s", err)
            safe_call(self._on_error, err)

    def _process(self, chunk: bytes, start_t: float, level: Optional[float] = None) -> bytes:
        """``chunk`` (PCM16 heard from ``start_t``) placed on the timeline, cleaned of echo and
        recorded: what may be sent."""
        clock = self._clock
        if clock is None:
            return chunk
        index = clock.place(start_t, len(chunk) // 2)
        echo = self._echo
        if echo is not None and not self._echo_failed:
            try:
                chunk = echo.process(index, chunk, level)
            except Exception:
                # a broken echo processor must not silence the user: send audio unprocessed
                self._echo_failed = True
                _log.exception("echo handling failed; sending microphone audio unprocessed")
        if self._recorder is not None:
            self._recorder.add_user(index, chunk)
        return chunk

    def _send(self, pcm: bytes) -> None:
        safe_call(self._on_capture, encode(pcm, self._encoding))
