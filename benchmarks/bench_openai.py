"""Ours, openai-agents' realtime session and a bare openai-python loop, on the same devices.

All three run in this process, one after the other, against the fake OpenAI server (a child
process, real-time pacing, ``_child.py``) on the PulseAudio virtual devices at 24 kHz
(``_devices.py``), each playing to the default output and capturing the default input:

* ours: ``RealtimeClient`` with its default devices;
* openai-agents: ``RealtimeRunner`` + ``RealtimeSession`` on its documented path for apps that
  play audio themselves: a ``RealtimePlaybackTracker`` given to the model config, told
  ``on_play_bytes`` as each 20 ms piece is handed to a PyAudio stream (as its examples do in
  their output callback), the queue cleared on ``audio_interrupted``; the microphone read in
  20 ms blocks and sent with ``send_audio``;
* bare: ``openai.OpenAI().realtime.connect()`` with one thread that decodes each audio delta
  and writes it to a blocking PyAudio stream, and one that reads the microphone and appends
  it: the least a client can do (no interruption handling, so no truncation figure).

Truncation error: the server sends ``input_audio_buffer.speech_started`` at a random moment of
an answer; the client's ``conversation.item.truncate`` says ``audio_end_ms``; the truth is how
much of that item the speaker's monitor recorded, matched sample for sample (``played``).
CPU per minute: the agent talks without a pause while the microphone streams.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import queue
import random
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ._devices import Devices, locate, played, virtual_devices
from ._harness import Row, ServerProcess, cpu_over, goal_row, wait_until

RATE = 24000
FRAMES = RATE // 50  # 20 ms

Params = Dict[str, Any]
FULL: Params = {"rounds": 8, "duplex_s": 12.0, "duplex_runs": 3}
QUICK: Params = {"rounds": 1, "duplex_s": 1.0, "duplex_runs": 1}


def _pyaudio_stream(output: bool) -> Any:
    import pyaudio

    pa = pyaudio.PyAudio()
    kwargs: Dict[str, Any] = {"format": pyaudio.paInt16, "channels": 1, "rate": RATE,
                              "frames_per_buffer": FRAMES}
    stream = pa.open(output=True, **kwargs) if output else pa.open(input=True, **kwargs)
    return pa, stream


# --- the clients ----------------------------------------------------------------------------------

class _Ours:
    name = "ours"

    def __init__(self, server: ServerProcess) -> None:
        from realtime_client import RealtimeClient, RealtimeToken
        from realtime_client.adapters import openai_realtime

        self.client = RealtimeClient(get_token=lambda: RealtimeToken("openai", "ek_bench"),
                                     adapter=openai_realtime(url=server.url))

    def start(self) -> None:
        self.client.connect(timeout=10)

    def say(self, text: str) -> None:
        self.client.send_text(text)

    def end(self) -> None:
        self.client.destroy()


class _Agents:
    name = "openai-agents"

    def __init__(self, server: ServerProcess) -> None:
        from agents.realtime import RealtimeAgent, RealtimePlaybackTracker, RealtimeRunner

        self.tracker = RealtimePlaybackTracker()
        self.runner = RealtimeRunner(RealtimeAgent(name="bench", instructions="Answer."))
        self.url = server.url + "?model=gpt-realtime"
        self.loop = asyncio.new_event_loop()
        self.loop_thread = threading.Thread(target=self.loop.run_forever, name="bench-agents-loop",
                                            daemon=True)
        self.pieces: queue.Queue[Optional[tuple]] = queue.Queue()
        self.stop = threading.Event()
        self.session: Any = None
        self.threads: List[threading.Thread] = []

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _open(self) -> None:
        self.session = await self.runner.run(model_config={"url": self.url, "api_key": "x",
                                                           "playback_tracker": self.tracker})
        await self.session.__aenter__()
        self.loop.create_task(self._events())

    async def _events(self) -> None:
        async for event in self.session:
            if event.type == "audio":
                data = event.audio.data
                for k in range(0, len(data), FRAMES * 2):
                    self.pieces.put((event.item_id, event.content_index, data[k:k + FRAMES * 2]))
            elif event.type == "audio_interrupted":
                while True:  # what the examples do: drop what was not handed to the device
                    try:
                        self.pieces.get_nowait()
                    except queue.Empty:
                        break

    def _play(self, pa: Any, stream: Any) -> None:
        try:
            while not self.stop.is_set():
                try:
                    piece = self.pieces.get(timeout=0.1)
                except queue.Empty:
                    continue
                if piece is None:
                    break
                item_id, content_index, data = piece
                stream.write(data)
                self.loop.call_soon_threadsafe(self.tracker.on_play_bytes, item_id, content_index, data)
        finally:
            stream.close()
            pa.terminate()

    def _capture(self, pa: Any, stream: Any) -> None:
        try:
            while not self.stop.is_set():
                data = stream.read(FRAMES, exception_on_overflow=False)
                asyncio.run_coroutine_threadsafe(self.session.send_audio(data), self.loop)
        finally:
            stream.close()
            pa.terminate()

    def start(self) -> None:
        self.loop_thread.start()
        self._call(self._open())
        # PortAudio is set up here, one stream after the other: Pa_Initialize is not thread-safe
        self.threads = [threading.Thread(target=self._play, args=_pyaudio_stream(output=True),
                                         name="bench-agents-play", daemon=True),
                        threading.Thread(target=self._capture, args=_pyaudio_stream(output=False),
                                         name="bench-agents-mic", daemon=True)]
        for t in self.threads:
            t.start()

    def say(self, text: str) -> None:
        self._call(self.session.send_message(text))

    def end(self) -> None:
        self.stop.set()
        self.pieces.put(None)
        for t in self.threads:
            t.join(5)
        try:
            self._call(self.session.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.loop_thread.join(5)
            self.loop.close()


class _Bare:
    name = "openai bare loop"

    def __init__(self, server: ServerProcess) -> None:
        import openai

        self.sdk = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x")
        self.stop = threading.Event()
        self.conn: Any = None
        self.manager: Any = None
        self.threads: List[threading.Thread] = []

    def _receive(self, pa: Any, stream: Any) -> None:
        try:
            for event in self.conn:
                if event.type == "response.output_audio.delta":
                    stream.write(base64.b64decode(event.delta))
        except Exception:  # the connection closed under us: the session is over
            pass
        finally:
            stream.close()
            pa.terminate()

    def _capture(self, pa: Any, stream: Any) -> None:
        try:
            while not self.stop.is_set():
                data = stream.read(FRAMES, exception_on_overflow=False)
                self.conn.input_audio_buffer.append(audio=base64.b64encode(data).decode())
        except Exception:
            pass
        finally:
            stream.close()
            pa.terminate()

    def start(self) -> None:
        self.manager = self.sdk.realtime.connect(model="gpt-realtime")
        self.conn = self.manager.__enter__()
        self.threads = [threading.Thread(target=self._receive, args=_pyaudio_stream(output=True),
                                         name="bench-bare-play", daemon=True),
                        threading.Thread(target=self._capture, args=_pyaudio_stream(output=False),
                                         name="bench-bare-mic", daemon=True)]
        for t in self.threads:
            t.start()

    def say(self, text: str) -> None:
        self.conn.conversation.item.create(item={"type": "message", "role": "user",
                                                 "content": [{"type": "input_text", "text": text}]})
        self.conn.response.create()

    def end(self) -> None:
        self.stop.set()
        self.manager.__exit__(None, None, None)
        for t in self.threads:
            t.join(5)


Client = Callable[[ServerProcess], Any]


# --- truncation ---------------------------------------------------------------------------------

def _truncations(make: Client, server: ServerProcess, devices: Devices, rounds: int,
                 rng: random.Random) -> List[Dict[str, float]]:
    results: List[Dict[str, float]] = []
    client = make(server)
    client.start()
    try:
        time.sleep(0.5)
        for _ in range(rounds):
            before = len(server.ask("received", "conversation.item.truncate"))
            server.ask("script", 6000)
            index = int(server.ask("groups"))
            tap = devices.tap()
            try:
                client.say("Tell me something long.")
                wait_until(lambda: np.count_nonzero(tap.samples()), 10, "the answer to be heard")
                time.sleep(rng.uniform(0.3, 1.5))
                sent_at = float(server.ask("speech_started"))
                wait_until(lambda: len(server.ask("received", "conversation.item.truncate")) > before, 5,
                           "the client's truncate", step=0.02)
                time.sleep(0.8)  # whatever the device still holds plays out
            finally:
                samples = tap.stop()
            truncate = server.ask("received", "conversation.item.truncate")[before]
            answer = server.pcm(index)
            at = locate(samples, answer)
            got = played(samples[at:], answer) if at is not None else None
            if got is None:
                continue
            cut = at + got.start + got.position
            results.append({"audio_end_ms": float(truncate["audio_end_ms"]),
                            "played_ms": got.position * 1000.0 / RATE,
                            "error_ms": float(truncate["audio_end_ms"]) - got.position * 1000.0 / RATE,
                            "barge_ms": (tap.time_of(cut - 1) - sent_at) * 1000})
            time.sleep(0.5)
    finally:
        client.end()
    return results


# --- CPU ------------------------------------------------------------------------------------------

def _duplex_cpu(make: Client, seconds: float) -> Tuple[float, List[float]]:
    with ServerProcess("openai", "realtime", 100) as server:
        server.ask("script", (seconds + 6) * 1000)
        client = make(server)
        client.start()
        try:
            client.say("Talk for a while.")
            time.sleep(1.5)
            return cpu_over(seconds)
        finally:
            client.end()


def measure(quick: bool = False) -> Dict[str, Any]:
    params = QUICK if quick else FULL
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    logging.getLogger("openai.agents").setLevel(logging.CRITICAL)
    rng = random.Random(5)
    truncation: Dict[str, List[Dict[str, float]]] = {}
    cpu: Dict[str, List[float]] = {"ours": [], "agents": [], "bare": []}
    series: Dict[str, List[List[float]]] = {"ours": [], "agents": [], "bare": []}
    with virtual_devices(RATE) as devices:
        with ServerProcess("openai", "realtime", 100) as server:
            truncation["ours"] = _truncations(_Ours, server, devices, params["rounds"], rng)
            truncation["agents"] = _truncations(_Agents, server, devices, params["rounds"], rng)
        for _ in range(params["duplex_runs"]):  # alternated, so drift hits all three
            for name, make in (("ours", _Ours), ("agents", _Agents), ("bare", _Bare)):
                per_minute, steps = _duplex_cpu(make, params["duplex_s"])
                cpu[name].append(per_minute)
                series[name].append(steps)
    return {"params": params, "truncation": truncation, "cpu": cpu, "cpu_series": series}


def rows(data: Dict[str, Any]) -> List[Row]:
    t_ours = [abs(r["error_ms"]) for r in data["truncation"]["ours"]]
    t_agents = [abs(r["error_ms"]) for r in data["truncation"]["agents"]]
    worst = max(t_ours, default=float("nan"))
    out = [goal_row("OpenAI truncation error: abs(audio_end_ms - played at monitor)", t_ours, t_agents, "ms",
                    "<= agents, worst <= 20 ms",
                    lambda r, _m: r <= 1.0 and worst <= 20.0, pairwise=False, peer_name="agents")]
    out.append(Row("OpenAI truncation error, worst round", f"{worst:.1f} ms",
                   f"agents: {max(t_agents, default=float('nan')):.1f} ms", "", "<= 20 ms",
                   "ok" if worst <= 20 else "MISSED"))
    b_ours = [r["barge_ms"] for r in data["truncation"]["ours"]]
    b_agents = [r["barge_ms"] for r in data["truncation"]["agents"]]
    out.append(goal_row("OpenAI barge-in: speech_started sent -> speaker silent", b_ours, b_agents, "ms",
                        "", lambda r, _m: True, pairwise=False, peer_name="agents")._replace(verdict=""))
    cpu = data["cpu"]
    out.append(goal_row("OpenAI CPU per minute full duplex vs bare openai loop", cpu["ours"], cpu["bare"],
                        "s",
                        "<= 1.2x", lambda r, _m: r <= 1.2, digits=3, peer_name="bare"))
    out.append(goal_row("OpenAI CPU per minute full duplex vs openai-agents", cpu["ours"], cpu["agents"], "s",
                        "", lambda r, _m: True, digits=3, peer_name="agents")._replace(verdict=""))
    return out


def run(quick: bool = False) -> List[Row]:
    return rows(measure(quick))


if __name__ == "__main__":
    result = measure("--quick" in sys.argv)
    for row in rows(result):
        print(" | ".join(row))
    print(result)
