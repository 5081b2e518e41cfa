"""The fake server's local speech: espeak-ng speaks its replies, pocketsphinx hears voice turns.

Everything runs for real: the espeak-ng program, pocketsphinx's bundled model, loopback
WebSockets and the client's audio engine. Without espeak-ng or pocketsphinx the tests skip,
except under ``CI=true``, where the Makefile installs espeak-ng and the dev extra pocketsphinx.
Recognition is approximate, so assertions look for any of a few keywords.
"""

from __future__ import annotations

import os
import shutil
import time
import wave
from pathlib import Path
from typing import Iterator, List

import numpy as np
import pytest

from realtime_client import RealtimeClient
from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.testing import FakeRealtimeServer, Reply
from realtime_client.testing._audio import rms_dbfs
from realtime_client.testing._speech import EspeakVoice, SphinxEar, make_ear, make_voice, parse_wav
from tests.helpers import check_conformance, wait_until

RATE = 24000
_IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _IN_CI:
        pytest.fail(f"{reason}; CI=true requires the speech tests to run")
    pytest.skip(reason)


@pytest.fixture
def espeak() -> EspeakVoice:
    """The espeak-ng voice (skips without the program, except in CI)."""
    if shutil.which("espeak-ng") is None:
        _unavailable("espeak-ng is not installed (apt-get install espeak-ng)")
    return EspeakVoice()


@pytest.fixture
def ear() -> SphinxEar:
    """The pocketsphinx recogniser (skips without the package, except in CI)."""
    try:
        return SphinxEar()
    except ImportError:
        _unavailable("pocketsphinx is not installed (pip install 'realtime-client[speech]')")
        raise


@pytest.fixture
def servers() -> Iterator[List[FakeRealtimeServer]]:
    """Servers a test starts; stopped and checked for conformance afterwards."""
    made: List[FakeRealtimeServer] = []
    yield made
    for server in made:
        server.stop()
        check_conformance(server)


def _speech_stats(pcm: np.ndarray) -> dict:
    """Level, share of energy below 4 kHz, and how much the 20 ms frame level varies."""
    x = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / RATE)
    frames = x[: len(x) // 480 * 480].reshape(-1, 480)
    frame_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1.0)
    return {"dbfs": rms_dbfs(pcm), "low_share": float(spectrum[freqs < 4000].sum() / spectrum.sum()),
            "frame_spread_db": float(np.percentile(frame_db, 90) - np.percentile(frame_db, 10))}


def _ask(server: FakeRealtimeServer, text: str, **adapter: str) -> np.ndarray:
    output = BufferOutput(sample_rate=RATE, realtime=False)
    with RealtimeClient(get_token=server.get_token, adapter=server.adapter(**adapter), auto_capture=False,
                        audio_output=output) as client:
        client.ask(text, timeout=30)
        _wait_until_stable(output)
    return np.frombuffer(output.played, dtype="<i2")


def _wait_until_stable(output: BufferOutput, quiet_s: float = 0.3, timeout: float = 10.0) -> None:
    """Wait until nothing more has been played for ``quiet_s`` (a fast buffer drains between chunks,
    so the mode may read ``listening`` before the last chunk arrived)."""
    end = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < end:
        now_size = len(output.played)
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.02)
    raise AssertionError("playback never settled")


def test_espeak_reply_is_real_speech_at_24khz(espeak: EspeakVoice, servers: List[FakeRealtimeServer]) -> None:
    """A scripted text reply comes out as espeak-ng's speech, resampled to 24 kHz PCM16."""
    server = FakeRealtimeServer(speech="espeak").start()
    servers.append(server)
    assert server.speech == "espeak"
    server.script(Reply.text("Hello! The weather in Oslo is sunny today."))
    played = _ask(server, "What is the weather?")
    expected = espeak("Hello! The weather in Oslo is sunny today.", RATE)
    assert expected is not None
    seconds = len(played) / RATE
    assert 1.5 <= seconds <= 5.0, seconds  # about 2.5 s of speech at 165 words per minute
    assert np.array_equal(played, expected)  # what was played is exactly espeak at 24 kHz
    stats = _speech_stats(played)
    assert stats["dbfs"] > -35.0, stats  # not silent
    assert stats["low_share"] > 0.8, stats  # a voice: most energy below 4 kHz
    assert stats["frame_spread_db"] > 15.0, stats  # syllables and pauses, not a steady tone


def test_espeak_resampling_keeps_duration_at_any_rate(espeak: EspeakVoice) -> None:
    """espeak's 22,050 Hz output is resampled, not retimed: the same seconds at 24 kHz and 8 kHz."""
    at_24k = espeak("resampling keeps the duration", 24000)
    at_8k = espeak("resampling keeps the duration", 8000)
    assert at_24k is not None and at_8k is not None
    assert abs(len(at_24k) / 24000 - len(at_8k) / 8000) < 0.01
    assert at_24k.dtype == np.int16 and 0.3 < np.max(np.abs(at_24k)) / 32767 <= 0.55


def test_espeak_speaks_g711_replies(espeak: EspeakVoice, servers: List[FakeRealtimeServer]) -> None:
    """With G.711 on the wire the reply is espeak speech at 8 kHz, decoded by the client."""
    server = FakeRealtimeServer(speech="espeak").start()
    servers.append(server)
    server.script(Reply.text("Telephone speech works too."))
    played = _ask(server, "hi", audio_format="g711_ulaw")
    expected = espeak("Telephone speech works too.", 8000)
    assert expected is not None
    assert abs(len(played) / RATE - len(expected) / 8000) < 0.05
    assert rms_dbfs(played) > -35.0


def test_pinned_durations_and_the_default_stay_synthetic(servers: List[FakeRealtimeServer]) -> None:
    """Reply.audio with duration_ms keeps its exact length; the default server is synthetic."""
    server = FakeRealtimeServer(speech="auto").start()
    servers.append(server)
    server.script(Reply.audio("pinned", duration_ms=700))
    assert len(_ask(server, "hi")) == 700 * RATE // 1000
    assert FakeRealtimeServer().speech == "synthetic" and FakeRealtimeServer().hearing == "off"


def test_speech_settings_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Unknown settings fail; 'espeak' without the program fails, 'auto' falls back to synthetic."""
    with pytest.raises(ValueError, match="speech must be one of"):
        FakeRealtimeServer(speech="loud")
    with pytest.raises(ValueError, match="hearing must be one of"):
        FakeRealtimeServer(hearing="yes")
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on this PATH
    with pytest.raises(ValueError, match="espeak-ng"):
        make_voice("espeak")
    assert make_voice("auto") is None
    assert make_ear("off") is None


def test_parse_wav_takes_streamed_placeholder_sizes() -> None:
    """A WAV whose RIFF and data sizes are streaming placeholders still yields all its samples."""
    samples = np.arange(-50, 50, dtype=np.int16)
    header = (b"RIFF" + (0x7FFFFFFF).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
              + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (22050).to_bytes(4, "little")
              + (44100).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
              + b"data" + (0x7FFFFFFF).to_bytes(4, "little"))
    parsed, rate = parse_wav(header + samples.tobytes())
    assert rate == 22050 and np.array_equal(parsed, samples)
    with pytest.raises(ValueError):
        parse_wav(b"not a wav file")


def test_pocketsphinx_hears_espeak_hello(espeak: EspeakVoice, ear: SphinxEar) -> None:
    """pocketsphinx's transcript of espeak saying "hello world" contains one of its words."""
    speech = espeak("hello world", RATE)
    assert speech is not None
    heard = ear(speech, RATE) or ""
    assert {"hello", "world"} & set(heard.split()), heard
    assert ear(np.zeros(RATE // 2, dtype=np.int16), RATE) is None  # silence: no words


def test_fake_repeats_what_it_heard(espeak: EspeakVoice, ear: SphinxEar, tmp_path: Path,
                                    servers: List[FakeRealtimeServer]) -> None:
    """A spoken turn is recognised: its transcript and the reply "You said: ..." carry its words."""
    speech = espeak("hello world", RATE)
    assert speech is not None
    pad = np.zeros(RATE, dtype=np.int16)
    path = tmp_path / "turn.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.concatenate([pad // 2, speech, pad, pad]).tobytes())
    server = FakeRealtimeServer(speech="espeak", hearing="pocketsphinx").start()
    servers.append(server)
    assert server.hearing == "pocketsphinx"
    messages: list = []
    with RealtimeClient(get_token=server.get_token, adapter=server.adapter(),
                        audio_input=WavFileInput(path, realtime=False),
                        audio_output=BufferOutput(realtime=False), on_message=messages.append) as client:
        answer = client.wait_for_response(timeout=30)
        user = wait_until(lambda: [m for m in client.messages if m.role == "user" and m.text],
                          what="the user transcript")[0]
    keywords = {"hello", "world"}
    assert keywords & set(user.text.lower().split()), user.text
    assert answer.text.startswith("You said: ") and keywords & set(answer.text.lower().split()), answer.text
