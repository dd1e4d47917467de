"""Call quality of one received RTP stream: loss, interarrival jitter and an estimated MOS.

`StreamQuality` follows a leg's incoming packets the way an RTCP receiver
report would (RFC 3550 6.4.1): extended highest sequence number, expected
and lost packets per appendix A.3, interarrival jitter per appendix A.8.
`mos` turns those into a listening-quality estimate with a simplified
ITU-T G.107 E-model, the usual shortcut of VoIP monitors:

    R = 93.2 - Id - Ie_eff
    Ie_eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl)      (G.107 7.2, eq. 7-29)
    Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3)              (Cole & Rosenbluth's fit of G.107 Idd)
    MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6             (G.107 Annex B)

Loss is taken as random (BurstR = 1). Default impairment values come from
ITU-T G.113 Appendix I. Pure: sequence numbers, timestamps and arrival
times in, numbers out. It does not send RTCP, follow SSRC changes or
score wideband codecs (G.107.1).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

RTP_SEQ_MOD = 1 << 16
RTP_TS_MOD = 1 << 32
MAX_DROPOUT = 3000  # RFC 3550 A.3: the largest forward jump taken as loss
MAX_MISORDER = 100  # RFC 3550 A.3: the largest backward jump taken as reordering

R_BASE = 93.2  # G.107 default R0 - Is with all other parameters at their defaults
DELAY_KNEE_MS = 177.3  # where the delay impairment steepens (simplified G.107 Idd)


class CodecImpairment(NamedTuple):
    """Equipment impairment factor and packet-loss robustness (ITU-T G.113 Appendix I, Table I.3)."""

    ie: float
    bpl_with_plc: float
    bpl_without_plc: float


CODECS: dict[str, CodecImpairment] = {
    # G.113 I.3: G.711 with Appendix I PLC is Bpl 25.1, without PLC (random loss) 4.3.
    "PCMU": CodecImpairment(ie=0.0, bpl_with_plc=25.1, bpl_without_plc=4.3),
    "PCMA": CodecImpairment(ie=0.0, bpl_with_plc=25.1, bpl_without_plc=4.3),
    # G.729A has its own concealment, so the two values are the same.
    "G729": CodecImpairment(ie=11.0, bpl_with_plc=19.0, bpl_without_plc=19.0),
}


class QualityReport(msgspec.Struct, frozen=True):
    """A leg's received-stream quality, as the CDR and the admin API show it."""

    packets: int
    lost: int
    loss_percent: float
    jitter_ms: float
    mos: float


def _signed_delta(value: int, reference: int, modulus: int) -> int:
    """``value - reference`` on a wrapping counter, as the nearest signed distance."""
    delta = (value - reference) % modulus
    return delta - modulus if delta >= modulus // 2 else delta


class InterarrivalJitter:
    """The RFC 3550 A.8 interarrival jitter estimator, in timestamp units.

    For each packet, in order of arrival (not of sequence):
    D = (R_j - R_i) - (S_j - S_i), with R the arrival time converted to
    timestamp units and S the RTP timestamp; J += (|D| - J) / 16.
    """

    __slots__ = ("clock_rate", "jitter", "_last")

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self.jitter = 0.0
        self._last: tuple[float, int] | None = None

    def update(self, timestamp: int, arrival: float) -> float:
        """Account for one packet; return the new jitter in timestamp units."""
        if self._last is not None:
            last_arrival, last_timestamp = self._last
            # The timestamp difference is taken modulo 2^32 so a wrap is a small step.
            difference = (arrival - last_arrival) * self.clock_rate - _signed_delta(
                timestamp, last_timestamp, RTP_TS_MOD
            )
            self.jitter += (abs(difference) - self.jitter) / 16
        self._last = (arrival, timestamp)
        return self.jitter

    @property
    def jitter_ms(self) -> float:
        return self.jitter * 1000 / self.clock_rate


def r_factor(
    loss_percent: float, effective_delay_ms: float, codec: str = "PCMU", *, concealment: bool = True
) -> float:
    """The simplified G.107 transmission rating R for random loss and a one-way mouth-to-ear delay."""
    try:
        impairment = CODECS[codec]
    except KeyError:
        raise ValueError(f"no impairment values for codec {codec!r}; known: {sorted(CODECS)}") from None
    bpl = impairment.bpl_with_plc if concealment else impairment.bpl_without_plc
    burst_ratio = 1.0  # random loss
    ppl = max(0.0, loss_percent)
    # G.107 eq. 7-29: effective equipment impairment under packet loss.
    ie_eff = impairment.ie + (95 - impairment.ie) * ppl / (ppl / burst_ratio + bpl)
    d = max(0.0, effective_delay_ms)
    # Simplified Idd: 0.024 per ms, plus 0.11 per ms past the 177.3 ms knee (H is the step function).
    delay_impairment = 0.024 * d + (0.11 * (d - DELAY_KNEE_MS) if d > DELAY_KNEE_MS else 0.0)
    return R_BASE - delay_impairment - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B: the estimated mean opinion score (conversational) for a rating R."""
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
    return min(4.5, max(1.0, mos))


_NO_BAD_SEQ = RTP_SEQ_MOD + 1  # one int object, not one per stream (an int over 256 is allocated)


class StreamQuality:
    """Loss and jitter of one RTP stream (one SSRC), fed one packet at a time."""

    __slots__ = ("clock_rate", "_jitter", "_started", "_base_seq", "_max_seq", "_cycles", "_bad_seq", "_received")

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self._jitter = InterarrivalJitter(clock_rate)
        self._started = False
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = _NO_BAD_SEQ  # RFC 3550 A.3: no suspected restart yet
        self._received = 0

    def _init_seq(self, sequence: int) -> None:
        # RFC 3550 A.3 init_seq()
        self._base_seq = sequence
        self._max_seq = sequence
        self._bad_seq = _NO_BAD_SEQ
        self._cycles = 0
        self._received = 0

    def _update_seq(self, sequence: int) -> bool:
        """RFC 3550 A.3 update_seq() without the probation of new sources; False when the packet is set aside."""
        delta = (sequence - self._max_seq) % RTP_SEQ_MOD
        if delta < MAX_DROPOUT:
            # In order, with a permissible gap; a smaller number means the counter wrapped.
            if sequence < self._max_seq:
                self._cycles += RTP_SEQ_MOD
            self._max_seq = sequence
        elif delta <= RTP_SEQ_MOD - MAX_MISORDER:
            # A very large jump: resynchronise only if the next packet follows it (a silent restart).
            if sequence == self._bad_seq:
                self._init_seq(sequence)
            else:
                self._bad_seq = (sequence + 1) % RTP_SEQ_MOD
                return False
        # else: a duplicate or a reordered packet, counted as received.
        self._received += 1
        return True

    def on_packet(self, sequence: int, timestamp: int | None, arrival: float) -> None:
        """Account for one received packet; ``arrival`` is in seconds on any monotonic clock.

        ``timestamp`` None counts the packet without a jitter sample: RFC 4733 event packets
        share their event's start timestamp, so they would read as jitter that is not there."""
        if not self._started:
            self._started = True
            self._init_seq(sequence)
            self._received = 1
        else:
            self._update_seq(sequence)
        # RFC 3550 A.8: every packet, in arrival order.
        if timestamp is not None:
            self._jitter.update(timestamp, arrival)

    @property
    def packets_received(self) -> int:
        return self._received

    @property
    def extended_highest_sequence(self) -> int:
        """RFC 3550 6.4.1: the wrap cycles count in the high 16 bits."""
        return self._cycles + self._max_seq

    @property
    def packets_expected(self) -> int:
        if not self._started:
            return 0
        return self.extended_highest_sequence - self._base_seq + 1

    @property
    def packets_lost(self) -> int:
        """Expected minus received; negative when duplicates outnumber the losses (RFC 3550 6.4.1)."""
        return self.packets_expected - self._received

    @property
    def loss_fraction(self) -> float:
        """Cumulative fraction of expected packets lost, 0.0 to 1.0 (negative loss counts as none)."""
        expected = self.packets_expected
        if expected <= 0:
            return 0.0
        return max(0, self.packets_lost) / expected

    @property
    def jitter_ms(self) -> float:
        return self._jitter.jitter_ms

    def mos(
        self,
        codec: str = "PCMU",
        one_way_delay_ms: float = 0.0,
        *,
        jitter_buffer_ms: float | None = None,
        concealment: bool = True,
    ) -> float:
        """Estimated MOS for this stream.

        The effective delay is the network one-way delay plus the jitter
        buffer's delay; when the buffer's delay is not given it is taken as
        twice the measured jitter, a buffer just deep enough to absorb it.
        ``concealment`` picks G.711's Bpl: 25.1 with packet loss concealment
        (what our decoding paths do), 4.3 without.
        """
        buffer_ms = 2 * self.jitter_ms if jitter_buffer_ms is None else jitter_buffer_ms
        r = r_factor(self.loss_fraction * 100, one_way_delay_ms + buffer_ms, codec, concealment=concealment)
        return mos_from_r(r)

    def report(
        self,
        codec: str = "PCMU",
        one_way_delay_ms: float = 0.0,
        *,
        jitter_buffer_ms: float | None = None,
        concealment: bool = True,
    ) -> QualityReport:
        return QualityReport(
            packets=self._received,
            lost=max(0, self.packets_lost),
            loss_percent=self.loss_fraction * 100,
            jitter_ms=self.jitter_ms,
            mos=self.mos(codec, one_way_delay_ms, jitter_buffer_ms=jitter_buffer_ms, concealment=concealment),
        )
