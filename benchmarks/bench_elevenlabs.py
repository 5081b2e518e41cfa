"""Our client and the official ``elevenlabs`` Conversation side by side, against one fake agent.

Four measures with the same audio: connect time (socket open to the agent's metadata), barge-in
(the agent's ``interruption`` frame to output silenced, and agent audio that still reached the
output after it), CPU per minute of full-duplex audio (the agent talking while the user's
microphone streams, the fake agent in a subprocess so only the client is measured) and threads
left after the conversation ends. Run: ``python -m benchmarks.bench_elevenlabs``.
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from typing import Any, Callable, List, Optional, Tuple

from realtime_client import RealtimeClient
from realtime_client.adapters import elevenlabs_realtime
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.testing import FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import pcm16_bytes

RATE = 16000
CONNECT_ROUNDS = 15
BARGE_ROUNDS = 4
DUPLEX_SECONDS = 12.0
Row = Tuple[str, str, str, str]


# --- the SDK side ----------------------------------------------------------------------------

def _sdk_classes() -> Any:
    from elevenlabs import ElevenLabs
    from elevenlabs.conversational_ai.conversation import AudioInterface, Conversation

    class Interface(AudioInterface):
        """Feeds 16 kHz PCM16 at real time in 250 ms chunks; records output and interrupts."""

        def __init__(self, audio: bytes) -> None:
            self.audio, self.out_bytes, self.interrupted_at = audio, 0, None
            self.out_after_interrupt = 0
            self._stop = threading.Event()

        def start(self, input_callback: Callable[[bytes], None]) -> None:
            def feed() -> None:
                chunk, t0 = 8000, time.monotonic()
                for i in range(0, len(self.audio), chunk):
                    if self._stop.wait(max(0.0, t0 + i / 32000 - time.monotonic())):
                        return
                    input_callback(self.audio[i:i + chunk])
            threading.Thread(target=feed, name="sdk-bench-feed", daemon=True).start()

        def stop(self) -> None:
            self._stop.set()

        def output(self, audio: bytes) -> None:
            self.out_bytes += len(audio)
            if self.interrupted_at is not None:
                self.out_after_interrupt += len(audio)

        def interrupt(self) -> None:
            if self.interrupted_at is None:
                self.interrupted_at = time.monotonic()

    return ElevenLabs, Conversation, Interface


def _sdk(base_url: str, audio: bytes) -> Tuple[Any, Any]:
    ElevenLabs, Conversation, Interface = _sdk_classes()
    interface = Interface(audio)
    conversation = Conversation(ElevenLabs(api_key="x", base_url=base_url), "agent_fake", requires_auth=False,
                                audio_interface=interface)
    return conversation, interface


def _wait(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError("benchmark step timed out")
        time.sleep(0.0005)


# --- audio ---------------------------------------------------------------------------------------

def _wav(path: str, pcm: bytes) -> str:
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return path


def _barge_audio() -> bytes:
    """1.5 s of silence, 0.8 s of speech, then silence: the user talks over the agent."""
    quiet = b"\0\0" * int(RATE * 1.5)
    return quiet + pcm16_bytes(synthesize_speech(800, RATE, seed=9)) + b"\0\0" * RATE * 3


# --- measures ------------------------------------------------------------------------------------

def _connect(server: FakeRealtimeServer) -> Tuple[float, float]:
    client = RealtimeClient(adapter=server.adapter(), auto_capture=False, auto_playback=False)
    start = time.perf_counter()
    client.connect(timeout=10)
    ours = time.perf_counter() - start
    client.destroy()
    conversation, _ = _sdk(server.base_url, b"")
    start = time.perf_counter()
    conversation.start_session()
    _wait(lambda: conversation._conversation_id is not None)
    theirs = time.perf_counter() - start
    conversation.end_session()
    conversation.wait_for_session_end()
    return ours, theirs


def _interruption_sent(server: FakeRealtimeServer, since: int) -> Optional[float]:
    box: List[float] = []

    def watch() -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if any('"interruption"' in s for s in server.sent[since:]):
                box.append(time.monotonic())
                return
            time.sleep(0.0005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    thread.join(11)
    return box[0] if box else None


def _barge_ours(server: FakeRealtimeServer, wav: str) -> Tuple[float, int]:
    interrupted: List[float] = []
    out = BufferOutput(sample_rate=RATE, realtime=True)
    server.script(Reply.audio("A long story that goes on and on.", duration_ms=6000))
    client = RealtimeClient(adapter=server.adapter(), audio_input=WavFileInput(wav), audio_output=out,
                            echo="off", on_interrupted=lambda: interrupted.append(time.monotonic()))
    since = len(server.sent)
    client.connect(timeout=10)
    client.send_text("Tell me a story")
    sent_at = _interruption_sent(server, since)
    played_then = len(out.played)
    _wait(lambda: interrupted, 5)
    time.sleep(0.5)
    late = len(out.played) - played_then
    client.destroy()
    assert sent_at is not None
    return max(0.0, interrupted[0] - sent_at), late


def _barge_sdk(server: FakeRealtimeServer, audio: bytes) -> Tuple[float, int]:
    server.script(Reply.audio("A long story that goes on and on.", duration_ms=6000))
    since = len(server.sent)
    conversation, interface = _sdk(server.base_url, audio)
    conversation.start_session()
    _wait(lambda: conversation._ws is not None and conversation._conversation_id is not None)
    conversation.send_user_message("Tell me a story")
    sent_at = _interruption_sent(server, since)
    _wait(lambda: interface.interrupted_at is not None, 5)
    time.sleep(0.5)
    conversation.end_session()
    conversation.wait_for_session_end()
    assert sent_at is not None
    return max(0.0, interface.interrupted_at - sent_at), interface.out_after_interrupt


_SERVER = """
import sys, time
from realtime_client.testing import FakeRealtimeServer
s = FakeRealtimeServer(provider="elevenlabs", pacing="realtime", audio_chunk_ms=50,
                       provider_options={"first_message": "word " * 400, "ping_interval": 2.0}).start()
print(s.base_url, flush=True)
sys.stdin.read()
s.stop()
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _duplex(wav: str, audio: bytes) -> Tuple[float, float]:
    """CPU seconds per minute of full-duplex audio, ours and the SDK's (the agent in a subprocess)."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        url = base_url.replace("http", "ws", 1) + "/v1/convai/conversation"
        client = RealtimeClient(adapter=elevenlabs_realtime("agent_fake", url=url),
                                audio_input=WavFileInput(wav), audio_output=BufferOutput(sample_rate=RATE),
                                echo="off")
        client.connect(timeout=10)
        before, start = _cpu(), time.monotonic()
        time.sleep(DUPLEX_SECONDS)
        ours = (_cpu() - before) / (time.monotonic() - start) * 60
        client.destroy()
        conversation, _ = _sdk(base_url, audio)
        conversation.start_session()
        _wait(lambda: conversation._conversation_id is not None)
        before, start = _cpu(), time.monotonic()
        time.sleep(DUPLEX_SECONDS)
        theirs = (_cpu() - before) / (time.monotonic() - start) * 60
        conversation.end_session()
        conversation.wait_for_session_end()
        return ours, theirs
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)


def _threads_left() -> Tuple[int, int]:
    with FakeRealtimeServer(provider="elevenlabs") as server:
        baseline = set(threading.enumerate())
        client = RealtimeClient(adapter=server.adapter(), auto_capture=False,
                                audio_output=BufferOutput(sample_rate=RATE, realtime=False))
        client.connect(timeout=10)
        client.ask("hello", timeout=10)
        client.destroy()
        time.sleep(0.5)
        ours = len([t for t in threading.enumerate() if t not in baseline and t.is_alive()])
        baseline = set(threading.enumerate())
        conversation, _ = _sdk(server.base_url, b"\0\0" * RATE)
        conversation.start_session()
        _wait(lambda: conversation._conversation_id is not None)
        conversation.send_user_message("hello")
        time.sleep(0.5)
        conversation.end_session()
        conversation.wait_for_session_end()
        time.sleep(0.5)
        theirs = len([t for t in threading.enumerate() if t not in baseline and t.is_alive()
                      and not t.name.startswith("realtime-fake")])
        return ours, theirs


def run() -> List[Row]:
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    logging.getLogger("elevenlabs").setLevel(logging.CRITICAL)
    rows: List[Row] = []
    with FakeRealtimeServer(provider="elevenlabs", provider_options={"ping_interval": 0.5}) as server:
        pairs = [_connect(server) for _ in range(CONNECT_ROUNDS + 2)][2:]  # two warm-up rounds
    ours, theirs = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    rows += [("EL connect median (ours)", f"{ours * 1000:.2f} ms", "", ""),
             ("EL connect median (SDK)", f"{theirs * 1000:.2f} ms", "", ""),
             ("EL connect ratio ours/SDK", f"{ours / theirs:.2f}x", "<= 1.2x",
              "ok" if ours / theirs <= 1.2 else "MISSED")]
    audio = _barge_audio()
    with tempfile.TemporaryDirectory() as tmp:
        wav = _wav(os.path.join(tmp, "barge.wav"), audio)
        barge_options = {"ping_interval": 0.5, "correct_on_interrupt": False}
        with FakeRealtimeServer(provider="elevenlabs", pacing="realtime", audio_chunk_ms=50,
                                provider_options=barge_options) as server:
            barge_ours = [_barge_ours(server, wav) for _ in range(BARGE_ROUNDS)]
            barge_sdk = [_barge_sdk(server, audio) for _ in range(BARGE_ROUNDS)]
        duplex_wav = _wav(os.path.join(tmp, "duplex.wav"), b"\0\0" * int(RATE * (DUPLEX_SECONDS + 5)))
        cpu_ours, cpu_sdk = _duplex(duplex_wav, b"\0\0" * int(RATE * (DUPLEX_SECONDS + 5)))
    lat_ours = statistics.median(b[0] for b in barge_ours) * 1000
    lat_sdk = statistics.median(b[0] for b in barge_sdk) * 1000
    rows += [("EL barge-in: interruption -> silenced (ours)", f"{lat_ours:.1f} ms", "", ""),
             ("EL barge-in: interruption -> interrupt() (SDK)", f"{lat_sdk:.1f} ms", "", ""),
             ("EL late agent audio after interruption (ours)",
              f"{max(b[1] for b in barge_ours)} bytes", "<= 1 chunk (1600)",
              "ok" if max(b[1] for b in barge_ours) <= 1600 else "MISSED"),
             ("EL late agent audio after interruption (SDK)",
              f"{max(b[1] for b in barge_sdk)} bytes", "", ""),
             ("EL CPU per minute full duplex (ours)", f"{cpu_ours:.2f} s", "", ""),
             ("EL CPU per minute full duplex (SDK)", f"{cpu_sdk:.2f} s", "", ""),
             ("EL CPU ratio ours/SDK", f"{cpu_ours / cpu_sdk:.2f}x", "", "")]
    left_ours, left_sdk = _threads_left()
    rows += [("EL threads left after end (ours)", str(left_ours), "0",
              "ok" if left_ours == 0 else "MISSED"),
             ("EL threads left after end (SDK)", str(left_sdk), "", "")]
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
