"""The audio engine: a capture thread (input → provider) and a playback thread (provider → output).

The engine is provider-independent; the client gives it the provider's PCM rates and a few
internal callbacks. Playback keeps, per item, how much audio was handed to the device, so an
interruption can tell the provider how much the user actually heard.

Timeline model (playback): ``_pos_s`` is the total audio handed to the device, in seconds.
A write in progress counts as handed progressively (blocking writes accept audio at the
device's pace). What is audible lags by the device latency, which drains away when nothing
more is written. Each item remembers where it started on that timeline, so its heard time
is ``clamp(heard_position - start, 0, handed)``; a flush freezes it.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Deque, List, Optional, Tuple

import attrs

from .._errors import AudioDeviceError
from .._types import AudioInput, AudioOutput
from ._analysis import AudioVisualization
from ._resample import StreamResampler

__all__ = ["AudioEngine", "PlayedItem"]

_log = logging.getLogger("realtime_client")

_MAX_ITEMS = 512  # per-item counters kept (oldest forgotten first)
_FLUSH_WAIT_S = 0.25  # how long flush() keeps aborting a write that raced it


@attrs.frozen
class PlayedItem:
    """What was heard of the item playing when playback was flushed."""

    item_id: str
    heard_ms: float
    received_ms: float


class _Item:
    __slots__ = ("frozen_s", "handed_s", "received_s", "start_pos", "started")

    def __init__(self) -> None:
        self.received_s = 0.0
        self.handed_s = 0.0
        self.start_pos: Optional[float] = None
        self.frozen_s: Optional[float] = None
        self.started = False


@attrs.define
class _Write:
    item_id: str
    gen: int
    start_t: float
    dur_s: float


def _wrap_error(exc: BaseException, what: str) -> AudioDeviceError:
    if isinstance(exc, AudioDeviceError):
        return exc
    err = AudioDeviceError(f"{what}: {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


class AudioEngine:
    """Capture and playback threads between the client and its audio devices (internal).

    Args:
        output: the speaker, or ``None`` for no playback (audio given to ``play`` is counted
            and dropped).
        input: the microphone, or ``None`` for no capture.
        provider_output_rate: rate of the PCM16 given to :meth:`play`.
        provider_input_rate: rate of the PCM16 handed to ``on_capture``.
        on_capture: receives captured audio, ~``chunk_ms`` chunks; runs on ``realtime-capture``.
        on_playback_started: ``item_id`` whose first audio was written; on ``realtime-playback``.
        on_playback_idle: the queue drained and the device went quiet; on ``realtime-playback``.
        on_error: device failures (:class:`AudioDeviceError`), from either audio thread.
        dispatcher: runs the visualization taps (user code) off the audio threads.
        chunk_ms: size of device reads and writes.

    Threads: every public method may be called from any thread; the ``on_*`` callbacks are
    called without any engine lock held.
    """

    def __init__(self, *, output: Optional[AudioOutput], input: Optional[AudioInput],
                 provider_output_rate: int, provider_input_rate: int,
                 on_capture: Callable[[bytes], None], on_playback_started: Callable[[str], None],
                 on_playback_idle: Callable[[], None], on_error: Callable[[Exception], None],
                 dispatcher: Callable[[Callable[[], None]], None], chunk_ms: int = 20) -> None:
        self._output = output
        self._input = input
        self._out_rate_provider = int(provider_output_rate)
        self._in_rate_provider = int(provider_input_rate)
        self._on_capture = on_capture
        self._on_playback_started = on_playback_started
        self._on_playback_idle = on_playback_idle
        self._on_error = on_error
        self._chunk_ms = int(chunk_ms)
        self.visualization = AudioVisualization(
            dispatcher, input_sample_rate=getattr(input, "sample_rate", provider_input_rate),
            output_sample_rate=getattr(output, "sample_rate", provider_output_rate))
        self._cond = threading.Condition()
        self._queue: Deque[Tuple[str, bytes, int]] = collections.deque()
        self._items: collections.OrderedDict[str, _Item] = collections.OrderedDict()
        self._dropped: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._timeline: List[str] = []  # items handed to the device since the last idle/flush
        self._gen = 0  # bumped by flush(); queued chunks of older generations are dead
        self._pos_s = 0.0
        self._last_end_t = float("-inf")
        self._latency_s = 0.0
        self._write: Optional[_Write] = None
        self._active = False
        self._audible_announced = False  # on_playback_started fired since the last idle/flush
        self._flushing = 0
        self._stopping = False
        self._closed = False
        self._playback_state = "off"  # off | starting | running | failed
        self._playback_thread: Optional[threading.Thread] = None
        self._capture_starting = False
        self._capture_thread: Optional[threading.Thread] = None
        self._capture_stop = threading.Event()

    def __repr__(self) -> str:
        state = f"playback={self._playback_state}, capturing={self.is_capturing}, playing={self.is_playing}"
        return f"AudioEngine({state})"

    # --- playback: control side -----------------------------------------------------------

    def start_playback(self) -> None:
        """Open the output and start the ``realtime-playback`` thread. Idempotent.

        Raises:
            AudioDeviceError: the output could not be opened.
        """
        out = self._output
        with self._cond:
            if self._closed:
                raise AudioDeviceError("the audio engine is closed")
            if out is None or self._playback_state in ("starting", "running"):
                return
            self._playback_state = "starting"
        try:
            prefer = getattr(out, "prefer_sample_rate", None)
            if callable(prefer):
                prefer(self._out_rate_provider)
            out.open()
            latency_s = max(0.0, float(out.latency_ms) / 1000.0)
            resampler = StreamResampler(self._out_rate_provider, int(out.sample_rate))
        except Exception as exc:
            with self._cond:
                self._playback_state = "off"
            raise _wrap_error(exc, "could not open the audio output") from exc
        self.visualization._output.rate = int(out.sample_rate)
        thread = threading.Thread(target=self._playback_main, args=(out, resampler),
                                  name="realtime-playback", daemon=True)
        with self._cond:
            self._latency_s = latency_s
            self._playback_thread = thread
            self._playback_state = "running"
        thread.start()

    def play(self, item_id: str, pcm: bytes) -> None:
        """Queue provider-rate PCM16 of ``item_id`` for playback. Never blocks.

        Audio of an item that was flushed or dropped is counted but not played.
        """
        if not pcm:
            return
        with self._cond:
            item = self._item_locked(item_id)
            item.received_s += len(pcm) / 2.0 / self._out_rate_provider
            if self._output is None or self._closed or self._playback_state == "failed":
                return
            if item_id in self._dropped:
                return
            self._queue.append((item_id, bytes(pcm), self._gen))
            self._cond.notify_all()

    def flush(self) -> Optional[PlayedItem]:
        """Barge-in: discard all queued audio and abort the device now.

        Returns:
            What was heard of the item playing, or ``None`` when nothing was playing. The
            flushed items' counters stay answerable, and later audio for them is ignored.
        """
        with self._cond:
            now = time.monotonic()
            was_playing = bool(self._queue) or self._active
            target = self._heard_item_locked(now)
            if target is None and self._queue:
                target = self._queue[0][0]
            for item_id in self._timeline:
                item = self._items.get(item_id)
                if item is not None and item.frozen_s is None:
                    item.frozen_s = self._heard_s_locked(item_id, item, now)
            result = None
            if was_playing and target is not None:
                item = self._item_locked(target)
                heard_ms = self._heard_ms_of(target, item, now)
                result = PlayedItem(target, heard_ms, round(item.received_s * 1000.0, 3))
            for item_id in [e[0] for e in self._queue] + self._timeline:
                self._drop_locked(item_id)
            self._queue.clear()
            self._timeline = []
            self._gen += 1
            self._last_end_t = float("-inf")  # the device buffer is discarded below
            self._active = False
            self._audible_announced = False
            running = self._playback_state == "running"
            self._flushing += 1
            self._cond.notify_all()
        try:
            if running and self._output is not None:
                self._abort_output()
                self._wait_stale_write()
        finally:
            with self._cond:
                self._flushing -= 1
                self._cond.notify_all()
        return result

    def _wait_stale_write(self) -> None:
        # A write that began just after our abort would still play a flushed piece: abort
        # again until no write of an older generation is in progress.
        deadline = time.monotonic() + _FLUSH_WAIT_S
        while True:
            with self._cond:
                if self._write is None or self._write.gen == self._gen:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _log.warning("audio output did not abort within %.0f ms", _FLUSH_WAIT_S * 1000)
                    return
                self._cond.wait(min(0.005, remaining))
                if self._write is None or self._write.gen == self._gen:
                    return
            self._abort_output()

    def _abort_output(self) -> None:
        try:
            if self._output is not None:
                self._output.abort()
        except Exception as exc:
            _log.warning("aborting the audio output failed: %s", exc)

    def drop_item(self, item_id: str) -> None:
        """Discard the queued audio of ``item_id`` and ignore any that arrives later."""
        with self._cond:
            self._drop_locked(item_id)
            self._queue = collections.deque(e for e in self._queue if e[0] != item_id)
            self._cond.notify_all()

    def heard_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` handed to the device minus the device latency (>= 0)."""
        with self._cond:
            item = self._items.get(item_id)
            return 0.0 if item is None else self._heard_ms_of(item_id, item, time.monotonic())

    def received_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` given to :meth:`play`."""
        with self._cond:
            item = self._items.get(item_id)
            return 0.0 if item is None else round(item.received_s * 1000.0, 3)

    @property
    def is_playing(self) -> bool:
        """Audio is queued or still audible."""
        with self._cond:
            return bool(self._queue) or self._active

    # --- playback: bookkeeping (call with self._cond held) ---------------------------------

    def _item_locked(self, item_id: str) -> _Item:
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item()
            while len(self._items) > _MAX_ITEMS:
                self._items.popitem(last=False)
        return item

    def _drop_locked(self, item_id: str) -> None:
        self._dropped[item_id] = None
        while len(self._dropped) > _MAX_ITEMS:
            self._dropped.popitem(last=False)

    def _heard_pos_locked(self, now: float) -> float:
        w = self._write
        if w is not None and w.gen == self._gen:
            return self._pos_s + min(w.dur_s, max(0.0, now - w.start_t)) - self._latency_s
        pending = min(self._latency_s, max(0.0, self._last_end_t + self._latency_s - now))
        return self._pos_s - pending

    def _heard_s_locked(self, item_id: str, item: _Item, now: float) -> float:
        if item.frozen_s is not None:
            return item.frozen_s
        if item.start_pos is None:
            return 0.0
        handed = item.handed_s
        w = self._write
        if w is not None and w.gen == self._gen and w.item_id == item_id:
            handed += min(w.dur_s, max(0.0, now - w.start_t))
        return max(0.0, min(handed, self._heard_pos_locked(now) - item.start_pos))

    def _heard_ms_of(self, item_id: str, item: _Item, now: float) -> float:
        return round(self._heard_s_locked(item_id, item, now) * 1000.0, 3)

    def _heard_item_locked(self, now: float) -> Optional[str]:
        for item_id in reversed(self._timeline):
            item = self._items.get(item_id)
            if item is not None and self._heard_s_locked(item_id, item, now) > 0:
                return item_id
        return self._timeline[0] if self._timeline else None

    # --- playback thread --------------------------------------------------------------------

    def _playback_main(self, out: AudioOutput, resampler: StreamResampler) -> None:
        try:
            self._playback_loop(out, resampler)
        except Exception as exc:
            err = _wrap_error(exc, "audio output failed")
            _log.warning("playback stopped: %s", err)
            with self._cond:
                self._playback_state = "failed"
                self._queue.clear()
                self._active = False
                self._write = None
                self._cond.notify_all()
            self._report(err)

    def _playback_loop(self, out: AudioOutput, resampler: StreamResampler) -> None:
        res_gen = 0
        last_item: Optional[str] = None
        while True:
            with self._cond:
                while not self._queue and not self._stopping and not self._active:
                    self._cond.wait()
                if self._stopping:
                    return
                entry = self._queue.popleft() if self._queue else None
                gen = self._gen
                if entry is not None:
                    self._active = True
            if gen != res_gen:  # a flush happened: forget audio held in the resampler
                resampler.reset()
                res_gen = gen
            if entry is None:
                if self._drain(out, resampler, last_item, gen):
                    self._safe_call(self._on_playback_idle)
                last_item = None
                continue
            item_id, pcm, entry_gen = entry
            if entry_gen != gen:
                continue
            last_item = item_id
            self._write_pieces(out, item_id, gen, resampler.process(pcm))

    def _drain(self, out: AudioOutput, resampler: StreamResampler, last_item: Optional[str],
               gen: int) -> bool:
        """The queue ran dry: play the resampler's tail, wait out the latency. True = now idle."""
        tail = resampler.flush()
        if tail and last_item is not None:
            self._write_pieces(out, last_item, gen, tail)
        with self._cond:
            if gen == self._gen:
                deadline = time.monotonic() + self._latency_s
                while not self._queue and not self._stopping and gen == self._gen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._queue or self._stopping or gen != self._gen:
                return False  # more audio came, or a flush already ended this playback
            self._active = False
            self._audible_announced = False
            self._timeline = []
            return True

    def _write_pieces(self, out: AudioOutput, item_id: str, gen: int, data: bytes) -> None:
        step = max(2, out.sample_rate * self._chunk_ms // 1000 * 2)
        for offset in range(0, len(data), step):
            if not self._write_piece(out, item_id, gen, data[offset : offset + step]):
                return

    def _write_piece(self, out: AudioOutput, item_id: str, gen: int, data: bytes) -> bool:
        """Write one piece unless it was flushed or dropped meanwhile. False = stop this chunk."""
        dur_s = len(data) / 2.0 / out.sample_rate
        with self._cond:
            while self._flushing and not self._stopping:
                self._cond.wait(0.05)
            if self._stopping or gen != self._gen or item_id in self._dropped:
                return False
            item = self._item_locked(item_id)
            first = item.start_pos is None
            if first:
                item.start_pos = self._pos_s
                self._timeline.append(item_id)
            self._write = _Write(item_id, gen, time.monotonic(), dur_s)
        try:
            out.write(data)
        finally:
            with self._cond:
                self._write = None
                committed = gen == self._gen and item.frozen_s is None
                if committed:
                    self._pos_s += dur_s
                    item.handed_s += dur_s
                    self._last_end_t = time.monotonic()
                # announce the first audio of an item, and any resumption after the output went idle
                fire_started = committed and (not item.started or not self._audible_announced)
                if fire_started:
                    item.started = True
                    self._audible_announced = True
                self._cond.notify_all()
        latency_s = max(0.0, float(out.latency_ms) / 1000.0)
        with self._cond:
            self._latency_s = latency_s
        if committed:
            self.visualization._push_output(data, out.sample_rate)
        if fire_started:
            self._safe_call(self._on_playback_started, item_id)
        return committed

    # --- capture ----------------------------------------------------------------------------

    @property
    def has_input(self) -> bool:
        """An input device was given."""
        return self._input is not None

    @property
    def has_output(self) -> bool:
        """An output device was given."""
        return self._output is not None

    @property
    def capturing(self) -> bool:
        """Alias of :attr:`is_capturing`."""
        return self.is_capturing

    @property
    def is_capturing(self) -> bool:
        """The ``realtime-capture`` thread is running."""
        thread = self._capture_thread
        return thread is not None and thread.is_alive() and not self._capture_stop.is_set()

    def start_capture(self) -> None:
        """Open the input and start the ``realtime-capture`` thread. Idempotent.

        Raises:
            AudioDeviceError: the input could not be opened, or a previous capture thread is
                still stuck in a device read.
        """
        inp = self._input
        with self._cond:
            if self._closed:
                raise AudioDeviceError("the audio engine is closed")
            if inp is None or self._capture_starting:
                return
            old = self._capture_thread
            if old is not None and old.is_alive():
                if not self._capture_stop.is_set():
                    return
                raise AudioDeviceError("the previous capture is stuck in a device read; try again later")
            self._capture_starting = True
        try:
            try:
                prefer = getattr(inp, "prefer_sample_rate", None)
                if callable(prefer):
                    prefer(self._in_rate_provider)
                inp.open()
                rate = int(inp.sample_rate)
            except Exception as exc:
                raise _wrap_error(exc, "could not open the audio input") from exc
            stop = threading.Event()
            resampler = StreamResampler(rate, self._in_rate_provider)
            self.visualization._input.rate = rate
            thread = threading.Thread(target=self._capture_main, args=(inp, rate, resampler, stop),
                                      name="realtime-capture", daemon=True)
            with self._cond:
                self._capture_stop = stop
                self._capture_thread = thread
            thread.start()
        finally:
            with self._cond:
                self._capture_starting = False

    def stop_capture(self, timeout: float = 1.0) -> None:
        """Stop the capture thread and close the input; waits at most ``timeout`` seconds."""
        with self._cond:
            thread, stop = self._capture_thread, self._capture_stop
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
        with self._cond:
            if self._capture_thread is thread:
                self._capture_thread = None

    def _capture_main(self, inp: AudioInput, rate: int, resampler: StreamResampler,
                      stop: threading.Event) -> None:
        frames = max(1, rate * self._chunk_ms // 1000)
        chunk_bytes = max(2, self._in_rate_provider * self._chunk_ms // 1000 * 2)
        pending = bytearray()
        try:
            while not stop.is_set():
                data = inp.read(frames)
                if stop.is_set():
                    return
                if not data:
                    _log.debug("audio input ended (end of stream)")
                    pending += resampler.flush()
                    break
                self.visualization._push_input(data, rate)
                pending += resampler.process(data)
                while len(pending) >= chunk_bytes:
                    self._safe_call(self._on_capture, bytes(pending[:chunk_bytes]))
                    del pending[:chunk_bytes]
            if pending and not stop.is_set():
                self._safe_call(self._on_capture, bytes(pending))
        except Exception as exc:
            if stop.is_set():
                _log.debug("audio input raised while stopping: %s", exc)
                return
            err = _wrap_error(exc, "audio input failed")
            _log.warning("capture stopped: %s", err)
            self._report(err)

    # --- shared -----------------------------------------------------------------------------

    def _report(self, err: Exception) -> None:
        self._safe_call(self._on_error, err)

    @staticmethod
    def _safe_call(fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            _log.exception("audio engine callback %r raised", getattr(fn, "__qualname__", fn))

    def close(self, timeout: float = 1.0) -> None:
        """Stop both threads and close both devices; waits at most about ``timeout`` s. Idempotent."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stopping = True
            self._queue.clear()
            self._active = False
            thread = self._playback_thread
            self._cond.notify_all()
        self.stop_capture(max(0.0, deadline - time.monotonic()))
        if thread is not None and thread is not threading.current_thread():
            # A write ends within one piece; abort only a write that blocks longer than that.
            thread.join(min(max(0.0, deadline - time.monotonic()), 0.1 + self._chunk_ms / 1000.0))
            if thread.is_alive():
                self._abort_output()
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                _log.warning("realtime-playback did not stop within %.1f s", timeout)
        if self._output is not None and self._playback_state != "off":
            try:
                self._output.close()
            except Exception as exc:
                _log.warning("closing the audio output failed: %s", exc)
        with self._cond:
            self._playback_state = "off"
