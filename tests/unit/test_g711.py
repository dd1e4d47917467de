"""G.711 against an independent bit-level reference and the well-known table values.

The reference below is the classic segment-search form of ITU-T G.711 (as in
the Sun/CCITT reference code `g711.c`), written differently from the
table builders in `pbx.media.g711` on purpose.
"""

import struct

import pytest

from pbx.media.g711 import (
    CODECS,
    Codec,
    alaw_decode,
    alaw_encode,
    frames,
    ulaw_decode,
    ulaw_encode,
)

# --- reference (G.711, segment search) --------------------------------------------------

ULAW_SEGMENT_ENDS = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF]
ALAW_SEGMENT_ENDS = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF]
ULAW_BIAS = 0x84
ULAW_CLIP = 8159


def segment_of(value, ends):
    for segment, end in enumerate(ends):
        if value <= end:
            return segment
    return len(ends)


def ref_linear_to_ulaw(sample):
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, ULAW_CLIP) + (ULAW_BIAS >> 2)
    segment = segment_of(value, ULAW_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def ref_ulaw_to_linear(code):
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + ULAW_BIAS
    t <<= (code & 0x70) >> 4
    return ULAW_BIAS - t if code & 0x80 else t - ULAW_BIAS


def ref_linear_to_alaw(sample):
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    segment = segment_of(value, ALAW_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    code = segment << 4
    code |= (value >> 1 if segment < 2 else value >> segment) & 0x0F
    return code ^ mask


def ref_alaw_to_linear(code):
    code ^= 0x55
    t = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        t += 8
    elif segment == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (segment - 1)
    return t if code & 0x80 else -t


def pcm(*samples):
    return struct.pack(f"<{len(samples)}h", *samples)


def unpcm(data):
    return list(struct.unpack(f"<{len(data) // 2}h", data))


ALL_CODES = bytes(range(256))
SWEEP = list(range(-32768, 32768, 7)) + [-32768, -32767, -8, -1, 0, 1, 7, 8, 32766, 32767]

# --- well-known values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8), (0xEF, 132)],
)
def test_ulaw_known_values(code, value):
    assert unpcm(ulaw_decode(bytes([code]))) == [value]
    assert ref_ulaw_to_linear(code) == value


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0x2A, -32256), (0xAA, 32256), (0xD4, 24), (0xC5, 264)],
)
def test_alaw_known_values(code, value):
    assert unpcm(alaw_decode(bytes([code]))) == [value]
    assert ref_alaw_to_linear(code) == value


def test_silence_encodes_to_the_usual_idle_codes():
    assert ulaw_encode(pcm(0, 0)) == b"\xff\xff"
    assert alaw_encode(pcm(0, 0)) == b"\xd5\xd5"


# --- against the reference --------------------------------------------------------------


def test_ulaw_decode_all_codes_match_reference():
    assert unpcm(ulaw_decode(ALL_CODES)) == [ref_ulaw_to_linear(code) for code in ALL_CODES]


def test_alaw_decode_all_codes_match_reference():
    assert unpcm(alaw_decode(ALL_CODES)) == [ref_alaw_to_linear(code) for code in ALL_CODES]


def test_ulaw_encode_sweep_matches_reference():
    assert list(ulaw_encode(pcm(*SWEEP))) == [ref_linear_to_ulaw(s) for s in SWEEP]


def test_alaw_encode_sweep_matches_reference():
    assert list(alaw_encode(pcm(*SWEEP))) == [ref_linear_to_alaw(s) for s in SWEEP]


def test_encode_every_16_bit_sample_matches_reference():
    every = list(range(-32768, 32768))
    data = pcm(*every)
    assert list(ulaw_encode(data)) == [ref_linear_to_ulaw(s) for s in every]
    assert list(alaw_encode(data)) == [ref_linear_to_alaw(s) for s in every]


# --- round trips ------------------------------------------------------------------------


def ulaw_step(code):
    """The mu-law quantization step of ``code``'s segment, in 16-bit units (2**(segment+1) on 14 bits)."""
    return 8 << ((~code >> 4) & 0x07)


def alaw_step(code):
    """The A-law quantization step of ``code``'s segment, in 16-bit units (segments 0 and 1 share one)."""
    return 8 << max(((code ^ 0x55) >> 4) & 0x07, 1)


def test_ulaw_round_trip_within_quantization_error():
    codes = ulaw_encode(pcm(*SWEEP))
    restored = unpcm(ulaw_decode(codes))
    for original, code, back in zip(SWEEP, codes, restored, strict=True):
        clipped = max(min(original, 32124), -32124)
        assert abs(back - clipped) <= ulaw_step(code) // 2 + 4, (original, back)


def test_alaw_round_trip_within_quantization_error():
    codes = alaw_encode(pcm(*SWEEP))
    restored = unpcm(alaw_decode(codes))
    for original, code, back in zip(SWEEP, codes, restored, strict=True):
        clipped = max(min(original, 32256), -32256)
        assert abs(back - clipped) <= alaw_step(code) // 2 + 8, (original, back)


def test_ulaw_codes_survive_decode_then_encode():
    back = ulaw_encode(ulaw_decode(ALL_CODES))
    # G.711 mu-law has two zeros, +0 (0xFF) and -0 (0x7F); both decode to 0, which encodes as +0.
    expected = bytes(0xFF if code == 0x7F else code for code in ALL_CODES)
    assert back == expected


def test_alaw_codes_survive_decode_then_encode():
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


# --- edges ------------------------------------------------------------------------------


def test_empty_input():
    assert ulaw_encode(b"") == b""
    assert alaw_encode(b"") == b""
    assert ulaw_decode(b"") == b""
    assert alaw_decode(b"") == b""


@pytest.mark.parametrize("encode", [ulaw_encode, alaw_encode])
def test_odd_length_pcm_is_refused(encode):
    with pytest.raises(ValueError, match="even number of bytes.*got 3"):
        encode(b"\x00\x01\x02")


def test_accepts_bytearray_and_memoryview():
    data = pcm(100, -100, 3000)
    assert ulaw_encode(bytearray(data)) == ulaw_encode(data) == ulaw_encode(memoryview(data))
    assert alaw_decode(bytearray(b"\xd5\x55")) == pcm(8, -8)


def test_frames_split_into_20ms_and_pad_the_last():
    audio = bytes(range(256)) * 3  # 384 samples
    chunks = frames(audio)
    assert [len(chunk) for chunk in chunks] == [320, 320, 320]
    assert b"".join(chunks)[: len(audio)] == audio
    assert chunks[-1][len(audio) - 640 :] == bytes(320 * 3 - len(audio))


def test_frames_unpadded_and_custom_size():
    assert frames(pcm(1, 2, 3), samples=2, pad=False) == [pcm(1, 2), pcm(3)]
    assert frames(b"") == []
    with pytest.raises(ValueError, match="even number of bytes"):
        frames(b"\x00")
    with pytest.raises(ValueError, match="positive"):
        frames(b"", samples=0)


def test_codec_registry():
    assert set(CODECS) == {"PCMU", "PCMA"}
    pcmu, pcma = CODECS["PCMU"], CODECS["PCMA"]
    assert isinstance(pcmu, Codec) and isinstance(pcma, Codec)
    assert (pcmu.name, pcmu.payload_type, pcmu.clock_rate) == ("PCMU", 0, 8000)
    assert (pcma.name, pcma.payload_type, pcma.clock_rate) == ("PCMA", 8, 8000)
    audio = pcm(0, 1000, -1000)
    assert pcmu.encode(audio) == ulaw_encode(audio)
    assert pcma.decode(b"\xd5") == pcm(8)
    with pytest.raises(TypeError):
        CODECS["G722"] = pcmu  # type: ignore[index]
