"""RealtimeClient with a microphone that hears its own speaker, through real PulseAudio loops.

A microphone on the monitor of the sink the client plays into hears 100 % of what it plays
(0 dB of coupling), like a sound server routing the speaker back into the microphone; a
``module-loopback`` in between adds a delay, and optionally attenuation, like a room. The
fake server's VAD fires on loud input, so any echo that gets past the client's default
``echo="gate"`` makes the assistant interrupt itself. The same monitors stall for up to
2 s while their sink is idle, which must not hold up ``disconnect()``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List

import numpy as np
import pytest

from realtime_client import RealtimeClient
from realtime_client.testing import FakeRealtimeServer, Reply
from realtime_client.testing._audio import synthesize_speech
from tests.audio.conftest import SPK_RATE, AudioLoops
from tests.audio.test_realtime_devices import appended_audio
from tests.helpers import wait_until

MakeClient = Callable[..., RealtimeClient]


class Modes:
    """``on_mode_change`` values in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: List[str] = []

    def __call__(self, mode: Any) -> None:
        with self.lock:
            self.seen.append(str(getattr(mode, "value", mode)))

    def spoken(self) -> int:
        """How many times the mode went from speaking back to listening."""
        with self.lock:
            return sum(1 for a, b in zip(self.seen, self.seen[1:]) if (a, b) == ("speaking", "listening"))


def server_events(server: FakeRealtimeServer, kind: str) -> List[Dict[str, Any]]:
    return [e for e in (json.loads(s) for s in list(server.sent)) if e.get("type") == kind]


def client_frames(server: FakeRealtimeServer, kind: str) -> List[Dict[str, Any]]:
    return [f for f in list(server.received) if isinstance(f, dict) and f.get("type") == kind]


def microphone_on(loops: AudioLoops, wiring: str) -> str:
    """The input device that hears the default speaker (the ``spk`` sink) at 0 dB."""
    if wiring == "monitor":
        return "spk_tap"  # spk.monitor itself: no delay beyond the sound server's
    mic = loops.sink("room", SPK_RATE)
    loops.loopback("spk.monitor", "room", latency_ms=300)
    loops.warm_up(mic, SPK_RATE)
    return mic


@pytest.mark.parametrize("wiring, pacing", [("monitor", "fast"), ("loopback_300ms", "fast"),
                                            ("loopback_300ms", "realtime")])
def test_a_fully_coupled_loop_never_makes_the_assistant_interrupt_itself(
        audio_loops: AudioLoops, request: pytest.FixtureRequest, wiring: str, pacing: str) -> None:
    """With the mic hearing 100 % of the speaker, two spoken answers play out whole, no mode flapping."""
    # "realtime": the server streams each answer at real-time pace, as a provider does
    paced = pacing == "realtime"
    server: FakeRealtimeServer = request.getfixturevalue("paced" if paced else "server")
    make_client: MakeClient = request.getfixturevalue("paced_client" if paced else "make_client")
    modes = Modes()
    mic = microphone_on(audio_loops, wiring)
    client = make_client(audio_output=None, auto_capture=True, input_device=mic, on_mode_change=modes)
    client.connect(timeout=10)
    for n, ms in enumerate((3000, 2000), start=1):
        server.script(Reply.audio("An answer the microphone hears in full, start to end.", duration_ms=ms))
        client.send_text("Talk to me.")
        wait_until(lambda: modes.spoken() >= n, 15, f"answer {n} to play out (modes {modes.seen})")
        time.sleep(0.8)  # the echo's tail (up to 300 ms late) reaches the server and its VAD
    sent = appended_audio(server)
    facts = f"modes {modes.seen}, {np.count_nonzero(sent)} non-zero samples of {sent.size} sent"
    assert server_events(server, "input_audio_buffer.speech_started") == [], facts
    assert client_frames(server, "conversation.item.truncate") == [], facts
    assert client_frames(server, "response.cancel") == [], facts
    assert modes.seen == ["listening"] + ["thinking", "speaking", "listening"] * 2, facts
    assert not any(m.interrupted for m in client.messages), facts
    assert sent.size > 5 * SPK_RATE and not sent.any(), facts  # the mic heard only echo: none of it got out


def test_a_user_still_barges_in_through_a_moderate_delayed_loop(
        audio_loops: AudioLoops, virtual_audio: Any, server: FakeRealtimeServer,
        make_client: MakeClient) -> None:
    """12 dB of coupling, 150 ms late: the echo stays out, and the user's voice interrupts the assistant."""
    mic = audio_loops.sink("room", SPK_RATE)
    audio_loops.loopback("spk.monitor", "room", latency_ms=150, volume_db=-12.0)
    audio_loops.warm_up(mic, SPK_RATE)
    voice = virtual_audio.feeder("room_spk", SPK_RATE)  # the user, into the same "room"
    interrupted = threading.Event()
    modes = Modes()
    client = make_client(audio_output=None, auto_capture=True, input_device=mic, on_mode_change=modes,
                         on_interrupted=interrupted.set)
    try:
        client.connect(timeout=10)
        server.script(Reply.audio("A long answer that the user cuts short after a while.", duration_ms=5000))
        client.send_text("Tell me a long story.")
        wait_until(lambda: "speaking" in modes.seen, 10, "the answer to start playing")
        time.sleep(1.5)
        echo_alone = server_events(server, "input_audio_buffer.speech_started")
        assert echo_alone == [], "the echo alone triggered the VAD"
        voice.play(synthesize_speech(800, SPK_RATE, seed=5, level=0.5))
        server.wait_for_sent("input_audio_buffer.speech_started", timeout=5)
        truncate = server.wait_for_frame("conversation.item.truncate", timeout=5)
        assert interrupted.wait(5)
    finally:
        voice.close()
    assert 1200 <= truncate["audio_end_ms"] <= 2500, truncate
    wait_until(lambda: any(m.interrupted for m in client.messages), 5, "the answer marked interrupted")
    assert len(server_events(server, "input_audio_buffer.speech_started")) == 1


def test_disconnect_is_prompt_while_a_monitor_microphone_stalls(
        audio_loops: AudioLoops, server: FakeRealtimeServer, make_client: MakeClient,
        caplog: pytest.LogCaptureFixture) -> None:
    """Mic and speaker on an idle null sink (its monitor stalls ~2 s): every disconnect ends the threads."""
    caplog.set_level(logging.DEBUG, logger="realtime_client")
    mic = audio_loops.sink("idle", 48000)  # no keep-alive: each new stream meets the 2 s stall
    took: List[float] = []
    for cycle in range(4):
        client = make_client(audio_output=None, auto_capture=True, input_device=mic, output_device="idle_spk")
        client.connect(timeout=10)
        if cycle % 2:
            server.script(Reply.audio("A short answer.", duration_ms=600))
            client.send_text("Say something short.")
            time.sleep(1.0)
        else:
            time.sleep(0.3)
        start = time.monotonic()
        client.disconnect()
        took.append(time.monotonic() - start)
        alive = [t.name for t in threading.enumerate() if t.name in ("realtime-capture", "realtime-playback")]
        assert alive == [], f"cycle {cycle}: {alive} outlived disconnect()"
    late = [r.getMessage() for r in caplog.records if "did not stop" in r.getMessage()]
    assert late == [] and max(took) < 0.25, (late, took)
