"""Resilience figures: reconnect time, disconnect() latency, memory over a long conversation.

* Reconnect time: ``server.drop_connections()`` → status ``connected`` again (fresh token,
  handshake, session config applied, history replayed), median and p95 over ``RECONNECTS``.

* ``disconnect()`` p50/p99 over connect/ask/disconnect cycles (target p99 <= 100 ms).
* RSS growth of the client process over ``SOAK_TURNS`` text turns, each answered with
  ``REPLY_MS`` of audio (1,000 x 1.8 s = 30 minutes of assistant speech: about a 60-minute
  conversation once the user's half is counted), streamed at fast pacing into a non-pacing
  BufferOutput (target <= 10 MB). The whole run takes about 30 s on two cores.

The fake server runs in a child process, so its own bookkeeping (it records every frame and
keeps the generated audio) is neither measured nor competing for this process's GIL.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import subprocess
import sys
import time
from typing import List, Optional, Tuple

import numpy as np

from realtime_client import RealtimeClient, RealtimeToken
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput

CYCLES = 50
RECONNECTS = 30
WARMUP_TURNS = 50
SOAK_TURNS = 1000
REPLY_MS = 1800
CHUNK_MS = 100  # audio per delta frame (the fake server's default)

# The child: a FakeRealtimeServer that prints its URL, scripts N audio replies of MS ms on
# "script N MS", drops its frame records every second (they are not what we measure) and
# stops when stdin closes.
_SERVER = """
import logging, sys, threading, time
from realtime_client.testing import FakeRealtimeServer, Reply

# stop() aborts the last sockets; websockets reports that as an internal error: not our concern here
logging.getLogger("realtime_client.testing.websockets").setLevel(logging.CRITICAL)

server = FakeRealtimeServer(rate_limits=False, audio_chunk_ms=int(sys.argv[1])).start()
print(server.url, flush=True)
stop = threading.Event()

def forget():
    while not stop.wait(1.0):
        for records in [server.sent, server.received] + [c.sent for c in server.connections] + \\
                [c.received for c in server.connections]:
            del records[:]

threading.Thread(target=forget, daemon=True).start()
for line in sys.stdin:
    words = line.split()
    if words and words[0] == "script":
        count, ms = int(words[1]), float(words[2])
        server.script(*[Reply.audio("This is a fairly ordinary spoken answer.", duration_ms=ms)
                        for _ in range(count)])
        print("scripted", flush=True)
stop.set()
server.stop()
"""


class _ServerProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(CHUNK_MS)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("ws://"):
            raise RuntimeError(f"the fake server did not start: {self.url!r}")

    def script(self, count: int, ms: float) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"script {count} {ms}\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _client(url: str, output: Optional[BufferOutput] = None) -> RealtimeClient:
    return RealtimeClient(
        get_token=lambda: RealtimeToken(provider="openai", token="ek_bench", expires_at=time.time() + 3600),
        adapter=openai_realtime(url=url, input_transcription=False), auto_capture=False,
        audio_output=output or BufferOutput(realtime=False))


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e6 if sys.platform == "darwin" else peak / 1e3


def _disconnect_times(url: str) -> List[float]:
    times: List[float] = []
    for i in range(CYCLES + 3):
        client = _client(url)
        client.connect(timeout=10)
        client.ask(f"cycle {i}", timeout=30)
        start = time.perf_counter()
        client.disconnect()
        elapsed = time.perf_counter() - start
        client.destroy()
        if i >= 3:  # warm-up
            times.append(elapsed)
    return times


def _reconnect_times() -> List[float]:
    """Seconds from a dropped socket to 'connected' again, with a few messages to replay."""
    import threading

    from realtime_client import ReconnectPolicy
    from realtime_client.testing import FakeRealtimeServer

    times: List[float] = []
    with FakeRealtimeServer(rate_limits=False) as server:
        back = threading.Event()

        def on_status(status: object) -> None:
            if status == "connected":
                back.set()

        client = RealtimeClient(get_token=server.get_token, adapter=openai_realtime(url=server.url),
                                auto_capture=False, auto_playback=False, on_status_change=on_status,
                                reconnect=ReconnectPolicy(attempts=5, base=0.05))
        client.connect(timeout=10)
        for i in range(3):
            client.ask(f"remember {i}", timeout=30)
        for _ in range(RECONNECTS):
            back.clear()
            start = time.perf_counter()
            server.drop_connections()
            if not back.wait(10):
                raise RuntimeError("the client did not reconnect within 10 s")
            times.append(time.perf_counter() - start)
        client.destroy()
    return times


def _soak(server: _ServerProcess) -> Tuple[float, float, float, int]:
    """(RSS growth MB, seconds, audio minutes streamed, messages kept) over SOAK_TURNS turns."""
    server.script(WARMUP_TURNS + SOAK_TURNS, REPLY_MS)
    out = BufferOutput(realtime=False)
    client = _client(server.url, out)
    client.connect(timeout=10)
    try:
        for i in range(WARMUP_TURNS):
            client.ask(f"warm-up turn {i}", timeout=60)
            out.clear()
        gc.collect()
        before = _rss_mb()
        start = time.perf_counter()
        for i in range(SOAK_TURNS):
            client.ask(f"turn {i}: tell me something", timeout=60)
            out.clear()  # the test sink's own copy of the audio is not the client's memory
        elapsed = time.perf_counter() - start
        gc.collect()
        growth = _rss_mb() - before
        messages = len(client.messages)
    finally:
        client.destroy()
    return growth, elapsed, SOAK_TURNS * REPLY_MS / 60_000, messages


def run(quick: bool = False) -> List[Tuple[str, str, str, str]]:
    global CYCLES, RECONNECTS, WARMUP_TURNS, SOAK_TURNS
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    if quick:
        CYCLES, RECONNECTS, WARMUP_TURNS, SOAK_TURNS = 5, 3, 5, 20
    reconnects = _reconnect_times()
    server = _ServerProcess()
    try:
        times = _disconnect_times(server.url)
        growth, seconds, minutes, messages = _soak(server)
    finally:
        server.close()
    p50, p99 = (float(np.percentile(times, q)) * 1000 for q in (50, 99))
    r50, r95 = (float(np.percentile(reconnects, q)) * 1000 for q in (50, 95))
    return [
        (f"reconnect: drop -> connected median ({RECONNECTS})", f"{r50:.1f} ms", "", ""),
        (f"reconnect: drop -> connected p95 ({RECONNECTS})", f"{r95:.1f} ms", "", ""),
        (f"disconnect() p50 ({CYCLES} cycles)", f"{p50:.1f} ms", "", ""),
        (f"disconnect() p99 ({CYCLES} cycles)", f"{p99:.1f} ms", "<= 100 ms",
         "ok" if p99 <= 100 else "MISSED"),
        (f"soak: {SOAK_TURNS} turns, {minutes:.0f} min of audio", f"{seconds:.1f} s, {messages} messages",
         "", ""),
        ("soak: RSS growth", f"{growth:.1f} MB", "<= 10 MB", "ok" if growth <= 10 else "MISSED"),
    ]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
