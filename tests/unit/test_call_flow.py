"""A whole call through the sans-IO stack: bytes in, bytes out, a fake clock and a fake relay.

1001 calls 1002: INVITE -> 407 -> INVITE with credentials -> 100, INVITE to
1002's registered contact -> 180 -> 200 -> ACKs -> BYE -> 200s; then every
counter is back to zero.
"""

from __future__ import annotations

import re

from pbx.calls.manager import CallManager
from pbx.media.dtmf import Rfc4733Sender
from pbx.media.rtp import RtpPacket
from pbx.sip.endpoint import Publish
from sdk.events import CallQuality
from pbx.calls.router import Router
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.transaction import Peer, Transmit
from tests.unit.sipkit import authorization, challenge_params, make_endpoint, only_response, register, wire

NOW = 1_000.0
CALLER = Peer("udp", "127.0.0.1", 5062)
PHONE = Peer("udp", "127.0.0.1", 5070)


class FakeEndpoint:
    def __init__(self, port: int) -> None:
        self.port = port
        self.expected = None
        self.closed = False

        self.taps = []
        self.rtcp_taps = []

    def expect(self, host, port, rtcp_port=None):
        self.expected = (host, port)

    def add_tap(self, callback, *, rtcp=False):
        taps = self.rtcp_taps if rtcp else self.taps
        taps.append(callback)
        return lambda: taps.remove(callback)

    def remove_tap(self, callback):
        for taps in (self.taps, self.rtcp_taps):
            if callback in taps:
                taps.remove(callback)

    def close(self):
        self.closed = True


class FakeRelay:
    def __init__(self) -> None:
        self.endpoints: list[FakeEndpoint] = []
        self.links: list[tuple[int, int]] = []

    def open_endpoint(self, label=""):
        endpoint = FakeEndpoint(30000 + 2 * len(self.endpoints))
        self.endpoints.append(endpoint)
        return endpoint

    def link(self, a, b):
        self.links.append((a.port, b.port))

    @property
    def ports_in_use(self):
        return 2 * sum(not e.closed for e in self.endpoints)


def build(emit=lambda event: None):
    endpoint = make_endpoint()
    relay = FakeRelay()
    ids = iter(f"id{n}" for n in range(1000))
    manager = CallManager(
        endpoint, Router(endpoint.registrar, {"1001", "1002"}), relay, domain="pbx.test", media_host="127.0.0.1",
        local_address=lambda transport: ("127.0.0.1", 5060), new_id=lambda: next(ids), ring_timeout=30, emit=emit,
    )
    first = only_response(endpoint.receive(wire(register("1002", contact="<sip:1002@127.0.0.1:5070>")), PHONE, NOW))
    extra = authorization(challenge_params(first), "1002", "secret1002")
    reply = only_response(endpoint.receive(wire(register("1002", cseq=2, contact="<sip:1002@127.0.0.1:5070>", extra=extra)), PHONE, NOW))
    assert reply.status == 200
    return endpoint, manager, relay


SDP_A = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
SDP_B = "v=0\r\no=b 9 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 8000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"


def invite(cseq: int, extra: str = "") -> bytes:
    text = "\n".join(line for line in [
        "INVITE sip:1002@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-inv-{cseq};rport",
        "Max-Forwards: 70", "From: <sip:1001@pbx.test>;tag=alice", "To: <sip:1002@pbx.test>",
        "Call-ID: call-a", f"CSeq: {cseq} INVITE", "Contact: <sip:1001@127.0.0.1:5062>",
        "Content-Type: application/sdp", extra] if line)
    return wire(text, SDP_A)


def sent(actions) -> list[tuple[Peer, Request | Response]]:
    return [(a.peer, parse_message(a.data)) for a in actions if isinstance(a, Transmit)]


def to_phone(actions) -> list[Request | Response]:
    return [m for peer, m in sent(actions) if peer == PHONE]


def to_caller(actions) -> list[Request | Response]:
    return [m for peer, m in sent(actions) if peer == CALLER]


def answer_from_phone(request: Request, status: int, reason: str, body: str = "") -> bytes:
    vias = "\n".join(f"Via: {v}" for v in request.headers.lines("Via"))
    text = "\n".join([
        f"SIP/2.0 {status} {reason}", vias, f"From: {request.headers.get('From')}",
        f"To: {request.headers.get('To')};tag=bob", f"Call-ID: {request.call_id}", f"CSeq: {request.headers.get('CSeq')}",
        "Contact: <sip:1002@127.0.0.1:5070>", *(["Content-Type: application/sdp"] if body else []),
    ])
    return wire(text, body)


def establish(emit=lambda event: None):
    endpoint, manager, relay = build(emit)
    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    assert challenge.status == 407 and "Proxy-Authenticate" in challenge.headers
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:1002@127.0.0.1:5060").replace("Authorization", "Proxy-Authorization")
    actions = endpoint.receive(invite(2, credentials), CALLER, NOW)
    assert to_caller(actions) == []  # 100 Trying only if nothing answers within 200 ms (RFC 3261 17.2.1)
    [outgoing] = to_phone(actions)
    assert outgoing.method == "INVITE" and str(outgoing.uri) == "sip:1002@127.0.0.1:5070"
    assert outgoing.from_.uri.user == "1001"  # the authenticated caller, not whatever From said
    assert b"m=audio 30002 RTP/AVP 0 8 101" in outgoing.body  # B's relay port, A's codecs and payload types
    [ringing] = to_caller(endpoint.receive(answer_from_phone(outgoing, 180, "Ringing"), PHONE, NOW + 1))
    assert ringing.status == 180
    actions = endpoint.receive(answer_from_phone(outgoing, 200, "OK", SDP_B), PHONE, NOW + 2)
    [ack] = to_phone(actions)
    [ok] = to_caller(actions)
    assert ack.method == "ACK" and ack.cseq.number == 1
    assert ok.status == 200 and b"m=audio 30000 RTP/AVP 8 101" in ok.body  # A's relay port, B's choice
    assert relay.links == [(30000, 30002)]
    assert relay.endpoints[0].expected == ("127.0.0.1", 7000) and relay.endpoints[1].expected == ("127.0.0.1", 8000)
    return endpoint, manager, relay, outgoing, ok


def caller_request(method: str, ok: Response, cseq: int) -> bytes:
    text = "\n".join([
        f"{method} sip:pbx@127.0.0.1:5060 SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{method}-{cseq};rport",
        "Max-Forwards: 70", "From: <sip:1001@pbx.test>;tag=alice", f"To: {ok.headers.get('To')}", "Call-ID: call-a",
        f"CSeq: {cseq} {method}",
    ])
    return wire(text)


def test_call_is_set_up_and_torn_down_and_counters_return_to_zero():
    endpoint, manager, relay, outgoing, ok = establish()
    assert manager.status()["calls"] == 1 and manager.status()["dialogs"] == 2
    endpoint.receive(caller_request("ACK", ok, 2), CALLER, NOW + 2.1)
    actions = endpoint.receive(caller_request("BYE", ok, 3), CALLER, NOW + 10)
    [bye_ok] = to_caller(actions)
    [bye] = to_phone(actions)
    assert bye_ok.status == 200 and bye.method == "BYE" and bye.to.tag == "bob"
    endpoint.receive(answer_from_phone(bye, 200, "OK"), PHONE, NOW + 10.1)
    assert manager.status() == {"calls": 0, "legs": 0, "dialogs": 0, "rtp_ports": 0, "call_timers": 0}
    endpoint.handle_timer(NOW + 60)
    assert len(endpoint.transactions) == 0


def test_2xx_is_retransmitted_until_the_ack_then_the_call_is_dropped():
    endpoint, manager, relay, outgoing, ok = establish()
    times = [0.5, 1.5, 3.5, 7.5, 11.5]
    for delay in times:
        resent = to_caller(endpoint.handle_timer(NOW + 2 + delay))
        assert [m.status for m in resent if m.status != 407] == [200], delay  # (the unACKed 407 too)
    actions = endpoint.handle_timer(NOW + 2 + 32)
    assert [m.method for m in to_phone(actions) if isinstance(m, Request)] == ["BYE"]
    assert manager.status()["calls"] == 0


def test_callee_busy_is_relayed_to_the_caller():
    endpoint, manager, relay = build()
    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:x").replace("Authorization", "Proxy-Authorization")
    [outgoing] = to_phone(endpoint.receive(invite(2, credentials), CALLER, NOW))
    actions = endpoint.receive(answer_from_phone(outgoing, 486, "Busy Here"), PHONE, NOW + 1)
    assert [m.method for m in to_phone(actions)] == ["ACK"]  # the transaction ACKs the 486 (RFC 3261 17.1.1.3)
    assert [m.status for m in to_caller(actions)] == [486]
    assert manager.status()["calls"] == 0 and relay.ports_in_use == 0


def test_the_invite_is_challenged_statelessly_and_its_late_ack_does_not_stand_for_the_2xx_ack():
    """RFC 3261 8.2.7: no transaction for the 407. Its ACK (CSeq 1) carries the same Call-ID and
    tags as the call's dialog; arriving after the 200 it must not stop the 2xx retransmissions."""
    endpoint, manager, relay, outgoing, ok = establish()
    assert endpoint.stats["sent_stateless"] == 2  # the challenges of 1002's REGISTER and of the INVITE
    endpoint.receive(caller_request("ACK", ok, 1), CALLER, NOW + 2.05)
    assert [m.status for m in to_caller(endpoint.handle_timer(NOW + 2.6))] == [200]  # still resent at T1
    endpoint.receive(caller_request("ACK", ok, 2), CALLER, NOW + 2.7)
    assert to_caller(endpoint.handle_timer(NOW + 4)) == []


def test_100_trying_goes_out_when_the_callee_is_silent_for_200_ms_and_not_after_a_180():
    """RFC 3261 17.2.1: the server transaction owes 100 Trying only if the TU has not answered in 200 ms."""
    for rings_first in (False, True):
        endpoint, manager, relay = build()
        challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
        credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                    method="INVITE", uri="sip:x").replace("Authorization", "Proxy-Authorization")
        [outgoing] = to_phone(endpoint.receive(invite(2, credentials), CALLER, NOW))
        if rings_first:
            [ringing] = to_caller(endpoint.receive(answer_from_phone(outgoing, 180, "Ringing"), PHONE, NOW + 0.05))
            assert ringing.status == 180
        assert to_caller(endpoint.handle_timer(NOW + 0.1)) == []
        sent = [m.status for m in to_caller(endpoint.handle_timer(NOW + 0.2))]
        assert sent == ([] if rings_first else [100])
        assert to_caller(endpoint.handle_timer(NOW + 0.4)) == []  # once
        if not rings_first:
            # A retransmitted INVITE gets the 100 again (17.2.1: the last provisional response).
            retransmitted = to_caller(endpoint.receive(invite(2, credentials), CALLER, NOW + 0.5))
            assert [m.status for m in retransmitted] == [100]


def test_caller_cancel_while_ringing():
    endpoint, manager, relay = build()
    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:x").replace("Authorization", "Proxy-Authorization")
    [outgoing] = to_phone(endpoint.receive(invite(2, credentials), CALLER, NOW))
    endpoint.receive(answer_from_phone(outgoing, 180, "Ringing"), PHONE, NOW + 1)
    cancel = re.sub(rb"INVITE", b"CANCEL", invite(2, credentials)).replace(b"Content-Type: application/sdp\r\n", b"")
    cancel = cancel.split(b"\r\n\r\n")[0].replace(b"Content-Length: " + str(len(SDP_A)).encode(), b"Content-Length: 0") + b"\r\n\r\n"
    actions = endpoint.receive(cancel, CALLER, NOW + 2)
    assert sorted(m.status for m in to_caller(actions)) == [200, 487]
    assert [m.method for m in to_phone(actions)] == ["CANCEL"]
    assert manager.status()["calls"] == 0


def test_hold_reinvite_is_relayed_end_to_end_and_answered():
    endpoint, manager, relay, outgoing, ok = establish()
    endpoint.receive(caller_request("ACK", ok, 2), CALLER, NOW + 2.1)
    held = SDP_A.replace("o=a 1 1", "o=a 1 2").replace("a=sendrecv", "a=sendonly")
    reinvite = caller_request("INVITE", ok, 3).replace(b"Content-Length: 0\r\n", b"Content-Type: application/sdp\r\nContent-Length: " + str(len(held)).encode() + b"\r\n") + held.encode()
    actions = endpoint.receive(reinvite, CALLER, NOW + 5)
    [relayed] = to_phone(actions)
    assert relayed.method == "INVITE" and b"a=sendonly" in relayed.body and relayed.cseq.number == 2
    answer = SDP_B.replace("o=b 9 9", "o=b 9 10").replace("a=sendrecv", "a=recvonly")
    actions = endpoint.receive(answer_from_phone(relayed, 200, "OK", answer), PHONE, NOW + 5.1)
    assert [m.method for m in to_phone(actions)] == ["ACK"]
    [answered] = to_caller(actions)
    assert answered.status == 200 and answered.cseq.number == 3 and b"a=recvonly" in answered.body
    assert manager.calls[next(iter(manager.calls))].on_hold_by == "1001"


def test_transport_failure_towards_the_callee_fails_the_call_at_once():
    endpoint, manager, relay = build()
    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:x").replace("Authorization", "Proxy-Authorization")
    [outgoing] = to_phone(endpoint.receive(invite(2, credentials), CALLER, NOW))
    actions = endpoint.transport_failed(outgoing, NOW + 0.1)
    assert [m.status for m in to_caller(actions)] == [408]
    assert manager.status()["calls"] == 0 and relay.ports_in_use == 0


def test_no_rtp_ports_for_the_callee_gives_the_caller_503():
    from pbx.media.ports import PortsExhausted

    endpoint, manager, relay = build()
    opened = relay.open_endpoint

    def only_one(label=""):
        if relay.endpoints:
            raise PortsExhausted("no free RTP/RTCP port pair in 30000-30001")
        return opened(label)

    relay.open_endpoint = only_one
    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:x").replace("Authorization", "Proxy-Authorization")
    actions = endpoint.receive(invite(2, credentials), CALLER, NOW)
    assert [m.status for m in to_caller(actions)] == [503] and to_phone(actions) == []
    assert manager.status()["calls"] == 0 and relay.ports_in_use == 0


def test_callee_answer_with_unreadable_sdp_is_acked_byed_and_the_caller_told():
    endpoint, manager, relay = build()
    challenge = only_response(endpoint.receive(invite(1), CALLER, NOW))
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), "1001", "secret1001",
                                method="INVITE", uri="sip:x").replace("Authorization", "Proxy-Authorization")
    [outgoing] = to_phone(endpoint.receive(invite(2, credentials), CALLER, NOW))
    actions = endpoint.receive(answer_from_phone(outgoing, 200, "OK", "v=0\r\nthis is not SDP\r\n"), PHONE, NOW + 1)
    assert [m.method for m in to_phone(actions)] == ["ACK", "BYE"]
    assert [m.status for m in to_caller(actions)] == [488]
    assert manager.status()["calls"] == 0 and relay.ports_in_use == 0


def test_digits_and_quality_of_a_bridged_call_reach_the_bus():
    emitted = []
    endpoint, manager, relay, outgoing, ok = establish(emitted.append)
    endpoint.receive(caller_request("ACK", ok, 2), CALLER, NOW + 2.1)
    caller_media, callee_media = relay.endpoints
    for n in range(50):  # the callee talks for a second, PCMA as its SDP chose
        packet = RtpPacket(8, n, 160 * n, 0xB0B, bytes(160)).serialize()
        for tap in callee_media.taps:
            tap(packet, NOW + 3 + n * 0.02)
    press = Rfc4733Sender(101, 0xA11CE).packets("5", start_sequence=7)
    for index, packet in enumerate(press):
        for tap in caller_media.taps:
            tap(packet, NOW + 4 + index * 0.02)
    # The same press also as SIP INFO (some phones send both): still one digit.
    info = caller_request("INFO", ok, 3).replace(b"Content-Length: 0", b"Content-Type: application/dtmf-relay\r\n"
                                                  b"Content-Length: 25")[:-2] + b"\r\nSignal=5\r\nDuration=160\r\n"
    endpoint.receive(info, CALLER, NOW + 4.05)
    assert [(e.digit, e.source, e.party, e.call_id) for e in emitted] == [("5", "rfc4733", "caller", "id0")]
    actions = endpoint.receive(caller_request("BYE", ok, 4), CALLER, NOW + 10)
    [bye] = to_phone(actions)
    actions += endpoint.receive(answer_from_phone(bye, 200, "OK"), PHONE, NOW + 10.1)
    quality = {a.event.party: a.event for a in actions if isinstance(a, Publish) and isinstance(a.event, CallQuality)}
    assert quality["callee"].packets == 50 and quality["callee"].codec == "PCMA" and quality["callee"].lost == 0
    assert quality["caller"].packets == len(press) and quality["caller"].mos > 4
    assert {q.call_id for q in quality.values()} == {"id0"}


def test_a_2xx_from_another_fork_is_acked_and_byed_from_the_first_forks_dialog():
    # RFC 3261 13.2.2.4, RFC 6026 7.2: until Timer M the INVITE client transaction passes every 2xx
    # up; one with another To tag is a second dialog, which the leg confirms and ends at once. The
    # leg made it from the dialog of the first 2xx: it let go of its INVITE when answered.
    endpoint, manager, relay, outgoing, ok = establish()
    [callee] = [leg for call in manager.calls.values() for leg in call.legs if leg.role == "callee"]
    assert callee.invite is None and callee.dialog is not None
    other = answer_from_phone(outgoing, 200, "OK", SDP_B).replace(b";tag=bob", b";tag=carol")
    other = other.replace(b"Contact: <sip:1002@127.0.0.1:5070>", b"Contact: <sip:1002@127.0.0.1:5071>")
    actions = endpoint.receive(other, Peer("udp", "127.0.0.1", 5071), NOW + 3)
    to_carol = [m for peer, m in sent(actions) if peer.port == 5070 or peer.port == 5071]
    assert [m.method for m in to_carol] == ["ACK", "BYE"]
    assert all(m.to.tag == "carol" and m.from_.tag == outgoing.from_.tag for m in to_carol)
    assert to_carol[0].cseq.number == 1 and to_carol[1].call_id == outgoing.call_id
    assert [str(m.uri) for m in to_carol] == ["sip:1002@127.0.0.1:5071"] * 2  # carol's Contact
    assert manager.status()["calls"] == 1  # the call on the first fork goes on
    assert callee.dialog.remote_tag == "bob"
