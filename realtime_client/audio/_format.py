"""Wire audio formats: how the provider wants audio encoded, and the byte math that follows."""

from __future__ import annotations

import attrs

__all__ = ["ENCODINGS", "PCM16_24K", "AudioFormat"]

ENCODINGS = ("pcm16", "g711_ulaw", "g711_alaw")


def _check_encoding(instance: object, attribute: object, value: str) -> None:
    if value not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {value!r}")


def _check_rate(instance: object, attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"rate must be a positive int, got {value!r}")


@attrs.frozen
class AudioFormat:
    """One direction's wire audio: ``pcm16`` (16-bit little-endian mono) or G.711 µ-law/A-law
    (one byte a sample), at ``rate`` Hz. The audio engine encodes and decodes at this boundary;
    everything inside the engine is PCM16."""

    encoding: str = attrs.field(default="pcm16", validator=_check_encoding)
    rate: int = attrs.field(default=24000, validator=_check_rate)

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm16" else 1

    def duration_ms(self, nbytes: int) -> float:
        """Milliseconds of audio in ``nbytes`` of this format."""
        return nbytes / (self.rate * self.bytes_per_sample / 1000.0)


PCM16_24K = AudioFormat("pcm16", 24000)
