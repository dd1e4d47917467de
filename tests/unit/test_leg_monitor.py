"""LegMonitor and RtcpReporter: digits, quality and RTCP of one leg, from bytes and a fake clock."""

from __future__ import annotations

import math
import struct

import pytest

from pbx.media.dtmf import Rfc4733Sender
from pbx.media.g711 import CODECS
from pbx.media.leg_monitor import LegMonitor
from pbx.media.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    SourceDescription,
    parse_rtcp,
    serialize_rtcp,
)
from pbx.media.rtcp_session import NTP_UNIX_OFFSET, RtcpReporter, ntp_timestamp
from pbx.media.rtp import RtpPacket
from pbx.media.sender import RtpSender

T0 = 1_800_000_000.0


def audio(sequence: int, *, ssrc: int = 0x1111, payload_type: int = 0, pcm: bytes = bytes(320)) -> bytes:
    codec = CODECS["PCMU" if payload_type == 0 else "PCMA"]
    return RtpPacket(payload_type, sequence & 0xFFFF, 160 * sequence, ssrc, codec.encode(pcm)).serialize()


def dual_tone(low: float, high: float, samples: int, start: int) -> bytes:
    values = (int(6000 * (math.sin(2 * math.pi * low * (start + n) / 8000) + math.sin(2 * math.pi * high * (start + n) / 8000)))
              for n in range(samples))
    return struct.pack(f"<{samples}h", *values)


def test_counts_packets_loss_and_mos_across_an_ssrc_change():
    monitor = LegMonitor()
    for n in range(100):
        if n % 10 != 5:  # 10 % loss
            monitor.receive(audio(n), T0 + n * 0.02)
    for n in range(50):
        monitor.receive(audio(1000 + n, ssrc=0x2222), T0 + 2 + n * 0.02)
    report = monitor.report()
    assert (report.packets, report.lost, report.ssrc_changes, report.codec) == (140, 10, 1, "PCMU")
    assert report.loss_percent == pytest.approx(10 / 150 * 100, abs=0.01)
    assert report.jitter_ms == pytest.approx(0, abs=0.01)
    assert 1.0 < report.mos < 4.5


def test_telephone_events_at_the_offered_payload_type_are_digits_and_not_loss():
    monitor = LegMonitor(events=[96])
    found = []
    for n in range(10):
        found += monitor.receive(audio(n), T0 + n * 0.02)
    sender = Rfc4733Sender(96, 0x1111)
    for index, packet in enumerate(sender.packets("7", start_sequence=10, start_timestamp=1600)):
        found += monitor.receive(packet, T0 + 0.2 + index * 0.02)
    assert [(d.digit, d.source) for d in found] == [("7", "rfc4733")]
    assert monitor.report().lost == 0


def test_inband_tones_only_when_asked():
    tone = dual_tone(852, 1477, 160 * 6, 0)  # "9" for 120 ms
    packets = [audio(n, pcm=tone[320 * n:320 * (n + 1)]) for n in range(6)] + [audio(6 + n) for n in range(4)]
    quiet, listening = LegMonitor(), LegMonitor(inband=True)
    assert not [d for n, p in enumerate(packets) for d in quiet.receive(p, T0 + n * 0.02)]
    found = [d for n, p in enumerate(packets) for d in listening.receive(p, T0 + n * 0.02)]
    assert [(d.digit, d.source) for d in found] == [("9", "inband")]


def test_reads_the_phones_receiver_report_and_round_trip_time():
    monitor = LegMonitor()
    reporter = RtcpReporter(0xABCD, "pbx", T0, spread=1.0)
    sender = RtpSender("PCMU", 0, 0xABCD)
    for n in range(50):
        sender.packet(bytes(320))
        monitor.receive(audio(n), T0 + n * 0.02)
    assert not reporter.due(T0 + 2.4) and reporter.due(T0 + 2.5)
    ours = parse_rtcp(reporter.report(T0 + 2.5, sender, monitor))
    assert isinstance(ours[0], SenderReport) and isinstance(ours[1], SourceDescription)
    sr = ours[0]
    assert (sr.packet_count, sr.octet_count, sr.ntp_msw) == (50, 50 * 160, int(T0 + 2.5) + NTP_UNIX_OFFSET)
    assert sr.reports[0].ssrc == 0x1111 and sr.reports[0].highest_sequence == 49
    lsr = (sr.ntp_msw & 0xFFFF) << 16 | sr.ntp_lsw >> 16
    # The phone answers 100 ms later, having held our SR for 30 ms: RTT 70 ms.
    block = ReportBlock(0xABCD, 64, 3, 49, 80, lsr, int(0.030 * 65536))
    assert monitor.receive_rtcp(serialize_rtcp([ReceiverReport(0x1111, (block,))]), T0 + 2.6)
    report = monitor.report()
    assert report.remote_loss_percent == 25.0 and report.remote_jitter_ms == 10.0
    assert report.round_trip_ms == pytest.approx(70, abs=0.1)
    assert report.rtcp_reports == 1


def test_receiver_report_when_we_sent_nothing_and_fraction_lost_per_interval():
    monitor = LegMonitor()
    reporter = RtcpReporter(1, "pbx", T0)
    for n in range(0, 100, 2):  # every other packet lost
        monitor.receive(audio(n), T0 + n * 0.02)
    packets = parse_rtcp(reporter.report(T0 + 5, None, monitor))
    assert isinstance(packets[0], ReceiverReport)
    assert packets[0].reports[0].fraction_lost == 126  # 49 of 99 expected: 49 * 256 // 99 (RFC 3550 A.3)
    for n in range(99, 150):  # then none lost
        monitor.receive(audio(n), T0 + n * 0.02)
    assert parse_rtcp(reporter.report(T0 + 10, None, monitor))[0].reports[0].fraction_lost == 0


def test_goodbye_ends_the_compound_and_bad_rtcp_is_refused():
    monitor = LegMonitor()
    packets = parse_rtcp(RtcpReporter(5, "pbx", T0).goodbye(T0, None, monitor, "call ended"))
    assert isinstance(packets[0], ReceiverReport) and packets[-1] == Goodbye((5,), "call ended")
    assert not monitor.receive_rtcp(b"\x80\xc9\x00\x09", T0)
    with pytest.raises(ValueError):
        RtcpReporter(5, "pbx", T0, spread=2.0)


def test_ntp_timestamp_of_a_unix_time():
    assert ntp_timestamp(0.5) == (NTP_UNIX_OFFSET, 1 << 31)
