"""Ours and the official ``elevenlabs`` SDK's ``Conversation`` side by side, on the same devices.

Both clients run in this process, one after the other, against the same scripted fake ElevenLabs
agent (in a child process, ``_child.py``), on the same PulseAudio virtual devices at 16 kHz
(``_devices.py``): ours through its default ``PyAudioInput``/``PyAudioOutput``, the SDK through
its own ``DefaultAudioInterface`` (PyAudio: 250 ms input callbacks, 62.5 ms output buffers). The
user's voice is played into the virtual microphone; what each client played is recorded from the
speaker's monitor and matched sample for sample against the audio the agent sent.

Per session (``ROUNDS`` each, alternating ours and the SDK):

* connect: ``connect()`` / ``start_session()`` called -> the agent's greeting audible at the monitor;
* barge-in: the agent's ``interruption`` frame sent -> the last sample of the interrupted answer at
  the monitor (which is also how much of that answer was still played after the frame), and
  stray samples after the cut (lost, repeated or played out of order);
* end: ``disconnect()`` / ``end_session()`` + ``wait_for_session_end()``; threads left when it returns.

CPU per minute of full-duplex audio (the agent talking, the microphone streaming) is measured
alternately over ``DUPLEX_SECONDS`` per run; RSS after 30 minutes of conversation is measured in
fresh processes at fast pacing with no devices (``_soak.py``), the same way for both.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

from realtime_client.testing import synthesize_speech

from ._devices import Devices, locate, played, virtual_devices
from ._harness import Row, ServerProcess, cpu_over, goal_row, verdict, wait_until

RATE = 16000
GREETING = "Hello, how can I help you today?"
SPEECH_MS = 800

Params = Dict[str, Any]
FULL: Params = {"rounds": 6, "duplex_s": 12.0, "duplex_runs": 3, "soak_minutes": 30.0}
QUICK: Params = {"rounds": 1, "duplex_s": 1.0, "duplex_runs": 1, "soak_minutes": 0.2}


# --- the two clients ----------------------------------------------------------------------------

class _Ours:
    name = "ours"

    def __init__(self, server: ServerProcess, **options: Any) -> None:
        from realtime_client import RealtimeClient
        from realtime_client.adapters import elevenlabs_realtime

        url = server.base_url.replace("http", "ws", 1) + "/v1/convai/conversation"
        self.client = RealtimeClient(adapter=elevenlabs_realtime("agent_fake", url=url), **options)

    def start(self) -> None:
        self.client.connect(timeout=10)

    def say(self, text: str) -> None:
        self.client.send_text(text)

    def end(self) -> None:
        self.client.disconnect()
        self.client.destroy()


class _OursAtSDKSizes(_Ours):
    """Ours with the SDK's buffer sizes: 250 ms microphone reads, a 62.5 ms output buffer.

    The same code as ours, only the latency trade the SDK makes: its first audio and its
    barge-in wait for those buffers; ours by default do not (20 ms).
    """

    name = "ours at the SDK's buffer sizes"

    def __init__(self, server: ServerProcess) -> None:
        from realtime_client.audio import PyAudioOutput

        super().__init__(server, capture_chunk_ms=250,
                         audio_output=PyAudioOutput(frames_per_buffer=RATE // 16))


class _SDK:
    name = "elevenlabs SDK"

    def __init__(self, server: ServerProcess) -> None:
        from elevenlabs import ElevenLabs
        from elevenlabs.conversational_ai.conversation import Conversation
        from elevenlabs.conversational_ai.default_audio_interface import DefaultAudioInterface

        self.conversation = Conversation(ElevenLabs(api_key="x", base_url=server.base_url), "agent_fake",
                                         requires_auth=False, audio_interface=DefaultAudioInterface())

    def start(self) -> None:
        self.conversation.start_session()

    def say(self, text: str) -> None:
        wait_until(lambda: self.conversation._ws is not None, 10, "the SDK's socket")
        self.conversation.send_user_message(text)

    def end(self) -> None:
        self.conversation.end_session()
        self.conversation.wait_for_session_end()


Client = Callable[[ServerProcess], Any]


# --- one session: connect, greeting, story, barge-in, end ------------------------------------------

def _session(make: Client, server: ServerProcess, devices: Devices, speech: np.ndarray,
             rng: random.Random) -> Dict[str, Any]:
    logging.getLogger("elevenlabs").setLevel(logging.CRITICAL)
    baseline = set(threading.enumerate())
    tap = devices.tap()
    feeder = devices.feeder()
    client = make(server)
    try:
        t0 = time.monotonic()
        client.start()
        wait_until(lambda: np.count_nonzero(tap.samples()), 10, "the greeting to be heard")
        greeting_at = tap.time_of(int(np.flatnonzero(tap.samples())[0]))
        time.sleep(len(GREETING) * 0.06 + 0.4)  # the greeting plays out
        server.ask("script", 8000)
        story_index = int(server.ask("groups"))
        mark = tap.samples().size
        client.say("Tell me a long story.")
        wait_until(lambda: np.count_nonzero(tap.samples()[mark:]), 10, "the story to be heard")
        time.sleep(rng.uniform(0.5, 1.5))  # a random phase against every buffer size
        fed_at = time.monotonic()
        feeder.play(speech)
        wait_until(lambda: [t for t in server.ask("sent", "interruption") if t > fed_at], 5,
                   "the agent's interruption")
        interrupted_at = next(t for t in server.ask("sent", "interruption") if t > fed_at)
        # whatever is still buffered plays out (the SDK's 62.5 ms buffers take about 90 ms), and
        # the session ends before the agent answers the user: it does once 500 ms of silence
        # follow the 800 ms of speech, about 1.2 s after the interruption, and ending later let
        # the first samples of that answer count as stray samples of the interrupted one
        time.sleep(0.6)
        t_end = time.monotonic()
        client.end()
        ended = time.monotonic() - t_end
        left = sorted(t.name for t in threading.enumerate() if t not in baseline and t.is_alive()
                      and not t.name.startswith("test-"))
    finally:
        feeder.close()
        samples = tap.stop()
    story = server.pcm(story_index)
    at = locate(samples, story, mark) if story.size else None
    result = played(samples[at:], story) if at is not None else None
    out: Dict[str, Any] = {"connect_ms": (greeting_at - t0) * 1000, "end_ms": ended * 1000,
                           "threads_left": left}
    if result is not None and at is not None:
        cut = at + result.start + result.position  # tap index just after the last story sample
        silent_at = tap.time_of(cut - 1)
        out["barge_ms"] = (silent_at - interrupted_at) * 1000
        out["stray_samples"] = result.stray
        out["skipped_samples"] = result.skipped
    return out


# --- CPU per minute of full-duplex audio -----------------------------------------------------------

def _duplex_cpu(make: Client, seconds: float) -> Tuple[float, List[float]]:
    """CPU s per minute while the agent talks without a pause and the microphone streams."""
    options = {"first_message": "word " * 600, "ping_interval": 2.0}
    with ServerProcess("elevenlabs", "realtime", 50, options) as server:
        client = make(server)
        client.start()
        try:
            time.sleep(1.0)  # past connect and the first buffers
            return cpu_over(seconds)
        finally:
            client.end()


def _cpu_samples(seconds: float, runs: int) -> Tuple[Dict[str, List[float]], Dict[str, List[List[float]]]]:
    clients: Tuple[Tuple[str, Client], ...] = (
        ("ours", _Ours), ("sdk", _SDK), ("ours_sdk_sizes", _OursAtSDKSizes))
    cpu: Dict[str, List[float]] = {name: [] for name, _make in clients}
    series: Dict[str, List[List[float]]] = {name: [] for name, _make in clients}
    for _ in range(runs):  # alternated, so drift in the machine's load hits all of them
        for name, make in clients:
            per_minute, steps = _duplex_cpu(make, seconds)
            cpu[name].append(per_minute)
            series[name].append(steps)
    return cpu, series


# --- RSS after a long conversation (fresh processes, fast pacing) ----------------------------------

def _soak(which: str, minutes: float) -> Dict[str, float]:
    env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "benchmarks._soak", which, str(minutes)], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"soak {which} failed: {done.stderr[-2000:]}")
    result: Dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the table ---------------------------------------------------------------------------------

def measure(quick: bool = False) -> Dict[str, Any]:
    """Every raw figure of this benchmark (also what the plots are drawn from)."""
    params = QUICK if quick else FULL
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    speech = synthesize_speech(SPEECH_MS, RATE, seed=9, level=0.5)
    rng = random.Random(7)
    sessions: Dict[str, List[Dict[str, Any]]] = {"ours": [], "sdk": []}
    with virtual_devices(RATE) as devices:
        options = {"first_message": GREETING, "ping_interval": 1.0, "correct_on_interrupt": False}
        with ServerProcess("elevenlabs", "realtime", 50, options) as server:
            for _ in range(params["rounds"]):
                sessions["ours"].append(_session(_Ours, server, devices, speech, rng))
                sessions["sdk"].append(_session(_SDK, server, devices, speech, rng))
        cpu, series = _cpu_samples(params["duplex_s"], params["duplex_runs"])
    soak = {"ours": _soak("el-ours", params["soak_minutes"]), "sdk": _soak("el-sdk", params["soak_minutes"])}
    return {"params": params, "sessions": sessions, "cpu": cpu, "cpu_series": series, "soak": soak}


def _values(sessions: List[Dict[str, Any]], key: str) -> List[float]:
    return [float(s[key]) for s in sessions if key in s]


def rows(data: Dict[str, Any]) -> List[Row]:
    ours, sdk = data["sessions"]["ours"], data["sessions"]["sdk"]
    barge_o, barge_s = _values(ours, "barge_ms"), _values(sdk, "barge_ms")
    out = [
        goal_row("EL barge-in: interruption sent -> speaker silent (monitor)", barge_o, barge_s, "ms",
                 "<= 0.25x", lambda r, _m: r <= 0.25, pairwise=False),
    ]
    stray_o, stray_s = _values(ours, "stray_samples"), _values(sdk, "stray_samples")
    worst_o, worst_s = max(stray_o, default=0), max(stray_s, default=0)
    out.append(Row("EL interrupted answer: samples lost/repeated/played after the cut (max)",
                   f"{worst_o:.0f}", f"{worst_s:.0f}", "", "0", verdict(worst_o == 0)))
    cpu_o, cpu_s = data["cpu"]["ours"], data["cpu"]["sdk"]
    out.append(goal_row("EL CPU per minute of full-duplex audio", cpu_o, cpu_s, "s", "<= 1.0x",
                        lambda r, _m: r <= 1.0, digits=3))
    if data["cpu"].get("ours_sdk_sizes"):
        out.append(goal_row("EL CPU per minute, ours at the SDK's buffer sizes (250 ms in, 62.5 ms out)",
                            data["cpu"]["ours_sdk_sizes"], cpu_s, "s", "<= 1.0x", lambda r, _m: r <= 1.0,
                            digits=3))
    out.append(goal_row("EL connect: start -> greeting heard (monitor)", _values(ours, "connect_ms"),
                        _values(sdk, "connect_ms"), "ms", "<= 1.0x", lambda r, _m: r <= 1.0, pairwise=False))
    out.append(goal_row("EL end: disconnect() / end_session() returns", _values(ours, "end_ms"),
                        _values(sdk, "end_ms"), "ms", "", lambda r, _m: True,
                        pairwise=False)._replace(verdict=""))
    left_o = max((len(s["threads_left"]) for s in ours), default=0)
    left_s = max((len(s["threads_left"]) for s in sdk), default=0)
    names_s = sorted({n for s in sdk for n in s["threads_left"]})
    out.append(Row("EL threads left when the session ended (max)", str(left_o),
                   f"{left_s}" + (f" ({', '.join(names_s)})" if names_s else ""), "", "0",
                   verdict(left_o == 0)))
    so, ss = data["soak"]["ours"], data["soak"]["sdk"]
    minutes = data["params"]["soak_minutes"]
    out.append(Row(f"EL RSS after {minutes:g} min of conversation (growth)",
                   f"{so['rss_end']:.1f} MB (+{so['rss_end'] - so['rss_start']:.1f})",
                   f"{ss['rss_end']:.1f} MB (+{ss['rss_end'] - ss['rss_start']:.1f})",
                   f"{so['rss_end'] / ss['rss_end']:.2f}x", "", ""))
    return out


def run(quick: bool = False) -> List[Row]:
    return rows(measure(quick))


if __name__ == "__main__":
    data = measure("--quick" in sys.argv)
    for row in rows(data):
        print(" | ".join(row))
    print(json.dumps(data, default=str)[:3000])
