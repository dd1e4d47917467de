"""DTMF digits from RFC 4733 telephone-events and SIP INFO, merged into one stream per call.

- `Rfc4733Receiver` turns RTP packets carrying telephone-events (RFC 4733 2.3) into one
  `DigitDetected` per key press, whatever the sender repeats, reorders or loses.
- `Rfc4733Sender` builds the packets of one key press (RFC 4733 2.5).
- `parse_info_body` reads the digit of a SIP INFO (`application/dtmf-relay`, `application/dtmf`).
- `DigitStream` merges the sources of one call, so a phone that sends both RFC 4733 and
  in-band tones (`goertzel.InbandDetector`) yields each digit once.

Pure: bytes and `now` in, events out. It does not pace packets, read SDP (the caller passes the
negotiated telephone-event payload type) or handle events other than the 16 DTMF keys.
"""

from __future__ import annotations

import struct
from typing import Literal

import msgspec

# RFC 4733 3.2: event codes 0-15 are the DTMF keys, in this order.
DIGITS = "0123456789*#ABCD"
EVENT_OF_DIGIT = {digit: code for code, digit in enumerate(DIGITS)}

Source = Literal["rfc4733", "info", "inband"]


class DigitDetected(msgspec.Struct, frozen=True):
    """A key was pressed. `at` is when the press began as we saw it (first packet, tone onset
    or INFO arrival); `duration_ms` is known for RFC 4733 and absent for in-band and INFO."""

    digit: str
    source: Source
    at: float
    duration_ms: int | None = None


# ---------------------------------------------------------------------------------------------
# RTP framing, just enough for telephone-events (RFC 3550 5.1)

_RTP_FIXED = struct.Struct("!BBHII")
_EVENT_PAYLOAD = struct.Struct("!BBH")  # RFC 4733 2.3: event, E|R|volume, duration
_RTP_VERSION = 2


def _rtp_payload(packet: bytes) -> tuple[int, bool, int, int, bytes] | None:
    """(payload type, marker, timestamp, ssrc, payload) of an RTP packet, or None if malformed.

    Skips the CSRC list and header extension and strips padding (RFC 3550 5.1, 5.3.1).
    """
    if len(packet) < _RTP_FIXED.size:
        return None
    first, second, _sequence, timestamp, ssrc = _RTP_FIXED.unpack_from(packet)
    if first >> 6 != _RTP_VERSION:
        return None
    offset = _RTP_FIXED.size + 4 * (first & 0x0F)
    if first & 0x10:  # RFC 3550 5.3.1: 16-bit profile field, 16-bit length in 32-bit words
        if len(packet) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    end = len(packet)
    if first & 0x20 and end > offset:  # padding: the last octet counts the padding octets
        end -= packet[-1]
    if end < offset:
        return None
    return second & 0x7F, bool(second & 0x80), timestamp, ssrc, packet[offset:end]


# ---------------------------------------------------------------------------------------------
# Receiving RFC 4733 events


class _Event(msgspec.Struct):
    digit: str
    began_at: float
    last_seen: float
    duration: int  # of the current segment, in timestamp units
    earlier_segments: int = 0  # RFC 4733 2.5.1.3: total duration of the segments before it


class Rfc4733Receiver:
    """One digit per telephone-event, from the RTP packets of one media stream.

    RFC 4733 2.5.1.2: every packet of an event carries the same RTP timestamp, so an event is
    keyed by (ssrc, timestamp). Repeats of the end packet (2.5.1.4 sends it three times),
    retransmitted start packets and reordered packets of an event already reported are dropped.
    The digit is reported at the first end packet (E bit); if every end packet is lost, when the
    same SSRC starts another event or when `flush(now)` finds the event silent for `timeout`.
    Packets of other payload types (audio, sipp's PT 97 "noop") are ignored, as is the R bit.
    """

    def __init__(self, payload_type: int, clock_rate: int = 8000, timeout: float = 1.0) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.timeout = timeout
        self._open: dict[tuple[int, int], _Event] = {}
        # Events already reported, with when their last packet was seen, to drop late repeats.
        self._done: dict[tuple[int, int], float] = {}

    def receive(self, packet: bytes, now: float) -> list[DigitDetected]:
        detected = self.flush(now)
        parsed = _rtp_payload(packet)
        if parsed is None:
            return detected
        payload_type, marker, timestamp, ssrc, payload = parsed
        if payload_type != self.payload_type or len(payload) < _EVENT_PAYLOAD.size:
            return detected
        # RFC 4733 2.3: one 4-octet event block. Redundant events (RFC 4733 2.5.1.6, RFC 2198)
        # arrive under the RED payload type, which this receiver does not unpack.
        code, flags, duration = _EVENT_PAYLOAD.unpack_from(payload)
        if code >= len(DIGITS):
            return detected
        key = (ssrc, timestamp)
        if key in self._done:
            self._done[key] = now
            return detected
        event = self._open.get(key)
        if event is None:
            # A new event on this SSRC ends any earlier one whose end packets were all lost
            # (RFC 4733 2.5.1.5), unless it is the next segment of a long event. A late packet
            # of an older event (by RFC 3550 timestamp order, modulo 2^32) ends nothing.
            for earlier_key, earlier in list(self._open.items()):
                if earlier_key[0] != ssrc or not _is_later(timestamp, earlier_key[1]):
                    continue
                if not marker and earlier.digit == DIGITS[code] and earlier.duration >= _SEGMENT_FULL:
                    # RFC 4733 2.5.1.3: a long event goes on with a new timestamp and no marker.
                    del self._open[earlier_key]
                    self._done[earlier_key] = now
                    segments = earlier.earlier_segments + earlier.duration
                    event = _Event(earlier.digit, earlier.began_at, now, 0, segments)
                    continue
                detected.append(self._report(earlier_key))
            if event is None:
                event = _Event(DIGITS[code], now, now, 0)
            self._open[key] = event
        event.last_seen = now
        event.duration = max(event.duration, duration)
        if flags & 0x80:  # E bit: this is the end of the event
            detected.append(self._report(key))
        return detected

    @property
    def idle(self) -> bool:
        """Nothing open and nothing remembered: `flush` has no work (the per-packet fast path)."""
        return not self._open and not self._done

    def flush(self, now: float) -> list[DigitDetected]:
        """Report events silent for `timeout` (their end packets were lost) and forget old ones."""
        silent = [key for key, event in self._open.items() if now - event.last_seen >= self.timeout]
        detected = [self._report(key) for key in silent]
        # Keep reported keys a while so that stragglers of the event are still recognised.
        for key, last_seen in list(self._done.items()):
            if now - last_seen >= 10 * self.timeout:
                del self._done[key]
        return detected

    def next_deadline(self) -> float | None:
        """When `flush` may next report something, for the adapter's timer."""
        if not self._open:
            return None
        return min(event.last_seen for event in self._open.values()) + self.timeout

    def _report(self, key: tuple[int, int]) -> DigitDetected:
        event = self._open.pop(key)
        self._done[key] = event.last_seen
        duration_ms = round((event.earlier_segments + event.duration) * 1000 / self.clock_rate)
        return DigitDetected(event.digit, "rfc4733", event.began_at, duration_ms)


def _is_later(timestamp: int, other: int) -> bool:
    """Whether an RTP timestamp comes after another, allowing for wrap-around."""
    return 0 < (timestamp - other) % 2**32 < 2**31


_SEGMENT_FULL = 0xFFFF - 1600  # a duration this close to the 16-bit maximum means "segment full"


# ---------------------------------------------------------------------------------------------
# Sending RFC 4733 events


class Rfc4733Sender:
    """The RTP packets of one key press (RFC 4733 2.5.1).

    One packet per 20 ms with the duration so far, the marker on the first (2.5.1.1), all with
    the timestamp of the event start (2.5.1.2), then the end packet three times (2.5.1.4).
    The adapter sends the first ones 20 ms apart and the end packets together or close behind.
    """

    PACKET_MS = 20
    END_REPEATS = 3

    def __init__(self, payload_type: int, ssrc: int, clock_rate: int = 8000) -> None:
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.clock_rate = clock_rate

    def packets(
        self, digit: str, duration_ms: int = 100, volume: int = 10, start_timestamp: int = 0, start_sequence: int = 0
    ) -> list[bytes]:
        code = EVENT_OF_DIGIT.get(digit.upper())
        if code is None:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        if not 0 <= volume <= 63:  # RFC 4733 2.3.4: 0 to -63 dBm0
            raise ValueError(f"volume must be 0..63 (-dBm0), got {volume}")
        step = self.clock_rate * self.PACKET_MS // 1000
        total = duration_ms * self.clock_rate // 1000
        if not step <= total <= 0xFFFF:
            raise ValueError(f"duration_ms out of range for one segment: {duration_ms}")
        durations = list(range(step, total, step)) + [total]
        payloads = [_EVENT_PAYLOAD.pack(code, volume, duration) for duration in durations]
        payloads += [_EVENT_PAYLOAD.pack(code, 0x80 | volume, total)] * self.END_REPEATS
        out = []
        for index, payload in enumerate(payloads):
            marker = 0x80 if index == 0 else 0
            header = _RTP_FIXED.pack(
                _RTP_VERSION << 6, marker | self.payload_type, (start_sequence + index) & 0xFFFF,
                start_timestamp & 0xFFFFFFFF, self.ssrc,
            )  # fmt: skip
            out.append(header + payload)
        return out


# ---------------------------------------------------------------------------------------------
# SIP INFO


def parse_info_body(content_type: str, body: bytes) -> str | None:
    """The digit carried by a SIP INFO body, or None if the body is not a DTMF digit.

    `application/dtmf-relay` (the de facto Cisco format): lines `Signal=5` and `Duration=160`,
    keys case-insensitive, spaces allowed around `=`. `application/dtmf`: the body is the digit.
    Both also accept the RFC 4733 event code (10 for `*`, 11 for `#`), which some phones send.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if media_type == "application/dtmf":
        return _digit(text.strip())
    if media_type == "application/dtmf-relay":
        for line in text.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == "signal":
                return _digit(value.strip())
    return None


def _digit(value: str) -> str | None:
    if len(value) == 1 and value.upper() in EVENT_OF_DIGIT:
        return value.upper()
    if value.isdigit() and int(value) < len(DIGITS):
        return DIGITS[int(value)]
    return None


# ---------------------------------------------------------------------------------------------
# One stream per call


class DigitStream:
    """The digits of one call, each once, whichever sources carried it.

    A digit from one source is dropped when another source already reported the same digit
    less than `window_ms` earlier or later (by `at`). Repeats within one source are kept: each
    source de-duplicates itself, so two presses of "5" from RFC 4733 are two digits.
    """

    # RFC 4733 reports a press at its end (or a timeout later), in-band near its start, so the
    # history is kept by count rather than by time.
    HISTORY = 16

    __slots__ = ("window", "_recent")

    def __init__(self, window_ms: int = 150) -> None:
        self.window = window_ms / 1000
        self._recent: tuple[DigitDetected, ...] = ()

    def add(self, event: DigitDetected) -> DigitDetected | None:
        for seen in self._recent:
            if seen.digit == event.digit and seen.source != event.source and abs(seen.at - event.at) <= self.window:
                return None
        self._recent = (*self._recent[-(self.HISTORY - 1) :], event)
        return event
