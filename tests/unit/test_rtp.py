"""RTP and RTCP packets (RFC 3550): exact round trips on real-looking bytes, and errors with reasons."""

import pytest

from pbx.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    SdesChunk,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    parse_rtcp,
    serialize_rtcp,
)
from pbx.media.rtp import RtpError, RtpExtension, RtpPacket, middle_32, ntp_timestamp, ntp_to_unix, padding_of_length


def hexbytes(text):
    return bytes.fromhex("".join(text.split()))


# 20 ms of PCMU silence opening a talkspurt: marker set, PT 0.
PCMU_MARKER = hexbytes("80 80 1c2d 0000a000 deadbeef") + b"\xff" * 160
# A mixer's packet: P, X and CC=2; RFC 8285 one-byte extension (ID 1, one byte); PCMA; 4 octets of padding.
MIXED = hexbytes(
    "b2 08 0001 00000140 11223344"
    "55667788 99aabbcc"
    "bede 0001 10ff0000"
    "d5d5d5d5"
    "00000004"
)
# RFC 4733 telephone-event, PT 101, first packet of digit 5: marker, volume 10, duration 160.
DTMF_FIVE = hexbytes("80 e5 04d2 0001e240 0a0b0c0d 05 0a 00a0")
# RTCP compound: SR with one report block, then SDES CNAME.
SR_SDES = hexbytes(
    "81c8000c deadbeef"
    "ed003780 80000000 0001e240 00000032 00001f40"  # NTP 2026-01-01 00:00:00.5, RTP ts, 50 packets, 8000 octets
    "0a0b0c0d 19000003 00011234 00000010 37808000 00020000"  # 10% lost, 3 lost, seq 0x11234, jitter 16
    "81ca0006 deadbeef 0110 7573657240 6578616d706c652e636f6d 0000"  # CNAME "user@example.com"
)
# RTCP compound: RR whose cumulative loss is -1 (duplicates), then BYE with a reason.
RR_BYE = hexbytes(
    "81c90007 0a0b0c0d"
    "deadbeef 00ffffff 0000ffff 00000000 00000000 00000000"
    "81cb0004 0a0b0c0d 08 73687574646f776e 000000"  # "shutdown"
)


# --- RTP --------------------------------------------------------------------------------


def test_pcmu_packet_with_marker():
    packet = RtpPacket.parse(PCMU_MARKER)
    assert (packet.payload_type, packet.marker, packet.sequence) == (0, True, 7213)
    assert (packet.timestamp, packet.ssrc) == (40960, 0xDEADBEEF)
    assert packet.payload == b"\xff" * 160
    assert (packet.csrcs, packet.extension, packet.padding) == ((), None, b"")
    assert packet.serialize() == PCMU_MARKER


def test_packet_with_csrcs_extension_and_padding():
    packet = RtpPacket.parse(MIXED)
    assert packet.csrcs == (0x55667788, 0x99AABBCC)
    assert packet.extension == RtpExtension(0xBEDE, hexbytes("10ff0000"))
    assert (packet.payload_type, packet.marker, packet.payload) == (8, False, b"\xd5" * 4)
    assert packet.padding_length == 4
    assert packet.serialize() == MIXED


def test_telephone_event_packet():
    packet = RtpPacket.parse(DTMF_FIVE)
    assert (packet.payload_type, packet.marker, packet.sequence, packet.timestamp) == (101, True, 1234, 123456)
    event, flags, duration = packet.payload[0], packet.payload[1], int.from_bytes(packet.payload[2:4], "big")
    assert (event, flags & 0x80, flags & 0x3F, duration) == (5, 0, 10, 160)
    assert packet.serialize() == DTMF_FIVE


def test_build_and_serialize():
    packet = RtpPacket(0, 65535, 0xFFFFFFFF, 1, b"\x7f", marker=True, padding=padding_of_length(3))
    data = packet.serialize()
    assert data == hexbytes("a0 80 ffff ffffffff 00000001 7f 000003")
    assert RtpPacket.parse(data) == packet


def test_nonzero_padding_octets_round_trip():
    data = hexbytes("a0 00 0001 00000000 00000001 aa bbcc02")
    assert RtpPacket.parse(data).serialize() == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter than the 12-byte fixed header"),
        (PCMU_MARKER[:11], "shorter than the 12-byte fixed header"),
        (b"\x40" + PCMU_MARKER[1:], "version 1, expected 2"),
        (hexbytes("82 00 0001 00000000 00000001 00000002"), "too short for its 2 CSRCs"),
        (hexbytes("90 00 0001 00000000 00000001 bede"), "ends before the extension header"),
        (hexbytes("90 00 0001 00000000 00000001 bede0002 00000000"), "extension of 2 words runs past"),
        (hexbytes("a0 00 0001 00000000 00000001 00"), "padding count 0"),
        (hexbytes("a0 00 0001 00000000 00000001 0005"), "padding count 5 does not fit the 2 bytes"),
    ],
)
def test_malformed_rtp_says_why(data, reason):
    with pytest.raises(RtpError, match=reason) as raised:
        RtpPacket.parse(data)
    assert reason in raised.value.reason


def test_our_own_out_of_range_values_raise_value_error():
    with pytest.raises(ValueError, match="payload type"):
        RtpPacket(128, 0, 0, 0)
    with pytest.raises(ValueError, match="sequence"):
        RtpPacket(0, 65536, 0, 0)
    with pytest.raises(ValueError, match="15 CSRCs"):
        RtpPacket(0, 0, 0, 0, csrcs=tuple(range(16)))
    with pytest.raises(ValueError, match="end with its own length"):
        RtpPacket(0, 0, 0, 0, padding=b"\x00\x00")
    with pytest.raises(ValueError, match="32-bit words"):
        RtpExtension(0xBEDE, b"\x01")


# --- RTCP -------------------------------------------------------------------------------


def test_sender_report_and_sdes_compound():
    sr, sdes = parse_rtcp(SR_SDES)
    assert isinstance(sr, SenderReport) and isinstance(sdes, SourceDescription)
    assert (sr.ssrc, sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (0xDEADBEEF, 123456, 50, 8000)
    assert ntp_to_unix(sr.ntp_msw, sr.ntp_lsw) == 1_767_225_600.5
    assert sr.reports == (ReportBlock(0x0A0B0C0D, 25, 3, 0x11234, 16, 0x37808000, 0x20000),)
    assert sdes.chunks[0].ssrc == 0xDEADBEEF
    assert sdes.chunks[0].cname == "user@example.com"
    assert serialize_rtcp(parse_rtcp(SR_SDES)) == SR_SDES


def test_receiver_report_and_bye_compound():
    rr, bye = parse_rtcp(RR_BYE)
    assert isinstance(rr, ReceiverReport) and isinstance(bye, Goodbye)
    assert rr.ssrc == 0x0A0B0C0D
    assert rr.reports[0].cumulative_lost == -1
    assert rr.reports[0].highest_sequence == 0xFFFF
    assert (bye.ssrcs, bye.reason) == ((0x0A0B0C0D,), "shutdown")
    assert serialize_rtcp([rr, bye]) == RR_BYE


def test_built_compound_matches_captured_bytes():
    block = ReportBlock(0x0A0B0C0D, 25, 3, 0x11234, 16, middle_32(0xED003780, 0x80000000), 0x20000)
    msw, lsw = ntp_timestamp(1_767_225_600.5)
    packets = [
        SenderReport(0xDEADBEEF, msw, lsw, 123456, 50, 8000, (block,)),
        SourceDescription.of_cname(0xDEADBEEF, "user@example.com"),
    ]
    assert serialize_rtcp(packets) == SR_SDES


@pytest.mark.parametrize("lost", [0, 1, -1, 0x7FFFFF, -0x800000, 1000, -1000])
def test_cumulative_lost_is_24_bit_signed(lost):
    block = ReportBlock(1, 255, lost, 2, 3, 4, 5)
    data = block.serialize()
    assert len(data) == 24
    assert data[4] == 255
    assert int.from_bytes(data[5:8], "big") == lost & 0xFFFFFF
    assert ReportBlock.parse(data, 0) == block


def test_cumulative_lost_range_and_clamp():
    with pytest.raises(ValueError, match="24 bits signed"):
        ReportBlock(1, 0, 0x800000, 0, 0, 0, 0)
    assert ReportBlock.clamp_lost(10**9) == 0x7FFFFF
    assert ReportBlock.clamp_lost(-(10**9)) == -0x800000
    assert ReportBlock.clamp_lost(42) == 42


def test_empty_rr_bye_without_reason_and_sdes_items_round_trip():
    data = serialize_rtcp(
        [
            ReceiverReport(7),
            SourceDescription((SdesChunk(7, ((1, b"ab"), (6, b"pbx"))), SdesChunk(8, ()))),
            Goodbye((7, 8)),
        ]
    )
    assert data[:8] == hexbytes("80c90001 00000007")
    rr, sdes, bye = parse_rtcp(data)
    assert rr == ReceiverReport(7)
    assert sdes.chunks[0].items == ((1, b"ab"), (6, b"pbx"))
    assert sdes.chunks[1] == SdesChunk(8, ())
    assert sdes.chunks[1].cname is None
    assert bye == Goodbye((7, 8))
    assert serialize_rtcp(parse_rtcp(data)) == data


def test_padding_on_last_packet_and_unknown_types_round_trip():
    app = hexbytes("80cc0002 00000007 6e616d65")  # APP, name "name"
    padded_bye = hexbytes("a1cb0002 00000007 00000004")
    data = app + padded_bye
    unknown, bye = parse_rtcp(data)
    assert unknown == UnknownRtcp(204, 0, hexbytes("00000007 6e616d65"))
    assert bye == Goodbye((7,), padding=b"\x00\x00\x00\x04")
    assert serialize_rtcp([unknown, bye]) == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x81\xc9", "shorter than its 4-byte header"),
        (hexbytes("41c90001 00000007"), "version 1, expected 2"),
        (hexbytes("81c90007 0a0b0c0d"), "claims 32 bytes, only 8 left"),
        (hexbytes("81c90001 0a0b0c0d"), "too short for its 1 report blocks"),
        (hexbytes("81c80001 0a0b0c0d"), "SR of 4 bytes is too short"),
        (hexbytes("80c90001 00000007 00"), "1 stray bytes"),
        (hexbytes("a0c90001 00000007 80c90001 00000007"), "padded but is not the last"),
        (hexbytes("a0c90001 00000009"), "padding count 9"),
        (hexbytes("81ca0001 00000007"), "no null item"),
        (hexbytes("81ca0002 00000007 01050000"), "item of type 1 runs past"),
        (hexbytes("81ca0002 00000007 00010000"), "not null-padded"),
        (hexbytes("81ca0003 00000007 00000000 00000000"), "4 bytes after its 1 chunks"),
        (hexbytes("82cb0001 00000007"), "BYE of 4 bytes is too short for its 2 SSRCs"),
        (hexbytes("81cb0002 00000007 09616263"), "reason does not match"),
    ],
)
def test_malformed_rtcp_says_why(data, reason):
    with pytest.raises(RtpError, match=reason):
        parse_rtcp(data)


def test_serialize_refuses_what_cannot_be_encoded():
    with pytest.raises(ValueError, match="at most 31"):
        serialize_rtcp([Goodbye(tuple(range(32)))])
    with pytest.raises(ValueError, match="255"):
        serialize_rtcp([Goodbye((1,), "x" * 256)])
    with pytest.raises(ValueError, match="32-bit words"):
        serialize_rtcp([ReceiverReport(1, extension=b"\x01")])


# --- NTP --------------------------------------------------------------------------------


def test_ntp_timestamp_of_known_dates():
    assert ntp_timestamp(0) == (2_208_988_800, 0)  # 1970-01-01 is 0x83AA7E80 in NTP seconds
    assert ntp_timestamp(0) == (0x83AA7E80, 0)
    assert ntp_timestamp(946_684_800) == (3_155_673_600, 0)  # 2000-01-01T00:00:00Z
    assert ntp_timestamp(1_767_225_600.5) == (0xED003780, 0x80000000)  # 2026-01-01T00:00:00.5Z
    assert ntp_timestamp(1.25) == (2_208_988_801, 0x40000000)
    assert ntp_timestamp(2_085_978_496) == (0, 0)  # 2036-02-07T06:28:16Z: NTP era 1 begins


def test_middle_32_for_lsr():
    assert middle_32(0xED003780, 0x80000000) == 0x37808000
    assert middle_32(0x12345678, 0x9ABCDEF0) == 0x56789ABC
