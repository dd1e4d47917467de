"""What a call recording sounds like, 20 ms at a time: two legs' RTP in, PCM16 frames out.

`RecordingMixer` keeps two channels, "caller" (left) and "callee" (right).
`receive(channel, packet, now)` takes a raw RTP packet as a phone sent it:
audio payload types are decoded through the channel's {payload type: codec
name} map (G.711 here, RFC 3551 4.5.14) and pushed into an adaptive
`JitterBuffer` as PCM16, so reordering and loss are concealed before the
audio is written; other payload types (telephone-event, comfort noise,
unknown) are counted and ignored. A new SSRC (RFC 3550 8.2: a new source,
e.g. after a transfer or a re-INVITE) restarts that channel's buffer; what
the old source still had buffered (a frame or two) is dropped.
`feed_pcm` takes audio we send ourselves (prompts), frame by frame, with no
jitter buffer: it is already in time; on a channel that also has RTP, the
two are summed.

The media clock calls `tick(now)` every 20 ms and gets exactly one frame:

- ``stereo``: 160 interleaved sample pairs, caller left and callee right
  (640 bytes);
- ``mixed``: mono, the two channels summed, saturating at the 16-bit limits
  (320 bytes).

A channel with nothing to play gives silence. Output is 8 kHz PCM16
little-endian, the form WAV files hold.

Pause and resume follow a small table (`TRANSITIONS`). While paused,
`tick` still returns one frame, of silence, so the file keeps the call's
timeline (a minute paused is a minute of silence, and the audio after it
lines up with the call log); audio arriving meanwhile is dropped, never
played later, and the jitter buffers start afresh on resume.

Pure: bytes and `now` in, bytes out. It does not touch files or sockets,
resample, transcode to anything but PCM16, or decode codecs other than G.711.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from operator import add
from typing import Literal

from .g711 import CODECS, Codec
from .jitter import JitterBuffer

Channel = Literal["caller", "callee"]
Layout = Literal["stereo", "mixed"]
State = Literal["recording", "paused", "stopped"]

CHANNELS: tuple[Channel, ...] = ("caller", "callee")  # left, right
LAYOUTS: tuple[Layout, ...] = ("stereo", "mixed")
RATE = 8000
FRAME_SECONDS = 0.020
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
MONO_FRAME = bytes(2 * FRAME_SAMPLES)
STEREO_FRAME = bytes(4 * FRAME_SAMPLES)
# RFC 3551 6, table 4: the static audio payload types of G.711.
STATIC_CODECS: Mapping[int, str] = {0: "PCMU", 8: "PCMA"}
MAX_FED_FRAMES = 10  # our own audio queued ahead of the clock; older frames are dropped

# The state machine, as data: (state, command) -> next state.
TRANSITIONS: Mapping[tuple[State, str], State] = {
    ("recording", "pause"): "paused",
    ("paused", "resume"): "recording",
    ("recording", "stop"): "stopped",
    ("paused", "stop"): "stopped",
}

_FIXED_HEADER = struct.Struct("!BBHII")  # RFC 3550 5.1
_SAMPLE_MIN, _SAMPLE_MAX = -32768, 32767
_BIG_ENDIAN = sys.byteorder == "big"


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Counters of one channel since the recording began.

    ``packets`` were decoded into audio; ``ignored`` had a payload type with
    no codec (telephone-event, comfort noise, unknown); ``malformed`` were
    not RTP; ``dropped`` arrived while paused. ``late`` came after their
    turn to play had passed (the jitter buffer's count, over every source);
    ``concealed`` frames repeated earlier audio for a missing packet.
    """

    packets: int
    ignored: int
    malformed: int
    dropped: int
    late: int
    concealed: int
    sources: int  # SSRCs seen, one per restart of the jitter buffer


@dataclass(frozen=True, slots=True)
class RecordingStats:
    frames_written: int  # every frame `tick` returned, paused ones included
    frames_paused: int
    paused_seconds: float  # by `now`, from each pause to its resume (or to stop)
    caller: ChannelStats
    callee: ChannelStats

    @property
    def seconds(self) -> float:
        return self.frames_written * FRAME_SECONDS

    @property
    def packets_ignored(self) -> int:
        return self.caller.ignored + self.callee.ignored


def rtp_payload(data: bytes) -> tuple[int, int, int, int, bytes] | None:
    """(payload type, sequence, timestamp, ssrc, payload) of an RTP packet, or None when it is not one.

    RFC 3550 5.1: the payload follows the fixed header and CC CSRCs, then a
    header extension when X is set (5.3.1), and ends before any padding (P).
    """
    if len(data) < _FIXED_HEADER.size:
        return None
    first, second, sequence, timestamp, ssrc = _FIXED_HEADER.unpack_from(data)
    if first >> 6 != 2:
        return None
    start = _FIXED_HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    end = len(data) - (data[-1] if first & 0x20 else 0)
    if end < start:
        return None
    return second & 0x7F, sequence, timestamp, ssrc, data[start:end]


def _codec_map(channel: str, codecs: Mapping[int, str]) -> dict[int, Codec]:
    found = {}
    for payload_type, name in codecs.items():
        codec = CODECS.get(name.upper())
        if codec is None:
            raise ValueError(f"{channel}: cannot record {name} (payload type {payload_type}); known: {sorted(CODECS)}")
        found[payload_type] = codec
    return found


class _Channel:
    """One leg's audio: a codec map, the current source and its jitter buffer, or our own frames."""

    def __init__(self, name: str, codecs: Mapping[int, str]) -> None:
        self.name = name
        self.codecs = _codec_map(name, codecs)
        self.buffer: JitterBuffer | None = None
        self.ssrc: int | None = None
        self.fed: deque[bytes] = deque(maxlen=MAX_FED_FRAMES)
        self.packets = self.ignored = self.malformed = self.dropped = 0
        self.concealed = self.sources = 0
        self.late_before = 0  # late packets counted by buffers since replaced

    def receive(self, data: bytes, now: float) -> None:
        parsed = rtp_payload(data)
        if parsed is None:
            self.malformed += 1
            return
        payload_type, sequence, timestamp, ssrc, payload = parsed
        codec = self.codecs.get(payload_type)
        if codec is None or not payload:
            self.ignored += 1
            return
        if ssrc != self.ssrc or self.buffer is None:
            # RFC 3550 8.2: a new SSRC is a new source with its own numbering; start again.
            self.ssrc = ssrc
            self.sources += 1
            self._retire_buffer()
            # Decoded before buffering, so the buffer holds PCM16 (2 bytes a sample) and a codec
            # change within one source (PCMU to PCMA after a re-INVITE) needs no bookkeeping.
            self.buffer = JitterBuffer(RATE, 20, bytes_per_sample=2)
        self.packets += 1
        self.buffer.push(sequence, timestamp, codec.decode(payload), now)

    def next_frame(self, now: float) -> bytes | None:
        """320 bytes of PCM16, or None for silence: what the phone sent, plus what we sent, if both."""
        fed = self.fed.popleft() if self.fed else None
        if self.buffer is None:
            return fed
        frame = self.buffer.pop(now)  # every tick, so the buffer keeps time even while we also feed
        if frame.kind == "concealed":
            self.concealed += 1
        if fed is None or frame.payload is None:
            return frame.payload or fed
        return mix(frame.payload, fed)

    def forget(self) -> None:
        """Drop whatever is buffered: paused audio is never played later."""
        self._retire_buffer()
        self.ssrc = None
        self.fed.clear()

    def _retire_buffer(self) -> None:
        if self.buffer is not None:
            self.late_before += self.buffer.stats.late
        self.buffer = None

    def stats(self) -> ChannelStats:
        late = self.late_before + (self.buffer.stats.late if self.buffer is not None else 0)
        return ChannelStats(self.packets, self.ignored, self.malformed, self.dropped, late, self.concealed,
                            self.sources)


# One phone's audio decoded and buffered: what the supervisor mixer (mixer.py) takes from each leg too.
DecodedChannel = _Channel


def interleave(left: bytes, right: bytes) -> bytes:
    """Two PCM16 little-endian frames of equal length as one stereo frame (left sample first)."""
    out = bytearray(2 * len(left))
    # Byte-wise slices keep each sample's two bytes in order, whatever the host's byte order.
    out[0::4] = left[0::2]
    out[1::4] = left[1::2]
    out[2::4] = right[0::2]
    out[3::4] = right[1::2]
    return bytes(out)


def mix(first: bytes, second: bytes) -> bytes:
    """The sample-wise sum of two PCM16 frames of equal length, saturating at -32768 and 32767."""
    a, b = array("h", first), array("h", second)
    if _BIG_ENDIAN:  # array('h') reads native order; the frames are little-endian
        a.byteswap()
        b.byteswap()
    sums = list(map(add, a, b))
    # Clamping is the slow path, taken only when some sum overflows.
    if sums and (max(sums) > _SAMPLE_MAX or min(sums) < _SAMPLE_MIN):
        sums = [min(_SAMPLE_MAX, max(_SAMPLE_MIN, value)) for value in sums]
    out = array("h", sums)
    if _BIG_ENDIAN:
        out.byteswap()
    return out.tobytes()


class RecordingMixer:
    """Two legs' audio as one 20 ms frame per tick; see the module docstring."""

    def __init__(
        self,
        layout: Layout = "stereo",
        *,
        caller_codecs: Mapping[int, str] = STATIC_CODECS,
        callee_codecs: Mapping[int, str] = STATIC_CODECS,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.layout: Layout = layout
        self.state: State = "recording"
        self._channels = {"caller": _Channel("caller", caller_codecs), "callee": _Channel("callee", callee_codecs)}
        self._frames_written = 0
        self._frames_paused = 0
        self._paused_seconds = 0.0
        self._paused_at: float | None = None

    @property
    def channels(self) -> int:
        return 2 if self.layout == "stereo" else 1

    @property
    def frame_bytes(self) -> int:
        return 2 * FRAME_SAMPLES * self.channels

    @property
    def is_paused(self) -> bool:
        return self.state == "paused"

    # -- input -----------------------------------------------------------

    def receive(self, channel: Channel, packet: bytes, now: float) -> None:
        """One RTP packet as the phone on ``channel``'s leg sent it."""
        leg = self._channel(channel)
        self._check_running("receive")
        if self.state == "paused":
            leg.dropped += 1
            return
        leg.receive(packet, now)

    def feed_pcm(self, channel: Channel, pcm_frame: bytes, now: float) -> None:
        """One 20 ms frame of 8 kHz PCM16 that we send on ``channel`` ourselves (a prompt), played next tick."""
        leg = self._channel(channel)
        self._check_running("feed_pcm")
        if len(pcm_frame) != len(MONO_FRAME):
            raise ValueError(f"feed_pcm takes one 20 ms frame of {len(MONO_FRAME)} bytes, got {len(pcm_frame)}")
        if self.state == "paused":
            leg.dropped += 1
            return
        leg.fed.append(pcm_frame)

    def set_codecs(self, channel: Channel, codecs: Mapping[int, str]) -> None:
        """A new payload type map for ``channel``, e.g. after a re-INVITE changed the codec."""
        self._channel(channel).codecs = _codec_map(channel, codecs)

    # -- output ----------------------------------------------------------

    def tick(self, now: float) -> bytes:
        """The next 20 ms of the recording: 640 bytes (stereo) or 320 (mixed)."""
        self._check_running("tick")
        self._frames_written += 1
        if self.state == "paused":
            self._frames_paused += 1
            return STEREO_FRAME if self.layout == "stereo" else MONO_FRAME
        left = self._channels["caller"].next_frame(now)
        right = self._channels["callee"].next_frame(now)
        if self.layout == "stereo":
            if left is None and right is None:
                return STEREO_FRAME
            return interleave(left or MONO_FRAME, right or MONO_FRAME)
        if left is None or right is None:
            return left or right or MONO_FRAME
        return mix(left, right)

    # -- control ---------------------------------------------------------

    def pause(self, now: float) -> None:
        self._apply("pause")
        self._paused_at = now
        for leg in self._channels.values():
            leg.forget()

    def resume(self, now: float) -> None:
        self._apply("resume")
        self._end_pause(now)

    def stop(self, now: float) -> None:
        """The end: `tick`, `receive` and the commands raise afterwards."""
        was_paused = self.state == "paused"
        self._apply("stop")
        if was_paused:
            self._end_pause(now)

    @property
    def stats(self) -> RecordingStats:
        return RecordingStats(
            frames_written=self._frames_written,
            frames_paused=self._frames_paused,
            paused_seconds=self._paused_seconds,
            caller=self._channels["caller"].stats(),
            callee=self._channels["callee"].stats(),
        )

    # -- internals -------------------------------------------------------

    def _apply(self, command: str) -> None:
        following = TRANSITIONS.get((self.state, command))
        if following is None:
            allowed = sorted(event for state, event in TRANSITIONS if state == self.state)
            raise ValueError(f"cannot {command} a recording that is {self.state}; allowed: {allowed or 'nothing'}")
        self.state = following

    def _end_pause(self, now: float) -> None:
        if self._paused_at is not None:
            self._paused_seconds += max(0.0, now - self._paused_at)
            self._paused_at = None

    def _check_running(self, what: str) -> None:
        if self.state == "stopped":
            raise ValueError(f"cannot {what}: the recording is stopped")

    def _channel(self, channel: str) -> _Channel:
        try:
            return self._channels[channel]
        except KeyError:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}") from None
