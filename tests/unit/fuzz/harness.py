"""What every fuzz case runs and what it must hold, shared by the seeded hypothesis pass in
the suite and by the long run in benchmarks/fuzz_sip.py.

A `FuzzTarget` owns one pure `SipEndpoint` (tests/unit/sipkit.py) driven with a fake clock.
Each entry point takes raw bytes, feeds them to the real code and checks the invariants of
issue 15: no exception escapes, every malformed request is answered 4xx/5xx with a reason
or dropped, whatever we transmit parses back, responses never break the transaction layer,
SDP raises only `SdpError`. A broken invariant raises `InvariantBroken`; any other exception
is a crash. Each entry point returns a short outcome label, so a run can count distinct ones.
"""

from __future__ import annotations

from pbx.sip.endpoint import Dropped, Publish
from pbx.sip.errors import RemoteProtocolError
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.sdp import SdpError, SessionDescription
from pbx.sip.transaction import Peer, Transmit
from pbx.sip.uri import Uri
from tests.unit.sipkit import make_endpoint

PHONE = Peer("udp", "127.0.0.1", 5062)
# Methods a call layer would claim; INVITE bodies go through the SDP parser.
_HANDLED = ("INVITE", "BYE", "CANCEL", "MESSAGE", "INFO", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER")


class InvariantBroken(AssertionError):
    """The code under test did not crash but did something issue 15 forbids."""


class FuzzTarget:
    def __init__(self, start: float = 1_000_000.0, tick: float = 0.25) -> None:
        self.endpoint = make_endpoint()
        self.now = start
        self.tick = tick
        # INVITEs skip digest so that their SDP is parsed; the others are handled plainly.
        self.endpoint.trusted_source = lambda request: True
        for method in _HANDLED:
            self.endpoint.handlers[method] = self._handle
        self.endpoint.ack_handler = lambda ack, now: []
        self.client_events: list[object] = []
        self.endpoint.client_handler = lambda event, now: self.client_events.append(event) or []

    # Entry points -----------------------------------------------------------------------------

    def request(self, data: bytes) -> str:
        """Bytes as a datagram from a phone; a malformed request gets 4xx/5xx or is dropped."""
        endpoint = self.endpoint
        malformed_before = endpoint.stats["malformed"]
        actions = endpoint.receive(data, PHONE, self._advance())
        statuses = self._check_transmits(actions)
        if endpoint.stats["malformed"] > malformed_before:
            if len(actions) != 1:
                raise InvariantBroken(f"malformed input gave {len(actions)} actions: {actions!r}")
            if isinstance(actions[0], Dropped):
                return "dropped"
            [status] = statuses
            if not 400 <= status <= 599:
                raise InvariantBroken(f"malformed request answered {status}")
            return f"malformed {status}"
        if any(isinstance(action, Dropped) for action in actions):
            return "dropped"
        return "answered " + ",".join(str(status) for status in statuses)

    def response(self, data: bytes) -> str:
        """Bytes as a response; when its Via branch and CSeq read, a client transaction waits for it."""
        self._expect(data)
        before = len(self.client_events)
        actions = self.endpoint.receive(data, PHONE, self._advance())
        self._check_transmits(actions)
        if any(isinstance(action, Dropped) for action in actions):
            return "response dropped"
        events = self.client_events[before:]
        return "response " + ",".join(type(event).__name__ for event in events)

    def sdp(self, data: bytes) -> str:
        """An SDP body: parsed, or `SdpError`; what parses serializes and parses again."""
        try:
            description = SessionDescription.parse(data)
        except SdpError:
            return "sdp rejected"
        again = SessionDescription.parse(description.serialize())
        if len(again.media) != len(description.media):
            raise InvariantBroken(f"SDP lost media sections in a round trip: {data!r}")
        return f"sdp {len(description.media)} media"

    # Helpers ----------------------------------------------------------------------------------

    def _advance(self) -> float:
        """Time moves on every case, so transactions time out and state stays bounded."""
        self.now += self.tick
        for action in self.endpoint.handle_timer(self.now):
            if isinstance(action, Transmit):
                parse_message(action.data)
        return self.now

    def _handle(self, transaction, request: Request, user, now: float):
        status = 200
        if request.method == "INVITE" and request.body:
            try:
                SessionDescription.parse(request.body)
            except SdpError:
                status = 488  # RFC 3261 21.4.26: Not Acceptable Here
        return self.endpoint.reply(transaction, status, None, now)

    def _expect(self, data: bytes) -> None:
        """Open a client transaction matching the response's top Via branch and CSeq method."""
        try:
            response = parse_message(data)
            branch = response.top_via.branch
            method = response.cseq.method
        except RemoteProtocolError:
            return
        if not isinstance(response, Response) or not branch or not branch.startswith("z9hG4bK") or method == "ACK":
            return
        layer = self.endpoint.transactions
        if (branch.lower(), method) in layer._clients or (branch, method) in layer._clients:
            return
        request = Request(method, Uri.parse("sip:1002@127.0.0.1:5062"))
        request.headers.add("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={branch}")
        request.headers.add("From", "<sip:pbx@pbx.test>;tag=fuzz")
        request.headers.add("To", "<sip:1002@pbx.test>")
        request.headers.add("Call-ID", "fuzz-call")
        request.headers.add("CSeq", f"1 {method}")
        request.headers.add("Max-Forwards", "70")
        layer.send_request(request, PHONE, self.now)

    @staticmethod
    def _check_transmits(actions) -> list[int]:
        """Everything we send must parse back as a response with a real status."""
        statuses = []
        for action in actions:
            if isinstance(action, Transmit):
                sent = parse_message(action.data)
                if isinstance(sent, Response):
                    if not 100 <= sent.status <= 699:
                        raise InvariantBroken(f"sent status {sent.status}")
                    if sent.status == 400 and "(" not in sent.reason and "Warning" not in sent.headers:
                        raise InvariantBroken(f"400 without a reason: {action.data!r}")
                    statuses.append(sent.status)
            elif not isinstance(action, (Dropped, Publish)):
                raise InvariantBroken(f"unexpected action {action!r}")
        return statuses
