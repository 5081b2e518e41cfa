"""The playback side of the audio engine: provider audio → queue → resample → output device.

:class:`Playback` owns the output, the queue of provider audio, the per-item counters
(``_ledger.PlaybackLedger``, see there for the timeline model) and the ``realtime-playback``
thread. It places each piece it writes on the shared sample timeline (``_timeline.PlayedAudio``)
at the moment it becomes audible, and a flush cuts what was never heard, so the echo processor
and the recorder see exactly what the user heard.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable, Deque, List, Optional, Tuple

from .._errors import AudioDeviceError
from .._types import AudioOutput
from ._analysis import AudioVisualization
from ._capture import safe_call, wrap_error
from ._format import AudioFormat
from ._g711 import decode
from ._ledger import PlaybackLedger, PlayedItem
from ._resample import StreamResampler
from ._timeline import PlayedAudio, pcm_level

__all__ = ["Playback", "PlayedItem"]

_log = logging.getLogger("realtime_client")

_FLUSH_WAIT_S = 0.25  # how long flush() keeps aborting a write that raced it
_JOIN_S = 1.0  # the most queued audio of one item taken at once (then written piece by piece)
# the speaker counts as quiet only after this long without sound: audio streamed at real-time
# pace leaves gaps of a few ms between chunks, which no listener hears as the end of speech
_IDLE_HOLD_S = 0.08


def _cancellable_write(out: AudioOutput) -> Optional[Callable[[bytes, Callable[[], bool]], None]]:
    """The output's ``write_unless`` hook, unless a subclass overrode ``write`` without it
    (then ``write`` is what the subclass means, and it is called)."""
    hook = getattr(out, "write_unless", None)
    if not callable(hook):
        return None
    mro = type(out).__mro__
    write_owner = next((c for c in mro if "write" in vars(c)), None)
    hook_owner = next((c for c in mro if "write_unless" in vars(c)), None)
    if write_owner is not None and hook_owner is not None and write_owner is not hook_owner \
            and issubclass(write_owner, hook_owner):
        return None
    return hook


Slice = Tuple[Optional[bytes], int, float]  # reference PCM16 (or None), its samples, its level


def _echo_slices(data: bytes, rate: int, ref: Optional[bytes], ref_rate: int, slice_ms: int) -> List[Slice]:
    """A piece of PCM16 at ``rate`` cut into ``slice_ms`` slices for the echo reference: its
    resampled copy ``ref`` (at ``ref_rate``; ``None`` when samples are not kept), split at the
    same instants, with each slice's samples at ``ref_rate`` and level (RMS, int16 units)."""
    step = max(2, rate * slice_ms // 1000 * 2)
    total = len(ref) // 2 if ref is not None else round(len(data) / 2.0 / rate * ref_rate)
    slices: List[Slice] = []
    begin = 0
    for offset in range(0, len(data), step):
        last = offset + step >= len(data)
        end = total if last else min(total, round((offset + step) / 2 * ref_rate / rate))
        part = ref[begin * 2 : end * 2] if ref is not None else None
        slices.append((part, end - begin, pcm_level(data[offset : offset + step])))
        begin = end
    return slices


class Playback:
    """Owns the output device and the ``realtime-playback`` thread (internal; see ``AudioEngine``).

    Args:
        output: the speaker, or ``None`` (audio given to :meth:`play` is counted and dropped).
        provider_format: the encoding and rate of the bytes given to :meth:`play`.
        chunk_ms: the most written to the device at once.
        level_ms: the slices the echo reference gets one level each for.
        visualization: fed with what is played.
        played: the shared timeline to place played audio on, or ``None``.
        reference_rate: the rate of ``played`` (the provider input rate).
        on_started: ``item_id`` whose audio became audible; on ``realtime-playback``.
        on_idle: the queue drained and the device went quiet; on ``realtime-playback``.
        on_error: device failures (:class:`AudioDeviceError`); on ``realtime-playback``.

    Threads: every public method may be called from any thread; the callbacks are called
    without the lock held. Methods whose names start with ``_thread`` run on
    ``realtime-playback``.
    """

    def __init__(self, *, output: Optional[AudioOutput], provider_format: AudioFormat,
                 chunk_ms: int, level_ms: int = 20, visualization: AudioVisualization,
                 played: Optional[PlayedAudio],
                 reference_rate: int, on_started: Callable[[str], None], on_idle: Callable[[], None],
                 on_error: Callable[[Exception], None]) -> None:
        self._output = output
        self._format = provider_format
        self._chunk_ms = int(chunk_ms)
        self._level_ms = max(1, int(level_ms))
        self._vis = visualization
        self._played = played
        self._reference_rate = int(reference_rate)
        self._on_started = on_started
        self._on_idle = on_idle
        self._on_error = on_error
        self._cond = threading.Condition()
        self._ledger = PlaybackLedger()
        self._queue: Deque[Tuple[str, bytes, int]] = collections.deque()  # (item, pcm16, gen)
        self._active = False  # audio is being written or is still audible
        self._audible_announced = False  # on_started fired since the last idle/flush
        self._flushing = 0
        self._stopping = False
        self._state = "off"  # off | starting | running | failed
        self._thread: Optional[threading.Thread] = None
        self._ref_resampler: Optional[StreamResampler] = None  # device rate -> reference rate
        self._reference_end = 0.0  # when the audio placed last on the timeline stops being heard
        # the output's write_unless hook, or None: set by realtime-playback as it starts
        self._write_unless: Optional[Callable[[bytes, Callable[[], bool]], None]] = None
        self._chunks_in = 0  # play() calls so far
        self._played_through = 0  # the first this many are over: heard, flushed or unplayable
        # when everything handed to the device has left its buffer, assuming it plays on from
        # the first write after it went quiet (a write returns once its audio fits, not played)
        self._drained_at = 0.0
        #: when the audio announced by the latest ``on_started`` became audible (monotonic);
        #: set on ``realtime-playback`` just before the callback, so the callback can read it
        self.started_audible_at: Optional[float] = None

    @property
    def state(self) -> str:
        """``off``, ``starting``, ``running`` or ``failed``."""
        return self._state

    @property
    def has_output(self) -> bool:
        """An output device was given."""
        return self._output is not None

    @property
    def played_through(self) -> int:
        """How many :meth:`play` calls are over (heard to the end, flushed or unplayable) as of
        the latest ``on_idle``: the client compares it with how many it made."""
        with self._cond:
            return self._played_through

    @property
    def is_playing(self) -> bool:
        """Audio is queued or still audible."""
        with self._cond:
            return bool(self._queue) or self._active

    def start(self) -> None:
        """Open the output and start the ``realtime-playback`` thread. Idempotent.

        Raises:
            AudioDeviceError: the output could not be opened, or playback was closed.
        """
        out = self._output
        with self._cond:
            if self._stopping:
                raise AudioDeviceError("the audio engine is closed")
            if out is None or self._state in ("starting", "running"):
                return
            self._state = "starting"
        try:
            prefer = getattr(out, "prefer_sample_rate", None)
            if callable(prefer):
                prefer(self._format.rate)
            out.open()
            latency_s = max(0.0, float(out.latency_ms) / 1000.0)
            resampler = StreamResampler(self._format.rate, int(out.sample_rate))
            ref = None
            if self._played is not None and self._played.keep_samples:
                ref = StreamResampler(int(out.sample_rate), self._reference_rate)
        except Exception as exc:
            with self._cond:
                self._state = "off"
            raise wrap_error(exc, "could not open the audio output") from exc
        self._vis._set_output_rate(int(out.sample_rate))
        thread = threading.Thread(target=self._thread_main, args=(out, resampler),
                                  name="realtime-playback", daemon=True)
        with self._cond:
            self._ledger.latency_s = latency_s
            self._ref_resampler = ref
            self._thread = thread
            self._state = "running"
        thread.start()

    def play(self, item_id: str, data: bytes) -> None:
        """Queue ``data`` (in the provider format) of ``item_id`` for playback. Never blocks.

        Audio of an item that was flushed or dropped is counted but not played.
        """
        seconds = self._format.duration_ms(len(data)) / 1000.0
        pcm = decode(data, self._format.encoding) if data else b""  # PCM16 at the provider rate
        with self._cond:
            self._chunks_in += 1
            if data:
                self._ledger.receive(item_id, seconds)
            playable = (bool(data) and self._output is not None and not self._stopping
                        and self._state != "failed" and not self._ledger.is_dropped(item_id))
            if playable:
                self._queue.append((item_id, pcm, self._ledger.gen))
                self._cond.notify_all()
                return
            quiet = not self._queue and not self._active
            if quiet:
                self._played_through = self._chunks_in
        if quiet:  # nothing will play it, and nothing else is playing: say so now
            safe_call(self._on_idle)

    def flush(self) -> Optional[PlayedItem]:
        """Barge-in: discard all queued audio and abort the device now.

        Returns:
            What was heard of the item last audible since the previous flush (see
            ``AudioEngine.flush``), or ``None``.
        """
        with self._cond:
            now = time.monotonic()
            result = self._ledger.cut(now, [e[0] for e in self._queue])
            if self._played is not None:
                self._played.cut(now)  # what the device still buffered is never heard
            self._queue.clear()
            self._active = False
            self._audible_announced = False
            self._played_through = self._chunks_in
            self._drained_at = now  # the abort discards what the device buffered
            running = self._state == "running"
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
                if not self._ledger.writing_stale():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _log.warning("audio output did not abort within %.0f ms", _FLUSH_WAIT_S * 1000)
                    return
                self._cond.wait(min(0.005, remaining))
                if not self._ledger.writing_stale():
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
            self._ledger.drop(item_id)
            self._queue = collections.deque(e for e in self._queue if e[0] != item_id)
            self._cond.notify_all()

    def heard_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` handed to the device minus the device latency (>= 0)."""
        with self._cond:
            return self._ledger.heard_ms(item_id, time.monotonic())

    def received_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` given to :meth:`play`."""
        with self._cond:
            return self._ledger.received_ms(item_id)

    def request_stop(self) -> None:
        """Begin closing: refuse new audio and tell the thread to stop (does not wait)."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._active = False
            self._cond.notify_all()

    def close(self, timeout: float) -> None:
        """Stop the thread and close the output; waits at most about ``timeout`` s. Idempotent."""
        deadline = time.monotonic() + max(0.0, timeout)
        self.request_stop()
        with self._cond:
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            # A write ends within one piece; abort only a write that blocks longer than that.
            thread.join(min(max(0.0, deadline - time.monotonic()), 0.1 + self._chunk_ms / 1000.0))
            if thread.is_alive():
                self._abort_output()
                thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                _log.warning("realtime-playback did not stop within %.1f s", timeout)
        if self._output is not None and self._state != "off":
            try:
                self._output.close()
            except Exception as exc:
                _log.warning("closing the audio output failed: %s", exc)
        with self._cond:
            self._state = "off"
            if self._played is not None:
                self._played.cut(time.monotonic())  # the output is closed: nothing more is heard

    # --- the realtime-playback thread -------------------------------------------------------

    def _thread_main(self, out: AudioOutput, resampler: StreamResampler) -> None:
        self._write_unless = _cancellable_write(out)  # once: the output is this thread's for good
        try:
            self._thread_loop(out, resampler)
        except Exception as exc:
            err = wrap_error(exc, "audio output failed")
            _log.warning("playback stopped: %s", err)
            with self._cond:
                self._state = "failed"
                self._queue.clear()
                self._active = False
                self._played_through = self._chunks_in
                self._ledger.abandon_write()
                self._audible_announced = False
                self._cond.notify_all()
            safe_call(self._on_error, err)
            safe_call(self._on_idle)  # the speaker went silent for good: nothing more will play

    def _thread_loop(self, out: AudioOutput, resampler: StreamResampler) -> None:
        res_gen = 0
        last_item: Optional[str] = None
        while True:
            with self._cond:
                while not self._queue and not self._stopping and not self._active:
                    self._cond.wait()
                if self._stopping:
                    return
                entry = self._take_queued() if self._queue else None
                gen = self._ledger.gen
                if entry is not None:
                    self._active = True
                ref = self._ref_resampler
            if gen != res_gen:  # a flush happened: forget audio held in the resamplers
                resampler.reset()
                if ref is not None:
                    ref.reset()
                res_gen = gen
            if entry is None:
                if self._thread_drain(out, resampler, last_item, gen):
                    safe_call(self._on_idle)
                last_item = None
                continue
            item_id, pcm, entry_gen = entry
            if entry_gen != gen:
                continue
            last_item = item_id
            self._thread_write_pieces(out, item_id, gen, resampler.process(pcm))

    def _take_queued(self) -> Tuple[str, bytes, int]:
        """The next queued chunk, joined with the chunks of the same item queued behind it (up
        to ``_JOIN_S``): they play back to back anyway, and each write wakes this thread (the
        wake-ups, not the bytes, are what playback costs). Called with the lock held."""
        item_id, pcm, gen = self._queue.popleft()
        parts, size = [pcm], len(pcm)
        limit = int(self._format.rate * _JOIN_S) * 2  # PCM16 bytes
        while self._queue and size < limit and self._queue[0][0] == item_id and self._queue[0][2] == gen:
            parts.append(self._queue.popleft()[1])
            size += len(parts[-1])
        return item_id, pcm if len(parts) == 1 else b"".join(parts), gen

    def _thread_drain(self, out: AudioOutput, resampler: StreamResampler, last_item: Optional[str],
                      gen: int) -> bool:
        """The queue ran dry: play the resampler's tail, wait until it was heard. True = now idle.

        The wait lasts until what the device still buffers has played (by the estimate in
        ``_drained_at``, and never more than the latency: a device buffers no more than that),
        plus the latency, and at least ``_IDLE_HOLD_S`` after the sound ends. A write returns as
        soon as its audio fits, so with audio arriving at real-time pace the last chunk is often
        still all ahead: idling one latency after the write made the mode flap between speaking
        and thinking at every chunk; and an output with no latency (``BufferOutput``) runs dry
        for a few ms between such chunks, which flapped it too.
        """
        tail = resampler.flush()
        if tail and last_item is not None:
            self._thread_write_pieces(out, last_item, gen, tail)
        self._thread_flush_reference(gen)
        with self._cond:
            if gen == self._ledger.gen:
                now, latency = time.monotonic(), self._ledger.latency_s
                sound_ends = now + min(max(0.0, self._drained_at - now), latency)
                deadline = sound_ends + max(latency, _IDLE_HOLD_S)
                while not self._queue and not self._stopping and gen == self._ledger.gen:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._queue or self._stopping or gen != self._ledger.gen:
                return False  # more audio came, or a flush already ended this playback
            self._active = False
            self._audible_announced = False
            self._played_through = self._chunks_in
            return True  # the ledger's timeline stays: a flush still reports what was heard last

    def _thread_flush_reference(self, gen: int) -> None:
        """The speaker's audio paused: what the reference resampler held back of its end goes on
        the timeline now, right after it (left there, it began the next answer: the recording
        and the echo reference lost 10-30 ms of each answer's end to the next one's start)."""
        ref, played = self._ref_resampler, self._played
        if ref is None or played is None:
            return
        held = ref.flush()
        with self._cond:
            if held and gen == self._ledger.gen and not self._stopping:
                played.add(self._reference_end, held, n=len(held) // 2)

    def _thread_write_pieces(self, out: AudioOutput, item_id: str, gen: int, data: bytes) -> None:
        step = max(2, out.sample_rate * self._chunk_ms // 1000 * 2)
        for offset in range(0, len(data), step):
            if not self._thread_write_piece(out, item_id, gen, data[offset : offset + step]):
                return

    def _thread_write_piece(self, out: AudioOutput, item_id: str, gen: int, data: bytes) -> bool:
        """Write one piece unless it was flushed or dropped meanwhile. False = stop this chunk."""
        dur_s = len(data) / 2.0 / out.sample_rate
        played, ref_resampler = self._played, self._ref_resampler
        ref = ref_resampler.process(data) if played is not None and ref_resampler is not None else None
        slices = (_echo_slices(data, out.sample_rate, ref, self._reference_rate, self._level_ms)
                  if played is not None else [])
        level = pcm_level(data)  # the visualization's
        with self._cond:
            while self._flushing and not self._stopping:
                self._cond.wait(0.05)
            if self._stopping or gen != self._ledger.gen or self._ledger.is_dropped(item_id):
                return False
            start_t = time.monotonic()
            # what the device still holds plays first: none of it after a pause, at most its latency
            ahead_s = self._ledger.pending_s(start_t)
            self._ledger.begin_write(item_id, gen, start_t, dur_s)
            if played is not None:
                # under the lock, so a concurrent flush either sees it (and cuts it) or precedes it
                at = start_t + ahead_s
                for part, n, part_level in slices:  # one level per slice, for the echo gate
                    played.add(at, part, n=n, level=part_level)
                    at += n / played.rate
                self._reference_end = at
        write_unless = self._write_unless
        try:
            if write_unless is not None:
                # asked by the device right before each piece reaches it: a flush that made
                # this audio stale cannot be overtaken by this write
                write_unless(data, lambda: self._stopping or gen != self._ledger.gen)
            else:
                out.write(data)
        finally:
            with self._cond:
                committed = self._ledger.end_write(time.monotonic())
                if committed:
                    self._drained_at = max(self._drained_at, start_t) + dur_s
                # announce the first audio of an item, and any resumption after the output went idle
                fire_started = committed and (self._ledger.mark_started(item_id)
                                              or not self._audible_announced)
                if fire_started:
                    self._audible_announced = True
                self._cond.notify_all()
        latency_s = max(0.0, float(out.latency_ms) / 1000.0)
        with self._cond:
            self._ledger.latency_s = latency_s
        if committed:
            self._vis._push_output(data, out.sample_rate, level / 32768.0)
        if fire_started:
            self.started_audible_at = start_t + ahead_s
            safe_call(self._on_started, item_id)
        return committed
