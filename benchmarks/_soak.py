"""RSS of one client over a long conversation, in a fresh process: ``python -m benchmarks._soak
WHICH MINUTES`` prints ``{"rss_start": MB, "rss_end": MB, "turns": N, "seconds": S}``.

WHICH is ``el-ours`` or ``el-sdk``. The fake ElevenLabs agent (a child process, fast pacing)
answers each text turn with ``REPLY_MS`` of audio until MINUTES of agent audio have streamed:
the conversation is accelerated, so neither client plays it on a device. Ours gets a
non-pacing ``BufferOutput`` (emptied after each turn) and no microphone; the SDK gets an
``AudioInterface`` that only counts the bytes it is given. RSS is read after ``WARMUP`` turns
and at the end.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import time
from typing import Any, Callable, Tuple

from ._harness import ServerProcess, rss_mb, wait_until

REPLY_MS = 1800.0
WARMUP = 30
RATE = 16000


def _ours(server: ServerProcess) -> Tuple[Callable[[int], None], Callable[[], None]]:
    from realtime_client import RealtimeClient
    from realtime_client.adapters import elevenlabs_realtime
    from realtime_client.audio import BufferOutput

    out = BufferOutput(sample_rate=RATE, realtime=False)
    url = server.base_url.replace("http", "ws", 1) + "/v1/convai/conversation"
    client = RealtimeClient(adapter=elevenlabs_realtime("agent_fake", url=url), auto_capture=False,
                            audio_output=out)
    client.connect(timeout=10)

    def turn(i: int) -> None:
        client.ask(f"turn {i}", timeout=60)
        client.wait_for_playback(timeout=60)
        out.clear()

    return turn, client.destroy


def _sdk(server: ServerProcess) -> Tuple[Callable[[int], None], Callable[[], None]]:
    from elevenlabs import ElevenLabs
    from elevenlabs.conversational_ai.conversation import AudioInterface, Conversation

    class Counting(AudioInterface):
        def __init__(self) -> None:
            self.bytes = 0
            self.lock = threading.Lock()

        def start(self, input_callback: Any) -> None:
            pass

        def stop(self) -> None:
            pass

        def output(self, audio: bytes) -> None:
            with self.lock:
                self.bytes += len(audio)

        def interrupt(self) -> None:
            pass

    sink = Counting()
    conversation = Conversation(ElevenLabs(api_key="x", base_url=server.base_url), "agent_fake",
                                requires_auth=False, audio_interface=sink)
    conversation.start_session()
    wait_until(lambda: conversation._ws is not None and conversation._conversation_id is not None, 10)
    per_turn = int(REPLY_MS / 1000 * RATE * 2) - 64  # the reply's audio, give or take a rounding

    def turn(i: int) -> None:
        start = sink.bytes
        conversation.send_user_message(f"turn {i}")
        wait_until(lambda: sink.bytes - start >= per_turn, 60, "the agent's answer", step=0.0005)

    def end() -> None:
        conversation.end_session()
        conversation.wait_for_session_end()

    return turn, end


def main(which: str, minutes: float) -> None:
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    logging.getLogger("elevenlabs").setLevel(logging.CRITICAL)
    turns = max(1, round(minutes * 60_000 / REPLY_MS))
    with ServerProcess("elevenlabs", "fast", 100, {"ping_interval": 0.02}) as server:
        server.ask("script", REPLY_MS, WARMUP + turns)
        turn, end = (_ours if which == "el-ours" else _sdk)(server)
        for i in range(WARMUP):
            turn(i)
        gc.collect()
        start_rss, start = rss_mb(), time.monotonic()
        for i in range(turns):
            turn(WARMUP + i)
            if i % 200 == 199:
                server.ask("forget")  # the fake's own records are not what is measured
        gc.collect()
        end_rss = rss_mb()
        end()
        print(json.dumps({"rss_start": start_rss, "rss_end": end_rss, "turns": turns,
                          "seconds": time.monotonic() - start}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
