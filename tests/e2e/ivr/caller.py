"""An IVR caller in the test process: the e2e UAC plus real media on each call.

`IvrCaller` is `tests/e2e/media/uac.py`'s `Uac` that also keeps the SDP answer of each call
and sends keys by SIP INFO (``application/dtmf-relay``).
`CallMedia` is one call's RTP socket (127.0.0.1, a free port named in the offer):

- it sends 20 ms PCMU frames on a fixed grid (faint noise, so the PBX's in-band detector has
  audio to listen to), and on that grid RFC 4733 events (PT 101, the audio's SSRC) or in-band
  DTMF tones mixed into the audio when asked; the wall-clock time (CLOCK_REALTIME ns) just
  before the first packet of each key is kept;
- it receives the PBX's RTP with kernel receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME),
  so the prompt heard and the moment it stopped are measured on the same clock as the keys.

Deliberately small: one codec (PCMU), no RTCP, no jitter buffer (loopback does not reorder).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from ..media.uac import Uac
from ..sipmsg import SipResponse, build_request, new_branch
from .tones import (
    FRAME, RATE, TONES, Heard, dtmf_tone, label_frames, quiet_noise, segments_from_labels, ulaw_decode, ulaw_encode,
)

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@qq")
RTP_HEADER = struct.Struct("!BBHII")
EVENT_PT = 101
DIGIT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PTIME = 0.020


class IvrCaller(Uac):
    """`Uac` that remembers each call's SDP answer (`answers[call_id]`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict[str, bytes] = {}

    def _received(self, data: bytes, address) -> None:
        if data.startswith(b"SIP/2.0 2"):
            try:
                response = SipResponse.parse(data)
            except ValueError:
                response = None
            if response is not None and response.body and "INVITE" in (response.header("cseq") or ""):
                self.answers.setdefault(response.header("call-id") or "", response.body)
        super()._received(data, address)

    async def info(self, call, digit: str, *, timeout: float = 4.0) -> int | None:
        """A key by SIP INFO (application/dtmf-relay, RFC 6086 usage); returns the final status."""
        call.cseq += 1
        headers = self._headers(call, "INFO", new_branch()) + [("Content-Type", "application/dtmf-relay")]
        body = f"Signal={digit}\r\nDuration=160\r\n".encode()
        response = await self._transact(call, build_request(f"INFO {call.remote_target} SIP/2.0", headers, body),
                                        "INFO", timeout)
        return response.status if response else None

    def remote_media(self, call_id: str) -> tuple[str, int]:
        """The address the PBX's SDP answer gives for audio."""
        text = self.answers[call_id].decode()
        host = re.search(r"^c=IN IP4 (\S+)", text, re.MULTILINE)
        port = re.search(r"^m=audio (\d+)", text, re.MULTILINE)
        if host is None or port is None:
            raise AssertionError(f"no audio address in the SDP answer:\n{text}")
        return host[1], int(port[1])


@dataclass
class Received:
    arrival_ns: list[int] = field(default_factory=list)
    sequence: list[int] = field(default_factory=list)
    payload_type: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)


class CallMedia:
    """``media = CallMedia.open()`` before the call (its port goes in the offer); ``start(remote)``
    once answered; ``press_rfc4733("1")``, ``press_inband("1")``; ``close()``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.received = Received()
        self.ssrc = secrets.randbelow(2**32)
        self.sequence = secrets.randbelow(2**16)
        self.timestamp = secrets.randbelow(2**32)
        self.noise = ulaw_encode(quiet_noise(1.0, seed=self.port))
        self.key_times: list[tuple[str, str, int]] = []  # (digit, how, CLOCK_REALTIME ns of its first packet)
        self._events: list[tuple[str, int]] = []  # (digit, frames) not started yet
        self._event: dict | None = None
        self._inband: list[list] = []  # [digit, samples still to send, started]
        self._task: asyncio.Task | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._read)
        self.frames_sent = 0

    @classmethod
    def open(cls) -> CallMedia:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        return cls(sock)

    def start(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        self._task = self._loop.create_task(self._send_loop())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    # -- keys ----------------------------------------------------------------------------------

    def press_rfc4733(self, digit: str, frames: int = 3) -> None:
        """An RFC 4733 event of ``frames`` x 20 ms (the last packet carries the E bit, sent 3 times)."""
        self._events.append((digit, frames))

    def press_inband(self, digit: str, seconds: float = 0.08, gap: float = 0.08) -> None:
        """A DTMF tone mixed into the audio from the next free frame on, then ``gap`` of quiet."""
        samples = np.concatenate([dtmf_tone(digit, seconds), np.zeros(int(gap * RATE))])
        samples = np.concatenate([samples, np.zeros(-len(samples) % FRAME)])  # whole frames
        self._inband.append([digit, samples, False])

    async def press_all_inband(self, digits: str, timeout: float = 5.0) -> None:
        """Every digit in-band, one after the other; returns once the last one has been sent."""
        for digit in digits:
            self.press_inband(digit)
        deadline = self._loop.time() + timeout
        while not self.idle and self._loop.time() < deadline:
            await asyncio.sleep(0.02)

    @property
    def idle(self) -> bool:
        return not self._events and self._event is None and not self._inband

    # -- sending -------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        next_at = self._loop.time()
        while True:
            self._send_frame()
            next_at += PTIME
            delay = next_at - self._loop.time()
            if delay < -0.1:  # a long stall: restart the grid rather than burst
                next_at = self._loop.time()
                delay = 0
            await asyncio.sleep(max(delay, 0))

    def _packet(self, payload_type: int, marker: bool, timestamp: int, payload: bytes) -> bytes:
        self.sequence = (self.sequence + 1) & 0xFFFF
        header = RTP_HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, self.sequence, timestamp, self.ssrc)
        return header + payload

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.remote)
        except (BlockingIOError, OSError):
            pass

    def _send_frame(self) -> None:
        offset = (self.frames_sent * FRAME) % (len(self.noise) - FRAME)
        audio = self.noise[offset : offset + FRAME]
        if self._inband:
            tone = self._inband[0]
            if not tone[2]:
                tone[2] = True
                self.key_times.append((tone[0], "inband", time.time_ns()))
            chunk, tone[1] = tone[1][:FRAME], tone[1][FRAME:]
            audio = ulaw_encode(chunk + ulaw_decode(audio))
            if not len(tone[1]):
                self._inband.pop(0)
        self._send(self._packet(0, False, self.timestamp, audio))
        if self._event is None and self._events:
            digit, frames = self._events.pop(0)
            self._event = {"digit": digit, "frames": frames, "sent": 0, "timestamp": self.timestamp}
            self.key_times.append((digit, "rfc4733", time.time_ns()))
        if self._event is not None:
            event = self._event
            event["sent"] += 1
            end = event["sent"] >= event["frames"]
            duration = event["sent"] * FRAME
            payload = struct.pack("!BBH", DIGIT_CODES[event["digit"]], (0x80 if end else 0) | 10, duration)
            for _ in range(3 if end else 1):  # RFC 4733 2.5.1.4: the end packet three times
                self._send(self._packet(EVENT_PT, event["sent"] == 1, event["timestamp"], payload))
            if end:
                self._event = None
        self.timestamp = (self.timestamp + FRAME) & 0xFFFFFFFF
        self.frames_sent += 1

    # -- receiving -----------------------------------------------------------------------------

    def _read(self) -> None:
        ancillary = socket.CMSG_SPACE(TIMESPEC.size)
        while True:
            try:
                data, cmsgs, _, _ = self.sock.recvmsg(2048, ancillary)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            arrival = None
            for level, kind, value in cmsgs:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    seconds, nanoseconds = TIMESPEC.unpack_from(value)
                    arrival = seconds * 1_000_000_000 + nanoseconds
            if len(data) < RTP_HEADER.size or data[0] >> 6 != 2 or 200 <= data[1] <= 204:
                continue
            first, second, sequence, _, _ = RTP_HEADER.unpack_from(data)
            received = self.received
            received.arrival_ns.append(arrival if arrival is not None else time.time_ns())
            received.sequence.append(sequence)
            received.payload_type.append(second & 0x7F)
            received.payloads.append(data[RTP_HEADER.size + 4 * (first & 0x0F) :])

    # -- what was heard ------------------------------------------------------------------------

    def packet_labels(self, tones=TONES) -> tuple[np.ndarray, list[str | None]]:
        """Arrival (ns) and tone of each PCMU packet received, in arrival order."""
        received = self.received
        chosen = [i for i, pt in enumerate(received.payload_type) if pt == 0 and len(received.payloads[i]) == FRAME]
        if not chosen:
            return np.empty(0, dtype=np.int64), []
        frames = np.stack([ulaw_decode(received.payloads[i]) for i in chosen])
        return np.array([received.arrival_ns[i] for i in chosen], dtype=np.int64), label_frames(frames, tones)

    def heard(self, tones=TONES) -> list[Heard]:
        """Prompts heard in order, times in seconds of arrival from the first packet."""
        arrival, labels = self.packet_labels(tones)
        if not len(arrival):
            return []
        starts = [(value - arrival[0]) / 1e9 for value in arrival]
        return segments_from_labels(labels, starts, PTIME, merge_gap=0.07)

    def cut_latency_ms(self, prompt: str, key_index: int = -1, tones=TONES) -> float:
        """How long ``prompt`` went on after a key: (arrival of its last packet + 20 ms) - (time
        the key's first packet or tone frame was sent), in ms. Fails unless the prompt was
        arriving in the 200 ms before the key (so there was something to cut)."""
        _, _, key_ns = self.key_times[key_index]
        arrival, labels = self.packet_labels(tones)
        mine = np.array([label == prompt for label in labels])
        before = mine & (arrival < key_ns) & (arrival > key_ns - 200_000_000)
        if not before.any():
            raise AssertionError(f"{prompt!r} was not playing when the key was sent")
        after = arrival[mine & (arrival < key_ns + 2_000_000_000)]
        return (int(after.max()) + 20_000_000 - key_ns) / 1e6


async def open_call(caller: IvrCaller, number: str, *, timeout: float = 15.0):
    """Place a call with media; returns (CallResult, CallMedia), media started on answer."""
    media = CallMedia.open()
    call = await caller.call(number, media.port, timeout=timeout)
    if not call.answered:
        media.close()
        raise AssertionError(f"call to {number} failed: {call.error}")
    media.start(caller.remote_media(call.call_id))
    return call, media

