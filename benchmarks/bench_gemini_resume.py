"""Gemini session continuity: a long conversation across goAway, accelerated.

A 20-minute conversation with a goAway every 5 minutes, run 60x faster: the fake Gemini server
caps each connection at 5 s and warns 0.83 s before (50 s before a 5-minute cap, scaled). A
microphone streams 16 kHz audio at real time the whole way through while text turns are asked
back to back, so every move happens in a live conversation. Reported:

* resume time: ``on_go_away`` -> status ``connected`` on the new connection (median, p95, max);
* audio gap: wall time between the last input audio the old connection received and the first
  the new one received (median, max);
* lost audio: microphone audio the server never heard (captured - received; target 0, with
  < 100 ms allowed for what the resampler still holds at the end);
* lost messages: questions without their answer (target 0).

``conversation(minutes, every)`` is also what the test suite calls with a shorter one.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from typing import Any, Dict, List, Tuple

import numpy as np

from realtime_client import RealtimeClient, ReconnectPolicy
from realtime_client.audio import BufferOutput
from realtime_client.testing import FakeRealtimeServer

SPEEDUP = 60.0


class _Mic:
    """Endless low noise at 16 kHz, paced at real time; counts what it delivered."""

    sample_rate = 16000

    def __init__(self) -> None:
        self.frames = 0
        self._closed = threading.Event()
        self._rng = np.random.default_rng(7)

    def open(self) -> None:
        self._closed.clear()

    def read(self, frames: int) -> bytes:
        if self._closed.wait(frames / self.sample_rate):
            return b""
        self.frames += frames
        return self._rng.normal(0, 30, frames).astype("<i2").tobytes()

    def close(self) -> None:
        self._closed.set()


def conversation(minutes: float = 20.0, every: float = 5.0) -> Dict[str, Any]:
    """A ``minutes``-long conversation with a goAway every ``every`` minutes, at 60x speed."""
    logging.getLogger("realtime_client.testing.websockets").setLevel(logging.CRITICAL)
    cap = every * 60.0 / SPEEDUP
    marks: List[Tuple[str, float]] = []
    with FakeRealtimeServer(provider="gemini", max_session_seconds=cap,
                            go_away_seconds=50.0 / SPEEDUP) as server:
        mic = _Mic()
        client = RealtimeClient(
            get_token=server.get_token, adapter=server.adapter(), audio_input=mic,
            audio_output=BufferOutput(realtime=False),
            reconnect=ReconnectPolicy(attempts=5, base=0.05, cap=0.2, connect_timeout=3.0),
            on_go_away=lambda left: marks.append(("go_away", time.monotonic())),
            on_status_change=lambda s: marks.append((s.value, time.monotonic())))
        asked = answered = 0
        end = time.monotonic() + minutes * 60.0 / SPEEDUP
        try:
            client.connect(timeout=10)
            while time.monotonic() < end:
                asked += 1
                if client.ask(f"question {asked}", timeout=10).text == f"You said: question {asked}":
                    answered += 1
            client.stop_listening()
            captured_ms = mic.frames / 16.0
            time.sleep(0.3)
            _finish_move(marks, lifetime=cap - 50.0 / SPEEDUP)
            texts = [m.text for m in client.messages]
        finally:
            client.destroy()
        conns = list(server.connections)
        server_closed = sum(1 for c in conns if c.close_code is not None)
        heard_ms = sum(c.peer.audio_ms for c in conns)
        spans = [c.peer.audio_span for c in conns]
        resumed = sum(1 for c in conns[1:] if c.peer.resumed)
    resume_ms = []
    pending = None
    for what, at in marks:
        if what == "go_away":
            pending = at
        elif what == "connected" and pending is not None:
            resume_ms.append((at - pending) * 1000.0)
            pending = None
    gaps = [(b[0] - a[1]) * 1000.0 for a, b in zip(spans, spans[1:]) if a and b]
    expected = [t for i in range(1, asked + 1) for t in (f"question {i}", f"You said: question {i}")]
    return {"connections": len(conns), "resumed": resumed, "moves": len(resume_ms),
            "server_closed": server_closed,
            "resume_ms": resume_ms, "gap_ms": gaps, "captured_ms": captured_ms, "heard_ms": heard_ms,
            "lost_audio_ms": max(0.0, captured_ms - heard_ms), "asked": asked, "answered": answered,
            "lost_messages": asked - answered + (0 if texts == expected else 1)}


def _finish_move(marks: List[Tuple[str, float]], lifetime: float, timeout: float = 10.0) -> None:
    """Return once no move is under way or due soon, so that ending the run cuts none in half.

    A move begins with a goAway, ``lifetime`` seconds after its connection opened, and ends at
    ``connected``: wait until the last mark is a ``connected`` less than half a lifetime old.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = [(what, at) for what, at in list(marks) if what in ("go_away", "connected")][-1:]
        if not last or (last[0][0] == "connected" and time.monotonic() - last[0][1] < lifetime / 2):
            return
        time.sleep(0.01)
    raise TimeoutError("a goAway move did not reach connected")


def _p95(values: List[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run(quick: bool = False) -> List[Tuple[str, str, str, str]]:
    """Benchmark rows for ``python -m benchmarks`` (``quick``: 4 minutes, a goAway every 2)."""
    minutes, every = (4.0, 2.0) if quick else (20.0, 5.0)
    r = conversation(minutes, every)
    ok = (r["lost_messages"] == 0 and r["lost_audio_ms"] < 100 and r["resumed"] == r["connections"] - 1
          and r["server_closed"] == 0)
    resume, gap = r["resume_ms"], r["gap_ms"] or [0.0]
    return [
        (f"gemini {minutes:g}-min conversation (60x), goAway every {every:g} min",
         f"{r['connections']} connections, {r['resumed']} resumed, {r['asked']} questions", "", ""),
        ("gemini resume: goAway -> connected, median / p95 / max",
         f"{statistics.median(resume):.1f} / {_p95(resume):.1f} / {max(resume):.1f} ms", "", ""),
        ("gemini audio gap across a move, median / max",
         f"{statistics.median(gap):.1f} / {max(gap):.1f} ms", "", ""),
        ("gemini lost messages / lost user audio",
         f"{r['lost_messages']} / {r['lost_audio_ms']:.0f} ms "
         f"(of {r['captured_ms'] / 1000:.1f} s captured)", "0 / 0", "ok" if ok else "MISSED"),
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
