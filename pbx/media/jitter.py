"""An adaptive jitter buffer for the media paths that decode (recording, mixing).

Packets go in with `push` as they arrive, in any order; the media clock
calls `pop` every `frame_ms` and always gets exactly one `Frame` back:

- ``audio``: the next `frame_ms` of the stream, in timestamp order;
- ``concealed``: the frame is missing, so the last audio frame is repeated,
  at most `max_concealed` times in a row (the simplest packet loss
  concealment; ITU-T G.711 Appendix I does better by pitch repetition);
- ``silence``: nothing to play (before the stream starts, or after a long
  gap); the payload is None and the decoder writes its own silence.

The buffer works in RTP timestamp units (RFC 3550 5.1), with 16-bit
sequence numbers and 32-bit timestamps extended across wraps, so it does
not care how long each packet is. It slices packets by sample count into
frames of `frame_ms`: a 30 ms packet played by a 20 ms clock gives one and
a half frames, and a frame spanning two packets joins their bytes. That
needs `bytes_per_sample` (1 for G.711, the default); it is the simplest
choice that keeps a fixed-cadence consumer in step with the sender.
A frame with any sample missing counts as missing as a whole.

Adaptation, kept simple:

- the target delay is ``clamp(3 J + frame_ms, min_delay_ms, max_delay_ms)``,
  J being the RFC 3550 A.8 interarrival jitter in ms, raised further by a
  late-packet floor: every late packet lifts the target one frame above
  what it was, and the floor decays by one frame a second;
- the delay grows when the frame due is missing while the delay is below
  target: the playout point is held for one frame, which is concealed, so
  a packet that is late has another frame to come; at or above target a
  missing frame is taken as lost and skipped (concealed too);
- it shrinks by dropping one audio frame when it has been above target
  for at least `SHRINK_AFTER_POPS` pops since the last change (one frame a
  second at most at 20 ms).

`current_delay_ms` is bookkept in whole frames: the target when playout
started, plus one frame per hold, minus one per drop.

Pure: sequence numbers, timestamps, bytes and `now` in, frames out. It does
not decode, mix or follow SSRC changes: a new source gets a new buffer.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple

from .quality import InterarrivalJitter

RTP_SEQ_MOD = 1 << 16
RTP_TS_MOD = 1 << 32
SHRINK_AFTER_POPS = 50  # pops between two shrink steps: 1 s at 20 ms
REMEMBERED_PLAYED = 512  # how many played sequence numbers are kept to spot duplicates
_EPSILON = 1e-6  # float slack when comparing delays against whole frames

FrameKind = Literal["audio", "concealed", "silence"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One `frame_ms` of output.

    ``timestamp`` is the RTP timestamp of its first sample (None before the
    stream starts); a frame inserted to grow the delay carries the position
    it held at, so the audio frame after it has the same timestamp.
    """

    kind: FrameKind
    payload: bytes | None
    timestamp: int | None


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Counters since the buffer was made. ``received`` counts every pushed packet, late and duplicate ones included.

    ``lost`` counts sequence numbers the playout passed without playing,
    so a packet that arrives after its turn is both lost and late.
    """

    received: int
    late: int
    duplicate: int
    lost: int
    concealed: int
    current_delay_ms: float
    target_delay_ms: float


class _Packet(NamedTuple):
    sequence: int  # extended
    payload: bytes
    samples: int


def _unwrap(value: int, reference: int, modulus: int) -> int:
    """Extend a wrapping counter to the value nearest ``reference`` (RFC 3550 A.1 style)."""
    delta = (value - reference) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return reference + delta


class JitterBuffer:
    def __init__(
        self,
        clock_rate: int = 8000,
        frame_ms: int = 20,
        min_delay_ms: int = 20,
        max_delay_ms: int = 200,
        *,
        bytes_per_sample: int = 1,
        max_concealed: int = 2,
    ) -> None:
        if clock_rate <= 0 or frame_ms <= 0 or bytes_per_sample <= 0:
            raise ValueError("clock_rate, frame_ms and bytes_per_sample must be positive")
        if not 0 <= min_delay_ms <= max_delay_ms:
            raise ValueError(f"need 0 <= min_delay_ms <= max_delay_ms, got {min_delay_ms}, {max_delay_ms}")
        if (clock_rate * frame_ms) % 1000:
            raise ValueError(f"{frame_ms} ms is not a whole number of samples at {clock_rate} Hz")
        self.clock_rate = clock_rate
        self.frame_ms = frame_ms
        self.min_delay_ms = min_delay_ms
        self.max_delay_ms = max_delay_ms
        self.bytes_per_sample = bytes_per_sample
        self.max_concealed = max_concealed
        self._frame_samples = clock_rate * frame_ms // 1000
        self._max_delay_samples = clock_rate * max_delay_ms // 1000
        self._jitter = InterarrivalJitter(clock_rate)
        # Buffered packets by extended timestamp, and their sorted start timestamps.
        self._packets: dict[int, _Packet] = {}
        self._starts: list[int] = []
        self._buffered_sequences: set[int] = set()
        self._played: deque[int] = deque(maxlen=REMEMBERED_PLAYED)
        self._played_set: set[int] = set()
        self._highest_sequence: int | None = None
        self._highest_timestamp: int | None = None
        self._last_removed_sequence: int | None = None
        self._first_arrival: float | None = None
        self._playout: int | None = None  # extended timestamp of the next frame; None until playout starts
        self._delay_frames = 0
        self._late_floor_ms = 0.0
        self._pops_since_change = 0
        self._last_audio: bytes | None = None
        self._missing_run = 0
        self._received = 0
        self._late = 0
        self._duplicate = 0
        self._lost = 0
        self._concealed = 0

    # -- adaptation ------------------------------------------------------

    @property
    def jitter_ms(self) -> float:
        return self._jitter.jitter_ms

    @property
    def target_delay_ms(self) -> float:
        wanted = max(3 * self._jitter.jitter_ms + self.frame_ms, self._late_floor_ms)
        return min(float(self.max_delay_ms), max(float(self.min_delay_ms), wanted))

    def _target_frames(self) -> int:
        return max(1, math.ceil(self.target_delay_ms / self.frame_ms - _EPSILON))

    @property
    def current_delay_ms(self) -> float:
        return float(self._delay_frames * self.frame_ms)

    @property
    def stats(self) -> JitterStats:
        return JitterStats(
            received=self._received,
            late=self._late,
            duplicate=self._duplicate,
            lost=self._lost,
            concealed=self._concealed,
            current_delay_ms=self.current_delay_ms,
            target_delay_ms=self.target_delay_ms,
        )

    # -- input -----------------------------------------------------------

    def push(self, sequence: int, timestamp: int, payload: bytes, now: float) -> None:
        """Take one packet's payload; duplicates and packets whose turn has passed are counted and dropped."""
        self._received += 1
        if self._highest_sequence is None or self._highest_timestamp is None:
            extended_sequence, extended_timestamp = sequence, timestamp
            self._first_arrival = now
        else:
            extended_sequence = _unwrap(sequence, self._highest_sequence, RTP_SEQ_MOD)
            extended_timestamp = _unwrap(timestamp, self._highest_timestamp, RTP_TS_MOD)
        if (
            extended_sequence in self._buffered_sequences
            or extended_sequence in self._played_set
            or extended_timestamp in self._packets
        ):
            self._duplicate += 1
            return
        self._jitter.update(timestamp, now)
        samples = len(payload) // self.bytes_per_sample
        if self._playout is not None and extended_timestamp + samples <= self._playout:
            self._late += 1
            # Grow fast: one frame above the present target, decaying slowly in `pop`.
            self._late_floor_ms = min(float(self.max_delay_ms), self.target_delay_ms + self.frame_ms)
            return
        if self._highest_sequence is None or extended_sequence > self._highest_sequence:
            self._highest_sequence = extended_sequence
        if self._highest_timestamp is None or extended_timestamp > self._highest_timestamp:
            self._highest_timestamp = extended_timestamp
        self._packets[extended_timestamp] = _Packet(extended_sequence, payload, samples)
        insort(self._starts, extended_timestamp)
        self._buffered_sequences.add(extended_sequence)

    # -- output ----------------------------------------------------------

    def pop(self, now: float) -> Frame:
        """The frame to play now; call it every `frame_ms`."""
        if self._playout is None and not self._start(now):
            return Frame("silence", None, None)
        assert self._playout is not None
        self._late_floor_ms = max(0.0, self._late_floor_ms - self.frame_ms / SHRINK_AFTER_POPS)
        self._pops_since_change += 1
        self._resynchronise()
        payload = self._assemble(self._playout)
        if payload is not None:
            frame = self._play(payload)
        elif self._delay_frames < self._target_frames():
            # Below target: take the missing packet as late rather than lost and hold the playout point.
            self._delay_frames += 1
            self._pops_since_change = 0
            frame = self._conceal(self._playout)
        else:
            frame = self._conceal(self._playout)
            self._playout += self._frame_samples
        self._discard_played()
        return frame

    def _start(self, now: float) -> bool:
        if self._first_arrival is None or not self._starts:
            return False
        frames = self._target_frames()
        if now - self._first_arrival < frames * self.frame_ms / 1000 - _EPSILON:
            return False
        self._playout = self._starts[0]
        self._delay_frames = frames
        self._pops_since_change = 0
        return True

    def _play(self, payload: bytes) -> Frame:
        assert self._playout is not None
        if (
            self._delay_frames > self._target_frames()
            and self._pops_since_change >= SHRINK_AFTER_POPS
            and (following := self._assemble(self._playout + self._frame_samples)) is not None
        ):
            # Shrink: drop this frame and play the next one in its place.
            self._playout += self._frame_samples
            self._delay_frames -= 1
            self._pops_since_change = 0
            payload = following
        frame = Frame("audio", payload, self._playout % RTP_TS_MOD)
        self._playout += self._frame_samples
        self._last_audio = payload
        self._missing_run = 0
        return frame

    def _conceal(self, timestamp: int) -> Frame:
        self._missing_run += 1
        if self._last_audio is not None and self._missing_run <= self.max_concealed:
            self._concealed += 1
            return Frame("concealed", self._last_audio, timestamp % RTP_TS_MOD)
        return Frame("silence", None, timestamp % RTP_TS_MOD)

    def _assemble(self, start: int) -> bytes | None:
        """The frame's bytes from the packets covering [start, start + frame), or None if any sample is missing."""
        end = start + self._frame_samples
        cursor = start
        pieces = []
        while cursor < end:
            index = bisect_right(self._starts, cursor) - 1
            if index < 0:
                return None
            packet_start = self._starts[index]
            packet = self._packets[packet_start]
            packet_end = packet_start + packet.samples
            if packet_end <= cursor:
                return None
            taken = min(packet_end, end) - cursor
            offset = (cursor - packet_start) * self.bytes_per_sample
            pieces.append(packet.payload[offset : offset + taken * self.bytes_per_sample])
            cursor += taken
        return b"".join(pieces)

    def _resynchronise(self) -> None:
        """Jump to the earliest packet when it lies beyond the maximum delay (a timestamp jump, e.g. after DTX)."""
        assert self._playout is not None
        if self._starts and self._starts[0] - self._playout >= self._max_delay_samples:
            self._playout = self._starts[0]

    def _discard_played(self) -> None:
        """Forget packets wholly behind the playout point, counting the sequence numbers never played."""
        assert self._playout is not None
        while self._starts:
            start = self._starts[0]
            packet = self._packets[start]
            if start + packet.samples > self._playout:
                break
            self._starts.pop(0)
            del self._packets[start]
            self._buffered_sequences.discard(packet.sequence)
            if len(self._played) == self._played.maxlen:
                self._played_set.discard(self._played[0])
            self._played.append(packet.sequence)
            self._played_set.add(packet.sequence)
            if self._last_removed_sequence is None:
                self._last_removed_sequence = packet.sequence
            elif packet.sequence > self._last_removed_sequence:
                self._lost += packet.sequence - self._last_removed_sequence - 1
                self._last_removed_sequence = packet.sequence
