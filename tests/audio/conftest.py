"""Real-time virtual audio devices: a PulseAudio daemon with null sinks, reached through ALSA.

PortAudio in Debian has no PulseAudio host API, so the daemon is reached through ALSA's
``pulse`` plugin with a private ``ALSA_CONFIG_PATH``. Two null sinks make two devices:

* ``spk`` (24 kHz) is the default output; the ALSA PCM ``spk_tap`` records what was played
  into it (its monitor), sample for sample.
* ``mic`` (48 kHz) has its monitor as the default input; the ALSA PCM ``mic_feed`` plays
  into it, so a test can put known audio into the "microphone".

Both run at real-time pace. An idle null sink renders in 2 s blocks, which stalls the first
reads and writes; so each sink is created suspended, a ``pacat`` writing zeros at 10 ms
latency is connected to it (adding silence changes no sample), and only then is the sink
resumed. The fixture still reads until reads are steady before it yields.

Without pulseaudio/pacat/PyAudio the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest

from realtime_client.audio._engine import AudioEngine
from tests.audio.engine_support import Dispatcher, Recorder

SPK_RATE = 24000
MIC_RATE = 48000
_IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip (developer machine) or fail (``CI=true``): virtual-device tests must run in CI."""
    if _IN_CI:
        pytest.fail(f"{reason}; CI=true requires the real-device audio tests to run")
    pytest.skip(reason)


def _check_tools() -> None:
    for tool in ("pulseaudio", "pacat", "pactl"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    if not ctypes.util.find_library("portaudio"):
        unavailable("libportaudio is not installed (apt-get install portaudio19-dev)")
    try:
        import pyaudio  # noqa: F401
    except ImportError:
        unavailable("PyAudio is not installed")


def pa_open(pa: Any, device: Optional[str], rate: int, *, output: bool, frames: int) -> Any:
    """Open a raw PyAudio int16 mono stream on the device named ``device`` (None: default)."""
    import pyaudio

    kwargs: Dict[str, Any] = dict(format=pyaudio.paInt16, channels=1, rate=rate, frames_per_buffer=frames)
    index = None
    if device is not None:
        names = [pa.get_device_info_by_index(i)["name"] for i in range(pa.get_device_count())]
        index = names.index(device)
    if output:
        kwargs.update(output=True, output_device_index=index)
    else:
        kwargs.update(input=True, input_device_index=index)
    return pa.open(**kwargs)


def _warm_up(device: Optional[str], rate: int, budget_s: float) -> None:
    import pyaudio

    pa = pyaudio.PyAudio()
    frames = rate // 50
    try:
        stream = pa_open(pa, device, rate, output=False, frames=frames)
        end = time.monotonic() + budget_s
        steady = 0
        while steady < 10:
            if time.monotonic() > end:
                raise RuntimeError(f"virtual device {device or 'default'} never settled to real-time reads")
            t = time.monotonic()
            stream.read(frames, exception_on_overflow=False)
            steady = steady + 1 if time.monotonic() - t < 0.04 else 0
        stream.close()
    finally:
        pa.terminate()


class PulseServer:
    """One private PulseAudio daemon with null sinks, plus its zero-writing keep-alives."""

    def __init__(self, directory: Path, sinks: List[Tuple[str, int]], defaults: str = "") -> None:
        self.dir = directory
        (directory / "run").mkdir(parents=True, exist_ok=True)
        self.socket = directory / "native"
        self.server = f"unix:{self.socket}"
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(directory / "run"), HOME=str(directory),
                        PULSE_SERVER=self.server)
        lines = [f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1"]
        for name, rate in sinks:  # suspended until the keep-alive is connected (see start())
            lines += [f"load-module module-null-sink sink_name={name} rate={rate} channels=1",
                      f"suspend-sink {name} 1"]
        (directory / "init.pa").write_text("\n".join(lines) + "\n" + defaults)
        self.sinks = sinks
        self.daemon: Optional[subprocess.Popen] = None
        self.keep_alive: List[subprocess.Popen] = []

    def start(self) -> None:
        self.daemon = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(self.dir / "init.pa"), "--daemonize=no", "--exit-idle-time=-1",
             "--disallow-exit", "--use-pid-file=no", "--disable-shm=yes",
             f"--log-target=file:{self.dir / 'pulse.log'}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10.0
        while self.pactl("info").returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > end:
                log = (self.dir / "pulse.log").read_text(errors="replace")[-2000:] if (
                    self.dir / "pulse.log").exists() else ""
                self.stop()
                unavailable(f"pulseaudio did not start:\n{log}")
            time.sleep(0.05)
        for name, rate in self.sinks:
            self.keep_alive.append(subprocess.Popen(
                ["pacat", "-d", name, "--raw", "--format=s16le", f"--rate={rate}", "--channels=1",
                 "--latency-msec=10", "/dev/zero"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # A null sink that ever ran idle renders 2 s blocks, stalling the first read by up to 2 s.
        # Created suspended, it starts rendering only now, at the keep-alive's 10 ms latency.
        while len(self.pactl("list", "short", "sink-inputs").stdout.splitlines()) < len(self.sinks):
            if time.monotonic() > end or any(p.poll() is not None for p in self.keep_alive):
                self.stop()
                unavailable("the pacat keep-alive streams did not connect")
            time.sleep(0.01)
        for name, _rate in self.sinks:
            self.pactl("suspend-sink", name, "0")

    def pactl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], check=False, env=self.env, capture_output=True, text=True,
                              timeout=10)

    def kill(self) -> None:
        """Kill the daemon abruptly (SIGKILL): every stream on it breaks at once."""
        if self.daemon is not None:
            self.daemon.kill()
            self.daemon.wait(5)

    def stop(self) -> None:
        for proc in self.keep_alive + ([self.daemon] if self.daemon is not None else []):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.keep_alive = []

    def pcm(self, name: str, device: Optional[str] = None) -> str:
        """An ALSA PCM definition reaching ``device`` (sink, or ``<sink>.monitor``) on this server."""
        target = f'; device "{device}"' if device else ""
        return f'pcm.{name} {{ type pulse; server "{self.server}"{target} }}\n'


class VirtualAudio:
    """What the ``virtual_audio`` fixture yields: the daemon, its ALSA configuration, and helpers
    to record or play a device from the test (raw PyAudio streams, not the code under test)."""

    spk_rate = SPK_RATE
    mic_rate = MIC_RATE

    def __init__(self, server: PulseServer, config: Path) -> None:
        self.server = server
        self.config = config

    def recorder(self, device: Optional[str], rate: int, chunk_ms: int = 10) -> DeviceRecorder:
        """A :class:`DeviceRecorder` on ``device`` (``None``: the default input); call ``start()``."""
        return DeviceRecorder(device, rate, chunk_ms)

    def feeder(self, device: Optional[str], rate: int) -> DeviceFeeder:
        """A :class:`DeviceFeeder` on ``device`` (``None``: the default output); call ``play()``."""
        return DeviceFeeder(device, rate)


@pytest.fixture(scope="session")
def pulse_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualAudio]:
    """The daemon behind :func:`virtual_audio`, started once per session."""
    _check_tools()
    from realtime_client.audio._pyaudio import silence_native_audio_logs

    silence_native_audio_logs()
    server = PulseServer(tmp_path_factory.mktemp("pulse"), [("spk", SPK_RATE), ("mic", MIC_RATE)],
                         defaults="set-default-sink spk\nset-default-source mic.monitor\n")
    config = server.dir / "asound.conf"
    config.write_text(
        f'pcm.!default {{ type pulse; server "{server.server}" }}\n'
        f'ctl.!default {{ type pulse; server "{server.server}" }}\n'
        + server.pcm("mic_feed", "mic") + server.pcm("spk_tap", "spk.monitor"))
    server.start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("ALSA_CONFIG_PATH", str(config))
            env.setenv("PULSE_SERVER", server.server)
            try:
                _warm_up(None, MIC_RATE, 10.0)
                _warm_up("spk_tap", SPK_RATE, 10.0)
            except Exception as exc:
                unavailable(f"the virtual devices do not work ({type(exc).__name__}: {exc}); "
                            "is libasound2-plugins (the ALSA pulse plugin) installed?")
        yield VirtualAudio(server, config)
    finally:
        server.stop()


@pytest.fixture
def virtual_audio(pulse_session: VirtualAudio, monkeypatch: pytest.MonkeyPatch) -> VirtualAudio:
    """Real-time devices: default output ``spk`` (tap: ``spk_tap``), default input fed by ``mic_feed``.

    The ALSA configuration is selected for this test only (``ALSA_CONFIG_PATH``, read at each
    ``PyAudio()``), so other tests keep seeing the machine's own devices.
    """
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(pulse_session.config))
    monkeypatch.setenv("PULSE_SERVER", pulse_session.server.server)
    return pulse_session


@pytest.fixture
def doomed_pulse(virtual_audio: VirtualAudio, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseServer]:
    """A second, short-lived daemon: ALSA PCMs ``doomed_spk`` (a 48 kHz sink), ``doomed_mic`` (monitor)."""
    server = PulseServer(tmp_path / "doomed", [("doomed", MIC_RATE)])
    config = tmp_path / "asound.conf"
    config.write_text(virtual_audio.config.read_text() + server.pcm("doomed_mic", "doomed.monitor")
                      + server.pcm("doomed_spk", "doomed"))
    server.start()
    try:
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(config))
        _warm_up("doomed_mic", MIC_RATE, 10.0)
        yield server
    finally:
        server.stop()


class AudioLoops:
    """Extra null sinks and loopbacks on the session's daemon, each sink with two ALSA PCMs:
    ``<name>_spk`` plays into it and ``<name>_mic`` records its monitor.

    A microphone on a monitor hears everything played into that sink, sample for sample:
    0 dB of coupling. A ``module-loopback`` between a monitor and another sink adds delay
    (and, with ``volume_db``, attenuation), like the echo path of a room. Sinks added here
    get no keep-alive stream: an idle one renders 2 s blocks, so its monitor stalls.
    """

    def __init__(self, audio: VirtualAudio, config: Path, env: pytest.MonkeyPatch) -> None:
        self._audio = audio
        self._config = config
        self._env = env
        self._pcms = ""
        self.modules: List[str] = []

    def _load(self, *args: str) -> str:
        done = self._audio.server.pactl("load-module", *args)
        if done.returncode != 0:
            raise RuntimeError(f"pactl load-module {' '.join(args)} failed: {done.stderr.strip()}")
        module = done.stdout.strip()
        self.modules.append(module)
        return module

    def sink(self, name: str, rate: int) -> str:
        """Add a mono null sink ``name``; returns the ALSA PCM name of its monitor (``<name>_mic``)."""
        self._load("module-null-sink", f"sink_name={name}", f"rate={rate}", "channels=1")
        server = self._audio.server
        self._pcms += server.pcm(f"{name}_spk", name) + server.pcm(f"{name}_mic", f"{name}.monitor")
        self._config.write_text(self._audio.config.read_text() + self._pcms)
        self._env.setenv("ALSA_CONFIG_PATH", str(self._config))
        return f"{name}_mic"

    def loopback(self, source: str, sink: str, latency_ms: int, volume_db: float = 0.0) -> None:
        """Play the pulse source ``source`` (e.g. ``spk.monitor``) into ``sink``, ``latency_ms`` late."""
        module = self._load("module-loopback", f"source={source}", f"sink={sink}",
                            f"latency_msec={latency_ms}", "source_dont_move=true", "sink_dont_move=true")
        if volume_db:
            listing = self._audio.server.pactl("list", "sink-inputs").stdout
            for block in listing.split("Sink Input #")[1:]:
                if f"Owner Module: {module}\n" in block:
                    index = block.split("\n", 1)[0].strip()
                    self._audio.server.pactl("set-sink-input-volume", index, f"{volume_db}dB")
                    break
            else:
                raise RuntimeError(f"the loopback's sink input (module {module}) is not listed")

    def warm_up(self, pcm: str, rate: int) -> None:
        """Read ``pcm`` until reads are steady (the first ones stall while the sink wakes up)."""
        _warm_up(pcm, rate, 10.0)

    def remove(self) -> None:
        for module in reversed(self.modules):
            self._audio.server.pactl("unload-module", module)
        self.modules = []


@pytest.fixture
def audio_loops(virtual_audio: VirtualAudio, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[AudioLoops]:
    """An :class:`AudioLoops` on the session daemon; what it added is removed after the test."""
    loops = AudioLoops(virtual_audio, tmp_path / "loops.conf", monkeypatch)
    try:
        yield loops
    finally:
        loops.remove()


class DeviceRecorder:
    """Records a device on a thread in ``chunk_ms`` reads, noting when each read returned.

    ``arrivals`` holds (samples received so far, monotonic time) after each read, so a sample
    index can be mapped to the latest time it can have been played (see :meth:`time_of`).
    """

    def __init__(self, device: Optional[str], rate: int, chunk_ms: int = 10) -> None:
        import pyaudio

        self.rate = rate
        self._frames = rate * chunk_ms // 1000
        self._pa = pyaudio.PyAudio()
        self._stream = pa_open(self._pa, device, rate, output=False, frames=self._frames)
        self._stream.read(self._frames, exception_on_overflow=False)  # flowing before start()
        self._chunks: List[bytes] = []
        self.arrivals: List[Tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-recorder", daemon=True)

    def start(self) -> DeviceRecorder:
        self._thread.start()
        return self

    def _run(self) -> None:
        count = 0
        while not self._stop.is_set():
            data = self._stream.read(self._frames, exception_on_overflow=False)
            count += len(data) // 2
            self._chunks.append(data)
            self.arrivals.append((count, time.monotonic()))

    def samples(self) -> np.ndarray:
        """Everything recorded so far (while recording)."""
        return np.frombuffer(b"".join(list(self._chunks)), np.int16)

    def stop(self) -> np.ndarray:
        """Stop recording, release the device, return every sample recorded."""
        self._stop.set()
        self._thread.join(5.0)
        self._stream.close()
        self._pa.terminate()
        return np.frombuffer(b"".join(self._chunks), np.int16)

    def time_of(self, index: int) -> float:
        """When sample ``index`` was played, at the latest (monotonic clock).

        Each read returns once its last sample exists, and the device produces samples at
        real-time pace, so every read that covers ``index`` bounds it by
        ``t - (count - index) / rate``; the smallest bound is the tightest. (The sink renders
        10 ms blocks, so the bound may be that much early for a sample inside a block.)
        """
        return min(t - (count - index) / self.rate for count, t in self.arrivals if count > index)


class DeviceFeeder:
    """Plays int16 samples into a device on a thread, in 20 ms writes at real-time pace."""

    def __init__(self, device: Optional[str], rate: int) -> None:
        import pyaudio

        self.rate = rate
        self._frames = rate // 50
        self._pa = pyaudio.PyAudio()
        self._stream = pa_open(self._pa, device, rate, output=True, frames=self._frames)
        self._thread: Optional[threading.Thread] = None
        self.started_at: Optional[float] = None

    def play(self, samples: np.ndarray) -> DeviceFeeder:
        pcm = np.asarray(samples, np.int16).tobytes()
        step = self._frames * 2

        def run() -> None:
            self.started_at = time.monotonic()
            for k in range(0, len(pcm), step):
                self._stream.write(pcm[k:k + step])

        self._thread = threading.Thread(target=run, name="test-feeder", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Wait for the samples to be written, then release the device."""
        if self._thread is not None:
            self._thread.join(30.0)
        self._stream.close()
        self._pa.terminate()



@pytest.fixture
def dispatcher() -> Iterator[Dispatcher]:
    """A dispatcher thread like the client's, stopped after the test."""
    d = Dispatcher()
    yield d
    d.stop()


@pytest.fixture
def make_engine(dispatcher: Dispatcher) -> Iterator[Callable[..., Tuple[AudioEngine, Recorder]]]:
    """Build AudioEngines reporting into a Recorder; closes them and checks no thread outlives them."""
    made: List[AudioEngine] = []

    def factory(output: Any = None, input: Any = None, out_rate: int = 24000,
                in_rate: int = 24000, **kwargs: Any) -> Tuple[AudioEngine, Recorder]:
        rec = Recorder()
        engine = AudioEngine(output=output, input=input, provider_output_rate=out_rate,
                             provider_input_rate=in_rate, on_capture=rec.capture,
                             on_playback_started=rec.started, on_playback_idle=rec.on_idle,
                             on_error=rec.error, dispatcher=dispatcher, **kwargs)
        made.append(engine)
        return engine, rec

    yield factory
    for engine in made:
        engine.close(timeout=2.0)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("realtime-")]
