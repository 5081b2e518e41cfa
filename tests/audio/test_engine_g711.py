"""AudioEngine with G.711 wire formats: encoded capture, decoded playback, ms counted in the format."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from realtime_client.audio import BufferOutput, WavFileInput
from realtime_client.audio._engine import AudioEngine, PlayedItem
from realtime_client.audio._format import AudioFormat
from realtime_client.audio._g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from tests.audio.engine_support import capture_all, chunks, peak_hz, tone, write_wav
from tests.helpers import wait_until

ULAW_8K = AudioFormat("g711_ulaw", 8000)
ALAW_8K = AudioFormat("g711_alaw", 8000)
SINE_RMS = 0.5 * 32767 / np.sqrt(2)  # of tone(..., amplitude=0.5)


def rms(pcm: bytes) -> float:
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(x * x)))


@pytest.mark.parametrize(("fmt", "decode"), [(ULAW_8K, ulaw_decode), (ALAW_8K, alaw_decode)],
                         ids=["ulaw", "alaw"])
def test_capture_sends_g711_at_8k(tmp_path: Path, make_engine: Callable[..., Any], fmt: AudioFormat,
                                  decode: Callable[[bytes], bytes]) -> None:
    """A 24 kHz tone is captured as 8 kHz G.711: 160-byte chunks per 20 ms that decode to the tone."""
    path = write_wav(tmp_path / "mic.wav", tone(1000, 24000, 1.0), 24000)
    engine, rec = make_engine(input=WavFileInput(path, realtime=False), provider_input_format=fmt)
    capture_all(engine)
    assert rec.errors == []
    encoded = b"".join(rec.captured)
    assert abs(len(encoded) - 8000) <= 8  # one byte a sample, 8000 samples a second
    assert all(len(c) % 160 == 0 for c in rec.captured[:-1])  # whole 20 ms chunks, as read
    pcm = decode(encoded)
    assert peak_hz(pcm, 8000) == pytest.approx(1000, abs=2)
    assert rms(pcm[800:-800]) == pytest.approx(SINE_RMS, rel=0.05)


@pytest.mark.parametrize(("fmt", "encode"), [(ULAW_8K, ulaw_encode), (ALAW_8K, alaw_encode)],
                         ids=["ulaw", "alaw"])
def test_play_accepts_g711_and_writes_pcm_at_the_device_rate(
    make_engine: Callable[..., Any], fmt: AudioFormat, encode: Callable[[bytes], bytes]
) -> None:
    """G.711 deltas at 8 kHz come out of a 24 kHz device as PCM16 of the same tone and length."""
    out = BufferOutput(24000, realtime=False)
    engine, rec = make_engine(output=out, provider_output_format=fmt)
    engine.start_playback()
    data = encode(tone(440, 8000, 0.5))
    assert len(data) == 4000
    for piece in chunks(data, 160):  # 20 ms deltas
        engine.play("a", piece)
    assert engine.received_ms("a") == 500.0
    wait_until(lambda: not engine.is_playing and len(out.played) >= 23900, 3.0, "playback")
    played = out.played
    assert abs(len(played) // 2 - 12000) <= 24
    assert peak_hz(played, 24000) == pytest.approx(440, abs=2)
    assert rms(played[2400:-2400]) == pytest.approx(SINE_RMS, rel=0.05)
    assert engine.heard_ms("a") == pytest.approx(500.0, abs=3.0)
    assert rec.errors == []


def test_g711_heard_and_flush_follow_the_format(make_engine: Callable[..., Any]) -> None:
    """With µ-law at 8 kHz, a flush reports heard and received milliseconds of that format."""
    out = BufferOutput(24000, realtime=True)
    engine, _rec = make_engine(output=out, out_rate=24000, provider_output_format=ULAW_8K)
    engine.start_playback()
    for piece in chunks(ulaw_encode(tone(440, 8000, 2.0)), 800):  # 100 ms deltas
        engine.play("a", piece)
    assert engine.received_ms("a") == 2000.0  # not 24 kHz PCM16 math (333 ms)
    time.sleep(0.4)
    played = engine.flush()
    played_now = len(out.played)
    assert isinstance(played, PlayedItem)
    assert played.item_id == "a" and played.received_ms == 2000.0
    assert abs(played.heard_ms - played_now / 48) <= 30
    assert 250 <= played.heard_ms <= 600


def test_the_format_overrides_the_rate(make_engine: Callable[..., Any]) -> None:
    """provider_*_format wins over provider_*_rate; without either the engine refuses to start."""
    engine, _rec = make_engine(output=None, out_rate=24000, provider_output_format=ALAW_8K)
    engine.play("a", b"\xd5" * 800)
    assert engine.received_ms("a") == 100.0
    with pytest.raises(ValueError, match="provider_output_rate or provider_output_format"):
        AudioEngine(output=None, input=None, provider_input_rate=24000, on_capture=print,
                    on_playback_started=print, on_playback_idle=print, on_error=print,
                    dispatcher=lambda fn: fn())
