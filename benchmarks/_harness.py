"""What every benchmark shares: the table row, min/median/max formatting, the fake server in a
child process, and CPU, RSS and thread probes."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence

import numpy as np

__all__ = ["Row", "ServerProcess", "cpu_over", "cpu_seconds", "fmt", "goal_row", "ratio", "rss_mb",
           "spread", "thread_names", "verdict", "wait_until"]


class Row(NamedTuple):
    """One line of the table ``make bench`` prints."""

    metric: str
    ours: str
    peer: str = ""
    ratio: str = ""
    goal: str = ""
    verdict: str = ""


def verdict(ok: Optional[bool]) -> str:
    """``ok``, ``MISSED``, or empty when there is nothing to judge."""
    return "" if ok is None else "ok" if ok else "MISSED"


def spread(values: Sequence[float], unit: str = "ms", digits: int = 1) -> str:
    """``median (min-max, n=N)`` of ``values`` with ``unit``; a single value as is."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f} {unit}"
    return f"{med:.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f}, n={len(values)})"


def fmt(value: Optional[float], unit: str = "ms", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}"


def ratio(ours: Sequence[float], peer: Sequence[float], pairwise: bool = True) -> Optional[float]:
    """The median of per-run ratios (runs alternate, so drift hits both) or of the medians."""
    if not ours or not peer:
        return None
    if pairwise and len(ours) == len(peer) and all(p > 0 for p in peer):
        return statistics.median(o / p for o, p in zip(ours, peer))
    med = statistics.median(peer)
    return statistics.median(ours) / med if med > 0 else None


def goal_row(metric: str, ours: Sequence[float], peer: Sequence[float], unit: str, goal: str,
             check: Callable[[float, float], bool], digits: int = 1, peer_name: str = "",
             pairwise: bool = True) -> Row:
    """A row comparing ``ours`` with ``peer`` runs; ``check(ratio, ours_median)`` says ok."""
    r = ratio(ours, peer, pairwise)
    ok = None if r is None or not ours else check(r, statistics.median(ours))
    peer_text = spread(peer, unit, digits) if peer else "n/a"
    if peer_name:
        peer_text = f"{peer_name}: {peer_text}"
    return Row(metric, spread(ours, unit, digits), peer_text, "n/a" if r is None else f"{r:.2f}x",
               goal, verdict(ok))


def wait_until(predicate: Callable[[], Any], timeout: float, what: str = "benchmark step",
               step: float = 0.002) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} timed out after {timeout} s")
        time.sleep(step)


def cpu_seconds() -> float:
    """User + system CPU of this process so far (every thread, native ones included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_over(seconds: float, step: float = 0.5) -> tuple[float, List[float]]:
    """CPU seconds per minute of this process over the next ``seconds``, and the same figure
    for each ``step`` on the way (the CPU-over-time series the plots draw)."""
    series: List[float] = []
    start_cpu, start = cpu_seconds(), time.monotonic()
    last_cpu, last = start_cpu, start
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        time.sleep(min(step, seconds - (now - start)))
        cpu, now = cpu_seconds(), time.monotonic()
        series.append((cpu - last_cpu) / max(1e-9, now - last) * 60)
        last_cpu, last = cpu, now
    return (last_cpu - start_cpu) / max(1e-9, last - start) * 60, series


def rss_mb() -> float:
    """Current resident set size of this process in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def thread_names(exclude: Iterable[threading.Thread] = ()) -> List[str]:
    """Names of live threads not in ``exclude``."""
    skip = set(exclude)
    return sorted(t.name for t in threading.enumerate() if t not in skip and t.is_alive())


class ServerProcess:
    """A ``FakeRealtimeServer`` in a child process (``benchmarks._child``), driven by line commands."""

    def __init__(self, provider: str, pacing: str = "realtime", chunk_ms: int = 50,
                 options: Optional[Dict[str, Any]] = None) -> None:
        args = [sys.executable, "-m", "benchmarks._child", provider, pacing, str(chunk_ms)]
        if options is not None:
            args.append(json.dumps(options))
        env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        first = self._line()
        info = json.loads(first)
        self.base_url: str = info["base_url"]
        self.url: str = info["url"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake server process ended (exit {self.proc.poll()})")
        return line.strip()

    def ask(self, *words: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(" ".join(str(w) for w in words) + "\n")
        self.proc.stdin.flush()
        answer = self._line()
        try:
            return json.loads(answer)
        except ValueError:
            return answer

    def pcm(self, index: int) -> np.ndarray:
        """The PCM16 samples of the server's ``index``-th reply group (the audio it sent)."""
        with tempfile.NamedTemporaryFile(suffix=".pcm", delete=False) as f:
            path = f.name
        try:
            self.ask("pcm", path, index)
            with open(path, "rb") as f:
                return np.frombuffer(f.read(), dtype="<i2").copy()
        finally:
            os.unlink(path)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
