"""RTP packets (RFC 3550 5): parse from bytes, serialize to bytes, exactly.

`RtpPacket.parse(data).serialize() == data` for every valid packet. Header
extensions (RFC 3550 5.3.1) and padding are kept as bytes, not interpreted.
RTCP lives in rtcp.py; the NTP timestamp helpers of RFC 3550 4 are here.
A packet a peer got wrong raises `RtpError` with the reason; values we pass
out of range raise `ValueError`.

Pure: no clock, no sockets, no statistics or jitter computation here; the
NTP helpers take the time as an argument.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import ClassVar

RTP_VERSION = 2
_RTP_FIXED = struct.Struct("!BBHII")  # RFC 3550 5.1

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (RFC 5905 6)


class RtpError(ValueError):
    """A malformed RTP or RTCP packet from a peer; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _padding_of(data: bytes, start: int, what: str) -> int:
    """The padding length given by the last octet (RFC 3550 5.1 P bit), checked against the room."""
    count = data[-1]
    if count == 0 or count > len(data) - start:
        raise RtpError(f"{what} padding count {count} does not fit the {len(data) - start} bytes after the header")
    return count


def _check_padding(padding: bytes) -> None:
    if padding and padding[-1] != len(padding):
        raise ValueError(f"padding must end with its own length {len(padding)}, ends with {padding[-1]}")


def padding_of_length(length: int) -> bytes:
    """Padding of ``length`` octets: zeros, then the count octet (RFC 3550 5.1)."""
    if not 0 <= length <= 255:
        raise ValueError(f"padding length must be 0-255, got {length}")
    return bytes(length - 1) + bytes([length]) if length else b""


# --- RTP -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """A header extension (RFC 3550 5.3.1): 16 profile-defined bits and whole 32-bit words of data."""

    profile: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF or len(self.data) % 4 or len(self.data) > 0xFFFF * 4:
            raise ValueError("extension needs a 16-bit profile and data of whole 32-bit words")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 5.1). ``padding`` holds the padding octets, count octet last."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: bytes = b""

    version: ClassVar[int] = RTP_VERSION

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type must be 0-127, got {self.payload_type}")
        if not 0 <= self.sequence <= 0xFFFF:
            raise ValueError(f"sequence must be 16-bit, got {self.sequence}")
        if not (0 <= self.timestamp <= 0xFFFFFFFF and 0 <= self.ssrc <= 0xFFFFFFFF):
            raise ValueError("timestamp and ssrc must be 32-bit")
        if len(self.csrcs) > 15:  # RFC 3550 5.1: the CC field has 4 bits
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrcs)}")
        _check_padding(self.padding)

    @property
    def padding_length(self) -> int:
        return len(self.padding)

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Decode one RTP packet, checking what RFC 3550 A.1 checks that the bytes alone can show."""
        if len(data) < _RTP_FIXED.size:
            raise RtpError(f"RTP packet of {len(data)} bytes is shorter than the 12-byte fixed header")
        first, second, sequence, timestamp, ssrc = _RTP_FIXED.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected 2")
        offset = _RTP_FIXED.size
        count = first & 0x0F
        if len(data) < offset + 4 * count:
            raise RtpError(f"RTP packet of {len(data)} bytes is too short for its {count} CSRCs")
        csrcs = struct.unpack_from(f"!{count}I", data, offset)
        offset += 4 * count
        extension = None
        if first & 0x10:
            if len(data) < offset + 4:
                raise RtpError("RTP X bit is set but the packet ends before the extension header")
            profile, words = struct.unpack_from("!HH", data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise RtpError(f"RTP header extension of {words} words runs past the end of the packet")
            extension = RtpExtension(profile, bytes(data[offset + 4 : end]))
            offset = end
        end = len(data)
        if first & 0x20:
            end -= _padding_of(data, offset, "RTP")
        return cls(
            second & 0x7F, sequence, timestamp, ssrc, bytes(data[offset:end]), bool(second & 0x80),
            csrcs, extension, bytes(data[end:]),
        )  # fmt: skip

    def serialize(self) -> bytes:
        first = RTP_VERSION << 6 | (0x20 if self.padding else 0) | (0x10 if self.extension else 0) | len(self.csrcs)
        parts = [_RTP_FIXED.pack(first, self.marker << 7 | self.payload_type, self.sequence, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            parts.append(struct.pack("!HH", self.extension.profile, len(self.extension.data) // 4))
            parts.append(self.extension.data)
        parts += (self.payload, self.padding)
        return b"".join(parts)


# --- NTP timestamps (RFC 3550 4) --------------------------------------------------------


def ntp_timestamp(unix_seconds: float) -> tuple[int, int]:
    """The 64-bit NTP timestamp of a Unix time: whole seconds since 1900 and a 32-bit fraction.

    The seconds wrap modulo 2**32 (NTP era 1 starts in 2036, RFC 5905 6).
    """
    whole = math.floor(unix_seconds)
    fraction = min(int((unix_seconds - whole) * 0x1_0000_0000), 0xFFFFFFFF)
    return (whole + NTP_UNIX_OFFSET) & 0xFFFFFFFF, fraction


def ntp_to_unix(msw: int, lsw: int) -> float:
    """The Unix time of an NTP timestamp in era 0 (before 2036)."""
    return msw - NTP_UNIX_OFFSET + lsw / 0x1_0000_0000


def middle_32(msw: int, lsw: int) -> int:
    """The middle 32 bits of an NTP timestamp, as reports carry it in LSR (RFC 3550 6.4.1)."""
    return (msw & 0xFFFF) << 16 | lsw >> 16
