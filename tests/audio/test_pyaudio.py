"""PyAudio devices on virtual ALSA devices (the `file` plugin: exact samples, no pacing).

The configuration is written per test and selected through ``ALSA_CONFIG_PATH``, which
PortAudio reads at each ``PyAudio()``. The slave PCM is named ``nul`` because PortAudio
hides PCMs named ``null``, ``file``, ``hw`` and a few others from its device list.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List

import numpy as np
import pytest

from realtime_client import AudioDeviceError
from realtime_client.audio import AudioDevice, PyAudioInput, PyAudioOutput, list_devices
from realtime_client.audio._engine import AudioEngine

RATE = 24000
FILE_CONFIG = """
pcm.!default {{
    type file; slave.pcm "nul"; file "{d}/out.raw"; infile "{d}/in.raw"; format "raw"; truncate true
}}
pcm.nul {{ type null }}
pcm.spk_tap {{ type file; slave.pcm "nul"; file "{d}/tap.raw"; format "raw"; truncate true }}
"""
# An ALSA config whose only PCM points at a card that does not exist: PortAudio lists no
# devices. (A config with no usable PCM at all, even an empty file, makes PortAudio 19.6
# abort the process with an assertion in BuildDeviceList, so it cannot be used here.)
NO_DEVICE_CONFIG = "pcm.!default { type hw; card 99 }\n"


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20000, 20000, n).astype(np.int16)


@pytest.fixture
def alsa_file_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Default PCM: capture reads in.raw, playback goes to out.raw (raw int16)."""
    (tmp_path / "asound.conf").write_text(FILE_CONFIG.format(d=tmp_path))
    (tmp_path / "in.raw").write_bytes(b"")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "asound.conf"))
    return tmp_path


@pytest.fixture
def no_alsa_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ALSA configuration under which PortAudio finds no device at all."""
    (tmp_path / "none.conf").write_text(NO_DEVICE_CONFIG)
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(tmp_path / "none.conf"))


def test_import_does_not_load_pyaudio() -> None:
    """Importing the package and its audio module (even naming PyAudioInput) leaves pyaudio unloaded."""
    code = (
        "import sys, realtime_client, realtime_client.audio as a\n"
        "cls = a.PyAudioInput\n"
        "assert 'pyaudio' not in sys.modules, 'pyaudio was imported'\n"
        "print(cls.__module__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "realtime_client.audio"


def test_report_lag_learns_shortfalls_within_its_limit_and_forgets_slowly() -> None:
    from realtime_client.audio._pyaudio import _ReportLag

    lag = _ReportLag(limit=160)
    lag.missed(30)
    lag.missed(-5)  # a report past the target teaches nothing
    assert lag.frames == 30
    lag.missed(500)  # a stall: bounded, so waits never grow long enough to run a speaker dry
    assert lag.frames == 160
    for _ in range(32):
        lag.met()
    assert 55 < lag.frames < 60  # 160 * (31/32)**32: a single good wait keeps most of it


def test_output_writes_exact_samples(alsa_file_device: Path) -> None:
    """PyAudioOutput at 24 kHz delivers the written samples bit-exactly to the device."""
    samples = noise(RATE, seed=1)
    out = PyAudioOutput(sample_rate=RATE)
    out.open()
    try:
        assert out.sample_rate == RATE
        assert out.device_name == "default"
        assert out.latency_ms > 0
        pcm = samples.tobytes()
        for k in range(0, len(pcm), 960):
            out.write(pcm[k : k + 960])
    finally:
        out.close()
    out.close()  # idempotent
    written = np.fromfile(alsa_file_device / "out.raw", dtype=np.int16)
    assert np.array_equal(written, samples)


def test_input_reads_exact_samples(alsa_file_device: Path) -> None:
    """PyAudioInput at 24 kHz reads in.raw bit-exactly in 20 ms chunks."""
    samples = noise(RATE, seed=2)
    np.concatenate([samples, np.zeros(RATE, np.int16)]).tofile(alsa_file_device / "in.raw")
    mic = PyAudioInput(sample_rate=RATE)
    mic.open()
    try:
        assert mic.sample_rate == RATE and mic.device_name == "default"
        chunks = [mic.read(480) for _ in range(50)]
    finally:
        mic.close()
    assert all(len(c) == 960 for c in chunks)
    assert np.array_equal(np.frombuffer(b"".join(chunks), np.int16), samples)
    assert mic.read(480) == b""  # closed


def test_input_reads_more_than_its_buffer_holds(alsa_file_device: Path) -> None:
    """A read of 250 ms from a stream buffering three 20 ms periods returns, bit-exact.

    The stream never holds the whole chunk at once, so a read that waited for it to be
    buffered waited forever (and never read a sample).
    """
    samples = noise(RATE, seed=5)
    np.concatenate([samples, np.zeros(RATE, np.int16)]).tofile(alsa_file_device / "in.raw")
    mic = PyAudioInput(sample_rate=RATE, frames_per_buffer=RATE // 50)
    mic.open()
    chunks: List[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(mic.read(RATE // 4) for _ in range(4)),
                              name="test-reader", daemon=True)
    try:
        reader.start()
        reader.join(10.0)
        assert not reader.is_alive(), f"a 250 ms read did not return ({len(chunks)} of 4 read)"
    finally:
        mic.close()
        reader.join(2.0)
    assert [len(c) for c in chunks] == [RATE // 2] * 4
    assert np.array_equal(np.frombuffer(b"".join(chunks), np.int16), samples)


def test_input_buffer_follows_the_chunk_the_engine_reads(alsa_file_device: Path) -> None:
    """prefer_buffer_ms() sizes PortAudio's buffer at the next open, unless frames_per_buffer was given."""
    mic = PyAudioInput(sample_rate=RATE)
    mic.prefer_buffer_ms(100)
    mic.open()
    try:
        assert mic._open_kwargs["frames_per_buffer"] == RATE // 10
    finally:
        mic.close()
    fixed = PyAudioInput(sample_rate=RATE, frames_per_buffer=256)
    fixed.prefer_buffer_ms(100)
    fixed.open()
    try:
        assert fixed._open_kwargs["frames_per_buffer"] == 256
    finally:
        fixed.close()


def test_write_unless_writes_nothing_once_cancelled(alsa_file_device: Path) -> None:
    """write_unless() asks cancelled() before each piece: stale audio never reaches the device."""
    out = PyAudioOutput(sample_rate=RATE)
    out.open()
    first = noise(RATE // 10, seed=6)
    try:
        out.write_unless(first.tobytes(), lambda: False)
        out.write_unless(noise(RATE // 10, seed=7).tobytes(), lambda: True)
    finally:
        out.close()
    written = np.fromfile(alsa_file_device / "out.raw", dtype=np.int16)
    assert np.array_equal(written, first)


def test_abort_discards_and_output_keeps_working(alsa_file_device: Path) -> None:
    """abort() (stream closed and reopened) leaves a working output that keeps delivering exact samples."""
    out = PyAudioOutput(sample_rate=RATE)
    out.open()
    try:
        out.write(noise(RATE // 2, seed=3).tobytes())
        out.abort()
        after = noise(RATE // 5, seed=4)
        out.write(after.tobytes())
    finally:
        out.close()
    written = np.fromfile(alsa_file_device / "out.raw", dtype=np.int16)
    assert written.size >= after.size
    assert np.array_equal(written[-after.size :], after)


def test_abort_from_another_thread_ends_a_long_write(alsa_file_device: Path) -> None:
    """abort() while another thread is inside a write makes that write return early and cleanly."""
    out = PyAudioOutput(sample_rate=RATE)
    out.open()
    errors: List[BaseException] = []
    pcm = noise(RATE * 30, seed=5).tobytes()  # 30 s: unpaced, but many 10 ms steps

    def write() -> None:
        try:
            out.write(pcm)
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.02)
    out.abort()
    writer.join(10.0)
    out.close()
    assert not writer.is_alive()
    assert errors == []


def test_close_from_another_thread_ends_reads(alsa_file_device: Path) -> None:
    """close() while another thread keeps reading makes the reader get b'' and closes the stream."""
    np.zeros(RATE * 60, np.int16).tofile(alsa_file_device / "in.raw")
    mic = PyAudioInput(sample_rate=RATE)
    mic.open()
    results: List[int] = []

    def read_until_closed() -> None:
        while True:
            data = mic.read(480)
            results.append(len(data))
            if not data:
                return

    reader = threading.Thread(target=read_until_closed)
    reader.start()
    time.sleep(0.05)
    mic.close()
    reader.join(5.0)
    assert not reader.is_alive()
    assert results[-1] == 0 and results[0] == 960
    assert mic._stream is None  # the reader or close() released the stream


def test_list_devices_finds_the_configured_names(alsa_file_device: Path) -> None:
    """list_devices reports the configured PCMs with channels, rates and the default flags."""
    devices = list_devices()
    names = [d.name for d in devices]
    assert {"default", "nul", "spk_tap"} <= set(names)
    default = devices[names.index("default")]
    assert isinstance(default, AudioDevice)
    assert default.is_default_input and default.is_default_output
    assert default.max_input_channels > 0 and default.max_output_channels > 0
    assert {16000, 24000, 48000} <= set(default.supported_rates)
    assert default.default_sample_rate > 0
    tap = devices[names.index("spk_tap")]
    assert not tap.is_default_output
    with pytest.raises(AttributeError):
        tap.name = "x"  # type: ignore[misc]


def test_devices_are_chosen_by_name_substring_or_index(alsa_file_device: Path) -> None:
    """A case-insensitive name substring or an index selects that device."""
    tap = PyAudioOutput(device="SPK_T", sample_rate=RATE)
    tap.open()
    try:
        assert tap.device_name == "spk_tap"
        tap.write(noise(480, seed=6).tobytes())
    finally:
        tap.close()
    assert np.array_equal(np.fromfile(alsa_file_device / "tap.raw", np.int16), noise(480, seed=6))
    index = next(d.index for d in list_devices() if d.name == "nul")
    nul = PyAudioInput(device=index, sample_rate=RATE)
    nul.open()
    try:
        assert nul.device_name == "nul" and nul.device_index == index
        assert len(nul.read(480)) == 960
    finally:
        nul.close()


def test_wrong_device_name_lists_the_devices(alsa_file_device: Path) -> None:
    """An unknown device name raises AudioDeviceError whose message lists the devices that exist."""
    with pytest.raises(AudioDeviceError) as info:
        PyAudioOutput(device="no-such-speaker").open()
    err = info.value
    assert err.code == "AUDIO_DEVICE"
    assert "no-such-speaker" in err.message
    assert "'default'" in err.message and "'nul'" in err.message and "'spk_tap'" in err.message
    assert "default" in err.details["devices"]
    with pytest.raises(AudioDeviceError, match="no audio device with index 99"):
        PyAudioInput(device=99).open()


def test_unsupported_rate_falls_back_to_the_device_default(alsa_file_device: Path) -> None:
    """A rate the device cannot run at opens at the device's default rate instead."""
    mic = PyAudioInput(sample_rate=1_000_000)
    mic.open()
    try:
        default_rate = int(next(d.default_sample_rate for d in list_devices() if d.name == "default"))
        assert mic.sample_rate == default_rate != 1_000_000
    finally:
        mic.close()


def test_no_devices_at_all_gives_a_clear_error(no_alsa_devices: None) -> None:
    """With no audio device, opening the default input or output raises a clear AudioDeviceError."""
    assert list_devices() == []
    for device in (PyAudioInput(), PyAudioOutput()):
        with pytest.raises(AudioDeviceError) as info:
            device.open()
        assert "no default" in info.value.message
        assert "no audio devices at all" in info.value.message


def test_native_audio_noise_is_silenced(alsa_file_device: Path) -> None:
    """Listing and opening devices prints nothing on stderr (ALSA and JACK handlers installed)."""
    code = (
        "from realtime_client.audio import list_devices, PyAudioOutput\n"
        "list_devices()\n"
        "o = PyAudioOutput(sample_rate=24000); o.open(); o.write(b'\\x00\\x00' * 480); o.close()\n"
    )
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.fixture
def engine_factory() -> Iterator[Callable[..., AudioEngine]]:
    made: List[AudioEngine] = []

    def factory(**kw: Any) -> AudioEngine:
        engine = AudioEngine(dispatcher=lambda fn: None, on_playback_started=lambda i: None,
                             on_error=lambda e: None, **kw)
        made.append(engine)
        return engine

    yield factory
    for engine in made:
        engine.close()


def test_engine_plays_and_captures_through_pyaudio(
    alsa_file_device: Path, engine_factory: Callable[..., AudioEngine]
) -> None:
    """The engine opens PyAudio devices at the provider rate and moves exact samples both ways.

    Playback goes to ``spk_tap``: the ``file`` PCM also records what its capture stream reads
    into its ``file``, so the default PCM's out.raw would mix both directions.
    """
    heard = noise(RATE // 2, seed=7)
    np.concatenate([heard, np.zeros(RATE * 10, np.int16)]).tofile(alsa_file_device / "in.raw")
    captured: List[bytes] = []
    idle = threading.Event()
    engine = engine_factory(output=PyAudioOutput("spk_tap"), input=PyAudioInput(), provider_output_rate=RATE,
                            provider_input_rate=RATE, on_capture=captured.append, on_playback_idle=idle.set)
    engine.start_playback()
    engine.start_capture()
    said = noise(RATE // 2, seed=8)
    engine.play("a", said.tobytes())
    assert idle.wait(5.0)
    deadline = time.monotonic() + 5.0
    while sum(map(len, captured)) < heard.size * 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.close()
    assert np.array_equal(np.fromfile(alsa_file_device / "tap.raw", np.int16)[: said.size], said)
    got = np.frombuffer(b"".join(captured), np.int16)
    assert np.array_equal(got[: heard.size], heard)
    assert engine.heard_ms("a") == pytest.approx(500.0, abs=1.0)
