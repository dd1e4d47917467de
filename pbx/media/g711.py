"""ITU-T G.711 mu-law and A-law codecs, both directions, in pure Python without `audioop`.

Linear audio is 16-bit signed PCM, little-endian ("PCM16"), the form WAV files
and the rest of the media code use. The companding follows ITU-T G.711
(11/88) tables 1a/1b (mu-law) and 2a/2b (A-law); the values match the classic
Sun reference code and `audioop` (Python <= 3.12) bit for bit.

Speed comes from lookup tables built once at import:

- decoding is two `bytes.translate` calls (low and high byte of each output
  sample) interleaved by slice assignment, so it runs at C speed;
- encoding maps every unsigned 16-bit sample through a 65536-entry table with
  `map(list.__getitem__, array('H'))`, the fastest stdlib-only form we measured
  (see benchmarks/bench_g711.py); a table indexed by the whole sample also
  avoids a per-sample shift.

`frames` cuts PCM16 into fixed-size frames (20 ms = 160 samples at 8 kHz).

Pure: no I/O, no resampling, no packet loss concealment, no RTP framing.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Mapping
from types import MappingProxyType

SAMPLE_RATE = 8000  # G.711 is defined at 8 kHz
FRAME_SAMPLES = 160  # 20 ms, the default packetization time (RFC 3551 4.5)

# --- reference companding, one sample at a time (used only to build the tables) ---------

_ULAW_BIAS = 0x21  # G.711 mu-law bias of 33, on 14-bit magnitudes (0x84 on 16-bit ones)
_ULAW_MAX = 0x1FFF  # biased 14-bit magnitude that saturates at segment 7, step 15


def _ulaw_from_linear(sample: int) -> int:
    """The mu-law code for one 16-bit signed sample (G.711 table 2a, via its 14-bit form)."""
    value = sample >> 2  # G.711 mu-law works on 14-bit linear values
    sign = 0x80 if value >= 0 else 0x00
    magnitude = min((value if value >= 0 else -value) + _ULAW_BIAS, _ULAW_MAX)
    segment = magnitude.bit_length() - 6  # biased magnitudes start at 33, bit length 6
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    # G.711: mu-law codes are transmitted with all bits inverted.
    return (sign | (segment << 4) | mantissa) ^ 0x7F


def _ulaw_to_linear(code: int) -> int:
    """The 16-bit signed value of one mu-law code (G.711 table 2a decoder output, scaled by 4)."""
    code = ~code & 0xFF
    segment = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + (_ULAW_BIAS << 2)) << segment) - (_ULAW_BIAS << 2)
    return -magnitude if code & 0x80 else magnitude


def _alaw_from_linear(sample: int) -> int:
    """The A-law code for one 16-bit signed sample (G.711 table 1a, via its 13-bit form)."""
    value = sample >> 3  # G.711 A-law works on 13-bit linear values
    if value >= 0:
        sign, magnitude = 0x80, value
    else:
        sign, magnitude = 0x00, -value - 1  # A-law is symmetric: -1 and 0 share a magnitude
    segment = max(magnitude.bit_length() - 5, 0)
    mantissa = (magnitude >> max(segment, 1)) & 0x0F
    # G.711: A-law codes are transmitted with the even bits inverted (XOR 0x55).
    return (sign | (segment << 4) | mantissa) ^ 0x55


def _alaw_to_linear(code: int) -> int:
    """The 16-bit signed value of one A-law code (decoder output at the middle of its step)."""
    code ^= 0x55
    segment = (code >> 4) & 0x07
    magnitude = ((code & 0x0F) << 4) + 8  # middle of the step, in 16-bit units
    if segment:
        magnitude = (magnitude + 0x100) << (segment - 1)
    return magnitude if code & 0x80 else -magnitude


# --- tables ----------------------------------------------------------------------------


def _decode_tables(to_linear: Callable[[int], int]) -> tuple[bytes, bytes]:
    """Low-byte and high-byte `bytes.translate` tables giving little-endian PCM16 per code."""
    values = [to_linear(code) & 0xFFFF for code in range(256)]
    return bytes(v & 0xFF for v in values), bytes(v >> 8 for v in values)


def _encode_table(from_linear: Callable[[int], int], shift: int) -> list[int]:
    """Codes indexed by the native unsigned 16-bit view of a little-endian PCM16 sample.

    The codec only sees ``sample >> shift`` (14 bits for mu-law, 13 for A-law), so each
    distinct value is computed once and the full table is filled from those.
    """
    run = 1 << shift  # consecutive raw samples sharing one `sample >> shift`
    positive = [from_linear(value << shift) for value in range(0x8000 >> shift)]
    negative = [from_linear(value << shift) for value in range(-(0x8000 >> shift), 0)]
    # raw 0x0000-0x7FFF are the samples 0..32767, raw 0x8000-0xFFFF are -32768..-1: runs of `run`
    table = list(b"".join(bytes((code,)) * run for code in (*positive, *negative)))
    if sys.byteorder == "big":  # array('H') reads samples in native order
        table = [table[((index & 0xFF) << 8) | (index >> 8)] for index in range(0x10000)]
    return table


_ULAW_LOW, _ULAW_HIGH = _decode_tables(_ulaw_to_linear)
_ALAW_LOW, _ALAW_HIGH = _decode_tables(_alaw_to_linear)
_ULAW_ENCODE = _encode_table(_ulaw_from_linear, 2)
_ALAW_ENCODE = _encode_table(_alaw_from_linear, 3)


def _samples(pcm: bytes) -> array[int]:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes (2 per sample), got {len(pcm)}")
    samples = array("H")
    samples.frombytes(pcm)
    return samples


def _decode(data: bytes, low: bytes, high: bytes) -> bytes:
    pcm = bytearray(2 * len(data))
    pcm[0::2] = data.translate(low)
    pcm[1::2] = data.translate(high)
    return bytes(pcm)


# --- public API ------------------------------------------------------------------------


def ulaw_decode(data: bytes) -> bytes:
    """Mu-law codes to PCM16 little-endian, two bytes per code."""
    return _decode(data, _ULAW_LOW, _ULAW_HIGH)


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian to mu-law codes; raises ValueError for an odd number of bytes."""
    return bytes(map(_ULAW_ENCODE.__getitem__, _samples(pcm)))


def alaw_decode(data: bytes) -> bytes:
    """A-law codes to PCM16 little-endian, two bytes per code."""
    return _decode(data, _ALAW_LOW, _ALAW_HIGH)


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian to A-law codes; raises ValueError for an odd number of bytes."""
    return bytes(map(_ALAW_ENCODE.__getitem__, _samples(pcm)))


def frames(pcm: bytes, samples: int = FRAME_SAMPLES, *, pad: bool = True) -> list[bytes]:
    """PCM16 cut into frames of ``samples`` samples (default 20 ms at 8 kHz).

    A short last frame is padded with silence when ``pad`` is true (so every
    RTP packet carries the same duration), else returned short.
    """
    if samples <= 0:
        raise ValueError(f"frame size must be a positive number of samples, got {samples}")
    if len(pcm) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes (2 per sample), got {len(pcm)}")
    size = 2 * samples
    chunks = [pcm[start : start + size] for start in range(0, len(pcm), size)]
    if pad and chunks and len(chunks[-1]) < size:
        chunks[-1] = chunks[-1].ljust(size, b"\x00")
    return chunks


class Codec:
    """A G.711 variant as the media code sees it: RTP payload type, clock rate, encode, decode.

    Subclasses are the registry entries in `CODECS`; names are the SDP encoding
    names (RFC 3551 6, table 4) so config and SDP can name them directly.
    """

    name: str = ""
    payload_type: int = -1
    clock_rate: int = SAMPLE_RATE
    channels: int = 1

    def encode(self, pcm: bytes) -> bytes:
        raise NotImplementedError

    def decode(self, payload: bytes) -> bytes:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, payload_type={self.payload_type})"


class Pcmu(Codec):
    """G.711 mu-law, static payload type 0 (RFC 3551 4.5.14)."""

    name = "PCMU"
    payload_type = 0

    def encode(self, pcm: bytes) -> bytes:
        return ulaw_encode(pcm)

    def decode(self, payload: bytes) -> bytes:
        return ulaw_decode(payload)


class Pcma(Codec):
    """G.711 A-law, static payload type 8 (RFC 3551 4.5.14)."""

    name = "PCMA"
    payload_type = 8

    def encode(self, pcm: bytes) -> bytes:
        return alaw_encode(pcm)

    def decode(self, payload: bytes) -> bytes:
        return alaw_decode(payload)


# Read-only: a composition root that wants more codecs builds its own mapping from these.
CODECS: Mapping[str, Codec] = MappingProxyType({"PCMU": Pcmu(), "PCMA": Pcma()})
