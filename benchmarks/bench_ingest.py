"""Inbound audio-delta ingest rate: seconds of assistant audio the client processes per second.

A minimal WebSocket peer (not the fake server, so its own cost is not measured) answers the
handshake like the GA API and, on ``response.create``, sends a pre-encoded response of
``AUDIO_SECONDS`` of 24 kHz audio in 100 ms deltas. We time from ``send_text`` until the
assistant message is complete and every chunk has gone through the playback thread into a
non-pacing BufferOutput.
"""

from __future__ import annotations

import base64
import json
import logging
import statistics
import threading
import time
from typing import List, Tuple

import numpy as np
from websockets.sync.server import serve

from realtime_client import RealtimeClient, RealtimeToken
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput

AUDIO_SECONDS = 120
CHUNK_MS = 100
ROUNDS = 5


def _session() -> dict:
    return {"type": "realtime", "object": "realtime.session", "id": "sess_bench", "model": "gpt-realtime",
            "output_modalities": ["audio"], "instructions": "", "tools": [], "tool_choice": "auto",
            "max_output_tokens": "inf", "truncation": "auto", "tracing": None, "prompt": None,
            "expires_at": 0, "include": None,
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                                "noise_reduction": None, "turn_detection": None},
                      "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin",
                                 "speed": 1.0}}}


def _response_frames() -> List[str]:
    rng = np.random.default_rng(0)
    chunk = (rng.standard_normal(24 * CHUNK_MS) * 3000).astype("<i2").tobytes()
    b64 = base64.b64encode(chunk).decode()
    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0}
    frames = [{"type": "response.created", "event_id": "e0",
               "response": {"id": "resp_1", "object": "realtime.response", "status": "in_progress",
                            "output": []}},
              {"type": "response.output_item.added", "event_id": "e1", "response_id": "resp_1",
               "output_index": 0, "item": {"id": "item_1", "object": "realtime.item", "type": "message",
                                           "role": "assistant", "status": "in_progress", "content": []}}]
    for i in range(AUDIO_SECONDS * 1000 // CHUNK_MS):
        frames.append({"type": "response.output_audio.delta", "event_id": f"ev{i}", "content_index": 0,
                       "delta": b64, **ids})
        frames.append({"type": "response.output_audio_transcript.delta", "event_id": f"et{i}",
                       "content_index": 0, "delta": "la ", **ids})
    frames.append({"type": "response.done", "event_id": "ed",
                   "response": {"id": "resp_1", "object": "realtime.response", "status": "completed",
                                "output": [], "usage": {"total_tokens": 1, "input_tokens": 1,
                                                        "output_tokens": 0}}})
    return [json.dumps(f) for f in frames]


def _serve(frames: List[str]):
    def handler(conn) -> None:
        conn.send(json.dumps({"type": "session.created", "event_id": "s0", "session": _session()}))
        for raw in conn:
            msg = json.loads(raw)
            if msg["type"] == "session.update":
                conn.send(json.dumps({"type": "session.updated", "event_id": "s1", "session": _session()}))
            elif msg["type"] == "response.create":
                for frame in frames:
                    conn.send(frame)

    server = serve(handler, "127.0.0.1", 0, compression=None, max_size=None)
    thread = threading.Thread(target=server.serve_forever, name="bench-peer", daemon=True)
    thread.start()
    return server, thread


def _one_round(url: str) -> float:
    out = BufferOutput(realtime=False)
    client = RealtimeClient(get_token=lambda: RealtimeToken("openai", "bench"),
                            adapter=openai_realtime(url=url), auto_capture=False, audio_output=out,
                            vad_mode="manual")
    client.connect(timeout=10)
    start = time.perf_counter()
    client.send_text("go")
    client.wait_for_response(timeout=120)
    while out.played_ms < AUDIO_SECONDS * 1000:
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    client.destroy()
    return elapsed


def run(quick: bool = False) -> List[Tuple[str, str, str, str]]:
    global AUDIO_SECONDS, ROUNDS
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    if quick:
        AUDIO_SECONDS, ROUNDS = 10, 1
    frames = _response_frames()
    server, thread = _serve(frames)
    url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/v1/realtime"
    try:
        _one_round(url)  # warm-up
        times = [_one_round(url) for _ in range(ROUNDS)]
    finally:
        server.shutdown()
        thread.join(2)
    rate = AUDIO_SECONDS / statistics.median(times)
    return [("audio ingest rate (median)", f"{rate:.0f}x real time", ">= 100x",
             "ok" if rate >= 100 else "MISSED")]
