"""Real-time virtual audio devices: a private PulseAudio daemon with null sinks, reached through ALSA.

Shared by the test suite (``tests/audio/conftest.py`` wraps it in fixtures) and the benchmarks
(``benchmarks/_devices.py``), so both measure on exactly the same devices. Nothing here is public
API, and nothing is imported by ``realtime_client.testing`` itself: pyaudio loads only when a
stream is opened.

PortAudio in Debian has no PulseAudio host API, so the daemon is reached through ALSA's ``pulse``
plugin with a private ``ALSA_CONFIG_PATH`` (read at each ``pyaudio.PyAudio()``). A null sink is a
speaker; its monitor is a microphone that hears exactly what was played into it, at real-time
pace. An idle null sink renders in 2 s blocks, which stalls the first reads and writes; so each
sink is created suspended, a ``pacat`` writing zeros at 10 ms latency is connected to it (adding
silence changes no sample), and only then is the sink resumed (:meth:`PulseServer.start`).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["DeviceFeeder", "DeviceRecorder", "PulseServer", "VirtualAudioUnavailable", "check_tools",
           "pa_open", "warm_up"]


class VirtualAudioUnavailable(RuntimeError):
    """The virtual devices cannot be made here (a tool is missing, or the daemon did not start)."""


def check_tools() -> None:
    """Raise :class:`VirtualAudioUnavailable` unless pulseaudio, pacat, pactl, PortAudio and PyAudio exist."""
    for tool in ("pulseaudio", "pacat", "pactl"):
        if shutil.which(tool) is None:
            raise VirtualAudioUnavailable(
                f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    if not ctypes.util.find_library("portaudio"):
        raise VirtualAudioUnavailable("libportaudio is not installed (apt-get install portaudio19-dev)")
    try:
        import pyaudio  # noqa: F401
    except ImportError as exc:
        raise VirtualAudioUnavailable("PyAudio is not installed") from exc


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



def warm_up(device: Optional[str], rate: int, budget_s: float) -> None:
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
    """One private PulseAudio daemon with null sinks, plus its zero-writing keep-alives.

    Raises:
        VirtualAudioUnavailable: from :meth:`start`, when the daemon or its keep-alives do not come up.
    """

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
                raise VirtualAudioUnavailable(f"pulseaudio did not start:\n{log}")
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
                raise VirtualAudioUnavailable("the pacat keep-alive streams did not connect")
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
