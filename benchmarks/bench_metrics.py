"""Latency the app can see: ``RealtimeMessage.metrics`` aggregated against the fake servers.

For each provider's fake (in this process, real-time pacing, a paced ``BufferOutput``) the client
asks ``TURNS`` questions; each answer's :class:`~realtime_client.TurnMetrics` gives text sent ->
response started -> first audio received -> first audio heard. The fakes add no model latency,
so these are the client's own overhead (plus the fake's, which is on the same two cores).

On the virtual devices (24 kHz, fake OpenAI) the same figure is checked against the truth:
``first_heard`` minus the moment the speaker's monitor recorded the answer's first sample.
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from typing import Any, Dict, List

import numpy as np

from ._harness import Row, spread, verdict

PROVIDERS = ("openai", "azure", "grok", "gemini", "elevenlabs")
Params = Dict[str, Any]
FULL: Params = {"turns": 12, "providers": PROVIDERS, "device_turns": 8}
QUICK: Params = {"turns": 2, "providers": ("openai", "gemini", "elevenlabs"), "device_turns": 1}


def _turns(provider: str, turns: int) -> List[Dict[str, float]]:
    from realtime_client import RealtimeClient
    from realtime_client.audio import BufferOutput
    from realtime_client.testing import FakeRealtimeServer, Reply

    options = {"ping_interval": 0.1} if provider == "elevenlabs" else None
    out: List[Dict[str, float]] = []
    with FakeRealtimeServer(provider=provider, pacing="realtime", provider_options=options) as server:
        client = RealtimeClient(get_token=server.get_token, adapter=server.adapter(), auto_capture=False,
                                audio_output=BufferOutput(sample_rate=24000, realtime=True))
        client.connect(timeout=10)
        try:
            for i in range(turns + 1):  # the first is a warm-up
                server.script(Reply.audio("A short answer.", duration_ms=400))
                answer = client.ask(f"question {i}", timeout=20)
                client.wait_for_playback(timeout=20)
                message = next(m for m in client.messages if m.id == answer.id)
                m = message.metrics
                if i and m is not None and m.first_heard_latency_ms is not None:
                    out.append({"response_ms": m.response_latency_ms or 0.0,
                                "first_audio_ms": m.first_audio_latency_ms or 0.0,
                                "first_heard_ms": m.first_heard_latency_ms})
        finally:
            client.destroy()
    return out


def _against_monitor(turns: int) -> List[float]:
    """``first_heard`` minus the monitor's first sample of each answer, in ms (virtual devices)."""
    from realtime_client import RealtimeClient
    from realtime_client.testing import FakeRealtimeServer, Reply

    from ._child import voice
    from ._devices import virtual_devices

    errors: List[float] = []
    with virtual_devices(24000) as devices, FakeRealtimeServer(pacing="realtime", speech=voice) as server:
        client = RealtimeClient(get_token=server.get_token, adapter=server.adapter(), auto_capture=False)
        client.connect(timeout=10)
        try:
            for i in range(turns):
                tap = devices.tap()
                try:
                    server.script(Reply.text("An answer of a second or so."))
                    answer = client.ask(f"question {i}", timeout=20)
                    client.wait_for_playback(timeout=20)
                    time.sleep(0.1)
                finally:
                    samples = tap.stop()
                message = next(m for m in client.messages if m.id == answer.id)
                nonzero = np.flatnonzero(samples)
                if message.metrics is None or message.metrics.first_heard is None or nonzero.size == 0:
                    continue
                errors.append((message.metrics.first_heard - tap.time_of(int(nonzero[0]))) * 1000)
        finally:
            client.destroy()
    return errors


def measure(quick: bool = False) -> Dict[str, Any]:
    params = QUICK if quick else FULL
    logging.getLogger("realtime_client").setLevel(logging.ERROR)
    per = {p: _turns(p, params["turns"]) for p in params["providers"]}
    return {"params": params, "providers": per, "monitor": _against_monitor(params["device_turns"])}


def rows(data: Dict[str, Any]) -> List[Row]:
    out: List[Row] = []
    for provider, turns in data["providers"].items():
        for key, label in (("response_ms", "response started"), ("first_audio_ms", "first audio received"),
                           ("first_heard_ms", "first audio heard")):
            values = [t[key] for t in turns]
            out.append(Row(f"metrics [{provider} fake]: text sent -> {label}", spread(values, "ms"),
                           "no peer exposes it", "", "", ""))
    errors = data["monitor"]
    worst = max((abs(e) for e in errors), default=None)
    out.append(Row("metrics first_heard - first sample at the monitor (virtual devices)",
                   spread(errors, "ms"),
                   "", "", "abs error <= 20 ms", verdict(None if worst is None else worst <= 20)))
    return out


def run(quick: bool = False) -> List[Row]:
    return rows(measure(quick))


if __name__ == "__main__":
    result = measure("--quick" in sys.argv)
    for row in rows(result):
        print(" | ".join(row))
    print({p: statistics.median(t["first_heard_ms"] for t in v) for p, v in result["providers"].items() if v})
