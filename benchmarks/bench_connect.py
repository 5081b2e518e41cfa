"""connect() time to the fake server, side by side with the official openai SDK's connect."""

from __future__ import annotations

import logging
import statistics
import time
from typing import List, Tuple

from realtime_client import RealtimeClient
from realtime_client.adapters import openai_realtime
from realtime_client.testing import FakeRealtimeServer

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


def run() -> List[Tuple[str, str, str, str]]:
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    ours: List[float] = []
    theirs: List[float] = []
    with FakeRealtimeServer() as server:
        for _ in range(3):  # warm-up
            _ours(server)
            _openai_sdk(server)
        for _ in range(ROUNDS):  # interleaved so drift hits both equally
            ours.append(_ours(server))
            theirs.append(_openai_sdk(server))
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    ratio = m_ours / m_theirs
    return [
        ("connect() median (ours)", f"{m_ours * 1000:.2f} ms", "", ""),
        ("openai SDK connect median", f"{m_theirs * 1000:.2f} ms", "", ""),
        ("connect ratio ours/SDK", f"{ratio:.2f}x", "<= 1.2x", "ok" if ratio <= 1.2 else "MISSED"),
    ]
