"""Soak: many text turns over one client with a fault injected every 50 turns; nothing is lost.

CI runs a reduced count; set REALTIME_SOAK_TURNS=1000 for the full soak.
"""

from __future__ import annotations

import os
import resource
import tracemalloc

import pytest

from realtime_client import ReconnectPolicy
from tests.helpers import wait_until

TURNS = int(os.environ.get("REALTIME_SOAK_TURNS", "200"))
FAULT_EVERY = 50


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


@pytest.mark.soak
def test_soak_turns_with_periodic_faults(server, make_client, record_property):
    """Every turn gets its answer across reconnects (drop, 1011, 1001 in rotation); no message lost."""
    client = make_client(auto_playback=False, reconnect=ReconnectPolicy(attempts=5, base=0.05, cap=0.2))
    client.connect(timeout=5)
    faults = [server.drop_connections, lambda: server.close_connections(1011, "internal error"),
              lambda: server.close_connections(1001, "Your session hit the maximum duration of 60 minutes.")]
    rss_start = None
    for turn in range(TURNS):
        if turn and turn % FAULT_EVERY == 0:
            faults[(turn // FAULT_EVERY) % len(faults)]()
            wait_until(lambda: client.status == "connected" and len(server.connections) > turn // FAULT_EVERY,
                       timeout=10, what="reconnected")
        answer = client.ask(f"turn {turn}", timeout=10)
        assert answer.text == f"You said: turn {turn}"
        if turn == 20:
            rss_start = _rss_mb()
            tracemalloc.start()
    texts = [m.text for m in client.messages]
    assert len(texts) == 2 * TURNS
    assert texts[0::2] == [f"turn {i}" for i in range(TURNS)]
    assert texts[1::2] == [f"You said: turn {i}" for i in range(TURNS)]
    growth = _rss_mb() - (rss_start or 0.0)
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # what the client itself still holds (the in-process fake server keeps every frame it sent)
    client_side = snapshot.filter_traces([tracemalloc.Filter(True, "*/realtime_client/*"),
                                          tracemalloc.Filter(False, "*/realtime_client/testing/*")])
    held_mb = sum(stat.size for stat in client_side.statistics("filename")) / 1e6
    record_property("rss_growth_mb", round(growth, 2))
    record_property("client_held_mb", round(held_mb, 3))
    print(f"\n[soak] {TURNS} turns, {TURNS // FAULT_EVERY} faults: process RSS growth {growth:.1f} MB "
          f"(fake server included), still held by client code {held_mb:.2f} MB")
    assert held_mb < 0.02 * TURNS, "the client keeps more than ~20 kB per turn"
