"""Media: the anchored RTP relay for now; codecs, DTMF, jitter, mixer, player and recorder later.

Other packages import from here:

- `MediaRelay`, `RelayEndpoint`, `EndpointStats`, `EndpointClosed` (asyncio adapter, relay.py)
- `PortPool`, `PortsExhausted` (RTP/RTCP port pairs, pure)
- `Latch` (symmetric RTP: where to send, whom to accept, pure)
- `RtpHeader`, `peek`, `is_rtcp` (a glance at packet headers, pure)
"""

from .latching import Latch
from .ports import PortPool, PortsExhausted
from .relay import EndpointClosed, EndpointStats, MediaRelay, RelayEndpoint
from .rtp_header import RtpHeader, is_rtcp, peek

__all__ = [
    "EndpointClosed", "EndpointStats", "Latch", "MediaRelay", "PortPool", "PortsExhausted", "RelayEndpoint",
    "RtpHeader", "is_rtcp", "peek",
]  # fmt: skip
