"""How well a capture's streams keep to their 20 ms grid; and each stream's payloads in order.

Every stream the PBX plays should carry one packet per 20 ms. For each stream (one socket of
the capture) the packets are put in RTP sequence order (16-bit numbers unwrapped, RFC 3550
A.1) and packet k is given the slot ``anchor + k x 20 ms``. The anchor is fitted robustly:
the median of ``arrival - k x 20 ms`` over the stream, so a stream's fixed place inside the
PBX's tick (the 100th stream goes out a little after the first) is not counted as lateness,
while a tick the PBX missed (every later packet 20 ms behind) is.

- deviation: ``arrival - slot`` of each packet, in ms (signed);
- late: a packet more than ``late_ms`` after its slot, or missing (a gap in the sequence
  numbers between the stream's first and last packet in the window).

Pure: numbers in, numbers out (numpy); no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .rtp_capture import Capture

PTIME_NS = 20_000_000


@dataclass(frozen=True)
class StreamTiming:
    stream: int
    packets: int  # received in the window
    expected: int  # slots between the first and last packet in the window
    missing: int
    duplicates: int
    deviations_ms: np.ndarray  # arrival - slot, per received packet, sequence order

    def late(self, late_ms: float) -> int:
        return int(np.count_nonzero(self.deviations_ms > late_ms)) + self.missing


@dataclass(frozen=True)
class TimingSummary:
    streams: int
    packets: int
    expected: int
    missing: int
    late_5ms: int  # packets more than 5 ms after their slot, plus missing ones
    late_10ms: int
    p50_ms: float  # of |deviation|, all packets of all streams
    p99_ms: float
    max_ms: float
    worst_stream: int  # the stream with the largest p99 |deviation|
    worst_stream_p99_ms: float
    spacing_p99_ms: float  # p99 of |gap to the previous packet - 20 ms x slots between|

    @property
    def late_5ms_fraction(self) -> float:
        return self.late_5ms / self.expected if self.expected else 0.0

    @property
    def late_10ms_fraction(self) -> float:
        return self.late_10ms / self.expected if self.expected else 0.0

    def describe(self) -> str:
        return (
            f"{self.streams} streams, {self.packets} packets ({self.missing} missing of {self.expected}); "
            f"|arrival - slot| p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms; "
            f"late >5 ms {self.late_5ms_fraction:.3%}, >10 ms {self.late_10ms_fraction:.3%}; "
            f"worst stream #{self.worst_stream} p99 {self.worst_stream_p99_ms:.2f} ms; "
            f"|spacing - 20 ms| p99 {self.spacing_p99_ms:.2f} ms"
        )


def unwrap(sequence: np.ndarray) -> np.ndarray:
    """16-bit sequence numbers as a growing count (RFC 3550 A.1), relative to the first one."""
    steps = np.diff(sequence.astype(np.int64))
    steps = (steps + 0x8000) % 0x10000 - 0x8000  # the shortest way round the 16-bit circle
    return np.concatenate(([0], np.cumsum(steps)))


def analyse(capture: Capture, *, window_ns: tuple[int, int] | None = None, ptime_ns: int = PTIME_NS,
            streams: Iterable[int] | None = None) -> list[StreamTiming]:
    """Per stream, in the arrival window (kernel CLOCK_REALTIME ns, both ends included)."""
    stream = np.frombuffer(capture.stream, dtype=np.uint32)
    sequence = np.frombuffer(capture.sequence, dtype=np.uint16)
    arrival = np.frombuffer(capture.arrival_ns, dtype=np.int64)
    ssrc = np.frombuffer(capture.ssrc, dtype=np.uint32)
    keep = np.ones(len(stream), dtype=bool)
    if window_ns is not None:
        keep = (arrival >= window_ns[0]) & (arrival <= window_ns[1])
    wanted = range(len(capture.ports)) if streams is None else streams
    results = []
    for index in wanted:
        chosen = np.flatnonzero(keep & (stream == index))
        if len(chosen) == 0:
            results.append(StreamTiming(index, 0, 0, 0, 0, np.empty(0)))
            continue
        # One SSRC per stream is expected; anything else (a stray packet) is left out.
        main_ssrc = np.bincount(np.unique(ssrc[chosen], return_inverse=True)[1]).argmax()
        chosen = chosen[ssrc[chosen] == np.unique(ssrc[chosen])[main_ssrc]]
        order = chosen[np.argsort(arrival[chosen], kind="stable")]  # arrival order, to unwrap
        counts = unwrap(sequence[order])
        by_sequence = np.argsort(counts, kind="stable")
        counts, times = counts[by_sequence], arrival[order][by_sequence]
        unique, first_seen = np.unique(counts, return_index=True)
        counts, times = counts[first_seen], times[first_seen]
        slots = counts - counts[0]
        offsets = times - slots * ptime_ns
        anchor = np.median(offsets)
        deviations = (offsets - anchor) / 1e6
        expected = int(slots[-1]) + 1
        results.append(StreamTiming(index, len(unique), expected, expected - len(unique),
                                    len(chosen) - len(unique), deviations))
    return results


def summarise(timings: list[StreamTiming]) -> TimingSummary:
    measured = [timing for timing in timings if timing.packets]
    if not measured:
        nan = float("nan")
        return TimingSummary(len(timings), 0, 0, 0, 0, 0, nan, nan, nan, -1, nan, nan)
    absolute = np.abs(np.concatenate([timing.deviations_ms for timing in measured]))
    per_stream = [float(np.percentile(np.abs(timing.deviations_ms), 99)) for timing in measured]
    worst = int(np.argmax(per_stream))
    # consecutive packets' deviations differ by exactly their spacing minus 20 ms
    spacing = np.abs(np.concatenate([np.diff(timing.deviations_ms) for timing in measured]))
    return TimingSummary(
        streams=len(timings),
        packets=sum(timing.packets for timing in measured),
        expected=sum(timing.expected for timing in measured),
        missing=sum(timing.missing for timing in measured),
        late_5ms=sum(timing.late(5.0) for timing in measured),
        late_10ms=sum(timing.late(10.0) for timing in measured),
        p50_ms=float(np.percentile(absolute, 50)),
        p99_ms=float(np.percentile(absolute, 99)),
        max_ms=float(absolute.max()),
        worst_stream=measured[worst].stream,
        worst_stream_p99_ms=per_stream[worst],
        spacing_p99_ms=float(np.percentile(spacing, 99)) if len(spacing) else float("nan"),
    )


def payloads_in_order(capture: Capture, stream: int) -> list[bytes]:
    """Every payload a stream received (the whole capture), in sequence order, duplicates dropped.

    Needs a capture taken with ``payloads=True``.
    """
    if capture.payloads is None:
        raise ValueError("this capture kept no payloads (RtpCapture(..., payloads=True))")
    indices = np.flatnonzero(np.frombuffer(capture.stream, dtype=np.uint32) == stream)
    if len(indices) == 0:
        return []
    arrival = np.frombuffer(capture.arrival_ns, dtype=np.int64)[indices]
    order = indices[np.argsort(arrival, kind="stable")]
    counts = unwrap(np.frombuffer(capture.sequence, dtype=np.uint16)[order])
    _, first_seen = np.unique(counts, return_index=True)  # sorted by count
    return [capture.payloads[order[position]] for position in first_seen]
