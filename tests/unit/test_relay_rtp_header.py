"""Tests for pbx.media.rtp_header: the fixed RTP header (RFC 3550 5.1) and RTCP on a muxed port (RFC 5761 4)."""

import struct

import pytest

from pbx.media.rtp_header import RtpHeader, is_rtcp, is_valid_rtcp, peek


def rtp(payload_type=0, sequence=1, timestamp=160, ssrc=0x11223344, marker=False, payload=b"\xff" * 160):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type, sequence, timestamp, ssrc) + payload


RECEIVER_REPORT = bytes.fromhex("80c90001") + struct.pack("!I", 0x11223344)


def test_peek_reads_the_fixed_header():
    header = peek(rtp(8, 65535, 0xFFFFFFFF, 0xDEADBEEF, marker=True))
    assert header == RtpHeader(2, 8, 65535, 0xFFFFFFFF, 0xDEADBEEF, True)


def test_peek_of_a_header_alone():
    assert peek(rtp(101, 7, 1234, 1, payload=b"")) == RtpHeader(2, 101, 7, 1234, 1, False)


def test_peek_ignores_csrc_extension_and_padding_bits():
    packet = bytearray(rtp(0, 1, 2, 3, payload=b"\x00" * 8))
    packet[0] = 0x80 | 0x20 | 0x10 | 0x02  # padding, extension, two CSRCs
    assert peek(bytes(packet)) == RtpHeader(2, 0, 1, 2, 3, False)


@pytest.mark.parametrize("data", [b"", b"\x80", rtp(payload=b"")[:11]])
def test_peek_refuses_short_packets(data):
    assert peek(data) is None


@pytest.mark.parametrize("first_byte", [0x00, 0x40, 0xC0])
def test_peek_refuses_other_versions(first_byte):
    assert peek(bytes([first_byte]) + rtp()[1:]) is None


@pytest.mark.parametrize("packet_type", [192, 200, 201, 202, 203, 204, 205, 206, 207, 223])
def test_rtcp_packet_types_are_rtcp(packet_type):
    assert is_rtcp(bytes([0x80, packet_type]) + b"\x00" * 6)


@pytest.mark.parametrize(
    ("payload_type", "marker"), [(0, False), (0, True), (8, True), (96, False), (101, True), (127, True)]
)
def test_rtp_payload_types_are_not_rtcp(payload_type, marker):
    # RFC 5761 4: only payload types 64-95 with the marker bit collide, and they are not used.
    assert not is_rtcp(rtp(payload_type, marker=marker))


def test_one_byte_is_not_rtcp():
    assert not is_rtcp(b"\x80")


def test_valid_rtcp_needs_eight_bytes_and_version_two():
    assert is_valid_rtcp(RECEIVER_REPORT)
    assert not is_valid_rtcp(RECEIVER_REPORT[:7])
    assert not is_valid_rtcp(b"\x40" + RECEIVER_REPORT[1:])
