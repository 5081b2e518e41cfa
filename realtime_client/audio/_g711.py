"""G.711 µ-law and A-law companding (ITU-T G.711) between PCM16 and one byte a sample, in numpy.

The conversions are bit-exact with the classic Sun Microsystems reference implementation
that CPython's ``audioop`` (``lin2ulaw``/``ulaw2lin``/``lin2alaw``/``alaw2lin``) uses:

* µ-law encodes the 14 most significant bits (``x >> 2``) as sign and magnitude, adds the
  bias of 33, finds the segment (8 of them) and keeps four mantissa bits, then inverts all
  bits; decoding returns the segment's mid-point, ``±((mantissa << 3) + 0x84 << seg) - 0x84``.
* A-law encodes the 13 most significant bits (``x >> 3``, negatives as one's complement),
  with seven segments after a linear one, and inverts the even bits (``^ 0x55``).

For negative µ-law inputs the ITU-T G.191 tool library takes the one's complement where
the Sun code negates, so a few inputs on quantization boundaries encode one step apart;
A-law and every decode agree with both.

Encoding goes through two 65,536-entry tables and decoding through two 256-entry ones,
all built once at import, so a chunk costs one table lookup per sample.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "alaw_decode",
    "alaw_encode",
    "decode",
    "encode",
    "ulaw_decode",
    "ulaw_encode",
]

_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_CLIP = 8159
_ULAW_BIAS = 0x84


def _segments(magnitude: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The first segment whose end is >= the magnitude (8: beyond the last one)."""
    return np.searchsorted(ends, magnitude, side="left").astype(np.int32)


def _ulaw_encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit two's complement
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segments(magnitude, _ULAW_SEG_END)
    code = (np.minimum(seg, 7) << 4) | ((magnitude >> (np.minimum(seg, 7) + 1)) & 0xF)
    code = np.where(seg >= 8, 0x7F, code) ^ mask
    return _by_unsigned_index(code.astype(np.uint8))


def _alaw_encode_table() -> np.ndarray:
    x = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit two's complement
    mask = np.where(x >= 0, 0xD5, 0x55)
    magnitude = np.where(x >= 0, x, -x - 1)
    seg = _segments(magnitude, _ALAW_SEG_END)
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = (np.minimum(seg, 7) << 4) | ((magnitude >> shift) & 0xF)
    code = np.where(seg >= 8, 0x7F, code) ^ mask
    return _by_unsigned_index(code.astype(np.uint8))


def _by_unsigned_index(table_from_min: np.ndarray) -> np.ndarray:
    """Reorder a table indexed by ``sample + 32768`` so the sample's uint16 view indexes it."""
    return np.roll(table_from_min, -32768)


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0xF) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype("<i2")


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0xF) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype("<i2")


_ULAW_ENC = _ulaw_encode_table()
_ALAW_ENC = _alaw_encode_table()
_ULAW_DEC = _ulaw_decode_table()
_ALAW_DEC = _alaw_decode_table()


def _samples(pcm: bytes) -> np.ndarray:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 must have an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype="<i2").view(np.uint16)


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian mono → G.711 µ-law, one byte a sample.

    Raises:
        ValueError: ``pcm`` has an odd number of bytes.
    """
    return bytes(_ULAW_ENC[_samples(pcm)].tobytes())


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian mono → G.711 A-law, one byte a sample.

    Raises:
        ValueError: ``pcm`` has an odd number of bytes.
    """
    return bytes(_ALAW_ENC[_samples(pcm)].tobytes())


def ulaw_decode(data: bytes) -> bytes:
    """G.711 µ-law → PCM16 little-endian mono (two bytes a sample)."""
    return bytes(_ULAW_DEC[np.frombuffer(data, dtype=np.uint8)].tobytes())


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law → PCM16 little-endian mono (two bytes a sample)."""
    return bytes(_ALAW_DEC[np.frombuffer(data, dtype=np.uint8)].tobytes())


def encode(pcm: bytes, encoding: str) -> bytes:
    """PCM16 → ``encoding`` (``pcm16``, ``g711_ulaw`` or ``g711_alaw``; PCM16 is returned as is).

    Raises:
        ValueError: an unknown encoding, or odd-length PCM16 for a G.711 encoding.
    """
    if encoding == "pcm16":
        return bytes(pcm)
    if encoding == "g711_ulaw":
        return ulaw_encode(pcm)
    if encoding == "g711_alaw":
        return alaw_encode(pcm)
    raise ValueError(f"unknown audio encoding {encoding!r}")


def decode(data: bytes, encoding: str) -> bytes:
    """``encoding`` → PCM16 (``pcm16`` is returned as is).

    Raises:
        ValueError: an unknown encoding.
    """
    if encoding == "pcm16":
        return bytes(data)
    if encoding == "g711_ulaw":
        return ulaw_decode(data)
    if encoding == "g711_alaw":
        return alaw_decode(data)
    raise ValueError(f"unknown audio encoding {encoding!r}")
