"""Microphone and speaker through PyAudio (PortAudio), and device listing.

pyaudio itself is imported only when a device is opened or listed, so a machine without it
can still use the file devices. Every PortAudio failure becomes an
:class:`~realtime_client.AudioDeviceError` whose message lists the devices that do exist.

PyAudio's blocking streams offer no way to discard queued output (``stop_stream`` drains
it, and ``Pa_AbortStream`` is not exposed), so :meth:`PyAudioOutput.abort` closes the
stream (``Pa_CloseStream`` discards pending buffers) and opens a fresh one with the same
settings. That is done by whichever thread holds the stream: a stream is never closed while
another thread is inside a read or write on it.

Nor is a read left blocking inside PortAudio: ``Pa_ReadStream`` waits as long as the device
delivers nothing (the monitor of an idle PulseAudio null sink renders 2 s blocks), a
``stop_stream`` from another thread does not wake it, and closing the stream under it
aborts the process (both measured with PortAudio 19.6 through ALSA's pulse plugin). So
:meth:`PyAudioInput.read` reads only what ``get_read_available()`` says is buffered (a whole
chunk, or a period of a larger one), and :meth:`PyAudioOutput.write` writes only what
``get_write_available()`` says fits.
Meanwhile each waits on an event, for as long as the missing audio takes to arrive (or to
play out) at the device's rate: one wake-up per chunk while audio flows, and no polling in
between (a 5 ms poll cost about 200 wake-ups per second per stream, each a trip through the
ALSA plugin: most of the audio threads' CPU). ``close()`` and ``abort()`` set that event, so
they take effect at once, however long the device stalls.

PortAudio plumbing (quiet native logging, device lookup, rate choice) is in ``_portaudio``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import attrs

from .._errors import AudioDeviceError
from ._playhead import PlayHead
from ._portaudio import (
    COMMON_RATES,
    DeviceSpec,
    _choose_rate,
    _fail,
    _infos,
    _log,
    _new_pa,
    _pyaudio_module,
    _quiet_stderr,
    _resolve,
    _supports,
    _terminate,
    silence_native_audio_logs,
)

_DEFAULT_RATE = 24000
_MARGIN_S = 0.002  # wait this much past the moment the missing audio is due (device blocks)
_STALL_S = 0.05  # a wait may always last this long (and up to two periods of a larger buffer)
_PA_INPUT_OVERFLOWED = -9981  # PaErrorCodes that only mean "samples were lost": poll again
_PA_OUTPUT_UNDERFLOWED = -9980


class _ReportLag:
    """How far an input's availability reports trail the device's clock, in frames.

    A wait is timed on the device's rate, but the reports it then reads may lag it, so a
    wait timed on the rate alone would find a few frames missing and sleep again: an extra
    wake-up for almost nothing. Each such shortfall is added here, and every wait is
    lengthened by what was learned; each wait that found enough forgets a little of it.
    ``limit`` bounds it (half a period). Outputs do not use it: a longer wait there comes out
    of what the device holds, and with two busy loops on the two cores that let the speaker
    run short.
    """

    __slots__ = ("frames", "limit")

    def __init__(self, limit: float) -> None:
        self.frames = 0.0
        self.limit = limit

    def missed(self, short: float) -> None:
        """A wait ended ``short`` frames before what it waited for was reported."""
        self.frames = min(self.limit, self.frames + max(0.0, short))

    def met(self) -> None:
        """A wait ended with what it waited for reported."""
        self.frames -= self.frames / 32.0


def _available(count: Any, benign: int) -> int:
    """Frames from ``get_read/write_available()``; PyAudio passes PortAudio errors on as negatives."""
    n = int(count)
    if n < 0 and n != benign:
        raise OSError(n, f"PortAudio error {n} (the stream broke)")
    return max(0, n)

__all__ = [
    "COMMON_RATES",
    "AudioDevice",
    "PyAudioInput",
    "PyAudioOutput",
    "list_devices",
    "silence_native_audio_logs",
]

class _PyAudioDevice:
    """What input and output share: resolving, opening, and closing a stream safely."""

    _direction = "input"

    def __init__(
        self, device: DeviceSpec, sample_rate: Optional[int], frames_per_buffer: Optional[int]
    ) -> None:
        if sample_rate is not None and int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.device = device
        self.sample_rate: int = int(sample_rate or _DEFAULT_RATE)
        self._wanted_rate = self.sample_rate
        self.frames_per_buffer = frames_per_buffer
        self._buffer_ms = 20  # PortAudio's buffer when frames_per_buffer is not given
        self.device_name: Optional[str] = None
        self.device_index: Optional[int] = None
        self._explicit_rate = sample_rate is not None
        # Held by whoever uses the stream (the audio thread, for a whole read or write);
        # other threads only try to take it and otherwise leave a flag for the holder.
        self._lock = threading.Lock()
        self._pa: Any = None
        self._stream: Any = None
        self._open_kwargs: Dict[str, Any] = {}
        self._closing = False
        # Set by close() (and abort()): ends a wait for the device at once.
        self._wake = threading.Event()
        self._longest_wait_s = _STALL_S

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(device={self.device!r}, sample_rate={self.sample_rate}, "
            f"open={self._stream is not None})"
        )

    def prefer_sample_rate(self, rate: int) -> None:
        """Use ``rate`` at the next :meth:`open` if no rate was given explicitly (engine hook)."""
        if not self._explicit_rate:
            self.sample_rate = self._wanted_rate = int(rate)

    def prefer_buffer_ms(self, ms: int) -> None:
        """Size PortAudio's buffer to ``ms`` at the next :meth:`open` if no ``frames_per_buffer``
        was given (engine hook: the capture reads chunks of that size, one wake-up each)."""
        self._buffer_ms = max(1, int(ms))

    def open(self) -> None:
        """Open the device (reopening it if already open).

        Raises:
            AudioDeviceError: no such device, or it cannot be opened; the message lists the
                devices that exist.
        """
        self.close()
        pa = _new_pa()
        direction = self._direction
        try:
            info = _resolve(pa, self.device, direction)
            rate = _choose_rate(pa, info, direction, self._wanted_rate)
            fpb = int(self.frames_per_buffer or max(1, rate * self._buffer_ms // 1000))
            pyaudio = _pyaudio_module()
            kwargs: Dict[str, Any] = {
                "format": pyaudio.paInt16,
                "channels": 1,
                "rate": rate,
                "frames_per_buffer": fpb,
            }
            if direction == "input":
                kwargs.update(input=True, input_device_index=info["index"])
            else:
                kwargs.update(output=True, output_device_index=info["index"])
            try:
                with _quiet_stderr():
                    stream = pa.open(**kwargs)
            except Exception as exc:
                raise _fail(
                    f"cannot open {direction} device {info['name']!r} at {rate} Hz ({exc})",
                    _infos(pa),
                    self.device,
                ) from exc
        except BaseException:
            _terminate(pa)
            raise
        if not self._lock.acquire(timeout=2.0):  # a read or write of the old stream is stuck
            stream.close()
            _terminate(pa)
            raise AudioDeviceError(f"{direction} device is still busy with its previous stream")
        try:
            if self._stream is not None:  # the old stream's close was left to its reader
                self._close_locked()
            self._pa, self._stream, self._open_kwargs = pa, stream, kwargs
            self._closing = False
            self._wake.clear()
        finally:
            self._lock.release()
        self.sample_rate = rate
        self.device_name = str(info["name"])
        self.device_index = int(info["index"])
        self._longest_wait_s = max(_STALL_S, 2.0 * fpb / rate)
        self._opened(stream)

    def _opened(self, stream: Any) -> None:
        """Hook for subclasses, called after each (re)open."""

    def _close_locked(self) -> None:
        stream, pa = self._stream, self._pa
        self._stream = self._pa = None
        if stream is not None:
            try:
                stream.close()
            except Exception as exc:
                _log.debug("closing the %s stream failed: %s", self._direction, exc)
        if pa is not None:
            _terminate(pa)

    def _wait(self, frames: float) -> bool:
        """Wait until ``frames`` more frames should have moved at the device's rate, or until
        :attr:`_wake` is set; clear a wake that nothing is pending on. A wait lasts at most
        50 ms, or two periods of a larger buffer.

        Returns:
            True if it slept the whole time, so that a shortfall reported next is the
            reports' lag (to learn), not a wait cut short.
        """
        due = max(0.0, frames) / float(self.sample_rate) + _MARGIN_S
        seconds = min(self._longest_wait_s, due)
        if self._wake.wait(seconds):
            if not self._wake_pending():
                self._wake.clear()
            return False
        return seconds == due

    def _wake_pending(self) -> bool:
        """A reason to stop waiting is pending (the caller re-checks it at the top of its loop)."""
        return self._closing

    def _after_io(self) -> None:
        # Double-check after releasing the lock: a close() that found it taken relies on us.
        if self._closing and self._lock.acquire(blocking=False):
            try:
                if self._closing:
                    self._close_locked()
            finally:
                self._lock.release()

    def close(self) -> None:
        """Close the stream and release PortAudio; a read or write in progress finishes first
        (on its own thread, which then closes). Idempotent."""
        self._closing = True
        self._wake.set()
        if self._lock.acquire(blocking=False):
            try:
                self._close_locked()
            finally:
                self._lock.release()


class PyAudioInput(_PyAudioDevice):
    """A microphone through PyAudio: PCM16 mono, blocking reads.

    Args:
        device: a device index, a case-insensitive substring of its name, or ``None`` for
            the default input device (see :func:`list_devices`).
        sample_rate: the rate to open at if the device supports it; otherwise the device's
            default rate is used (and the client resamples). ``None``: the provider's rate
            when used by the client, else 24000 Hz.
        frames_per_buffer: PortAudio buffer size; default 20 ms, or the chunk the client
            reads (``RealtimeClient(capture_chunk_ms=)``), so a chunk costs one wake-up.

    Raises:
        AudioDeviceError: from :meth:`open`/:meth:`read` when the device is missing or fails.

    Threads: ``read`` from the ``realtime-capture`` thread; ``open`` and ``close`` from the
    control thread. ``close`` never waits for a read: the reading thread closes the stream
    as soon as its current read returns, which is at once, since a read waits for input on
    an event that ``close`` sets, never inside PortAudio.

    .. versionadded:: 0.1.0
    """

    _direction = "input"

    def __init__(
        self,
        device: DeviceSpec = None,
        sample_rate: Optional[int] = None,
        frames_per_buffer: Optional[int] = None,
    ) -> None:
        super().__init__(device, sample_rate, frames_per_buffer)
        self._lag = _ReportLag(0.0)  # sized to the period at each open

    def _opened(self, stream: Any) -> None:
        self._lag.limit = float(self._open_kwargs.get("frames_per_buffer") or 0) / 2.0
        self._lag.frames = min(self._lag.frames, self._lag.limit)

    def read(self, frames: int) -> bytes:
        """Wait until ``frames`` samples were recorded and return them; ``b""`` once closed
        (a read that :meth:`close` cuts short returns what it had).

        The wait never blocks inside PortAudio: the stream is asked how much it holds, and
        the read waits (on an event) for as long as the rest takes to arrive at the device's
        rate, then reads it at once, a buffer period at a time when the read is larger than a
        period (the stream holds only a few); so with ``frames_per_buffer`` sized to the
        reads a chunk costs one wake-up while audio flows, and a :meth:`close` from another
        thread ends a read at once, even when the device delivers nothing for a while (the
        monitor of an idle PulseAudio sink can stall for two seconds; it is then asked again
        every 50 ms, or every two periods of a larger buffer).

        Raises:
            AudioDeviceError: the device failed.
        """
        try:
            with self._lock:
                stream = self._stream
                if stream is None or self._closing:
                    return b""
                try:
                    return self._read_locked(stream, frames)
                except Exception as exc:
                    if self._closing:
                        return b""
                    raise AudioDeviceError(
                        f"input device {self.device_name!r} stopped working (unplugged, or its "
                        f"sound server went away?): {exc}",
                        details={"device": self.device, "name": self.device_name},
                    ) from exc
        finally:
            self._after_io()

    def _read_locked(self, stream: Any, frames: int) -> bytes:
        """Wait until ``frames`` samples were read, then return them; fewer when closing.

        The stream buffers only a few of its periods (``frames_per_buffer``; PortAudio's ALSA
        host holds three, less one frame): a read larger than that is taken a period at a
        time as each arrives, else it would wait for a fill the buffer can never reach.
        """
        assert self._lock.locked()
        need = max(1, int(frames))
        period = max(1, int(self._open_kwargs.get("frames_per_buffer") or need))
        parts: List[bytes] = []
        got = 0
        held = -1  # what was available before the last wait
        timed = False  # the last wait slept its whole time (see _wait)
        while got < need:
            if self._closing:
                return b"".join(parts)  # what was recorded before close()
            available = _available(stream.get_read_available(), _PA_INPUT_OVERFLOWED)
            wanted = min(need - got, period)
            # a host that buffers less than a period (it may shrink what was asked for) stops
            # growing short of it: take what is there rather than wait for it forever
            if available >= wanted or (0 < available == held):
                if timed:
                    self._lag.met()
                timed = False
                take = min(available, need - got)
                parts.append(bytes(stream.read(take, exception_on_overflow=False)))
                got += take
                held = -1
            else:
                if timed:
                    self._lag.missed(wanted - available)
                held = available
                timed = self._wait(wanted - available + self._lag.frames)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class PyAudioOutput(_PyAudioDevice):
    """A speaker through PyAudio: PCM16 mono, blocking writes, small (20 ms) buffers.

    Args:
        device: a device index, a case-insensitive substring of its name, or ``None`` for
            the default output device (see :func:`list_devices`).
        sample_rate: the rate to open at if the device supports it; otherwise the device's
            default rate is used (and the client resamples). ``None``: the provider's rate
            when used by the client, else 24000 Hz.
        frames_per_buffer: PortAudio buffer size; default 20 ms. The first audio after a
            pause is heard about one buffer later (measured: 13 ms at 20 ms, 57 ms at 62.5 ms),
            so larger ones delay every answer's start (and cost fewer wake-ups); a barge-in
            discards them at once whatever their size.

    :meth:`abort` discards queued audio by closing the stream and opening a new one with the
    same settings (PyAudio does not expose ``Pa_AbortStream``); it takes effect at once when a
    write is in progress, however long the device takes to make room.

    Raises:
        AudioDeviceError: from :meth:`open`/:meth:`write` when the device is missing or fails.

    Threads: ``write`` from the ``realtime-playback`` thread; ``abort`` from any thread;
    ``open`` and ``close`` from the control thread.

    .. versionadded:: 0.1.0
    """

    _direction = "output"

    def __init__(
        self,
        device: DeviceSpec = None,
        sample_rate: Optional[int] = None,
        frames_per_buffer: Optional[int] = None,
    ) -> None:
        super().__init__(device, sample_rate, frames_per_buffer)
        self._abort_pending = False
        self._latency_s = 0.0
        self._queued_until = 0.0  # monotonic time by which everything written has played
        self._capacity = 1  # frames the stream's buffer holds (its free room when just opened)
        self._head = PlayHead(self.sample_rate, 1, 1)

    def _opened(self, stream: Any) -> None:
        try:
            self._latency_s = max(0.0, float(stream.get_output_latency()))
        except Exception:
            self._latency_s = 0.0
        try:
            self._capacity = max(1, int(stream.get_write_available()))
        except Exception:
            self._capacity = max(1, int(self._open_kwargs.get("frames_per_buffer", 1)))
        period = int(self._open_kwargs.get("frames_per_buffer") or self._capacity)
        self._head = PlayHead(self.sample_rate, self._capacity, period)

    def _wake_pending(self) -> bool:
        return self._closing or self._abort_pending

    @property
    def latency_ms(self) -> float:
        """How long audio written now waits before it is heard, in ms: what the stream's buffer
        holds now (measured at each write, to a fraction of a period: see ``_playhead``), or
        PortAudio's reported output latency before the first write. After a report that the
        buffer ran dry, what was written since counts as playing from its write."""
        head, now = self._head, time.monotonic()
        if not head.written:
            return self._latency_s * 1000.0
        if not head.known:  # it ran dry at the last report: what was written since plays from then
            return max(0.0, self._queued_until - now) * 1000.0
        return head.queued(now) * 1000.0 / self.sample_rate

    def write(self, pcm: bytes) -> None:
        """Play ``pcm`` (PCM16 mono at ``sample_rate``), blocking at the device's pace.

        Only what ``get_write_available()`` says fits is written. While the device is full
        the call waits on an event for as long as it takes to play out enough for the rest
        (or for half of what the buffer holds, so it never runs dry): a write costs one
        wake-up while audio flows, and :meth:`abort` and :meth:`close` take effect at once
        even when the device stops consuming (an idle PulseAudio null sink stalls for up to
        two seconds).

        Raises:
            AudioDeviceError: the device is closed or failed.
        """
        self.write_unless(pcm, None)

    def write_unless(self, pcm: bytes, cancelled: Optional[Callable[[], bool]]) -> None:
        """:meth:`write`, but stop before handing the device any more once ``cancelled()`` is
        true (engine hook). It is asked under the stream's lock, right before each piece goes
        to PortAudio, so a barge-in that marks the audio stale and then calls :meth:`abort`
        can never be overtaken by a write that checked earlier: either the piece went to the
        device before the abort (which then discards it), or it is never written.
        """
        try:
            with self._lock:
                if self._stream is None or self._closing:
                    raise AudioDeviceError(f"output device {self.device_name or self.device!r} is not open")
                self._apply_abort_locked()
                offset = 0
                while offset < len(pcm):
                    if self._abort_pending or self._closing:
                        self._apply_abort_locked()
                        return
                    if cancelled is not None and cancelled():
                        return
                    try:
                        room = _available(self._stream.get_write_available(), _PA_OUTPUT_UNDERFLOWED)
                        self._head.report(room, time.monotonic())
                        # after an underrun the report exceeds the buffer until PortAudio
                        # recovers: writing that much would block inside PortAudio
                        room = min(room, self._capacity)
                        # room for the rest, or for half the buffer: never wait for it to run dry
                        # (the estimate's margin is too wide to time a wake-up on: waits follow
                        # the device's own reports)
                        want = min((len(pcm) - offset) // 2, max(1, self._capacity // 2))
                        if room < want:  # full: wait for the device to make room, not in PortAudio
                            self._wait(want - room)
                            continue
                        piece = bytes(pcm[offset : offset + max(1, room) * 2])
                        self._stream.write(piece)
                        self._head.wrote(len(piece) // 2)
                    except Exception as exc:
                        raise AudioDeviceError(
                            f"output device {self.device_name!r} stopped working (unplugged, or its "
                            f"sound server went away?): {exc}",
                            details={"device": self.device, "name": self.device_name},
                        ) from exc
                    offset += len(piece)
                    now = time.monotonic()
                    self._queued_until = max(self._queued_until, now) + len(piece) / 2.0 / self.sample_rate
        finally:
            self._after_io()

    def abort(self) -> None:
        """Discard audio written but not played yet; an in-progress write returns early."""
        self._abort_pending = True
        self._wake.set()
        if self._lock.acquire(blocking=False):
            try:
                self._apply_abort_locked()
            finally:
                self._lock.release()

    def _apply_abort_locked(self) -> None:
        if not self._abort_pending:
            return
        self._abort_pending = False
        if not self._closing:
            self._wake.clear()
        if self._stream is None or self._closing:
            return
        if time.monotonic() >= self._queued_until + self._latency_s:
            return  # everything written has played: nothing to discard, keep the stream
        old, self._stream = self._stream, None
        try:
            old.close()  # Pa_CloseStream discards whatever is still queued
            with _quiet_stderr():
                self._stream = self._pa.open(**self._open_kwargs)
        except Exception as exc:
            raise AudioDeviceError(
                f"reopening output device {self.device_name!r} after abort failed: {exc}"
            ) from exc
        self._opened(self._stream)

    def _after_io(self) -> None:
        super()._after_io()
        if self._abort_pending and self._lock.acquire(blocking=False):
            try:
                self._apply_abort_locked()
            except AudioDeviceError as exc:
                _log.warning("%s", exc)
            finally:
                self._lock.release()


@attrs.frozen
class AudioDevice:
    """One audio device as PortAudio sees it.

    Attributes:
        index: pass it (or part of ``name``) as ``device=`` to PyAudioInput/PyAudioOutput.
        supported_rates: the common rates (8000 … 48000 Hz) a mono PCM16 stream opens at,
            in either direction (the union of ``input_rates`` and ``output_rates``).
        input_rates / output_rates: the same, per direction (empty without channels).

    .. versionadded:: 0.1.0
    """

    index: int
    name: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    supported_rates: Tuple[int, ...]
    is_default_input: bool
    is_default_output: bool
    input_rates: Tuple[int, ...] = ()
    output_rates: Tuple[int, ...] = ()


def _default_index(pa: Any, direction: str) -> Optional[int]:
    try:
        info = (
            pa.get_default_input_device_info()
            if direction == "input"
            else pa.get_default_output_device_info()
        )
    except (OSError, ValueError):
        return None
    return int(info["index"])


def list_devices() -> List[AudioDevice]:
    """Every audio device PortAudio can see, with the common rates each one supports.

    Raises:
        AudioDeviceError: PyAudio is missing or PortAudio cannot initialize.

    Threads: any thread.

    .. versionadded:: 0.1.0
    """
    pa = _new_pa()
    try:
        default_in, default_out = _default_index(pa, "input"), _default_index(pa, "output")
        devices = []
        for info in _infos(pa):
            index = int(info["index"])
            rates = {
                direction: tuple(r for r in COMMON_RATES if _supports(pa, index, direction, r))
                if info[key] > 0 else ()
                for direction, key in (("input", "maxInputChannels"), ("output", "maxOutputChannels"))
            }
            devices.append(
                AudioDevice(
                    index=index,
                    name=str(info["name"]),
                    max_input_channels=int(info["maxInputChannels"]),
                    max_output_channels=int(info["maxOutputChannels"]),
                    default_sample_rate=float(info["defaultSampleRate"]),
                    supported_rates=tuple(sorted(set(rates["input"]) | set(rates["output"]))),
                    is_default_input=index == default_in,
                    is_default_output=index == default_out,
                    input_rates=rates["input"],
                    output_rates=rates["output"],
                )
            )
        return devices
    finally:
        _terminate(pa)
