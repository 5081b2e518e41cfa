"""Shared helpers for the AudioEngine tests: signals, a dispatcher thread, a report recorder."""

from __future__ import annotations

import queue
import threading
import time
import wave
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from tests.helpers import wait_until


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16).tobytes()


def write_wav(path: Path, pcm: bytes, rate: int) -> Path:
    """``pcm`` (PCM16 mono at ``rate``) as a WAV file at ``path``."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def capture_all(engine: Any, timeout: float = 5.0) -> None:
    """Start ``engine``'s capture and wait until its (file) input has ended."""
    engine.start_capture()
    wait_until(lambda: not engine.is_capturing, timeout, "the end of the file")


def chunks(pcm: bytes, size: int) -> List[bytes]:
    return [pcm[k : k + size] for k in range(0, len(pcm), size)]


def peak_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * rate / x.size)


class Dispatcher:
    """Runs callbacks on one thread, like the client's default dispatcher."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Optional[Callable[[], None]]] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="test-dispatcher", daemon=True)
        self.thread.start()

    def __call__(self, fn: Callable[[], None]) -> None:
        self.jobs.put(fn)

    def _run(self) -> None:
        while (fn := self.jobs.get()) is not None:
            fn()

    def drain(self) -> None:
        done = threading.Event()
        self.jobs.put(done.set)
        assert done.wait(2.0)

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(2.0)


class Recorder:
    """Collects what the engine reports, with the thread each report came from."""

    def __init__(self) -> None:
        self.events: List[Tuple[str, Any, str, float]] = []
        self.captured: List[bytes] = []
        self.capture_threads: List[str] = []
        self.errors: List[Exception] = []
        self.idle = threading.Event()
        self.lock = threading.Lock()

    def _add(self, kind: str, value: Any) -> None:
        with self.lock:
            self.events.append((kind, value, threading.current_thread().name, time.monotonic()))

    def started(self, item_id: str) -> None:
        self._add("started", item_id)

    def on_idle(self) -> None:
        self._add("idle", None)
        self.idle.set()

    def capture(self, pcm: bytes) -> None:
        self.capture_threads.append(threading.current_thread().name)
        self.captured.append(pcm)

    def error(self, exc: Exception) -> None:
        self.errors.append(exc)

    def kinds(self) -> List[Tuple[str, Any]]:
        with self.lock:
            return [(k, v) for k, v, _, _ in self.events]
