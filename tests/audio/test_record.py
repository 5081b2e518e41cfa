"""record_to=: a stereo WAV of the user (left, as sent) and the assistant (right, as played), aligned."""

from __future__ import annotations

import time
import wave
from pathlib import Path
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest

from realtime_client import AudioDeviceError
from realtime_client.audio._engine import AudioEngine
from realtime_client.testing import EchoLoop, FakeRealtimeServer, Reply, synthesize_speech

RATE = 24000


def read_stereo(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, RATE)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0], frames[:, 1]


def nonzero_span(x: np.ndarray) -> Tuple[int, int]:
    idx = np.flatnonzero(x)
    assert idx.size, "the channel is silent"
    return int(idx[0]), int(idx[-1]) + 1


def noise(seconds: float, level: float = 3000.0) -> np.ndarray:
    """Noise never repeats, so the echo's delay shows as one clear correlation peak."""
    samples = np.random.default_rng(7).standard_normal(int(RATE * seconds)) * level
    return np.clip(samples, -32767, 32767).astype(np.int16) | 1  # odd: never exactly zero


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def make_engine(tmp_path: Path, loop: EchoLoop, errors: List[Exception], echo: str = "off") -> AudioEngine:
    return AudioEngine(output=loop.output, input=loop.input, provider_output_rate=RATE,
                       provider_input_rate=RATE, on_capture=lambda pcm: None,
                       on_playback_started=lambda item: None, on_playback_idle=lambda: None,
                       on_error=errors.append, dispatcher=lambda fn: None, echo=echo,
                       record_to=str(tmp_path / "talk.wav"))


def test_recording_holds_what_was_played_and_heard_on_one_timeline(tmp_path: Path) -> None:
    """Right = exactly the played audio (flushed part excluded); left = the microphone, time-aligned."""
    loop = EchoLoop(delay_ms=40, attenuation_db=6)
    errors: List[Exception] = []
    engine = make_engine(tmp_path, loop, errors)
    engine.start_playback()
    engine.start_capture()
    time.sleep(0.2)
    engine.play("item_a", noise(1.0).tobytes())
    wait_until(lambda: loop.output.played_ms >= 600, 5, "600 ms played")
    flushed_at = time.monotonic()
    engine.flush()
    voice = synthesize_speech(500, RATE, seed=4, level=0.5)
    said_at = loop.say(voice, at=flushed_at + 0.3)
    time.sleep(1.0)
    engine.close(timeout=2)
    assert errors == []

    left, right = read_stereo(tmp_path / "talk.wav")
    played = np.frombuffer(loop.output.played, dtype="<i2")
    start, end = nonzero_span(right)
    heard = right[start:end]
    # Exactly what the speaker played, sample for sample; what the flush discarded is absent
    # (the cut and the speaker's abort agree within 10 ms).
    common = min(heard.size, played.size)
    assert abs(heard.size - played.size) <= RATE // 100
    assert np.array_equal(heard[:common], played[:common])
    # The echo in the left channel sits 40 ms after the played audio in the right one.
    n = RATE // 2
    scores = [float(np.dot(left[start + lag : start + lag + n].astype(float), heard[:n].astype(float)))
              for lag in range(RATE // 10)]
    assert int(np.argmax(scores)) / RATE * 1000 == pytest.approx(40, abs=20)
    # The voice appears where it was spoken: 300 ms after the flush, i.e. after the right channel ends.
    after = end + RATE // 10  # past the echo's tail
    onset = after + int(np.flatnonzero(np.abs(left[after:]) > 500)[0])
    assert (onset - end) / RATE == pytest.approx(said_at - flushed_at, abs=0.03)


def test_an_unwritable_recording_path_fails_at_construction(tmp_path: Path) -> None:
    """A record_to path that cannot be created raises AudioDeviceError naming the path."""
    loop = EchoLoop()
    with pytest.raises(AudioDeviceError, match="missing"):
        AudioEngine(output=loop.output, input=None, provider_output_rate=RATE, provider_input_rate=RATE,
                    on_capture=lambda pcm: None, on_playback_started=lambda item: None,
                    on_playback_idle=lambda: None, on_error=lambda exc: None, dispatcher=lambda fn: None,
                    record_to=str(tmp_path / "missing" / "talk.wav"))


def test_a_recorded_conversation_with_barge_in(server: FakeRealtimeServer, make_client: Callable[..., Any],
                                               tmp_path: Path) -> None:
    """Through a room with the gate on: the echo is silent on the left, the answer stops on the right
    where it was truncated, and the user's interruption is on the left at that moment."""
    loop = EchoLoop(delay_ms=40, attenuation_db=12)
    path = tmp_path / "conversation.wav"
    client = make_client(audio_output=loop.output, audio_input=loop.input, auto_capture=True,
                         record_to=str(path))
    client.connect(timeout=5)
    server.script(Reply.audio("A long answer that keeps going for a while.", duration_ms=3000))
    time.sleep(0.1)
    client.send_text("tell me something")
    wait_until(lambda: loop.output.played_ms >= 1000 or "speech_started" in "".join(server.sent), 5,
               "1 s of the answer")
    assert "speech_started" not in "".join(server.sent), "the echo interrupted the answer"
    loop.say(synthesize_speech(800, RATE, seed=5, level=0.5))
    truncate = server.wait_for_frame("conversation.item.truncate", timeout=3)
    time.sleep(0.5)
    client.disconnect()

    left, right = read_stereo(path)
    start, end = nonzero_span(right)
    assert (end - start) / RATE * 1000 == pytest.approx(truncate["audio_end_ms"], abs=80)
    # While the assistant spoke alone, nothing but digital silence was sent.
    assert not left[start : start + RATE * 9 // 10].any()
    # The user's voice, sent because it was louder than the echo, starts before the answer stopped.
    onset = int(np.flatnonzero(left)[0])
    assert start + RATE * 9 // 10 < onset < end
    assert np.abs(left[onset : onset + RATE // 2]).max() > 8000


def _bursts_ms(samples: np.ndarray, rate: int) -> List[float]:
    """Lengths of the runs of sound in ``samples`` (split at 100 ms of silence), in ms."""
    sound = np.flatnonzero(samples)
    cuts = np.flatnonzero(np.diff(sound) > rate // 10)
    starts, ends = np.r_[sound[0], sound[cuts + 1]], np.r_[sound[cuts], sound[-1]]
    return [(e - s + 1) * 1000.0 / rate for s, e in zip(starts, ends)]


@pytest.mark.parametrize("device_rate", [16000, 48000])
def test_each_answer_is_recorded_whole_when_the_speaker_runs_at_another_rate(
        tmp_path: Path, device_rate: int) -> None:
    """The speaker resamples, and so does the recording of what it played: the resampler's
    held-back end of each answer is recorded with it when the speaker pauses (it began the next
    answer instead: the first was 20-30 ms short, the next that much long, the last lost it)."""
    from realtime_client import RealtimeClient
    from realtime_client.audio import BufferOutput

    path = tmp_path / "conversation.wav"
    with FakeRealtimeServer(pacing="realtime") as server:
        server.script(Reply.audio("One.", duration_ms=1000), Reply.audio("Two.", duration_ms=1000))
        client = RealtimeClient(get_token=server.get_token, adapter=server.adapter(), auto_capture=False,
                                audio_output=BufferOutput(sample_rate=device_rate), record_to=str(path))
        with client:
            for question in ("one", "two"):
                client.ask(question, timeout=10)
                client.wait_for_playback(timeout=10)
                time.sleep(0.3)
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        assistant = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)[:, 1]
    lengths = _bursts_ms(assistant, rate)
    assert len(lengths) == 2 and all(abs(ms - 1000.0) <= 3.0 for ms in lengths), lengths
