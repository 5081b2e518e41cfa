"""The audio engine: a capture thread (input → provider) and a playback thread (provider → output).

The engine is provider-independent; the client gives it the provider's wire formats and a few
internal callbacks. It owns its two halves: :class:`~._playback.Playback` (the output, the
queue, per-item heard-time counters and the ``realtime-playback`` thread) and
:class:`~._capture.CaptureLoop` (the input and the ``realtime-capture`` thread). Playback keeps,
per item, how much audio was handed to the device, so an interruption can tell the provider
how much the user actually heard (``_ledger.py`` has the timeline model).

Echo handling and recording share a second, sample-indexed timeline (``_timeline.py``): the
playback thread places each piece on it at the moment it becomes audible, a flush cuts what
was never heard, and the capture side places each microphone chunk at the moment it was
heard, so the echo processor (``_echo.py``) and the recorder (``_record.py``) compare and
align the two directions by index.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from .._errors import AudioDeviceError
from .._types import AudioInput, AudioOutput
from ._analysis import AudioVisualization
from ._capture import CaptureLoop, safe_call
from ._echo import EchoProcessor, make_echo
from ._format import AudioFormat
from ._ledger import PlayedItem
from ._playback import Playback
from ._record import ConversationRecorder
from ._timeline import PlayedAudio, StreamClock

__all__ = ["AudioEngine", "PlayedItem"]

_log = logging.getLogger("realtime_client")


def _wire_format(fmt: Optional[AudioFormat], rate: Optional[int], direction: str) -> AudioFormat:
    if fmt is not None:
        if not isinstance(fmt, AudioFormat):
            raise TypeError(f"provider_{direction}_format must be an AudioFormat, got {fmt!r}")
        return fmt
    if rate is None:
        raise ValueError(f"give provider_{direction}_rate or provider_{direction}_format")
    return AudioFormat("pcm16", int(rate))


class AudioEngine:
    """Capture and playback threads between the client and its audio devices (internal).

    Args:
        output: the speaker, or ``None`` for no playback (audio given to ``play`` is counted
            and dropped).
        input: the microphone, or ``None`` for no capture.
        provider_output_rate: rate of the PCM16 given to :meth:`play` (ignored when
            ``provider_output_format`` is given).
        provider_input_rate: rate of the PCM16 handed to ``on_capture`` (ignored when
            ``provider_input_format`` is given).
        on_capture: receives captured audio in the input format, ``send_ms`` at a time;
            runs on ``realtime-capture``.
        on_playback_started: ``item_id`` whose first audio was written; on ``realtime-playback``.
        on_playback_idle: the queue drained and the device went quiet; on ``realtime-playback``.
        on_error: device failures (:class:`AudioDeviceError`), from either audio thread.
        dispatcher: runs the visualization taps (user code) off the audio threads.
        chunk_ms: the unit echo handling, recording and the visualization work in.
        send_ms: size of the microphone reads and of what ``on_capture`` receives (default
            ``chunk_ms``): larger costs fewer wake-ups and frames, and reaches the provider later.
        playback_piece_ms: the most written to the output at once; queued audio of one item
            is joined first, then written in pieces this long. Each piece costs a wake-up of
            ``realtime-playback`` and its bookkeeping, and a barge-in aborts whatever the
            device holds, so larger pieces cost no interruption latency. Inside a piece the
            output tops itself up as its buffer makes room (PyAudioOutput: half its buffer at
            a time), so how full the device stays does not depend on this size. 60 ms
            halved the playback thread's CPU against 20 ms (docs/benchmarks.md, "Sixth round");
            the echo reference still gets one level per ``chunk_ms``.
        echo: ``"off"``, ``"gate"`` or ``"aec"`` (see ``_echo.py``): how captured audio is
            cleaned of the assistant's own voice before it is sent.
        record_to: a WAV path: the user (left, as sent) and the assistant (right, as
            played) are recorded there; finalized by :meth:`close`.
        provider_input_format: the wire format ``on_capture`` receives, e.g.
            ``AudioFormat("g711_ulaw", 8000)``: captured audio is resampled to its rate,
            then encoded. Inside the engine (echo handling, recording) audio stays PCM16.
        provider_output_format: the wire format :meth:`play` accepts: it is decoded to
            PCM16, then resampled to the device. Every millisecond figure (``received_ms``,
            ``heard_ms``, :class:`PlayedItem`) is measured in this format.

    Raises:
        ValueError: an unknown ``echo`` mode, or neither a rate nor a format for a direction.
        ImportError: ``echo="aec"`` without the ``livekit`` package.
        AudioDeviceError: ``record_to`` cannot be created.

    Threads: every public method may be called from any thread; the ``on_*`` callbacks are
    called without any engine lock held.
    """

    def __init__(self, *, output: Optional[AudioOutput], input: Optional[AudioInput],
                 provider_output_rate: Optional[int] = None,
                 provider_input_rate: Optional[int] = None,
                 on_capture: Callable[[bytes], None], on_playback_started: Callable[[str], None],
                 on_playback_idle: Callable[[], None], on_error: Callable[[Exception], None],
                 dispatcher: Callable[[Callable[[], None]], None], chunk_ms: int = 20,
                 send_ms: Optional[int] = None, playback_piece_ms: int = 60,
                 echo: str = "off", record_to: Optional[str] = None,
                 provider_input_format: Optional[AudioFormat] = None,
                 provider_output_format: Optional[AudioFormat] = None) -> None:
        out_format = _wire_format(provider_output_format, provider_output_rate, "output")
        in_format = _wire_format(provider_input_format, provider_input_rate, "input")
        self._on_error = on_error
        self._lock = threading.Lock()
        self._closed = False
        self.visualization = AudioVisualization(
            dispatcher, input_sample_rate=getattr(input, "sample_rate", in_format.rate),
            output_sample_rate=getattr(output, "sample_rate", out_format.rate))
        # The shared timeline exists only when something compares or records both directions.
        played: Optional[PlayedAudio] = None
        clock: Optional[StreamClock] = None
        self.echo: Optional[EchoProcessor] = None
        self.recorder: Optional[ConversationRecorder] = None
        if echo != "off" or record_to is not None:
            origin = time.monotonic()
            played = PlayedAudio(origin, in_format.rate,
                                 keep_samples=echo == "aec" or record_to is not None)
            clock = StreamClock(origin, in_format.rate)
            self.echo = make_echo(echo, played, in_format.rate)
            if record_to is not None:
                self.recorder = ConversationRecorder(record_to, played, in_format.rate,
                                                     on_error=self._report)
        self._playback = Playback(output=output, provider_format=out_format, chunk_ms=playback_piece_ms,
                                  level_ms=chunk_ms,
                                  visualization=self.visualization, played=played,
                                  reference_rate=in_format.rate, on_started=on_playback_started,
                                  on_idle=on_playback_idle, on_error=self._report)
        self._capture = CaptureLoop(input=input, provider_format=in_format,
                                    chunk_ms=chunk_ms, send_ms=send_ms,
                                    visualization=self.visualization,
                                    on_capture=on_capture, on_error=self._report, clock=clock,
                                    echo=self.echo, recorder=self.recorder)
        if self.recorder is not None:
            self.recorder.start()

    def __repr__(self) -> str:
        state = (f"playback={self._playback.state}, capturing={self.is_capturing}, "
                 f"playing={self.is_playing}")
        return f"AudioEngine({state})"

    # --- playback ---------------------------------------------------------------------------

    def start_playback(self) -> None:
        """Open the output and start the ``realtime-playback`` thread. Idempotent.

        Raises:
            AudioDeviceError: the output could not be opened, or the engine is closed.
        """
        self._check_open()
        self._playback.start()

    def play(self, item_id: str, data: bytes) -> None:
        """Queue ``data`` of ``item_id``, in the provider output format, for playback. Never blocks.

        Audio of an item that was flushed or dropped is counted but not played.
        """
        self._playback.play(item_id, data)

    def flush(self) -> Optional[PlayedItem]:
        """Barge-in: discard all queued audio and abort the device now.

        Returns:
            What was heard of the item last audible since the previous flush, whether audio
            is still queued or the queue ran dry between deltas (``heard_ms`` is clamped to
            ``received_ms``); ``None`` when nothing was handed to the output since then, so
            each item is reported by at most one flush. The flushed items' counters stay
            answerable, and later audio for them is ignored.
        """
        return self._playback.flush()

    def drop_item(self, item_id: str) -> None:
        """Discard the queued audio of ``item_id`` and ignore any that arrives later."""
        self._playback.drop_item(item_id)

    def heard_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` handed to the device minus the device latency (>= 0)."""
        return self._playback.heard_ms(item_id)

    def received_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` given to :meth:`play`."""
        return self._playback.received_ms(item_id)

    @property
    def started_audible_at(self) -> Optional[float]:
        """When the audio announced by the latest ``on_playback_started`` became audible
        (``time.monotonic()``: when it was written, plus what the device still held ahead of
        it, at most the output's latency); read it in that callback."""
        return self._playback.started_audible_at

    @property
    def played_through(self) -> int:
        """How many :meth:`play` calls are over (heard, flushed or unplayable), as of the
        latest ``on_playback_idle``."""
        return self._playback.played_through

    @property
    def is_playing(self) -> bool:
        """Audio is queued or still audible."""
        return self._playback.is_playing

    @property
    def has_output(self) -> bool:
        """An output device was given."""
        return self._playback.has_output

    # --- capture ----------------------------------------------------------------------------

    @property
    def has_input(self) -> bool:
        """An input device was given."""
        return self._capture.has_input

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
            AudioDeviceError: the input could not be opened, a previous capture thread is
                still stuck in a device read, or the engine is closed.
        """
        self._check_open()
        self._capture.start()

    def stop_capture(self, timeout: float = 1.0) -> None:
        """Stop the capture thread and close the input; waits at most ``timeout`` seconds."""
        self._capture.stop(timeout)

    # --- shared -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        with self._lock:
            if self._closed:
                raise AudioDeviceError("the audio engine is closed")

    def _report(self, err: Exception) -> None:
        safe_call(self._on_error, err)

    def close(self, timeout: float = 1.0) -> None:
        """Stop both threads and close both devices; waits at most about ``timeout`` s. Idempotent."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._playback.request_stop()
        self.stop_capture(max(0.0, deadline - time.monotonic()))
        self._playback.close(max(0.0, deadline - time.monotonic()))
        if self.recorder is not None:
            self.recorder.close(max(0.05, deadline - time.monotonic()))
