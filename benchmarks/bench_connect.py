"""connect() time to the fake server, side by side with the official openai SDK's connect."""

from __future__ import annotations

import logging
import time
from typing import List

from realtime_client import RealtimeClient
from realtime_client.adapters import openai_realtime
from realtime_client.testing import FakeRealtimeServer

from ._harness import Row, goal_row

ROUNDS = 40


def _ours(server: FakeRealtimeServer) -> float:
    client = RealtimeClient(get_token=server.get_token, adapter=openai_realtime(url=server.url),
                            auto_capture=False, auto_playback=False)
    start = time.perf_counter()
    client.connect(timeout=10)
    elapsed = time.perf_counter() - start
    client.destroy()
    return elapsed


def _openai_sdk(server: FakeRealtimeServer) -> float:
    """The same work with the openai SDK: open, read session.created, update, read session.updated."""
    import openai

    sdk = openai.OpenAI(base_url=server.base_url + "/v1", api_key=server.token().token)
    start = time.perf_counter()
    with sdk.realtime.connect(model="gpt-realtime") as conn:
        conn.recv()  # session.created
        conn.session.update(session={"type": "realtime", "instructions": "",
                                     "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                                         "transcription": {"model": "whisper-1"}}}})
        conn.recv()  # session.updated
        elapsed = time.perf_counter() - start
    return elapsed


def run(quick: bool = False) -> List[Row]:
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    rounds = 5 if quick else ROUNDS
    ours: List[float] = []
    theirs: List[float] = []
    with FakeRealtimeServer() as server:
        for _ in range(3):  # warm-up
            _ours(server)
            _openai_sdk(server)
        for _ in range(rounds):  # interleaved so drift hits both equally
            ours.append(_ours(server) * 1000)
            theirs.append(_openai_sdk(server) * 1000)
    return [goal_row("connect() to the fake OpenAI server", ours, theirs, "ms", "<= 1.0x",
                     lambda r, _m: r <= 1.0, digits=2, peer_name="openai SDK", pairwise=False)]
