"""The OpenAI peer's input audio buffer and the energy VAD that listens to it.

:class:`InputAudio` keeps the appended bytes, the running input clock (milliseconds since the
connection opened) and, in server-VAD mode, an :class:`~.._audio.EnergyVAD`. It reports speech
starts and stops; the session decides what they mean (events, commits, barge-in).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ...adapters._openai._wire import G711_RATE, PCM_RATE
from .._audio import EnergyVAD, alaw_decode, ulaw_decode
from ._response import bytes_per_ms

__all__ = ["MAX_IDLE_BUFFER_MS", "SEMANTIC_SILENCE_MS", "InputAudio"]

#: silence windows used for semantic_vad, by eagerness (U: the real model decides semantically)
SEMANTIC_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}
#: audio kept in the input buffer before speech starts, in server-VAD mode
MAX_IDLE_BUFFER_MS = 10_000.0


class InputAudio:
    """The input buffer of one connection, with its clock and optional VAD.

    Threads: not thread-safe; used under the connection lock.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.start_ms = 0.0     # input time of buffer[0]
        self.total_ms = 0.0     # input time of the end of the buffer
        self._fmt: Dict[str, Any] = {"type": "audio/pcm", "rate": PCM_RATE}
        self._carry = b""
        self._vad: Optional[EnergyVAD] = None
        self._vad_key: Any = None
        self._vad_base_ms = 0.0

    @property
    def bpm(self) -> int:
        """Bytes per millisecond of the input format."""
        return bytes_per_ms(self._fmt)

    @property
    def buffered_ms(self) -> float:
        """Milliseconds of audio in the buffer."""
        return len(self.buffer) / self.bpm

    def configure(self, fmt: Dict[str, Any], turn_detection: Optional[Dict[str, Any]]) -> bool:
        """Follow the session's input format and turn detection; return True if the VAD changed."""
        self._fmt = fmt
        kind = fmt["type"]
        if turn_detection is None:
            key = None
        elif turn_detection["type"] == "semantic_vad":
            key = (kind, 0.5, SEMANTIC_SILENCE_MS.get(turn_detection.get("eagerness") or "auto", 700))
        else:
            key = (kind, turn_detection.get("threshold", 0.5), turn_detection.get("silence_duration_ms", 500))
        if key == self._vad_key:
            return False
        self._vad_key = key
        rate = PCM_RATE if kind == "audio/pcm" else G711_RATE
        self._vad = None if key is None else EnergyVAD(rate, key[1], key[2])
        self._vad_base_ms = self.total_ms
        return True

    def append(self, data: bytes) -> List[Tuple[str, float]]:
        """Add decoded wire bytes; return the VAD's ``("start"|"stop", input ms)`` events."""
        self.buffer.extend(data)
        self.total_ms += len(data) / self.bpm
        if self._vad is None:
            return []
        return [(kind, self._vad_base_ms + ms) for kind, ms in self._vad.feed(self._decode(data))]

    def trim_idle(self) -> None:
        """Forget old audio while nobody speaks, so the buffer stays bounded."""
        if self._vad is not None and self.total_ms - self.start_ms > MAX_IDLE_BUFFER_MS:
            self.drop_before(self.total_ms - MAX_IDLE_BUFFER_MS / 2)

    def drop_before(self, ms: float) -> None:
        """Forget the audio before input time ``ms``."""
        cut = self._bytes_for(ms - self.start_ms)
        if cut > 0:
            del self.buffer[:cut]
            self.start_ms += cut / self.bpm

    def take_until(self, ms: float) -> bytes:
        """Remove and return the audio up to input time ``ms``."""
        end = self._bytes_for(ms - self.start_ms)
        audio = bytes(self.buffer[:end])
        del self.buffer[:end]
        self.start_ms += end / self.bpm
        return audio

    def take_all(self) -> bytes:
        """Remove and return the whole buffer (a commit); the VAD starts over."""
        audio = bytes(self.buffer)
        self.clear()
        return audio

    def clear(self) -> None:
        """Empty the buffer; the VAD starts over."""
        self.buffer.clear()
        self.start_ms = self.total_ms
        if self._vad is not None:
            self._vad.reset()

    def _bytes_for(self, ms: float) -> int:
        count = max(0, int(ms * self.bpm))
        return count - count % 2 if self.bpm == PCM_RATE * 2 // 1000 else count

    def _decode(self, data: bytes) -> np.ndarray:
        kind = self._fmt["type"]
        if kind == "audio/pcmu":
            return ulaw_decode(data)
        if kind == "audio/pcma":
            return alaw_decode(data)
        data = self._carry + data
        even = len(data) - len(data) % 2
        self._carry = data[even:]
        return np.frombuffer(data[:even], dtype="<i2")
