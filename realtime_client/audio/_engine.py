"""The audio engine: a capture thread (input → provider) and a playback thread (provider → output).

The engine is provider-independent; the client gives it the provider's PCM rates and a few
internal callbacks. Playback keeps, per item, how much audio was handed to the device, so an
interruption can tell the provider how much the user actually heard.

Timeline model (playback): ``_pos_s`` is the total audio handed to the device, in seconds.
A write in progress counts as handed progressively (blocking writes accept audio at the
device's pace). What is audible lags by the device latency, which drains away when nothing
more is written. Each item remembers where it started on that timeline, so its heard time
is ``clamp(heard_position - start, 0, handed)``; a flush freezes it.

Echo handling and recording share a second, sample-indexed timeline (``_timeline.py``): the
playback thread places each piece on it at the moment it becomes audible, a flush cuts what
was never heard, and the capture side (``_capture.py``) places each microphone chunk at the
moment it was heard, so the echo processor (``_echo.py``) and the recorder (``_record.py``)
compare and align the two directions by index.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, Deque, List, Optional, Tuple

from .._errors import AudioDeviceError
from .._types import AudioInput, AudioOutput
from ._analysis import AudioVisualization
from ._capture import CaptureLoop, safe_call, wrap_error
from ._echo import EchoProcessor, make_echo
from ._playback import PlaybackCore, PlayedItem, _Item, _Write
from ._record import ConversationRecorder
from ._resample import StreamResampler
from ._timeline import PlayedAudio, StreamClock

__all__ = ["AudioEngine", "PlayedItem"]

_log = logging.getLogger("realtime_client")

_FLUSH_WAIT_S = 0.25  # how long flush() keeps aborting a write that raced it


class AudioEngine(PlaybackCore):
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
        echo: ``"off"``, ``"gate"`` or ``"aec"`` (see ``_echo.py``): how captured audio is
            cleaned of the assistant's own voice before it is sent.
        record_to: a WAV path: the user (left, as sent) and the assistant (right, as
            played) are recorded there; finalized by :meth:`close`.

    Raises:
        ValueError: an unknown ``echo`` mode.
        ImportError: ``echo="aec"`` without the ``livekit`` package.
        AudioDeviceError: ``record_to`` cannot be created.

    Threads: every public method may be called from any thread; the ``on_*`` callbacks are
    called without any engine lock held.
    """

    def __init__(self, *, output: Optional[AudioOutput], input: Optional[AudioInput],
                 provider_output_rate: int, provider_input_rate: int,
                 on_capture: Callable[[bytes], None], on_playback_started: Callable[[str], None],
                 on_playback_idle: Callable[[], None], on_error: Callable[[Exception], None],
                 dispatcher: Callable[[Callable[[], None]], None], chunk_ms: int = 20,
                 echo: str = "off", record_to: Optional[str] = None) -> None:
        self._output = output
        self._out_rate_provider = int(provider_output_rate)
        self._in_rate_provider = int(provider_input_rate)
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
        self._timeline: List[str] = []  # items handed to the device since the last flush
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
        self._ref_resampler: Optional[StreamResampler] = None  # device rate -> timeline rate
        # The shared timeline exists only when something compares or records both directions.
        self._played: Optional[PlayedAudio] = None
        self.echo: Optional[EchoProcessor] = None
        self.recorder: Optional[ConversationRecorder] = None
        clock: Optional[StreamClock] = None
        if echo != "off" or record_to is not None:
            origin = time.monotonic()
            self._played = PlayedAudio(origin, self._in_rate_provider,
                                       keep_samples=echo == "aec" or record_to is not None)
            clock = StreamClock(origin, self._in_rate_provider)
            self.echo = make_echo(echo, self._played, self._in_rate_provider)
            if record_to is not None:
                self.recorder = ConversationRecorder(record_to, self._played, self._in_rate_provider,
                                                     on_error=self._report)
        self._capture = CaptureLoop(input=input, provider_rate=self._in_rate_provider,
                                    chunk_ms=self._chunk_ms, visualization=self.visualization,
                                    on_capture=on_capture, on_error=self._report, clock=clock,
                                    echo=self.echo, recorder=self.recorder)
        if self.recorder is not None:
            self.recorder.start()

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
            if self._played is not None and self._played.keep_samples:
                self._ref_resampler = StreamResampler(int(out.sample_rate), self._in_rate_provider)
        except Exception as exc:
            with self._cond:
                self._playback_state = "off"
            raise wrap_error(exc, "could not open the audio output") from exc
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
            What was heard of the item last audible since the previous flush, whether audio
            is still queued or the queue ran dry between deltas (``heard_ms`` is clamped to
            ``received_ms``); ``None`` when nothing was handed to the output since then, so
            each item is reported by at most one flush. The flushed items' counters stay
            answerable, and later audio for them is ignored.
        """
        with self._cond:
            now = time.monotonic()
            target = self._heard_item_locked(now)
            if target is None and self._queue:
                target = self._queue[0][0]
            for item_id in self._timeline:
                item = self._items.get(item_id)
                if item is not None and item.frozen_s is None:
                    item.frozen_s = self._heard_s_locked(item_id, item, now)
            result = None
            if target is not None:
                item = self._item_locked(target)
                received_ms = round(item.received_s * 1000.0, 3)
                heard_ms = min(self._heard_ms_of(target, item, now), received_ms)
                result = PlayedItem(target, heard_ms, received_ms)
            for item_id in [e[0] for e in self._queue] + self._timeline:
                self._drop_locked(item_id)
            if self._played is not None:
                self._played.cut(now)  # what the device still buffered is never heard
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

    # --- capture ----------------------------------------------------------------------------

    @property
    def has_input(self) -> bool:
        """An input device was given."""
        return self._capture.has_input

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
        return self._capture.is_capturing

    def start_capture(self) -> None:
        """Open the input and start the ``realtime-capture`` thread. Idempotent.

        Raises:
            AudioDeviceError: the input could not be opened, or a previous capture thread is
                still stuck in a device read.
        """
        with self._cond:
            if self._closed:
                raise AudioDeviceError("the audio engine is closed")
        self._capture.start()

    def stop_capture(self, timeout: float = 1.0) -> None:
        """Stop the capture thread and close the input; waits at most ``timeout`` seconds."""
        self._capture.stop(timeout)

    # --- shared -----------------------------------------------------------------------------

    def _report(self, err: Exception) -> None:
        safe_call(self._on_error, err)

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
            if self._played is not None:
                self._played.cut(time.monotonic())  # the output is closed: nothing more is heard
        if self.recorder is not None:
            self.recorder.close(max(0.05, deadline - time.monotonic()))
