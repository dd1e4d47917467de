"""RTCP reports for the streams the PBX itself sends and receives (RFC 3550 6).

On a leg the PBX answers (test extensions, IVR), it is an RTP end system: it owes the phone
sender reports about what it sends and reception report blocks about what it receives, and it
reads the phone's reports back (leg_monitor.py). `RtcpReporter` builds those compound packets
(SR or RR, then SDES CNAME, RFC 3550 6.1) when due, and the final BYE (RFC 3550 6.6).

Timing: one report every 5 s, the RFC 3550 6.2 minimum for a two-party session, the first at
half of it (6.2, "initial" interval). The RFC randomises each interval to [0.5, 1.5] of its
value so that many senders do not fall into step; a pure module draws no random numbers, so
the caller passes a `spread` in that range (the PBX derives it from the random SSRC).

Pure: `now`, the sender's counters and the receive statistics in, bytes out. Relayed legs
carry the phones' own RTCP end to end and need none of this.
"""

from __future__ import annotations

from .leg_monitor import LegMonitor
from .quality import StreamQuality
from .rtcp import Goodbye, ReceiverReport, ReportBlock, RtcpPacket, SenderReport, SourceDescription, serialize_rtcp
from .sender import RtpSender

NTP_UNIX_OFFSET = 2_208_988_800  # RFC 5905 6: seconds from 1900-01-01 (NTP era 0) to 1970-01-01
MINIMUM_INTERVAL = 5.0  # RFC 3550 6.2
CLOCK_RATE = 8000
REMEMBERED_REPORTS = 8


def ntp_timestamp(now: float) -> tuple[int, int]:
    """The 64-bit NTP timestamp of a Unix time, as (most, least) significant words (RFC 3550 4)."""
    seconds = int(now) + NTP_UNIX_OFFSET
    fraction = int((now - int(now)) * (1 << 32)) & 0xFFFFFFFF
    return seconds & 0xFFFFFFFF, fraction


class RtcpReporter:
    def __init__(self, ssrc: int, cname: str, start: float, *, spread: float = 1.0,
                 interval: float = MINIMUM_INTERVAL) -> None:
        if not 0.5 <= spread <= 1.5:
            raise ValueError(f"spread must be within [0.5, 1.5] (RFC 3550 6.2), got {spread}")
        self.ssrc = ssrc
        self.cname = cname
        self.interval = interval * spread
        self.next_at = start + self.interval / 2
        self.sent_reports = 0
        self._sent_packets_at_last_report = 0
        self._expected_prior = 0
        self._received_prior = 0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def report(self, now: float, sender: RtpSender | None, monitor: LegMonitor) -> bytes:
        """The compound report for `now`; schedules the next one."""
        self.next_at = now + self.interval
        self.sent_reports += 1
        return serialize_rtcp(self._packets(now, sender, monitor))

    def goodbye(self, now: float, sender: RtpSender | None, monitor: LegMonitor, reason: str | None = None) -> bytes:
        """A last report and a BYE (RFC 3550 6.6: a BYE is sent in a compound packet)."""
        return serialize_rtcp([*self._packets(now, sender, monitor), Goodbye((self.ssrc,), reason)])

    def _packets(self, now: float, sender: RtpSender | None, monitor: LegMonitor) -> list[RtcpPacket]:
        blocks = self._blocks(now, monitor)
        sdes = SourceDescription.of_cname(self.ssrc, self.cname)
        # RFC 3550 6.4: an SR when we sent data since the report before last, else an RR.
        if sender is not None and sender.sent > self._sent_packets_at_last_report:
            self._sent_packets_at_last_report = sender.sent
            msw, lsw = ntp_timestamp(now)
            reports = monitor.our_reports
            if reports is None:
                reports = monitor.our_reports = {}
            reports[(msw & 0xFFFF) << 16 | lsw >> 16] = now
            while len(reports) > REMEMBERED_REPORTS:
                del reports[next(iter(reports))]
            report = SenderReport(self.ssrc, msw, lsw, sender.timestamp, sender.sent & 0xFFFFFFFF,
                                  sender.octets & 0xFFFFFFFF, blocks)
            return [report, sdes]
        return [ReceiverReport(self.ssrc, blocks), sdes]

    def _blocks(self, now: float, monitor: LegMonitor) -> tuple[ReportBlock, ...]:
        stream = monitor.quality
        if monitor.ssrc is None or not stream.packets_received:
            return ()
        lsr, dlsr = 0, 0
        if monitor.last_sender_report is not None:
            lsr, received_at = monitor.last_sender_report
            dlsr = int((now - received_at) * 65536) & 0xFFFFFFFF
        return (ReportBlock(
            monitor.ssrc, self._fraction_lost(stream), ReportBlock.clamp_lost(stream.packets_lost),
            stream.extended_highest_sequence & 0xFFFFFFFF, int(stream.jitter_ms * CLOCK_RATE / 1000), lsr, dlsr,
        ),)  # fmt: skip

    def _fraction_lost(self, stream: StreamQuality) -> int:
        # RFC 3550 A.3: the loss fraction over the interval since the previous report.
        expected = stream.packets_expected
        received = stream.packets_received
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)
