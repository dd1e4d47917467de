"""Calls through trunks, sans-IO: the endpoint, the call manager and the trunk service with
bytes in and out and a fake relay. A provider's INVITE is not challenged and follows the
inbound routes by its DID; an extension's call out is checked, rewritten, authenticated to the
provider, failed over, and limited by the trunk's channels."""

from __future__ import annotations

import itertools

from pbx.calls.bridge import BridgeController
from pbx.calls.manager import CallManager
from pbx.calls.router import Router
from pbx.calls.signals import Party
from pbx.sip.digest import DigestAuthenticator, Verdict
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.transaction import Peer, Transmit
from pbx.trunks import OutboundController, OutboundRouteConfig, TrunkAuth, TrunkConfig, TrunkService
from tests.unit.sipkit import authorization, challenge_params, only_response, register, wire
from tests.unit.test_call_flow import SDP_A, SDP_B, FakeRelay, make_endpoint

NOW = 1_000.0
ACME = Peer("udp", "198.51.100.1", 5060)
BACKUP = Peer("udp", "198.51.100.2", 5060)
PHONE_1001 = Peer("udp", "127.0.0.1", 5062)
PHONE_1002 = Peer("udp", "127.0.0.1", 5070)
PROVIDER_AUTH = DigestAuthenticator("acme.example", b"a" * 32, {"acme": "s3cret"}.get, algorithms=("MD5",))


def build(channels: int | None = None):
    endpoint = make_endpoint()
    relay = FakeRelay()
    ids = (f"id{n}" for n in itertools.count())
    holder: dict[str, TrunkService] = {}

    def controller_for(number: str, services):
        return OutboundController(services, holder["trunks"]) if holder["trunks"].outbound.match(number) else None

    manager = CallManager(endpoint, Router(endpoint.registrar, {"1001", "1002"}), relay, domain="pbx.test",
                          media_host="127.0.0.1", local_address=lambda transport: ("127.0.0.1", 5060),
                          new_id=lambda: next(ids), ring_timeout=60, controller_for=controller_for)
    trunks = TrunkService(
        {"acme": TrunkConfig(host="198.51.100.1:5060", auth=TrunkAuth("acme", "s3cret"), caller_id="+33100000000",
                             channels=channels),
         "backup": TrunkConfig(host="198.51.100.2:5060")},
        [OutboundRouteConfig(name="international", match="_00X.", trunks=["acme", "backup"], strip=2, prepend="+")],
        {}, {"1001": ["international"]}, endpoint=endpoint, new_id=lambda: next(ids),
        route_inbound=lambda did, services: BridgeController(services, target="1002") if did == "+33123000000"
        else None,
    )  # fmt: skip
    holder["trunks"] = manager.trunks = trunks
    contact = "<sip:1002@127.0.0.1:5070>"
    first = only_response(endpoint.receive(wire(register("1002", contact=contact)), PHONE_1002, NOW))
    extra = authorization(challenge_params(first), "1002", "secret1002")
    registered = endpoint.receive(wire(register("1002", cseq=2, contact="<sip:1002@127.0.0.1:5070>", extra=extra)),
                                  PHONE_1002, NOW)
    assert only_response(registered).status == 200
    return endpoint, manager, trunks, relay


def sent(actions) -> list[tuple[Peer, Request | Response]]:
    return [(action.peer, parse_message(action.data)) for action in actions if isinstance(action, Transmit)]


def to(peer: Peer, actions) -> list[Request | Response]:
    return [message for where, message in sent(actions) if where == peer]


def provider_invite(did: str, call_id: str = "from-acme") -> bytes:
    return wire("\n".join([
        f"INVITE sip:{did}@127.0.0.1:5060 SIP/2.0", "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-acme1",
        "Max-Forwards: 70", "From: <sip:+33611111111@acme.example>;tag=acme", f"To: <sip:{did}@pbx.test>",
        f"Call-ID: {call_id}", "CSeq: 1 INVITE", "Contact: <sip:+33611111111@198.51.100.1:5060>",
        "Content-Type: application/sdp",
    ]), SDP_A)


def phone_invite(user: str, number: str, cseq: int, extra: str = "", call_id: str = "out-1") -> bytes:
    return wire("\n".join(line for line in [
        f"INVITE sip:{number}@127.0.0.1:5060 SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{call_id}-{cseq};rport", "Max-Forwards: 70",
        f"From: <sip:{user}@pbx.test>;tag=t-{call_id}", f"To: <sip:{number}@pbx.test>", f"Call-ID: {call_id}",
        f"CSeq: {cseq} INVITE", f"Contact: <sip:{user}@127.0.0.1:5062>", "Content-Type: application/sdp", extra,
    ] if line), SDP_A)


def dial(endpoint, user: str, password: str, number: str, call_id: str = "out-1"):
    """An extension's INVITE, challenged (407) and sent again with its credentials."""
    challenge = only_response(endpoint.receive(phone_invite(user, number, 1, call_id=call_id), PHONE_1001, NOW))
    assert challenge.status == 407
    credentials = authorization(challenge_params(challenge, "Proxy-Authenticate"), user, password, method="INVITE",
                                uri=f"sip:{number}@127.0.0.1:5060").replace("Authorization", "Proxy-Authorization")
    return endpoint.receive(phone_invite(user, number, 2, credentials, call_id=call_id), PHONE_1001, NOW)


def answer(request: Request, status: int, body: str = "", extra: list[tuple[str, str]] = ()) -> bytes:
    lines = [f"SIP/2.0 {status} Reason", *(f"Via: {via}" for via in request.headers.lines("Via")),
             f"From: {request.headers.get('From')}", f"To: {request.headers.get('To')};tag=far",
             f"Call-ID: {request.call_id}", f"CSeq: {request.headers.get('CSeq')}", "Contact: <sip:far@198.51.100.1>",
             *(f"{name}: {value}" for name, value in extra), *(["Content-Type: application/sdp"] if body else [])]
    return wire("\n".join(lines), body)


def test_a_providers_invite_is_not_challenged_and_follows_the_inbound_route_of_its_did():
    endpoint, manager, trunks, relay = build()
    actions = endpoint.receive(provider_invite("+33123000000"), ACME, NOW)
    assert to(ACME, actions) == []  # no 407: a provider does not authenticate to us (and no 100 yet: 17.2.1)
    [ringing_phone] = to(PHONE_1002, actions)
    assert ringing_phone.method == "INVITE" and ringing_phone.from_.uri.user == "+33611111111"
    assert trunks.status()["acme"]["channels_in_use"] == 1
    # Answered by 1002: the provider hears 200 with the PBX's relay in the SDP (media anchored).
    actions = endpoint.receive(answer(ringing_phone, 200, SDP_B), PHONE_1002, NOW + 1)
    [ok] = to(ACME, actions)
    assert ok.status == 200 and b"c=IN IP4 127.0.0.1" in ok.body and relay.links


def test_a_did_no_route_takes_is_refused_404():
    endpoint, manager, trunks, _ = build()
    actions = endpoint.receive(provider_invite("+33999999999"), ACME, NOW)
    statuses = [message.status for message in to(ACME, actions)]
    assert statuses == [404] and to(PHONE_1002, actions) == []


def test_an_unknown_source_is_challenged_and_nothing_reaches_a_trunk():
    endpoint, manager, trunks, _ = build()
    # The provider's address but another port: not the provider (a phone, or a stranger).
    actions = endpoint.receive(provider_invite("0033123456789").replace(b"198.51.100.1:5060;", b"198.51.100.1:5999;"),
                               Peer("udp", "198.51.100.1", 5999), NOW)
    [challenge] = [message for _, message in sent(actions)]
    assert challenge.status == 407 and to(ACME, actions) == [] and to(BACKUP, actions) == []
    assert manager.calls == {}


def test_an_extension_without_permission_gets_403_with_the_reason_and_no_trunk_is_tried():
    endpoint, manager, trunks, _ = build()
    actions = dial(endpoint, "1002", "secret1002", "0033123456789")
    assert to(ACME, actions) == [] and to(BACKUP, actions) == []
    refusal = [message for _, message in sent(actions) if message.status >= 300]
    assert [r.status for r in refusal] == [403]
    assert "extension 1002 may not call out" in refusal[0].headers.get("Warning")


def test_a_call_out_is_rewritten_authenticated_failed_over_and_bridged():
    endpoint, manager, trunks, relay = build()
    actions = dial(endpoint, "1001", "secret1001", "0033123456789")
    [out] = to(ACME, actions)
    assert str(out.uri) == "sip:+33123456789@198.51.100.1:5060"
    assert out.from_.uri.user == "+33100000000" and out.to.uri.user == "+33123456789"
    # The provider challenges (RFC 3261 22.3): the INVITE again, next CSeq, our credentials.
    challenge = PROVIDER_AUTH.challenges(NOW)[0]
    actions = endpoint.receive(answer(out, 407, extra=[("Proxy-Authenticate", challenge)]), ACME, NOW + 0.1)
    ack, again = to(ACME, actions)
    assert ack.method == "ACK" and again.method == "INVITE"  # the 407 is ACKed first (RFC 3261 17.1.1.3)
    assert again.cseq.number == out.cseq.number + 1
    assert again.call_id == out.call_id and again.from_.tag == out.from_.tag
    verdict = PROVIDER_AUTH.verify("INVITE", again.headers.lines("Proxy-Authorization"), NOW + 0.1)
    assert verdict.verdict is Verdict.ACCEPTED and verdict.username == "acme"
    # It is out of channels: 503, and the backup trunk is tried (without credentials: it has none).
    actions = endpoint.receive(answer(again, 503), ACME, NOW + 0.2)
    [backup] = to(BACKUP, actions)
    assert str(backup.uri) == "sip:+33123456789@198.51.100.2:5060" and backup.from_.uri.user == "1001"
    assert [m.status for m in to(PHONE_1001, actions) if isinstance(m, Response)] == []  # the caller waits
    actions = endpoint.receive(answer(backup, 200, SDP_B), BACKUP, NOW + 1)
    [ok] = [m for m in to(PHONE_1001, actions) if isinstance(m, Response)]
    assert ok.status == 200 and relay.links


def test_no_answer_from_a_trunk_fails_over_after_timer_b():
    endpoint, manager, trunks, _ = build()
    actions = dial(endpoint, "1001", "secret1001", "0033123456789")
    assert to(ACME, actions)
    actions = endpoint.handle_timer(NOW + 64 * 0.5)  # RFC 3261 17.1.1.2: Timer B
    [backup] = [m for m in to(BACKUP, actions) if isinstance(m, Request) and m.method == "INVITE"]
    assert backup.uri.user == "+33123456789"


def test_a_full_trunk_is_skipped_and_a_busy_number_is_the_callers_answer():
    endpoint, manager, trunks, _ = build(channels=1)
    first = dial(endpoint, "1001", "secret1001", "0033123456789", call_id="first")
    [on_acme] = to(ACME, first)
    second = dial(endpoint, "1001", "secret1001", "0033987654321", call_id="second")
    assert to(ACME, second) == [] and len(to(BACKUP, second)) == 1
    # Busy is the called number's answer, not the trunk's: no failover, the caller hears 486.
    actions = endpoint.receive(answer(on_acme, 486), ACME, NOW + 1)
    assert to(BACKUP, actions) == []
    assert [m.status for m in to(PHONE_1001, actions) if isinstance(m, Response)] == [486]


def test_a_provider_call_is_refused_503_when_the_trunk_is_full():
    endpoint, manager, trunks, _ = build(channels=1)
    dial(endpoint, "1001", "secret1001", "0033123456789")
    statuses = [m.status for m in to(ACME, endpoint.receive(provider_invite("+33123000000"), ACME, NOW))]
    assert statuses == [503]


def test_a_call_the_pbx_places_to_an_outside_number_goes_out_on_the_first_free_trunk():
    endpoint, manager, trunks, _ = build()

    class Listener:
        def on_signal(self, call, leg, signal, now):
            return []

        def on_ring_timeout(self, call, now):
            return []

    call, actions = manager.originate_call("0033123456789", Party("support", "Callback"), "callback:support",
                                           Listener(), NOW)
    assert call is not None and call.id in manager.placed
    [out] = to(ACME, actions)
    assert out.uri.user == "+33123456789" and out.from_.uri.user == "+33100000000"
    assert manager.originate_call("4711", Party("x"), "x", Listener(), NOW) == (None, [])


def test_a_campaigns_own_caller_id_wins_over_the_trunks():
    endpoint, manager, trunks, _ = build()

    class Listener:
        def on_signal(self, call, leg, signal, now):
            return []

        def on_ring_timeout(self, call, now):
            return []

    call, actions = manager.originate_call("0033123456789", Party("support"), "campaign", Listener(), NOW,
                                           caller_id="+33177777777")
    [out] = to(ACME, actions)
    assert out.from_.uri.user == "+33177777777"
