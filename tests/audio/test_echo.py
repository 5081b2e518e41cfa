"""Echo handling: the gate and the canceller on known signals, and end to end through a simulated room."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import pytest

from realtime_client.audio._echo import EchoCanceller, EchoGate, make_echo
from realtime_client.audio._engine import AudioEngine
from realtime_client.audio._timeline import PlayedAudio
from realtime_client.testing import EchoLoop, FakeRealtimeServer, Reply, synthesize_speech
from realtime_client.testing._audio import EnergyVAD, rms_dbfs
from tests.helpers import wait_until

RATE = 24000
CHUNK = RATE // 50  # 20 ms
FAR_AT = RATE  # the assistant's audio is audible from index 24000 (1 s) on


def room(far: np.ndarray, total: int, delay_ms: float = 40.0, attenuation_db: float = 12.0,
         voice: Optional[np.ndarray] = None, voice_at: int = 0) -> np.ndarray:
    """The microphone signal from index 0: the echo of ``far`` (played from FAR_AT) plus a voice."""
    mic = np.zeros(total)
    start = FAR_AT + round(delay_ms * RATE / 1000)
    end = min(total, start + far.size)
    mic[start:end] = far[: end - start] * 10 ** (-attenuation_db / 20)
    if voice is not None:
        mic[voice_at : voice_at + voice.size] += voice[: max(0, total - voice_at)]
    return np.clip(np.round(mic), -32768, 32767).astype(np.int16)


def through(processor: Any, mic: np.ndarray, start: int = 0) -> np.ndarray:
    """Feed ``mic`` from ``start`` in 20 ms chunks (timeline index = sample index); return what is sent."""
    out = [np.frombuffer(processor.process(k, mic[k : k + CHUNK].tobytes()), np.int16)
           for k in range(start, mic.size - CHUNK + 1, CHUNK)]
    return np.concatenate(out)


def vad_starts(samples: np.ndarray) -> List[float]:
    """Where the fake server's VAD (default threshold) hears speech start, in ms."""
    return [ms for kind, ms in EnergyVAD(RATE).feed(samples) if kind == "start"]


def played_with(far: np.ndarray) -> PlayedAudio:
    """``far`` played from FAR_AT on, handed over in 20 ms pieces as the playback thread does."""
    played = PlayedAudio(origin=0.0, rate=RATE)
    for k in range(0, far.size, CHUNK):
        played.add((FAR_AT + k) / RATE, far[k : k + CHUNK].tobytes())
    return played


FAR = synthesize_speech(2000, RATE, seed=1, level=0.4)
VOICE = synthesize_speech(700, RATE, seed=5, level=0.5)


def test_without_played_audio_the_gate_passes_everything_unchanged() -> None:
    """With nothing played, the gate is transparent: speech goes out sample for sample."""
    gate = EchoGate(PlayedAudio(origin=0.0, rate=RATE), RATE)
    mic = room(np.zeros(0, np.int16), RATE, voice=VOICE, voice_at=2400)
    assert np.array_equal(through(gate, mic), mic[: mic.size // CHUNK * CHUNK])
    assert gate.gated == 0


@pytest.mark.parametrize("attenuation_db", [6.0, 12.0, 20.0])
def test_echo_alone_is_silenced_and_the_coupling_is_learned(attenuation_db: float) -> None:
    """The echo of the assistant never reaches the VAD, though the raw microphone would trigger it."""
    gate = EchoGate(played_with(FAR), RATE)
    mic = room(FAR, 4 * RATE, attenuation_db=attenuation_db)
    assert vad_starts(mic), "the echo alone must be loud enough to trigger the VAD"
    sent = through(gate, mic)
    assert vad_starts(sent) == []
    assert not sent[FAR_AT : FAR_AT + FAR.size].any()
    assert gate.coupling_db == pytest.approx(-attenuation_db, abs=2.0)


def test_a_voice_louder_than_the_echo_passes_at_once() -> None:
    """Barging in: the user's speech over the echo goes out unchanged and the VAD hears it promptly."""
    gate = EchoGate(played_with(FAR), RATE)
    voice_at = FAR_AT + RATE  # one second into the assistant's speech
    mic = room(FAR, 4 * RATE, voice=VOICE, voice_at=voice_at)
    sent = through(gate, mic)
    starts = vad_starts(sent)
    assert len(starts) == 1 and 0 <= starts[0] - voice_at / 24 <= 100
    loud = [k for k in range(voice_at, voice_at + VOICE.size, CHUNK)
            if rms_dbfs(VOICE[k - voice_at :][:CHUNK]) > -25]
    passed = [k for k in loud if np.array_equal(sent[k : k + CHUNK], mic[k : k + CHUNK])]
    assert len(passed) >= 0.85 * len(loud)  # at most a rising onset chunk per syllable is lost
    assert gate.coupling_db == pytest.approx(-12, abs=2.0)  # the user's words did not inflate it


def test_everything_passes_again_shortly_after_the_assistant_stops() -> None:
    """Once playback has ended and the room has decayed (a few hundred ms), the gate is transparent again."""
    gate = EchoGate(played_with(FAR), RATE)
    end = FAR_AT + FAR.size
    voice_at = end + RATE // 2  # half a second after the assistant stopped
    mic = room(FAR, 5 * RATE, voice=VOICE, voice_at=voice_at)
    sent = through(gate, mic)
    assert np.array_equal(sent[voice_at:], mic[voice_at : sent.size])
    assert not sent[FAR_AT:end].any()


def test_a_flush_cuts_the_reference_so_the_gate_reopens_sooner() -> None:
    """After playback is flushed, what would have played is no longer expected as echo."""
    played = played_with(FAR)
    played.cut(1.5)  # flushed half a second in: the rest was never heard
    gate = EchoGate(played, RATE)
    voice_at = FAR_AT + RATE  # 500 ms after the cut, while the flushed audio would still be playing
    mic = room(FAR[: RATE // 2], 3 * RATE, voice=VOICE * 0.1, voice_at=voice_at)  # a soft voice
    sent = through(gate, mic)
    assert np.array_equal(sent[voice_at:], mic[voice_at : sent.size])


@pytest.mark.parametrize("delay_ms", [-40.0, 0.0, 120.0, 260.0, 450.0])
def test_a_fully_coupled_echo_is_silenced_whatever_its_delay(delay_ms: float) -> None:
    """0 dB of coupling (a sound server looping the speaker into the mic), early or late: nothing gets out."""
    gate = EchoGate(played_with(FAR), RATE)
    mic = room(FAR, 5 * RATE, delay_ms=delay_ms, attenuation_db=0.0)
    sent = through(gate, mic)
    assert vad_starts(sent) == []
    assert not sent.any(), "echo passed the gate"
    assert gate.coupling_db == pytest.approx(0.0, abs=2.0)
    assert gate.delay_ms == pytest.approx(delay_ms, abs=25.0)
    assert gate.half_duplex


@pytest.mark.parametrize("delay_ms", [-40.0, 260.0])
def test_a_delayed_echo_ends_with_its_delay_and_the_gate_reopens(delay_ms: float) -> None:
    """With a learned delay the echo's tail is gated too, and a voice after it passes unchanged."""
    gate = EchoGate(played_with(FAR), RATE)
    end = FAR_AT + FAR.size + round(delay_ms * RATE / 1000)  # where the echo ends
    voice_at = end + RATE // 2
    mic = room(FAR, 5 * RATE, delay_ms=delay_ms, attenuation_db=0.0, voice=VOICE, voice_at=voice_at)
    sent = through(gate, mic)
    assert not sent[:voice_at].any()
    assert np.array_equal(sent[voice_at:], mic[voice_at : sent.size])


def test_a_microphone_opened_just_after_the_answer_began_still_learns_it() -> None:
    """The mic opens 100 ms into the answer (connect, then an instant greeting): the full echo stays out."""
    gate = EchoGate(played_with(FAR), RATE)
    opened = FAR_AT + RATE // 10
    mic = room(FAR, 5 * RATE, delay_ms=260.0, attenuation_db=0.0)
    sent = through(gate, mic, start=opened)
    assert not sent.any()
    assert gate.coupling_db == pytest.approx(0.0, abs=2.0)


def test_a_late_echo_at_moderate_coupling_still_lets_the_user_barge_in() -> None:
    """12 dB of coupling arriving 260 ms late: the echo is silenced, a voice over it passes at once."""
    gate = EchoGate(played_with(FAR), RATE)
    voice_at = FAR_AT + RATE + RATE // 5  # 1.2 s into the assistant's speech
    mic = room(FAR, 4 * RATE, delay_ms=260.0, voice=VOICE, voice_at=voice_at)
    sent = through(gate, mic)
    starts = vad_starts(sent)
    assert len(starts) == 1 and 0 <= starts[0] - voice_at / 24 <= 100
    assert not sent[:voice_at].any()
    assert gate.coupling_db == pytest.approx(-12, abs=2.0) and not gate.half_duplex
    assert gate.delay_ms == pytest.approx(260.0, abs=25.0)


def test_the_learned_delay_carries_over_to_the_next_answer() -> None:
    """A second answer is gated at the delay learned from the first: a voice soon after its start passes."""
    played = played_with(FAR)
    second_at = FAR_AT + FAR.size + 2 * RATE  # a new burst two seconds after the first ended
    for k in range(0, FAR.size, CHUNK):
        played.add((second_at + k) / RATE, FAR[k : k + CHUNK].tobytes())
    gate = EchoGate(played, RATE)
    voice_at = second_at + RATE // 2 + RATE // 5  # 700 ms into the second answer
    echo = room(FAR, second_at + 3 * RATE, delay_ms=260.0)
    echo[second_at:] = room(FAR, 3 * RATE + FAR_AT, delay_ms=260.0)[FAR_AT:]
    mic = echo.astype(np.int32)
    mic[voice_at : voice_at + VOICE.size] += VOICE
    sent = through(gate, np.clip(mic, -32768, 32767).astype(np.int16))
    starts = vad_starts(sent)
    assert len(starts) == 1 and 0 <= starts[0] - voice_at / 24 <= 100
    assert gate.delay_ms == pytest.approx(260.0, abs=25.0)


def test_the_canceller_removes_the_echo_and_keeps_the_voice() -> None:
    """echo='aec': the echo drops far below the VAD threshold; once adapted, the user's voice passes."""
    far = synthesize_speech(5000, RATE, seed=1, level=0.4)
    aec = EchoCanceller(played_with(far), RATE)
    voice_at = FAR_AT + 3 * RATE  # the canceller has had three seconds to adapt
    mic = room(far, 7 * RATE, voice=VOICE, voice_at=voice_at)
    sent = through(aec, mic)
    echo_only = sent[FAR_AT:voice_at]
    levels = [rms_dbfs(echo_only[k : k + CHUNK]) for k in range(0, echo_only.size, CHUNK)]
    assert max(levels) < -45
    starts = vad_starts(sent)
    assert len(starts) == 1 and 0 <= starts[0] - voice_at / 24 <= 150


def test_unknown_mode_and_missing_livekit_fail_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad echo mode is a ValueError; echo='aec' without livekit is an ImportError naming the extra."""
    played = PlayedAudio(origin=0.0, rate=RATE)
    with pytest.raises(ValueError, match="echo must be one of"):
        make_echo("loud", played, RATE)
    assert make_echo("off", played, RATE) is None
    monkeypatch.setitem(sys.modules, "livekit", None)  # makes `import livekit` fail
    with pytest.raises(ImportError, match=r"pip install 'realtime-client\[aec\]'"):
        AudioEngine(output=None, input=None, provider_output_rate=RATE, provider_input_rate=RATE,
                    on_capture=lambda pcm: None, on_playback_started=lambda item: None,
                    on_playback_idle=lambda: None, on_error=lambda exc: None,
                    dispatcher=lambda fn: None, echo="aec")


# --- end to end: client, fake server VAD, simulated room ---------------------------------------


def speech_starts(server: FakeRealtimeServer) -> List[float]:
    import json

    return [json.loads(s)["audio_start_ms"] for s in list(server.sent)
            if '"input_audio_buffer.speech_started"' in s]




def talk_through_room(server: FakeRealtimeServer, make_client: Callable[..., Any],
                      echo: str) -> Tuple[Any, EchoLoop]:
    """Connect with the room as speaker and microphone, and start a 2.5 s spoken answer."""
    loop = EchoLoop(delay_ms=40, attenuation_db=12)
    client = make_client(audio_output=loop.output, audio_input=loop.input, auto_capture=True, echo=echo)
    client.connect(timeout=5)
    server.script(Reply.audio("A long answer that keeps going for a while.", duration_ms=2500))
    time.sleep(0.1)  # the microphone is open before the assistant starts
    client.send_text("tell me something")
    wait_until(lambda: loop.output.played_ms >= 1200, 5, "1.2 s of the answer to play")
    return client, loop


@pytest.mark.parametrize("echo", ["gate", "aec"])
def test_the_assistant_does_not_interrupt_itself_but_the_user_can(server: FakeRealtimeServer,
                                                                  make_client: Callable[..., Any],
                                                                  echo: str) -> None:
    """Through a room with 12 dB of echo, server VAD stays quiet until the user speaks, then barges in."""
    client, loop = talk_through_room(server, make_client, echo)
    assert speech_starts(server) == [], "the assistant's own echo triggered the server's VAD"
    loop.say(synthesize_speech(800, seed=5, level=0.5))
    server.wait_for_sent("input_audio_buffer.speech_started", timeout=3)
    truncate = server.wait_for_frame("conversation.item.truncate", timeout=3)
    assert 1100 <= truncate["audio_end_ms"] <= 2000
    wait_until(lambda: any(m.interrupted for m in client.messages), 3, "the answer marked interrupted")
    assert len(speech_starts(server)) == 1


def test_without_echo_handling_the_echo_interrupts_the_assistant(server: FakeRealtimeServer,
                                                                  make_client: Callable[..., Any]) -> None:
    """echo='off' in the same room: the assistant's echo alone trips the VAD (the test above can fail)."""
    loop = EchoLoop(delay_ms=40, attenuation_db=12)
    client = make_client(audio_output=loop.output, audio_input=loop.input, auto_capture=True, echo="off")
    client.connect(timeout=5)
    server.script(Reply.audio("A long answer that keeps going for a while.", duration_ms=2500))
    client.send_text("tell me something")
    server.wait_for_sent("input_audio_buffer.speech_started", timeout=5)
    truncate = server.wait_for_frame("conversation.item.truncate", timeout=3)
    assert truncate["audio_end_ms"] < 1000
    assert client.messages[-1].role == "assistant" or any(m.interrupted for m in client.messages)


def test_a_fully_coupled_late_echo_never_interrupts_the_assistant(server: FakeRealtimeServer,
                                                                  make_client: Callable[..., Any]) -> None:
    """A room returning 100 % of the speaker 250 ms late: a 2.5 s answer plays whole, no mode flapping."""
    modes: List[str] = []
    loop = EchoLoop(delay_ms=250, attenuation_db=0)
    client = make_client(audio_output=loop.output, audio_input=loop.input, auto_capture=True, echo="gate",
                         on_mode_change=lambda mode: modes.append(str(getattr(mode, "value", mode))))
    client.connect(timeout=5)
    server.script(Reply.audio("A long answer that keeps going for a while.", duration_ms=2500))
    client.send_text("tell me something")
    wait_until(lambda: loop.output.played_ms >= 2400, 6, "the answer to play out")
    wait_until(lambda: modes[-1:] == ["listening"], 3, "the mode back to listening")
    time.sleep(0.8)  # the echo's tail reaches the server
    assert speech_starts(server) == [], "the assistant's own echo triggered the server's VAD"
    assert modes == ["listening", "thinking", "speaking", "listening"], modes
    assert not any(m.interrupted for m in client.messages)
