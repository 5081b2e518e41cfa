"""AudioEngine.flush() when assistant audio trickles in at real-time pace (the queue runs dry)."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

from realtime_client.audio import BufferOutput
from realtime_client.audio._engine import PlayedItem
from tests.audio.engine_support import tone
from tests.helpers import wait_until

CHUNK_S = 0.2
CHUNK_BYTES = int(24000 * CHUNK_S) * 2


class PacedFeeder:
    """Plays 200 ms chunks of one item every 200 ms from its own thread, like a slow network."""

    def __init__(self, engine: Any, item_id: str, count: int) -> None:
        self.pcm = tone(440, 24000, CHUNK_S * count)
        self.sent: List[int] = []
        self._engine = engine
        self._item_id = item_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-feeder", daemon=True)

    def start(self) -> PacedFeeder:
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        for k in range(0, len(self.pcm), CHUNK_BYTES):
            if self._stop.is_set():
                return
            self._engine.play(self._item_id, self.pcm[k : k + CHUNK_BYTES])
            self.sent.append(k + CHUNK_BYTES)
            delay = t0 + CHUNK_S * len(self.sent) - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


def test_flush_between_paced_chunks_reports_the_item(make_engine: Callable[..., Any]) -> None:
    """A flush while the queue is empty between real-time chunks still reports what was heard."""
    out = BufferOutput(24000, realtime=True)
    engine, _rec = make_engine(output=out)
    engine.start_playback()
    feeder = PacedFeeder(engine, "item-a", count=3).start()
    time.sleep(3 * CHUNK_S + 0.15)  # all three chunks played; the next one is "late"
    feeder.stop()
    assert not engine.is_playing  # the queue ran dry: the engine went idle
    played = engine.flush()
    assert isinstance(played, PlayedItem)
    assert played.item_id == "item-a"
    assert played.received_ms == 600.0
    assert abs(played.heard_ms - len(out.played) / 48) <= 30
    assert played.heard_ms <= played.received_ms
    assert abs(played.heard_ms - 600.0) <= 30
    assert engine.flush() is None  # already reported


def test_flush_during_paced_chunks_matches_what_was_played(make_engine: Callable[..., Any]) -> None:
    """A flush in the middle of a real-time stream reports heard_ms within a few tens of ms."""
    out = BufferOutput(24000, realtime=True)
    engine, _rec = make_engine(output=out)
    engine.start_playback()
    feeder = PacedFeeder(engine, "item-a", count=10).start()
    time.sleep(0.9)
    played = engine.flush()
    played_now = len(out.played)
    feeder.stop()
    assert isinstance(played, PlayedItem)
    assert played.item_id == "item-a"
    assert abs(played.heard_ms - played_now / 48) <= 30
    assert 700 <= played.heard_ms <= 950
    assert played.heard_ms <= played.received_ms
    time.sleep(0.3)
    assert len(out.played) == played_now  # later chunks of the flushed item are not played
    assert engine.flush() is None


def test_flush_reports_only_the_latest_item_once(make_engine: Callable[..., Any]) -> None:
    """After two items played and went idle, flush reports the last one, then nothing."""
    out = BufferOutput(24000, realtime=False)
    engine, _rec = make_engine(output=out)
    engine.start_playback()
    engine.play("a", tone(440, 24000, 0.1))
    engine.play("b", tone(660, 24000, 0.05))
    wait_until(lambda: len(out.played) == 7200 and not engine.is_playing, 2.0, "both items played")
    played = engine.flush()
    assert played == PlayedItem("b", 50.0, 50.0)
    assert engine.flush() is None
    engine.play("c", tone(440, 24000, 0.02))
    wait_until(lambda: len(out.played) == 8160 and not engine.is_playing, 2.0, "c played")
    assert engine.flush() == PlayedItem("c", 20.0, 20.0)


class RacingOutput(BufferOutput):
    """An output whose first write pauses after the playback thread's own checks, before the
    device: where a barge-in can land between deciding to write a piece and writing it."""

    def __init__(self) -> None:
        super().__init__(24000, realtime=False)
        self.entered = threading.Event()
        self.go = threading.Event()

    def write_unless(self, pcm: bytes, cancelled: Any) -> None:
        if not self.entered.is_set():
            self.entered.set()
            self.go.wait(5.0)
        super().write_unless(pcm, cancelled)


def test_a_flush_that_lands_before_the_device_write_plays_nothing_of_that_piece(
    make_engine: Callable[..., Any],
) -> None:
    """A piece the playback thread decided to write just before a flush never reaches the device.

    The device asks whether the audio went stale right before it takes each piece; writing it
    anyway (and aborting again a few ms later) let the start of the interrupted answer leak
    out after the barge-in (29 samples at the speaker's monitor in one benchmark round).
    """
    out = RacingOutput()
    engine, rec = make_engine(output=out)
    engine.start_playback()
    engine.play("a", tone(440, 24000, 0.1))
    assert out.entered.wait(5.0)
    flusher = threading.Thread(target=engine.flush, name="test-flush", daemon=True)
    flusher.start()
    time.sleep(0.05)  # the flush has marked the audio stale and aborted the output
    out.go.set()
    flusher.join(5.0)
    assert not flusher.is_alive()
    assert out.played == b""
    assert rec.errors == []
