"""G.711 µ-law / A-law companding: bit-exact against audioop, and its basic laws without it."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

from realtime_client.audio import _g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop as _audioop
    except ImportError:  # Python >= 3.13
        _audioop = None

audioop: Any = _audioop
needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop was removed in Python 3.13")

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))
LAWS = [
    pytest.param(_g711.ulaw_encode, _g711.ulaw_decode, "g711_ulaw", id="ulaw"),
    pytest.param(_g711.alaw_encode, _g711.alaw_decode, "g711_alaw", id="alaw"),
]


@needs_audioop
def test_ulaw_matches_audioop_on_every_input_and_code() -> None:
    """µ-law encodes all 65,536 samples and decodes all 256 codes exactly as audioop does."""
    assert _g711.ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert _g711.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


@needs_audioop
def test_alaw_matches_audioop_on_every_input_and_code() -> None:
    """A-law encodes all 65,536 samples and decodes all 256 codes exactly as audioop does."""
    assert _g711.alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert _g711.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_known_codes() -> None:
    """Silence and full scale map to the codes the standard gives them."""
    silence = b"\x00\x00"
    assert _g711.ulaw_encode(silence) == b"\xff" and _g711.alaw_encode(silence) == b"\xd5"
    full = np.array([32767, -32768], dtype="<i2").tobytes()
    assert _g711.ulaw_encode(full) == b"\x80\x00"
    assert _g711.alaw_encode(full) == b"\xaa\x2a"
    assert np.frombuffer(_g711.ulaw_decode(b"\x80\x00"), "<i2").tolist() == [32124, -32124]
    assert np.frombuffer(_g711.alaw_decode(b"\xaa\x2a"), "<i2").tolist() == [32256, -32256]


@pytest.mark.parametrize(("enc", "dec", "encoding"), LAWS)
def test_decoded_codes_encode_back_to_themselves(
    enc: Callable[[bytes], bytes], dec: Callable[[bytes], bytes], encoding: str
) -> None:
    """Every code's decoded value encodes to a code with the same value (a fixed point)."""
    values = dec(ALL_CODES)
    assert len(values) == 512
    assert dec(enc(values)) == values


@pytest.mark.parametrize(("enc", "dec", "encoding"), LAWS)
def test_companding_error_stays_within_the_segment_step(
    enc: Callable[[bytes], bytes], dec: Callable[[bytes], bytes], encoding: str
) -> None:
    """Encoding then decoding every sample is monotonic and off by at most 4 % (or 20 near zero)."""
    x = np.frombuffer(ALL_PCM, "<i2").astype(np.int32)
    y = np.frombuffer(dec(enc(ALL_PCM)), "<i2").astype(np.int32)
    assert np.all(np.diff(y) >= 0)
    assert np.all(np.abs(y - x) <= np.maximum(20, np.abs(x) * 0.04))


@pytest.mark.parametrize(("enc", "dec", "encoding"), LAWS)
def test_dispatch_by_encoding_name(
    enc: Callable[[bytes], bytes], dec: Callable[[bytes], bytes], encoding: str
) -> None:
    """encode/decode pick the law by AudioFormat encoding name and pass pcm16 through."""
    pcm = np.array([0, 1000, -1000, 20000], dtype="<i2").tobytes()
    assert _g711.encode(pcm, encoding) == enc(pcm)
    assert _g711.decode(enc(pcm), encoding) == dec(enc(pcm))
    assert _g711.encode(pcm, "pcm16") == pcm and _g711.decode(pcm, "pcm16") == pcm


def test_bad_input_is_refused() -> None:
    """Odd-length PCM16 and unknown encodings raise ValueError naming the problem."""
    with pytest.raises(ValueError, match="even number"):
        _g711.ulaw_encode(b"\x00\x00\x00")
    with pytest.raises(ValueError, match="unknown audio encoding"):
        _g711.encode(b"", "opus")
    with pytest.raises(ValueError, match="unknown audio encoding"):
        _g711.decode(b"", "opus")
