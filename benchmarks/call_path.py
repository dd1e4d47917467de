"""The call-setup path without sockets: whole authenticated calls through the sans-IO SIP core.

`CallPath` builds a `SipEndpoint` (transactions, digest, registrar) and a `CallManager` with a
relay that hands out port numbers instead of sockets, registers extension 1002, and plays
`call(n)`: what bench_cps's sipp peers do on the wire, as bytes, with a clock it moves itself.

    INVITE -> 407, ACK; INVITE with Proxy-Authorization -> 100, and INVITE to 1002;
    1002: 180, 200 -> ACK to 1002 and 200 to the caller; ACK; BYE -> 200, BYE to 1002 -> 200.

Only the time inside the PBX's own calls (`receive`, `handle_timer`) is counted, so what the
driver spends writing and reading messages does not blur the figure. Used by
benchmarks/bench_call_path.py (CPU per call, and a profile) and by the suite's regression check
(tests/unit/test_cpu_per_call.py).
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass

from pbx.calls.manager import CallManager
from pbx.calls.router import Router
from pbx.sip.digest import DigestAuthenticator, client_response
from pbx.sip.endpoint import EndpointSettings, SipEndpoint
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.registrar import Registrar, RegistrarSettings
from pbx.sip.transaction import Peer, TransactionLayer, Transmit

REALM = "pbx.test"
PASSWORDS = {"1001": "secret1001", "1002": "secret1002"}
CALLER = Peer("udp", "127.0.0.1", 5062)
CALLEE = Peer("udp", "127.0.0.1", 5070)
SDP_CALLER = ("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              "m=audio 7000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
              "a=fmtp:101 0-16\r\n")
SDP_CALLEE = ("v=0\r\no=b 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              "m=audio 8000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
_CHALLENGE = re.compile(r'(\w+)=("[^"]*"|[^,\s]+)')


@dataclass(frozen=True)
class HeldCall:
    """What the caller needs to end a call it set up: its dialog's identifiers."""

    call_id: str
    tag: str
    to: str


class PortEndpoint:
    """A relay endpoint that is only a port number: the call path without sockets."""

    closed = False

    def __init__(self, port: int) -> None:
        self.host, self.port, self.rtcp_port = "127.0.0.1", port, port + 1

    def expect(self, host, port, rtcp_port=None, rtcp_host=None, rtcp_mux=False) -> None:
        pass

    def add_tap(self, callback, *, rtcp=False):
        return lambda: None

    def remove_tap(self, callback) -> None:
        pass

    def secure(self, srtp) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class PortRelay:
    def __init__(self) -> None:
        self._opened = 0  # (itertools.cycle would keep every port it handed out)
        self.ports_in_use = 0

    def open_endpoint(self, label: str = "") -> PortEndpoint:
        self._opened += 1
        return PortEndpoint(30000 + 2 * (self._opened % 15000))

    def link(self, a, b) -> None:
        pass

    def unlink(self, endpoint) -> None:
        pass


def wire(lines: list[str], body: str = "") -> bytes:
    return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()


class CallPath:
    def __init__(self, relay=None) -> None:
        """``relay``: a pbx.media MediaRelay to bind real sockets (inside a running loop);
        by default one that hands out port numbers only."""
        tags = (f"t{n}" for n in itertools.count(1))
        ids = (f"c{n}" for n in itertools.count(1))
        self.endpoint = SipEndpoint(
            EndpointSettings(realm=REALM, user_agent="pbx"),
            transactions=TransactionLayer(),
            authenticator=DigestAuthenticator(REALM, b"k" * 32, PASSWORDS.get, nonce_lifetime=300),
            registrar=Registrar(RegistrarSettings(), domain=REALM),
            is_extension=PASSWORDS.__contains__,
            new_tag=lambda: next(tags),
        )
        self.manager = CallManager(
            self.endpoint, Router(self.endpoint.registrar, set(PASSWORDS)), relay or PortRelay(), domain=REALM,
            media_host="127.0.0.1", local_address=lambda transport: ("127.0.0.1", 5060), new_id=lambda: next(ids),
        )
        self.now = 1_000_000.0
        self.busy = 0.0  # seconds spent inside the PBX's own calls
        self._register()

    # What the PBX is given -------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer) -> list[Request | Response]:
        """Hand the PBX one message; return what it sent, parsed (outside the timed part)."""
        start = time.perf_counter()
        actions = self.endpoint.receive(data, peer, self.now)
        self.busy += time.perf_counter() - start
        return [parse_message(action.data) for action in actions if isinstance(action, Transmit)]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        start = time.perf_counter()
        self.endpoint.handle_timer(self.now)
        self.busy += time.perf_counter() - start

    # A whole call ------------------------------------------------------------------------------------

    def call(self, n: int) -> None:
        self.hang_up(self.set_up(n))

    def set_up(self, n: int) -> HeldCall:
        """Call n up to the caller's ACK: both legs answered, the PBX holding the call."""
        call_id, tag = f"call-{n}", f"caller-{n}"
        first = self._one(self.receive(self._invite(call_id, tag, 1), CALLER), 407)
        self.receive(self._ack_refusal(call_id, tag, first), CALLER)
        credentials = self._credentials(first)
        sent = self.receive(self._invite(call_id, tag, 2, credentials), CALLER)
        outgoing = next(m for m in sent if isinstance(m, Request) and m.method == "INVITE")
        self.receive(self._answer(outgoing, 180, "Ringing"), CALLEE)
        sent = self.receive(self._answer(outgoing, 200, "OK", SDP_CALLEE), CALLEE)
        ok = next(m for m in sent if isinstance(m, Response) and m.status == 200)
        to = ok.headers.get("To")
        self.receive(self._in_dialog("ACK", call_id, tag, to, 2), CALLER)
        return HeldCall(call_id, tag, to)

    def hang_up(self, held: HeldCall) -> None:
        """The caller's BYE, and the callee's 200 to the BYE the PBX sends it."""
        sent = self.receive(self._in_dialog("BYE", held.call_id, held.tag, held.to, 3), CALLER)
        bye = next(m for m in sent if isinstance(m, Request) and m.method == "BYE")
        self.receive(self._answer(bye, 200, "OK"), CALLEE)

    def calls(self, count: int, first: int = 0, per_second: int = 500) -> float:
        """`count` calls, the clock moving as at `per_second`; seconds spent in the PBX for them."""
        before = self.busy
        for n in range(first, first + count):
            self.call(n)
            self.advance(1 / per_second)
        self.advance(40)  # every transaction of these calls over (64*T1 + T4)
        return self.busy - before

    # Messages ----------------------------------------------------------------------------------------

    def _register(self) -> None:
        lines = ["REGISTER sip:pbx.test SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-reg-{cseq};rport",
                 "Max-Forwards: 70", "From: <sip:1002@pbx.test>;tag=reg", "To: <sip:1002@pbx.test>",
                 "Call-ID: reg-1002", "CSeq: {cseq} REGISTER", "Contact: <sip:1002@127.0.0.1:5070>", "Expires: 3600"]
        [challenge] = self.receive(wire([line.format(cseq=1) for line in lines]), CALLEE)
        params = dict((k, v.strip('"')) for k, v in _CHALLENGE.findall(challenge.headers.get("WWW-Authenticate")))
        answer = client_response(method="REGISTER", uri="sip:pbx.test", username="1002", password="secret1002",
                                 realm=params["realm"], nonce=params["nonce"])
        authorization = (f'Authorization: Digest username="1002", realm="{params["realm"]}", '
                         f'nonce="{params["nonce"]}", uri="sip:pbx.test", response="{answer}"')
        [ok] = self.receive(wire([line.format(cseq=2) for line in lines] + [authorization]), CALLEE)
        assert ok.status == 200, ok.status

    def _invite(self, call_id: str, tag: str, cseq: int, credentials: str = "") -> bytes:
        lines = ["INVITE sip:1002@127.0.0.1:5060 SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{call_id}-{cseq};rport", "Max-Forwards: 70",
                 f"From: <sip:1001@127.0.0.1>;tag={tag}", "To: <sip:1002@127.0.0.1>", f"Call-ID: {call_id}",
                 f"CSeq: {cseq} INVITE", "Contact: <sip:1001@127.0.0.1:5062>", "Content-Type: application/sdp"]
        return wire(lines + ([credentials] if credentials else []), SDP_CALLER)

    def _ack_refusal(self, call_id: str, tag: str, refusal: Response) -> bytes:
        """RFC 3261 17.1.1.3: the ACK to a non-2xx takes the INVITE's branch and the response's To."""
        return wire(["ACK sip:1002@127.0.0.1:5060 SIP/2.0",
                     f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{call_id}-1;rport", "Max-Forwards: 70",
                     f"From: <sip:1001@127.0.0.1>;tag={tag}", f"To: {refusal.headers.get('To')}",
                     f"Call-ID: {call_id}", "CSeq: 1 ACK"])

    def _credentials(self, challenge: Response) -> str:
        params = dict((k, v.strip('"')) for k, v in _CHALLENGE.findall(challenge.headers.get("Proxy-Authenticate")))
        uri = "sip:1002@127.0.0.1:5060"
        answer = client_response(method="INVITE", uri=uri, username="1001", password="secret1001",
                                 realm=params["realm"], nonce=params["nonce"], qop="auth", cnonce="c0ffee")
        return (f'Proxy-Authorization: Digest username="1001", realm="{params["realm"]}", nonce="{params["nonce"]}", '
                f'uri="{uri}", response="{answer}", qop=auth, cnonce="c0ffee", nc=00000001')

    def _in_dialog(self, method: str, call_id: str, tag: str, to: str, cseq: int) -> bytes:
        return wire([f"{method} sip:pbx@127.0.0.1:5060 SIP/2.0",
                     f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{call_id}-{method}-{cseq};rport",
                     "Max-Forwards: 70", f"From: <sip:1001@127.0.0.1>;tag={tag}", f"To: {to}", f"Call-ID: {call_id}",
                     f"CSeq: {cseq if method != 'ACK' else 2} {method}"])

    @staticmethod
    def _answer(request: Request, status: int, reason: str, body: str = "") -> bytes:
        lines = [f"SIP/2.0 {status} {reason}", *(f"Via: {via}" for via in request.headers.lines("Via")),
                 f"From: {request.headers.get('From')}", f"To: {request.headers.get('To')};tag=callee",
                 f"Call-ID: {request.call_id}", f"CSeq: {request.headers.get('CSeq')}",
                 "Contact: <sip:1002@127.0.0.1:5070>"]
        return wire(lines + (["Content-Type: application/sdp"] if body else []), body)

    @staticmethod
    def _one(messages: list[Request | Response], status: int) -> Response:
        [response] = [m for m in messages if isinstance(m, Response)]
        assert response.status == status, (response.status, response.reason)
        return response
