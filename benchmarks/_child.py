"""The fake server in a child process, so neither its CPU nor its GIL is the client's.

Run as ``python -m benchmarks._child PROVIDER PACING CHUNK_MS [OPTIONS_JSON]``; it prints one
line with the server's ``base_url`` and ``url``, then answers one line per command on stdin:

* ``script MS [COUNT]``: queue COUNT (default 1) spoken replies of about MS ms each.
* ``speech_started``: send ``input_audio_buffer.speech_started`` (OpenAI) to every client;
  prints the ``time.monotonic()`` when it was sent.
* ``sent TYPE``: the monotonic times at which frames of ``TYPE`` were sent, as JSON.
* ``received TYPE``: the received frames of ``TYPE``, as JSON.
* ``pcm PATH N``: write the PCM16 of the N-th audio turn sent (by item or event id, in order;
  negative counts from the end) to PATH; prints the number of samples.
* ``groups``: how many audio turns have been sent so far (the next one's N for ``pcm``).
* ``forget``: drop the frame records (for long runs).

Replies are spoken by :func:`voice`, a deterministic voice-like signal with no sample at
exactly zero: on the speaker's monitor, zeros then mean that playback has stopped, and every
sample played can be matched to the sample sent.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

import numpy as np

from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech

MS_PER_CHAR = 60.0


def voice(text: str, rate: int) -> np.ndarray:
    """``len(text)`` x 60 ms of synthetic speech in which no sample is exactly 0 (the pauses
    between syllables get a faint noise of +-1..3), so any 64 samples of it are unique."""
    samples = synthesize_speech(MS_PER_CHAR * len(text), rate, seed=len(text) * 7919, level=0.4)
    faint = np.random.default_rng(len(text)).choice(np.array([-3, -2, -1, 1, 2, 3], np.int16), samples.size)
    return np.where(samples == 0, faint, samples).astype(np.int16)


def text_for(ms: float) -> str:
    """A reply text that :func:`voice` speaks for about ``ms`` milliseconds."""
    return ("An answer that goes on. " * 1000)[: max(1, round(ms / MS_PER_CHAR))]


def _audio_of(frame: Dict[str, Any]) -> Tuple[str, str, str]:
    """(base64 audio, item_id, event_id) of an audio frame, or empty strings."""
    if frame.get("type") == "response.output_audio.delta":
        return frame.get("delta", ""), frame.get("item_id", ""), ""
    if frame.get("type") == "audio":
        event = frame.get("audio_event", {})
        return event.get("audio_base_64", ""), "", str(event.get("event_id", ""))
    return "", "", ""


def _groups(server: FakeRealtimeServer) -> List[List[bytes]]:
    """The audio sent so far, one list of chunks per turn (connection, then item or agent event
    id: ElevenLabs numbers events per conversation), in order."""
    turns: Dict[Tuple[int, str], List[bytes]] = {}
    for conn in list(server.connections):
        for text in list(conn.sent):
            audio, item_id, event_id = _audio_of(json.loads(text))
            if audio:
                turns.setdefault((conn.number, item_id or event_id), []).append(base64.b64decode(audio))
    return list(turns.values())


def main(argv: List[str]) -> None:
    logging.getLogger("realtime_client").setLevel(logging.CRITICAL)
    provider, pacing, chunk_ms = argv[0], argv[1], int(argv[2])
    options = json.loads(argv[3]) if len(argv) > 3 else None
    server = FakeRealtimeServer(provider=provider, pacing=pacing, audio_chunk_ms=chunk_ms, speech=voice,
                                rate_limits=False, provider_options=options).start()
    stamps: List[Tuple[str, float]] = []
    lock = threading.Lock()
    recorder = server._recorder  # the benchmark's one look inside: when each frame left
    record_sent = recorder.record_sent

    def stamped(text: str, type_: Any) -> None:
        with lock:
            stamps.append((str(type_), time.monotonic()))
        record_sent(text, type_)

    recorder.record_sent = stamped  # type: ignore[method-assign]
    print(json.dumps({"base_url": server.base_url, "url": server.url}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        command, args = words[0], words[1:]
        if command == "script":
            count = int(args[1]) if len(args) > 1 else 1
            server.script(*[Reply.text(text_for(float(args[0]))) for _ in range(count)])
            print("ok", flush=True)
        elif command == "speech_started":
            server.send_event({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0,
                               "item_id": f"item_user_{time.monotonic_ns()}"})
            print(json.dumps(time.monotonic()), flush=True)
        elif command == "sent":
            with lock:
                print(json.dumps([t for kind, t in stamps if kind == args[0]]), flush=True)
        elif command == "received":
            frames = [f for f in list(server.received) if isinstance(f, dict) and f.get("type") == args[0]]
            print(json.dumps(frames), flush=True)
        elif command == "groups":
            print(len(_groups(server)), flush=True)
        elif command == "pcm":
            path, index = args[0], int(args[1])
            groups = _groups(server)
            data = b"".join(groups[index]) if -len(groups) <= index < len(groups) else b""
            with open(path, "wb") as f:
                f.write(data)
            print(len(data) // 2, flush=True)
        elif command == "forget":
            for records in [server.sent, server.received] + [c.sent for c in server.connections] + \
                    [c.received for c in server.connections]:
                del records[:]
            with lock:
                del stamps[:]
            print("ok", flush=True)
        else:
            print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
