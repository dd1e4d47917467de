"""RTCP packets (RFC 3550 6): sender and receiver reports, SDES, BYE; compound packets.

`serialize_rtcp(parse_rtcp(data)) == data` for valid compound RTCP. Other
packet types (APP, feedback, XR) are kept whole as `UnknownRtcp`. Pure: the
statistics that fill reports are computed elsewhere (quality.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar

from .rtp import RTP_VERSION, RtpError, _check_padding, _padding_of

_RTCP_HEADER = struct.Struct("!BBH")  # RFC 3550 6.4.1: V P RC, PT, length in words minus one
_SENDER_INFO = struct.Struct("!IIIIII")  # SSRC, NTP msw/lsw, RTP timestamp, packet and octet counts
_REPORT_BLOCK = struct.Struct("!IIIIII")  # RFC 3550 6.4.1 report block, 24 bytes
_WORD = struct.Struct("!I")


# --- RTCP ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics about one source (RFC 3550 6.4.1)."""

    ssrc: int
    fraction_lost: int  # fixed point, lost / expected * 256 since the last report
    cumulative_lost: int  # 24-bit signed: duplicates can make it negative
    highest_sequence: int  # extended: cycles << 16 | highest sequence number received
    jitter: int  # in timestamp units (RFC 3550 6.4.1, A.8)
    lsr: int  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    dlsr: int  # delay since that SR, in 1/65536 seconds

    def __post_init__(self) -> None:
        if not 0 <= self.fraction_lost <= 0xFF:
            raise ValueError(f"fraction lost must be 0-255, got {self.fraction_lost}")
        if not -0x800000 <= self.cumulative_lost <= 0x7FFFFF:
            raise ValueError(f"cumulative lost must fit 24 bits signed, got {self.cumulative_lost}")

    @staticmethod
    def clamp_lost(lost: int) -> int:
        """A cumulative loss count clamped to the 24-bit signed field (RFC 3550 A.3 caps it the same way)."""
        return max(-0x800000, min(lost, 0x7FFFFF))

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, loss, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        lost = loss & 0xFFFFFF
        return cls(ssrc, loss >> 24, lost - 0x1000000 if lost & 0x800000 else lost, highest, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        loss = self.fraction_lost << 24 | self.cumulative_lost & 0xFFFFFF
        return _REPORT_BLOCK.pack(self.ssrc, loss, self.highest_sequence, self.jitter, self.lsr, self.dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR, packet type 200 (RFC 3550 6.4.1)."""

    ssrc: int
    ntp_msw: int
    ntp_lsw: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific extension, kept whole
    padding: bytes = field(default=b"", kw_only=True)

    packet_type: ClassVar[int] = 200

    def _count(self) -> int:
        return len(self.reports)

    def _body(self) -> bytes:
        info = _SENDER_INFO.pack(
            self.ssrc, self.ntp_msw, self.ntp_lsw, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        return info + b"".join(block.serialize() for block in self.reports) + self.extension

    @classmethod
    def _parse(cls, count: int, body: bytes, padding: bytes) -> SenderReport:
        if len(body) < _SENDER_INFO.size + count * _REPORT_BLOCK.size:
            raise RtpError(f"RTCP SR of {len(body)} bytes is too short for its {count} report blocks")
        info = _SENDER_INFO.unpack_from(body)
        end = _SENDER_INFO.size + count * _REPORT_BLOCK.size
        reports = tuple(ReportBlock.parse(body, at) for at in range(_SENDER_INFO.size, end, _REPORT_BLOCK.size))
        return cls(*info, reports, bytes(body[end:]), padding=padding)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR, packet type 201 (RFC 3550 6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = field(default=b"", kw_only=True)

    packet_type: ClassVar[int] = 201

    def _count(self) -> int:
        return len(self.reports)

    def _body(self) -> bytes:
        return _WORD.pack(self.ssrc) + b"".join(block.serialize() for block in self.reports) + self.extension

    @classmethod
    def _parse(cls, count: int, body: bytes, padding: bytes) -> ReceiverReport:
        end = 4 + count * _REPORT_BLOCK.size
        if len(body) < end:
            raise RtpError(f"RTCP RR of {len(body)} bytes is too short for its {count} report blocks")
        reports = tuple(ReportBlock.parse(body, at) for at in range(4, end, _REPORT_BLOCK.size))
        return cls(_WORD.unpack_from(body)[0], reports, bytes(body[end:]), padding=padding)


SDES_CNAME = 1  # RFC 3550 6.5.1; NAME 2, EMAIL 3, PHONE 4, LOC 5, TOOL 6, NOTE 7, PRIV 8


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One source's items: (item type, value bytes) pairs, in the order sent (RFC 3550 6.5)."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...]

    @property
    def cname(self) -> str | None:
        for kind, value in self.items:
            if kind == SDES_CNAME:
                return value.decode("utf-8", "replace")
        return None

    def serialize(self) -> bytes:
        items = b"".join(bytes([kind, len(value)]) + value for kind, value in self.items)
        # RFC 3550 6.5: one to four null octets end the list and pad to a 32-bit boundary.
        return _WORD.pack(self.ssrc) + items + bytes(4 - len(items) % 4)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES, packet type 202 (RFC 3550 6.5)."""

    chunks: tuple[SdesChunk, ...]
    padding: bytes = field(default=b"", kw_only=True)

    packet_type: ClassVar[int] = 202

    @classmethod
    def of_cname(cls, ssrc: int, cname: str) -> SourceDescription:
        return cls((SdesChunk(ssrc, ((SDES_CNAME, cname.encode()),)),))

    def _count(self) -> int:
        return len(self.chunks)

    def _body(self) -> bytes:
        return b"".join(chunk.serialize() for chunk in self.chunks)

    @classmethod
    def _parse(cls, count: int, body: bytes, padding: bytes) -> SourceDescription:
        chunks, offset = [], 0
        for _ in range(count):
            if offset + 4 > len(body):
                raise RtpError(f"RTCP SDES ends before chunk {len(chunks) + 1} of {count}")
            ssrc, items = _WORD.unpack_from(body, offset)[0], []
            offset += 4
            while True:
                if offset >= len(body):
                    raise RtpError("RTCP SDES chunk has no null item to end its list")
                kind = body[offset]
                if kind == 0:
                    end = offset + 4 - (offset % 4)
                    if end > len(body) or any(body[offset:end]):
                        raise RtpError("RTCP SDES chunk is not null-padded to a 32-bit boundary")
                    offset = end
                    break
                if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                    raise RtpError(f"RTCP SDES item of type {kind} runs past the end of the packet")
                length = body[offset + 1]
                items.append((kind, bytes(body[offset + 2 : offset + 2 + length])))
                offset += 2 + length
            chunks.append(SdesChunk(ssrc, tuple(items)))
        if offset != len(body):
            raise RtpError(f"RTCP SDES has {len(body) - offset} bytes after its {count} chunks")
        return cls(tuple(chunks), padding=padding)


@dataclass(frozen=True, slots=True)
class Goodbye:
    """BYE, packet type 203 (RFC 3550 6.6). ``reason`` is None when the packet carries none."""

    ssrcs: tuple[int, ...]
    reason: str | None = None
    padding: bytes = field(default=b"", kw_only=True)

    packet_type: ClassVar[int] = 203

    def _count(self) -> int:
        return len(self.ssrcs)

    def _body(self) -> bytes:
        body = b"".join(_WORD.pack(ssrc) for ssrc in self.ssrcs)
        if self.reason is None:
            return body
        text = self.reason.encode("utf-8", "surrogateescape")
        if len(text) > 255:
            raise ValueError(f"BYE reason is {len(text)} bytes, at most 255 fit")
        reason = bytes([len(text)]) + text
        return body + reason + bytes(-len(reason) % 4)

    @classmethod
    def _parse(cls, count: int, body: bytes, padding: bytes) -> Goodbye:
        if len(body) < 4 * count:
            raise RtpError(f"RTCP BYE of {len(body)} bytes is too short for its {count} SSRCs")
        ssrcs = struct.unpack_from(f"!{count}I", body)
        rest = body[4 * count :]
        if not rest:
            return cls(ssrcs, padding=padding)
        length = rest[0]
        # RFC 3550 6.6: the reason is padded with nulls to a 32-bit boundary.
        if len(rest) != 1 + length + (-(1 + length) % 4) or any(rest[1 + length :]):
            raise RtpError("RTCP BYE reason does not match its length and null padding")
        return cls(ssrcs, bytes(rest[1 : 1 + length]).decode("utf-8", "surrogateescape"), padding=padding)


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """Any other RTCP packet (APP 204, RTPFB 205, PSFB 206, XR 207, ...), kept whole."""

    packet_type: int  # an instance field here, a ClassVar on the other packet classes
    count: int
    body: bytes
    padding: bytes = field(default=b"", kw_only=True)

    def _count(self) -> int:
        return self.count

    def _body(self) -> bytes:
        return self.body


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye | UnknownRtcp
_RTCP_TYPES: dict[int, type[SenderReport | ReceiverReport | SourceDescription | Goodbye]] = {
    cls.packet_type: cls for cls in (SenderReport, ReceiverReport, SourceDescription, Goodbye)
}


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Decode a compound RTCP packet (RFC 3550 6.1), checking the lengths as A.2 does."""
    if len(data) < 4:
        raise RtpError(f"RTCP packet of {len(data)} bytes is shorter than its 4-byte header")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtpError(f"RTCP compound packet has {len(data) - offset} stray bytes at the end")
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, offset)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTCP version {first >> 6}, expected 2")
        end = offset + 4 * (words + 1)
        if end > len(data):
            claimed, left = 4 * (words + 1), len(data) - offset
            raise RtpError(f"RTCP packet type {packet_type} claims {claimed} bytes, only {left} left")
        packet = data[offset:end]
        body_end = len(packet)
        if first & 0x20:
            if end != len(data):  # RFC 3550 6.4.1: only the last packet of a compound may be padded
                raise RtpError(f"RTCP packet type {packet_type} is padded but is not the last in the compound")
            body_end -= _padding_of(packet, 4, "RTCP")
        body, padding, count = bytes(packet[4:body_end]), bytes(packet[body_end:]), first & 0x1F
        known = _RTCP_TYPES.get(packet_type)
        if known is None:
            packets.append(UnknownRtcp(packet_type, count, body, padding=padding))
        else:
            packets.append(known._parse(count, body, padding))
        offset = end
    return packets


def serialize_rtcp(packets: list[RtcpPacket] | tuple[RtcpPacket, ...]) -> bytes:
    """Encode RTCP packets back to back as one compound packet."""
    out = []
    for packet in packets:
        _check_padding(packet.padding)
        count = packet._count()
        if count > 31:  # RFC 3550 6.4.1: the count field has 5 bits
            raise ValueError(f"RTCP packet type {packet.packet_type} has {count} entries, at most 31 fit")
        body = packet._body() + packet.padding
        if len(body) % 4:
            raise ValueError(f"RTCP packet type {packet.packet_type} is not a whole number of 32-bit words")
        first = RTP_VERSION << 6 | (0x20 if packet.padding else 0) | count
        out.append(_RTCP_HEADER.pack(first, packet.packet_type, len(body) // 4) + body)
    return b"".join(out)
