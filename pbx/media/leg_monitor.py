"""What one phone sends on its leg, watched: call quality, key presses and its RTCP reports.

A `LegMonitor` sees every RTP packet the phone sends (through a relay tap) and every RTCP
packet. From RTP it keeps the RFC 3550 receive statistics (quality.py) and finds key presses:
RFC 4733 telephone-events at every payload type the phone offered for them, and, when asked,
in-band tones in the decoded audio (goertzel.py). From RTCP it reads what the phone says of
the stream it receives (RFC 3550 6.4: fraction lost, jitter) and, when a report answers one of
our own sender reports, the round-trip time (RFC 3550 6.4.1, LSR and DLSR).

Pure: bytes and `now` in, digits and reports out. It neither sends RTCP (rtcp_session.py) nor
merges the digits of several legs (DigitStream does).
"""

from __future__ import annotations

import msgspec

from .dtmf import DigitDetected, Rfc4733Receiver
from .g711 import CODECS
from .goertzel import InbandDetector
from .quality import StreamQuality
from .rtcp import ReceiverReport, SenderReport, parse_rtcp
from .rtp import RtpError, RtpPacket
from .rtp_header import peek

# RFC 3551 6: the static payload types of the codecs we decode.
STATIC_AUDIO = {0: "PCMU", 8: "PCMA"}
_NO_EVENTS: dict[int, Rfc4733Receiver] = {}  # shared by monitors with none: never written to
CLOCK_RATE = 8000


class LegQuality(msgspec.Struct, frozen=True):
    """The quality of one leg: what we received from the phone, and what it says it received."""

    codec: str | None
    packets: int
    lost: int
    loss_percent: float
    jitter_ms: float
    mos: float
    ssrc_changes: int
    rtcp_reports: int  # RTCP reports read from the phone
    remote_loss_percent: float | None  # the phone's last report of the stream it receives
    remote_jitter_ms: float | None
    round_trip_ms: float | None  # from an LSR/DLSR answer to one of our sender reports


class LegMonitor:
    """One leg's incoming media: quality, digits and RTCP. `inband` turns on tone detection."""

    __slots__ = ("audio", "events", "inband", "codec", "ssrc", "ssrc_changes", "quality", "_earlier", "rtcp_reports",
                 "remote_loss", "remote_jitter_ms", "round_trip_ms", "last_sender_report", "our_reports",
                 "last_received_at")

    def __init__(self, *, audio: dict[int, str] | None = None, events: list[int] | tuple[int, ...] = (),
                 inband: bool = False) -> None:
        # Copied on write (configure): most phones offer only static payload types, and a held
        # call has two monitors (issue 16). Read-only for everyone else.
        self.audio: dict[int, str] = STATIC_AUDIO
        self.events: dict[int, Rfc4733Receiver] = _NO_EVENTS
        self.configure(audio or {}, events)
        self.inband = InbandDetector() if inband else None
        self.codec: str | None = None
        self.ssrc: int | None = None
        self.ssrc_changes = 0
        self.quality = StreamQuality(CLOCK_RATE)
        self._earlier: tuple[StreamQuality, ...] = ()  # streams before an SSRC change, still counted
        self.rtcp_reports = 0
        self.remote_loss: float | None = None
        self.remote_jitter_ms: float | None = None
        self.round_trip_ms: float | None = None
        self.last_sender_report: tuple[int, float] | None = None  # (middle 32 NTP bits, arrival) for our RRs
        self.our_reports: dict[int, float] | None = None  # middle 32 NTP bits of our SRs -> when sent
        self.last_received_at: float | None = None  # the phone's last RTP or RTCP packet (media_timeout.py)

    def configure(self, audio: dict[int, str], events: list[int] | tuple[int, ...]) -> None:
        """Payload types from the phone's SDP: audio codecs by PT, and telephone-event PTs."""
        wanted = {pt: name.upper() for pt, name in audio.items() if name.upper() in CODECS}
        if any(self.audio.get(pt) != name for pt, name in wanted.items()):
            self.audio = {**self.audio, **wanted}
        added = {pt: Rfc4733Receiver(pt, CLOCK_RATE) for pt in events if pt not in self.events}
        if added:
            self.events = {**self.events, **added}

    def set_inband(self, enabled: bool) -> None:
        """Start or stop looking for tones in the decoded audio."""
        if enabled and self.inband is None:
            self.inband = InbandDetector()
        elif not enabled:
            self.inband = None

    # RTP ----------------------------------------------------------------------------------------

    def receive(self, packet: bytes, now: float) -> list[DigitDetected]:
        header = peek(packet)
        if header is None:
            return []
        self.last_received_at = now
        if header.ssrc != self.ssrc:
            self._new_source(header.ssrc)
        receiver = self.events.get(header.payload_type)
        if receiver is not None:
            self.quality.on_packet(header.sequence, None, now)
            return receiver.receive(packet, now)
        codec = self.audio.get(header.payload_type)
        self.quality.on_packet(header.sequence, header.timestamp if codec else None, now)
        if codec is None:
            return []
        self.codec = codec
        if self.inband is None:
            return []
        try:
            payload = RtpPacket.parse(packet).payload  # past CSRCs and header extensions
        except RtpError:
            return []
        return self.inband.feed(CODECS[codec].decode(payload), now)

    def flush(self, now: float) -> list[DigitDetected]:
        """Digits whose RFC 4733 end packets were all lost, once they have been silent long enough."""
        found: list[DigitDetected] = []
        for receiver in self.events.values():
            if not receiver.idle:
                found += receiver.flush(now)
        return found

    def _new_source(self, ssrc: int) -> None:
        # A new SSRC (a transfer, music on hold, a phone restarting its stream) is a new
        # sequence space (RFC 3550 8.2): keep the old stream's counts, start a fresh one.
        if self.ssrc is not None:
            self.ssrc_changes += 1
            self._earlier += (self.quality,)
            self.quality = StreamQuality(CLOCK_RATE)
        self.ssrc = ssrc

    # RTCP ---------------------------------------------------------------------------------------

    def receive_rtcp(self, data: bytes, now: float) -> bool:
        """Read a compound RTCP packet from the phone; False when it cannot be parsed."""
        try:
            packets = parse_rtcp(data)
        except (RtpError, ValueError):
            return False
        self.last_received_at = now
        for packet in packets:
            if isinstance(packet, SenderReport):
                # RFC 3550 6.4.1: LSR is the middle 32 bits of the SR's NTP timestamp.
                self.last_sender_report = ((packet.ntp_msw & 0xFFFF) << 16 | packet.ntp_lsw >> 16, now)
            if isinstance(packet, (SenderReport, ReceiverReport)) and packet.reports:
                self.rtcp_reports += 1
                block = packet.reports[0]
                self.remote_loss = block.fraction_lost / 256 * 100
                self.remote_jitter_ms = block.jitter / CLOCK_RATE * 1000
                self._round_trip(block.lsr, block.dlsr, now)
        return True

    def _round_trip(self, lsr: int, dlsr: int, now: float) -> None:
        # RFC 3550 6.4.1: RTT = arrival - LSR - DLSR, for an LSR naming one of our sender reports.
        sent = self.our_reports.get(lsr) if lsr and self.our_reports else None
        if sent is not None:
            self.round_trip_ms = max(0.0, (now - sent - dlsr / 65536) * 1000)

    # Results --------------------------------------------------------------------------------------

    def report(self) -> LegQuality:
        streams = [*self._earlier, self.quality]
        packets = sum(stream.packets_received for stream in streams)
        lost = sum(max(0, stream.packets_lost) for stream in streams)
        expected = packets + lost
        codec = self.codec or "PCMU"
        return LegQuality(
            codec=self.codec,
            packets=packets,
            lost=lost,
            loss_percent=round(lost / expected * 100, 3) if expected else 0.0,
            jitter_ms=round(max(stream.jitter_ms for stream in streams), 3),
            mos=round(self.quality.mos(codec) if packets else 0.0, 2),
            ssrc_changes=self.ssrc_changes,
            rtcp_reports=self.rtcp_reports,
            remote_loss_percent=None if self.remote_loss is None else round(self.remote_loss, 2),
            remote_jitter_ms=None if self.remote_jitter_ms is None else round(self.remote_jitter_ms, 3),
            round_trip_ms=None if self.round_trip_ms is None else round(self.round_trip_ms, 3),
        )
