"""Sending our own audio on a leg: PCM frames in, RTP packets out (RFC 3550 5.1).

One `RtpSender` per leg and SSRC: sequence numbers and timestamps advance by
one 20 ms frame per packet, the marker bit opens each talkspurt (RFC 3551 4.1),
and the payload is G.711 in the codec the leg negotiated. Pure; the caller
passes the SSRC and initial numbers (RFC 3550 5.1 wants them random).
"""

from __future__ import annotations

from .g711 import CODECS
from .rtp import RtpPacket


class RtpSender:
    def __init__(self, codec_name: str, payload_type: int, ssrc: int, *, sequence: int = 0, timestamp: int = 0) -> None:
        try:
            self.codec = CODECS[codec_name.upper()]
        except KeyError:
            raise ValueError(f"cannot send {codec_name}: only {sorted(CODECS)} are encoded") from None
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.sequence = sequence & 0xFFFF
        self.timestamp = timestamp & 0xFFFFFFFF
        self._talking = False
        self.sent = 0
        self.octets = 0  # payload octets sent, for RTCP sender reports (RFC 3550 6.4.1)

    def packet(self, pcm_frame: bytes) -> bytes:
        """The RTP packet carrying one frame of 8 kHz PCM16."""
        return self.packet_of_payload(self.codec.encode(pcm_frame))

    def packet_of_payload(self, payload: bytes) -> bytes:
        """An RTP packet around an already encoded payload (the echo test sends back what it got)."""
        packet = RtpPacket(self.payload_type, self.sequence, self.timestamp, self.ssrc, payload,
                           marker=not self._talking).serialize()
        self._talking = True
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + len(payload)) & 0xFFFFFFFF
        self.sent += 1
        self.octets += len(payload)
        return packet

    def pause(self, frames: int = 1) -> None:
        """Nothing sent for `frames` ticks: time moves on, and the next packet starts a talkspurt."""
        self._talking = False
        self.timestamp = (self.timestamp + 160 * frames) & 0xFFFFFFFF
