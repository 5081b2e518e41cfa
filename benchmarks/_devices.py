"""The benchmarks' audio devices: the test suite's PulseAudio virtual devices, at one rate.

``virtual_devices(rate)`` starts a private daemon (``realtime_client.testing._pulse``, the code
behind ``tests/audio/conftest.py``) with two null sinks at ``rate``: ``spk`` is the default
output and ``mic``'s monitor the default input. ``spk_tap`` records what any client played
(the monitor of the speaker, sample for sample), and ``mic_feed`` plays the user's voice into
the microphone. Every client under test (ours and its peers) opens the *default* devices, so
they all get the same devices, the same pace and the same audio.

With both sinks at the rate the clients open, no resampling happens anywhere between what a
client wrote and what ``spk_tap`` records, so samples can be matched exactly.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

import numpy as np

from realtime_client.testing._pulse import (
    DeviceFeeder,
    DeviceRecorder,
    PulseServer,
    VirtualAudioUnavailable,
    check_tools,
    warm_up,
)

__all__ = ["Devices", "Played", "VirtualAudioUnavailable", "exact_offset", "locate", "played",
           "virtual_devices"]


class Devices:
    """The running daemon of :func:`virtual_devices` and helpers on its taps."""

    def __init__(self, server: PulseServer, rate: int) -> None:
        self.server = server
        self.rate = rate

    def tap(self, chunk_ms: int = 10) -> DeviceRecorder:
        """A started recorder on the speaker's monitor (what was really played)."""
        return DeviceRecorder("spk_tap", self.rate, chunk_ms).start()

    def feeder(self) -> DeviceFeeder:
        """A feeder into the microphone sink (call ``play(samples)``, then ``close()``)."""
        return DeviceFeeder("mic_feed", self.rate)


@contextlib.contextmanager
def virtual_devices(rate: int) -> Iterator[Devices]:
    """Start the daemon, select its ALSA configuration for this process, yield; then undo both.

    Raises:
        VirtualAudioUnavailable: pulseaudio, pacat, PortAudio or PyAudio is missing, or the
            devices never settle to real-time pace.
    """
    check_tools()
    from realtime_client.audio._pyaudio import silence_native_audio_logs

    silence_native_audio_logs()
    with tempfile.TemporaryDirectory(prefix="bench-pulse-") as tmp:
        server = PulseServer(Path(tmp), [("spk", rate), ("mic", rate)],
                             defaults="set-default-sink spk\nset-default-source mic.monitor\n")
        config = server.dir / "asound.conf"
        config.write_text(f'pcm.!default {{ type pulse; server "{server.server}" }}\n'
                          f'ctl.!default {{ type pulse; server "{server.server}" }}\n'
                          + server.pcm("mic_feed", "mic") + server.pcm("spk_tap", "spk.monitor"))
        old = {k: os.environ.get(k) for k in ("ALSA_CONFIG_PATH", "PULSE_SERVER")}
        server.start()
        try:
            os.environ["ALSA_CONFIG_PATH"] = str(config)
            os.environ["PULSE_SERVER"] = server.server
            try:
                warm_up(None, rate, 10.0)
                warm_up("spk_tap", rate, 10.0)
            except Exception as exc:
                raise VirtualAudioUnavailable(f"the virtual devices do not work: {exc}") from exc
            yield Devices(server, rate)
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            server.stop()


def exact_offset(haystack: np.ndarray, needle: np.ndarray, start: int = 0) -> Optional[int]:
    """Where ``needle`` occurs sample for sample in ``haystack`` (from ``start``), or ``None``."""
    if needle.size == 0 or haystack.size < needle.size:
        return None
    for i in np.flatnonzero(haystack[start:] == needle[0]) + start:
        if i + needle.size <= haystack.size and np.array_equal(haystack[i:i + needle.size], needle):
            return int(i)
    return None


def locate(haystack: np.ndarray, stream: np.ndarray, start: int = 0) -> Optional[int]:
    """The index in ``haystack`` (from ``start``) where ``stream``'s sample 0 is, or would be: the
    first few ms of a stream may be lost after a pause, so later pieces of it are tried too."""
    for k in (0, 160, 800, 3200):
        if k + 64 <= stream.size:
            at = exact_offset(haystack, stream[k:k + 64], start)
            if at is not None:
                return max(start, at - k)
    return None


class Played(NamedTuple):
    """How a known stream of samples came out of the speaker (see :func:`played`)."""

    start: int  # tap index where the stream's sample 0 is (or would be)
    position: int  # samples of the stream played in order, from its start: where playback cut it
    stray: int  # non-zero samples after the cut: audio lost, repeated or played out of order
    skipped: int  # samples at the stream's start that never played


def played(tap: np.ndarray, stream: np.ndarray, needle: int = 64) -> Optional[Played]:
    """Match what a tap recorded against the ``stream`` a client was sent (no zero in it).

    Returns ``None`` when nothing of ``stream`` was played.
    """
    nonzero = np.flatnonzero(tap)
    if nonzero.size == 0:
        return None
    first = int(nonzero[0])
    k = exact_offset(stream, tap[first:first + needle])
    if k is None:
        return None
    n = min(tap.size - first, stream.size - k)
    differs = np.flatnonzero(tap[first:first + n] != stream[k:k + n])
    matched = n if differs.size == 0 else int(differs[0])
    stray = int(np.count_nonzero(tap[first + matched:]))
    return Played(first - k, k + matched, stray, k)
