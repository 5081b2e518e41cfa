"""Per-thread CPU and wake-ups of one client in full duplex: the profile behind docs/benchmarks.md.

``python -m benchmarks.threads [ours|sdk] [SECONDS]`` runs our client (or the ElevenLabs SDK's
``Conversation`` with its ``DefaultAudioInterface``) against the fake ElevenLabs agent talking
without a pause, on the 16 kHz virtual devices, with the microphone streaming; then prints, for
every thread of this process, its CPU seconds per minute (user and system, from
``/proc/self/task/*/stat``) and its voluntary context switches per second (``status``): how
often it went to sleep and was woken. Unnamed threads are native ones (PortAudio and the ALSA
pulse plugin).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Dict, Tuple

from ._devices import virtual_devices
from ._harness import ServerProcess, cpu_seconds
from .bench_elevenlabs import _SDK, _Ours

Sample = Tuple[float, float, int]  # user s, system s, voluntary context switches


def per_thread() -> Dict[str, Sample]:
    """Every thread of this process by name (native ones by id)."""
    tick = float(os.sysconf("SC_CLK_TCK"))
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: Dict[str, Sample] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/self/task/{tid}/status") as f:
                switches = next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt"))
        except (OSError, StopIteration):
            continue  # the thread ended meanwhile
        out[names.get(int(tid), f"native {tid}")] = (int(fields[11]) / tick, int(fields[12]) / tick, switches)
    return out


def main(which: str, seconds: float) -> None:
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    logging.getLogger("elevenlabs").setLevel(logging.CRITICAL)
    make = _Ours if which == "ours" else _SDK
    options = {"first_message": "word " * 600, "ping_interval": 2.0}
    with virtual_devices(16000), ServerProcess("elevenlabs", "realtime", 50, options) as server:
        client = make(server)
        client.start()
        try:
            time.sleep(1.0)  # past connect and the first buffers
            before, cpu0, t0 = per_thread(), cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            after, cpu1, t1 = per_thread(), cpu_seconds(), time.monotonic()
        finally:
            client.end()
    span = t1 - t0
    print(f"{make.name}: process CPU {(cpu1 - cpu0) / span * 60:.3f} s per minute over {span:.1f} s")
    print(f"  {'thread':28s} {'CPU s/min':>9s} {'user':>6s} {'sys':>6s} {'wake-ups/s':>10s}")
    for name, (user, system, switches) in sorted(after.items()):
        if name not in before:
            continue
        u, s_ = (user - before[name][0]) / span * 60, (system - before[name][1]) / span * 60
        wakes = (switches - before[name][2]) / span
        if u + s_ > 0 or wakes >= 1:
            print(f"  {name:28s} {u + s_:9.3f} {u:6.3f} {s_:6.3f} {wakes:10.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "ours", float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
