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

import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest

from realtime_client.audio._engine import AudioEngine
from realtime_client.testing._pulse import (
    DeviceFeeder,
    DeviceRecorder,
    PulseServer,
    VirtualAudioUnavailable,
    check_tools,
    warm_up,
)
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
    try:
        check_tools()
    except VirtualAudioUnavailable as exc:
        unavailable(str(exc))


def _start(server: PulseServer) -> None:
    try:
        server.start()
    except VirtualAudioUnavailable as exc:
        unavailable(str(exc))


def _warm_up(device: Optional[str], rate: int, budget_s: float) -> None:
    warm_up(device, rate, budget_s)




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
    _start(server)
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
    _start(server)
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
