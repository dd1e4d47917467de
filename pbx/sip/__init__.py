"""The SIP stack: sans-IO protocol cores plus one asyncio adapter (transport.py).

Other packages import from here:

- messages: `parse_message`, `Request`, `Response`, `Headers`, `Uri`, `NameAddress`, `Via`, `CSeq`
- `make_response`; errors `RemoteProtocolError` (peer's fault) and `LocalProtocolError` (ours)
- SDP: `SessionDescription`, `SdpError`; offer/answer in `pbx.sip.offer_answer`
- transactions: `TransactionLayer`, `Timers`, `Peer`; dialogs in `pbx.sip.dialog`
- `DigestAuthenticator`, `Registrar`, `SipEndpoint`
"""

from .digest import DigestAuthenticator
from .endpoint import SipEndpoint
from .errors import LocalProtocolError, RemoteProtocolError, SipError
from .fields import CSeq, Via
from .message import Headers, Request, Response, parse_message
from .registrar import Registrar
from .sdp import SdpError, SessionDescription
from .status import make_response
from .transaction import Peer, Timers, TransactionLayer
from .uri import NameAddress, Uri

__all__ = [
    "CSeq", "DigestAuthenticator", "Headers", "LocalProtocolError", "NameAddress", "Peer", "Registrar",
    "RemoteProtocolError", "Request", "Response", "SdpError", "SessionDescription", "SipEndpoint", "SipError",
    "Timers", "TransactionLayer", "Uri", "Via", "make_response", "parse_message",
]  # fmt: skip
