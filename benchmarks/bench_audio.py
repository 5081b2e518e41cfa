"""Audio figures (issue 3): barge-in latency, truncation error, CPU per minute of full-duplex audio,
and capture → wire latency.

* Barge-in: a client plays a spoken answer into a real-time ``BufferOutput`` (which hears
  exactly what it was given, in 10 ms steps); mid-answer the fake server sends
  ``input_audio_buffer.speech_started``. Latency = that send → the output's ``abort()``
  (after which the speaker is silent). Truncation error = ``audio_end_ms`` of the truncate the
  client sends - the audio the output really played of that item.
* CPU: the audio engine in full duplex at real-time pace (a WAV microphone and a paced
  speaker, the default echo gate, the visualization's levels and waveforms, the adapter's
  parse/append frames built and serialized) against a bare two-thread loop that only
  decodes the same deltas and writes them, and reads the same microphone and encodes it.
  ``time.process_time`` over each run, scaled to one minute; the two alternate and the
  medians are reported. Subscribed taps (one per direction, through the callback thread)
  and a UI polling the visualization at 30 fps (on the UI's thread) are reported apart.
* Capture → wire: a paced microphone stamps a sequence number into each 20 ms chunk and the
  moment its read returns; a minimal WebSocket peer notes when each append arrives.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import statistics
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from websockets.sync.server import serve

from realtime_client import RealtimeClient, RealtimeToken
from realtime_client._events import AudioChunk
from realtime_client._intents import AppendAudio
from realtime_client.adapters import openai_realtime
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.audio._engine import AudioEngine
from realtime_client.dispatch import ThreadDispatcher
from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech

from ._harness import Row, goal_row
from .bench_ingest import _session

BARGE_ROUNDS = 12
CPU_SECONDS = 6  # per run; bare and ours alternate CPU_PAIRS times (this VM's timing is noisy)
CPU_PAIRS = 3
WIRE_SECONDS = 8
RATE = 24000


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# --- barge-in ----------------------------------------------------------------------------------


class _TimedOutput(BufferOutput):
    """A real-time BufferOutput that notes when it was aborted."""

    def __init__(self) -> None:
        super().__init__(RATE, realtime=True)
        self.aborts: List[float] = []

    def abort(self) -> None:
        self.aborts.append(time.perf_counter())
        super().abort()


def _wait(predicate: Any, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("benchmark step timed out")
        time.sleep(0.001)


def _barge_in() -> List[Row]:
    latencies: List[float] = []
    errors: List[float] = []
    rng = random.Random(3)
    with FakeRealtimeServer() as server:
        out = _TimedOutput()
        client = RealtimeClient(get_token=server.get_token, adapter=openai_realtime(url=server.url),
                                auto_capture=False, audio_output=out)
        client.connect(timeout=10)
        try:
            for r in range(BARGE_ROUNDS):
                server.script(Reply.audio("An answer that goes on for a while.", duration_ms=1500))
                base = out.played_ms
                truncates = sum(1 for f in server.received if f.get("type") == "conversation.item.truncate")
                client.send_text("go on")
                target = 300 + rng.uniform(0, 300)  # random phase against the 10 ms steps
                _wait(lambda: out.played_ms - base >= target, 10)
                start = time.perf_counter()
                server.send_event({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0,
                                   "item_id": f"item_user_{r}"})
                _wait(lambda: any(t > start for t in out.aborts), 5)
                latencies.append(min(t for t in out.aborts if t > start) - start)
                trunc = server.wait_for_frame("conversation.item.truncate", timeout=5, count=truncates + 1)
                time.sleep(0.1)
                errors.append(trunc["audio_end_ms"] - (out.played_ms - base))
                _wait(lambda: client.mode == "listening", 5)
        finally:
            client.destroy()
    lat_ms = statistics.median(latencies) * 1000
    worst = max(abs(e) for e in errors)
    return [
        ("barge-in: speech_started sent -> output aborted (median)", f"{lat_ms:.2f} ms", "<= 30 ms",
         _verdict(lat_ms <= 30)),
        ("barge-in latency (max)", f"{max(latencies) * 1000:.2f} ms", "", ""),
        ("truncation error audio_end_ms - played (median)", f"{statistics.median(errors):+.1f} ms", "", ""),
        ("truncation error (worst abs error)", f"{worst:.1f} ms", "<= 20 ms", _verdict(worst <= 20)),
    ]


# --- CPU -----------------------------------------------------------------------------------------


def _speech_wav(path: Path, seconds: float) -> None:
    samples = synthesize_speech(seconds * 1000, RATE, seed=11, level=0.3)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.astype("<i2").tobytes())


def _delta_frames(seconds: float) -> List[str]:
    audio = synthesize_speech(seconds * 1000, RATE, seed=12, level=0.4).astype("<i2").tobytes()
    step = RATE // 10 * 2  # 100 ms deltas
    return [json.dumps({"type": "response.output_audio.delta", "event_id": f"e{i}", "response_id": "resp_1",
                        "item_id": "item_1", "output_index": 0, "content_index": 0,
                        "delta": base64.b64encode(audio[k : k + step]).decode()})
            for i, k in enumerate(range(0, len(audio), step))]


def _cpu_ours(mic: Path, frames: List[str], taps: bool) -> float:
    session = openai_realtime(url="ws://127.0.0.1:9/v1/realtime").new_session()
    dispatcher = ThreadDispatcher()
    dispatcher.start()
    out = BufferOutput(RATE, realtime=True)
    idle = threading.Event()
    sent: List[int] = []

    def on_capture(pcm: bytes) -> None:
        sent.extend(len(json.dumps(f, separators=(",", ":"))) for f in session.send(AppendAudio(pcm)))

    engine = AudioEngine(output=out, input=WavFileInput(mic, realtime=True), provider_output_rate=RATE,
                         provider_input_rate=RATE, on_capture=on_capture,
                         on_playback_started=lambda item: None, on_playback_idle=idle.set,
                         on_error=lambda exc: None, dispatcher=dispatcher, echo="gate")
    if taps:
        engine.visualization.on_input_audio(lambda samples, rate: None)
        engine.visualization.on_output_audio(lambda samples, rate: None)
    start = time.process_time()
    engine.start_playback()
    engine.start_capture()
    for frame in frames:  # the server sends faster than real time; the engine queues
        for event in session.receive(frame).events:
            if isinstance(event, AudioChunk):
                engine.play(event.item_id, event.audio)
    idle.wait(CPU_SECONDS + 10)
    while engine.is_capturing:  # coarse polling: waking this thread often would cost CPU too
        time.sleep(0.25)
    cpu = time.process_time() - start
    engine.close(timeout=2)
    dispatcher.stop()
    return cpu


def _cpu_bare(mic: Path, frames: List[str]) -> float:
    out = BufferOutput(RATE, realtime=True)
    inp = WavFileInput(mic, realtime=True)
    inp.open()

    def play() -> None:
        for frame in frames:
            out.write(base64.b64decode(json.loads(frame)["delta"]))

    def capture() -> None:
        while data := inp.read(RATE // 50):
            json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(data).decode()})

    start = time.process_time()
    threads = [threading.Thread(target=play, name="bench-play"),
               threading.Thread(target=capture, name="bench-cap")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = time.process_time() - start
    inp.close()
    return cpu


def _ui_polling_per_minute() -> float:
    vis = AudioEngine(output=None, input=None, provider_output_rate=RATE, provider_input_rate=RATE,
                      on_capture=lambda pcm: None, on_playback_started=lambda item: None,
                      on_playback_idle=lambda: None, on_error=lambda exc: None,
                      dispatcher=lambda fn: None).visualization
    noise = (np.random.default_rng(1).standard_normal(4096) * 3000).astype("<i2").tobytes()
    vis._push_input(noise, RATE)
    vis._push_output(noise, RATE)
    polls = 600
    start = time.process_time()
    for _ in range(polls):
        _ = vis.input_level, vis.output_level
        vis.get_input_frequency_data()
        vis.get_output_frequency_data()
        vis.get_input_time_domain_data()
        vis.get_output_time_domain_data()
    per_poll = (time.process_time() - start) / polls
    return per_poll * 30 * 60


def _cpu() -> List[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        mic = Path(tmp) / "mic.wav"
        _speech_wav(mic, CPU_SECONDS)
        frames = _delta_frames(CPU_SECONDS)
        bares: List[float] = []
        ourses: List[float] = []
        for _ in range(CPU_PAIRS):
            bares.append(_cpu_bare(mic, frames) * 60 / CPU_SECONDS)
            ourses.append(_cpu_ours(mic, frames, taps=False) * 60 / CPU_SECONDS)
        with_taps = _cpu_ours(mic, frames, taps=True) * 60 / CPU_SECONDS
    ui = _ui_polling_per_minute()
    return [
        goal_row("CPU per minute full duplex, in-memory devices (engine, gate, levels)", ourses, bares, "s",
                 "<= 1.2x", lambda r, _m: r <= 1.2, digits=3, peer_name="bare loop"),
        Row("CPU per minute with an input and an output tap", f"{with_taps:.3f} s"),
        Row("UI polling levels+spectra+waveforms at 30 fps", f"{ui:.3f} s/min", "", "", "", "(UI thread)"),
    ]


# --- capture -> wire ------------------------------------------------------------------------------


class _StampedInput:
    """A paced microphone: chunk k starts with sample value k; notes when each read returns."""

    sample_rate = RATE

    def __init__(self) -> None:
        self.ready: Dict[int, float] = {}
        self._closed = threading.Event()
        self._t0 = 0.0
        self._count = 0

    def open(self) -> None:
        self._closed.clear()
        self._t0 = time.monotonic()
        self._count = 0

    def read(self, frames: int) -> bytes:
        self._count += 1
        if self._count > WIRE_SECONDS * 50 or self._closed.wait(
                max(0.0, self._t0 + self._count * frames / RATE - time.monotonic())):
            return b""
        samples = np.full(frames, 100, dtype="<i2")
        samples[0] = self._count
        data = samples.tobytes()
        self.ready[self._count] = time.perf_counter()
        return data

    def close(self) -> None:
        self._closed.set()


def _capture_to_wire() -> List[Row]:
    arrivals: Dict[int, float] = {}

    def handler(conn: Any) -> None:
        conn.send(json.dumps({"type": "session.created", "event_id": "s0", "session": _session()}))
        for raw in conn:
            now = time.perf_counter()
            msg = json.loads(raw)
            if msg["type"] == "session.update":
                conn.send(json.dumps({"type": "session.updated", "event_id": "s1", "session": _session()}))
            elif msg["type"] == "input_audio_buffer.append":
                seq = int(np.frombuffer(base64.b64decode(msg["audio"])[:2], dtype="<i2")[0])
                arrivals[seq] = now

    server = serve(handler, "127.0.0.1", 0, compression=None, max_size=None)
    thread = threading.Thread(target=server.serve_forever, name="bench-peer", daemon=True)
    thread.start()
    mic = _StampedInput()
    url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/v1/realtime"
    client = RealtimeClient(get_token=lambda: RealtimeToken("openai", "bench"),
                            adapter=openai_realtime(url=url), auto_playback=False, audio_input=mic,
                            vad_mode="manual")
    try:
        client.connect(timeout=10)
        client.start_listening()
        time.sleep(WIRE_SECONDS + 0.5)
    finally:
        client.destroy()
        server.shutdown()
        thread.join(2)
    delays = sorted(arrivals[k] - mic.ready[k] for k in arrivals if k in mic.ready)
    p50 = delays[len(delays) // 2] * 1000
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
    return [
        ("capture -> wire p50", f"{p50:.2f} ms", "", f"{len(delays)} chunks"),
        ("capture -> wire p99", f"{p99:.2f} ms", "<= 5 ms", _verdict(p99 <= 5)),
    ]


def run(quick: bool = False) -> List[Row]:
    global BARGE_ROUNDS, CPU_SECONDS, CPU_PAIRS, WIRE_SECONDS
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    if quick:
        BARGE_ROUNDS, CPU_SECONDS, CPU_PAIRS, WIRE_SECONDS = 2, 1, 1, 1
    return [Row(*r[:1], r[1], "", "", r[2], r[3]) if len(r) == 4 else r
            for r in _barge_in() + _cpu() + _capture_to_wire()]


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
