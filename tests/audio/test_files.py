"""WavFileInput, BufferOutput and WavFileOutput: exact samples, real-time pacing, abort, close."""

from __future__ import annotations

import threading
import time
import wave
from pathlib import Path
from typing import List

import numpy as np
import pytest

from realtime_client import AudioDeviceError
from realtime_client.audio import BufferOutput, WavFileInput, WavFileOutput


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20000, 20000, n).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def read_all(src: WavFileInput, frames: int) -> List[bytes]:
    chunks = []
    while True:
        chunk = src.read(frames)
        if not chunk:
            return chunks
        chunks.append(chunk)


# --- WavFileInput ------------------------------------------------------------------------


def test_wav_input_realtime_reads_one_second_in_one_second(tmp_path: Path) -> None:
    """With realtime=True, one second of audio takes about one second to read."""
    samples = noise(24000)
    src = WavFileInput(write_wav(tmp_path / "a.wav", samples, 24000), realtime=True)
    src.open()
    t0 = time.monotonic()
    data = b"".join(read_all(src, 480))
    elapsed = time.monotonic() - t0
    src.close()
    assert data == samples.tobytes()
    assert 0.97 <= elapsed < 2.0, elapsed


def test_wav_input_fast_mode_is_instant_and_exact(tmp_path: Path) -> None:
    """With realtime=False, reads return at once and carry the file's exact samples."""
    samples = noise(48000, seed=1)
    src = WavFileInput(write_wav(tmp_path / "a.wav", samples, 48000), realtime=False)
    assert src.sample_rate == 48000 and src.duration_s == 1.0
    with src:
        t0 = time.monotonic()
        data = b"".join(read_all(src, 960))
        elapsed = time.monotonic() - t0
    assert np.array_equal(np.frombuffer(data, np.int16), samples)
    assert elapsed < 0.5, elapsed


def test_wav_input_chunks_are_exact_then_short_then_empty(tmp_path: Path) -> None:
    """read(frames) gives exactly frames samples, then one short final chunk, then b''."""
    src = WavFileInput(write_wav(tmp_path / "a.wav", noise(1000), 16000), realtime=False)
    src.open()
    sizes = [len(src.read(300)) for _ in range(4)]
    assert sizes == [600, 600, 600, 200]
    assert src.read(300) == b""
    assert src.read(300) == b""
    src.close()


def test_wav_input_default_read_size_is_chunk_ms(tmp_path: Path) -> None:
    """read() without frames reads chunk_ms worth of samples."""
    src = WavFileInput(write_wav(tmp_path / "a.wav", noise(24000), 24000), realtime=False, chunk_ms=40)
    with src:
        assert len(src.read()) == 960 * 2


def test_wav_input_open_rewinds(tmp_path: Path) -> None:
    """open() starts the file again from its first sample."""
    samples = noise(2000, seed=3)
    src = WavFileInput(write_wav(tmp_path / "a.wav", samples, 24000), realtime=False)
    src.open()
    first = src.read(500)
    src.read(500)
    src.open()
    assert src.read(500) == first == samples[:500].tobytes()
    src.close()


def test_wav_input_close_wakes_a_waiting_read(tmp_path: Path) -> None:
    """close() from another thread makes a read that is waiting for its time return b''."""
    src = WavFileInput(write_wav(tmp_path / "a.wav", noise(24000 * 5), 24000), realtime=True)
    src.open()
    result: List[bytes] = []
    reader = threading.Thread(target=lambda: result.append(src.read(24000 * 4)))
    reader.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    src.close()
    reader.join(2.0)
    assert not reader.is_alive()
    assert result == [b""]
    assert time.monotonic() - t0 < 0.5
    assert src.read(480) == b""


def test_wav_input_mixes_stereo_down_to_mono(tmp_path: Path) -> None:
    """A stereo file is read as the average of its two channels."""
    left = np.full(1000, 1000, np.int16)
    right = np.full(1000, 3000, np.int16)
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    src = WavFileInput(write_wav(tmp_path / "s.wav", interleaved, 24000, channels=2), realtime=False)
    with src:
        data = np.frombuffer(b"".join(read_all(src, 480)), np.int16)
    assert data.size == 1000
    assert np.all(data == 2000)


@pytest.mark.parametrize("width", [1, 3])
def test_wav_input_rejects_other_sample_widths(tmp_path: Path, width: int) -> None:
    """8-bit and 24-bit files raise AudioDeviceError saying 16-bit PCM is needed."""
    path = tmp_path / "w.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(24000)
        w.writeframes(b"\x00" * width * 100)
    with pytest.raises(AudioDeviceError, match="16-bit") as info:
        WavFileInput(path)
    assert info.value.code == "AUDIO_DEVICE"
    assert f"{8 * width}-bit" in str(info.value)


def test_wav_input_missing_or_garbage_file(tmp_path: Path) -> None:
    """A missing file or a non-WAV file raises AudioDeviceError naming the path."""
    with pytest.raises(AudioDeviceError, match="not found"):
        WavFileInput(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not a wav file at all")
    with pytest.raises(AudioDeviceError, match=r"junk\.wav"):
        WavFileInput(junk)


# --- BufferOutput ------------------------------------------------------------------------


def test_buffer_output_plays_exact_bytes_at_real_time_pace() -> None:
    """A realtime write of 0.5 s takes about 0.5 s and .played equals the written bytes."""
    out = BufferOutput(sample_rate=24000, realtime=True)
    pcm = noise(12000, seed=4).tobytes()
    t0 = time.monotonic()
    for k in range(0, len(pcm), 960):
        out.write(pcm[k : k + 960])
    elapsed = time.monotonic() - t0
    assert out.played == pcm
    assert out.played_ms == 500.0
    assert 0.49 <= elapsed < 1.0, elapsed
    assert out.latency_ms == 0.0


def test_buffer_output_played_grows_while_write_blocks() -> None:
    """During a long write .played holds only what has been heard so far, a prefix of the audio."""
    out = BufferOutput(sample_rate=24000, realtime=True)
    pcm = noise(24000, seed=5).tobytes()
    writer = threading.Thread(target=out.write, args=(pcm,))
    t0 = time.monotonic()
    writer.start()
    time.sleep(0.3)
    midway = out.played
    elapsed_ms = (time.monotonic() - t0) * 1000
    writer.join(3.0)
    assert 0 < len(midway) < len(pcm)
    assert pcm.startswith(midway)
    assert len(midway) / 48 <= elapsed_ms + 1
    assert out.played == pcm


def test_buffer_output_abort_keeps_only_what_was_played() -> None:
    """abort() mid-write returns the write promptly and keeps only the audio already heard."""
    out = BufferOutput(sample_rate=24000, realtime=True)
    pcm = noise(48000, seed=6).tobytes()  # 2 s
    returned = threading.Event()
    started: List[float] = []

    def play() -> None:
        started.append(time.monotonic())
        out.write(pcm)
        returned.set()

    writer = threading.Thread(target=play)
    writer.start()
    time.sleep(0.4)
    t_abort = time.monotonic()
    out.abort()
    assert returned.wait(0.2), "write did not return promptly after abort"
    writer.join(1.0)
    heard_ms = (t_abort - started[0]) * 1000
    played = out.played
    assert pcm.startswith(played)
    # never more than was due by the abort; less only by scheduling lag (loaded CI machine)
    assert heard_ms - 150 <= len(played) / 48 <= heard_ms + 1
    time.sleep(0.1)
    assert out.played == played  # nothing more arrives after the abort


def test_buffer_output_keeps_working_after_abort() -> None:
    """After an abort the next write plays normally."""
    out = BufferOutput(sample_rate=24000, realtime=False)
    out.abort()
    out.write(b"\x01\x00" * 240)
    assert out.played_ms == 10.0
    assert out.played == b"\x01\x00" * 240


def test_buffer_output_fast_mode_appends_instantly() -> None:
    """realtime=False appends 10 s of audio at once."""
    out = BufferOutput(sample_rate=16000, realtime=False)
    pcm = noise(160000, seed=7).tobytes()
    t0 = time.monotonic()
    out.write(pcm)
    assert time.monotonic() - t0 < 0.5
    assert out.played == pcm and out.played_ms == 10000.0
    out.clear()
    assert out.played == b""


def test_buffer_output_write_after_close_raises() -> None:
    """Writing to a closed BufferOutput raises AudioDeviceError; open() re-enables it."""
    out = BufferOutput(realtime=False)
    out.close()
    out.close()
    with pytest.raises(AudioDeviceError, match="closed"):
        out.write(b"\x00\x00")
    out.open()
    out.write(b"\x00\x00")
    assert out.played == b"\x00\x00"


# --- WavFileOutput -----------------------------------------------------------------------


def test_wav_output_round_trip(tmp_path: Path) -> None:
    """What is written comes back from the WAV file sample for sample, with the right header."""
    path = tmp_path / "out.wav"
    pcm = noise(24000, seed=8).tobytes()
    out = WavFileOutput(path, sample_rate=24000)
    out.open()
    for k in range(0, len(pcm), 960):
        out.write(pcm[k : k + 960])
        if k == 9600:
            out.abort()  # no buffer: nothing already written may be lost
    assert out.frames_written == 24000
    out.close()
    out.close()
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        assert w.readframes(w.getnframes()) == pcm
    with pytest.raises(AudioDeviceError):
        out.write(b"\x00\x00")


def test_wav_output_round_trips_through_wav_input(tmp_path: Path) -> None:
    """A WavFileOutput recording reads back identically through WavFileInput."""
    path = tmp_path / "loop.wav"
    pcm = noise(4800, seed=9).tobytes()
    with WavFileOutput(path, sample_rate=16000) as out:
        out.write(pcm)
    src = WavFileInput(path, realtime=False)
    assert src.sample_rate == 16000
    with src:
        assert b"".join(read_all(src, 333)) == pcm


def test_wav_output_realtime_abort_ends_write(tmp_path: Path) -> None:
    """A paced WavFileOutput write ends early on abort and the file keeps what was written."""
    path = tmp_path / "rt.wav"
    out = WavFileOutput(path, sample_rate=24000, realtime=True)
    pcm = noise(48000, seed=10).tobytes()
    writer = threading.Thread(target=out.write, args=(pcm,))
    writer.start()
    time.sleep(0.2)
    out.abort()
    writer.join(1.0)
    assert not writer.is_alive()
    out.close()
    with wave.open(str(path), "rb") as w:
        data = w.readframes(w.getnframes())
    assert 0 < len(data) < len(pcm)
    assert pcm.startswith(data)


def test_wav_output_unwritable_path_raises(tmp_path: Path) -> None:
    """Opening a WavFileOutput in a missing directory raises AudioDeviceError."""
    out = WavFileOutput(tmp_path / "no" / "such" / "dir.wav")
    with pytest.raises(AudioDeviceError, match="cannot create"):
        out.open()
