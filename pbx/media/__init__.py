"""Media: the anchored RTP relay, and the pure parts of the media engine.

Other packages import from here:

- `MediaRelay`, `RelayEndpoint`, `EndpointStats`, `EndpointClosed` (asyncio adapter, relay.py)
- `PortPool`, `PortsExhausted` (RTP/RTCP port pairs), `Latch` (symmetric RTP)
- `RtpHeader`, `peek`, `is_rtcp` (a glance at packet headers, for the relay)
- `RtpPacket`, `RtpError` (RFC 3550 5) and RTCP in `pbx.media.rtcp` (RFC 3550 6)
- `CODECS`, `ulaw_encode`/`ulaw_decode`/`alaw_encode`/`alaw_decode` (G.711, no audioop)
- `JitterBuffer`, `Frame` (adaptive playout with concealment)
- `StreamQuality`, `QualityReport` (loss, RFC 3550 A.8 jitter, E-model MOS)
- DTMF: `Rfc4733Receiver`, `Rfc4733Sender`, `parse_info_body`, `InbandDetector`, `DigitStream`, `DigitDetected`

- `MediaClock` (one 20 ms tick for every stream), `RtpSender` (our own audio as RTP),
  `Player`, `PromptCache`, `PromptError` (prompts and playlists)

Recording and the wiring into calls arrive with the rest of the media engine.
"""

from .clock import MediaClock
from .dtmf import DigitDetected, DigitStream, Rfc4733Receiver, Rfc4733Sender, parse_info_body
from .g711 import CODECS, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from .goertzel import InbandDetector
from .jitter import Frame, JitterBuffer
from .latching import Latch
from .player import Player, PromptCache, PromptError
from .ports import PortPool, PortsExhausted
from .quality import QualityReport, StreamQuality
from .relay import EndpointClosed, EndpointStats, MediaRelay, RelayEndpoint
from .rtp import RtpError, RtpPacket
from .rtp_header import RtpHeader, is_rtcp, peek
from .sender import RtpSender

__all__ = [
    "MediaClock", "Player", "PromptCache", "PromptError", "RtpSender",
    "CODECS", "DigitDetected", "DigitStream", "InbandDetector", "Rfc4733Receiver", "Rfc4733Sender",
    "parse_info_body", "EndpointClosed", "EndpointStats", "Frame", "JitterBuffer", "Latch", "MediaRelay", "PortPool",
    "PortsExhausted", "QualityReport", "RelayEndpoint", "RtpError", "RtpHeader", "RtpPacket", "StreamQuality",
    "alaw_decode", "alaw_encode", "is_rtcp", "peek", "ulaw_decode", "ulaw_encode",
]  # fmt: skip
