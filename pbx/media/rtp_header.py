"""A glance at RTP and RTCP headers, enough for the relay to sort and count packets.

`peek` reads the fixed RTP header (RFC 3550 5.1) without parsing CSRCs,
extensions or padding; `is_rtcp` tells RTCP from RTP on a port that carries
both (RFC 5761 4). The relay forwards the packet bytes unchanged either way.

Pure; it does not build or validate whole packets.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

RTP_HEADER_SIZE = 12  # RFC 3550 5.1: the fixed header
RTCP_HEADER_SIZE = 8  # RFC 3550 6.4.2: the smallest compound packet is an empty receiver report
RTP_VERSION = 2

_FIXED_HEADER = struct.Struct("!BBHII")


class RtpHeader(NamedTuple):
    version: int
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool


def peek(data: bytes) -> RtpHeader | None:
    """The fixed header of an RTP packet, or None when ``data`` is too short or not version 2."""
    if len(data) < RTP_HEADER_SIZE or data[0] >> 6 != RTP_VERSION:
        return None
    _, second, sequence, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
    return RtpHeader(RTP_VERSION, second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80))


def is_rtcp(data: bytes) -> bool:
    """Whether a packet on a muxed port is RTCP.

    RFC 5761 4: the second byte of RTCP is the packet type (SR 200, RR 201, ...), which an RTP
    header would read as marker plus payload type; values 192-223 are kept free of RTP payload
    types so the two can share a port.
    """
    return len(data) >= 2 and 192 <= data[1] <= 223


def is_valid_rtcp(data: bytes) -> bool:
    """At least a common RTCP header plus sender SSRC (RFC 3550 6.4), version 2."""
    return len(data) >= RTCP_HEADER_SIZE and data[0] >> 6 == RTP_VERSION
