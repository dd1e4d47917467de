"""The trunk's REGISTER client, sans-IO: requests and responses as bytes, time as numbers.

A provider's registrar is played by a real DigestAuthenticator (the server side of the same
RFC), so the credentials we send are checked, not just looked at.
"""

from __future__ import annotations

import itertools

from pbx.sip.digest import DigestAuthenticator, Verdict
from pbx.sip.endpoint import Publish
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.status import make_response
from pbx.trunks import RegistrationClient, SendRegister, TrunkRegistration
from sdk.events import TrunkRegistered, TrunkRegistrationFailed

PROVIDER = DigestAuthenticator("provider.example", b"p" * 32, {"acme": "s3cret"}.get, algorithms=("MD5",))
CONTACT = "sip:acme@192.0.2.10:5060"


def client(**settings) -> RegistrationClient:
    ids = (f"id{n}" for n in itertools.count(1))
    options = {"username": "acme", "password": "s3cret", "servers": ["198.51.100.1:5060", "198.51.100.2:5070"],
               "expires": 120, **settings}
    return RegistrationClient("acme", TrunkRegistration(**options), contact=CONTACT, new_id=lambda: next(ids))


def sent(actions) -> list[SendRegister]:
    return [action for action in actions if isinstance(action, SendRegister)]


def events(actions) -> list:
    return [action.event for action in actions if isinstance(action, Publish)]


def on_the_wire(request: Request) -> Request:
    """What the registrar reads: the request with the Via the adapter adds, serialized and parsed."""
    request.headers.prepend("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-test;rport")
    parsed = parse_message(request.serialize())
    assert isinstance(parsed, Request)
    return parsed


def answer(request: Request, status: int, now: float, **headers: str) -> Response:
    request = on_the_wire(request)
    response = make_response(request, status, to_tag="reg")
    for name, value in headers.items():
        response.headers.add(name.replace("_", "-"), value)
    return parse_message(response.serialize())  # type: ignore[return-value]


def challenge(request: Request, now: float) -> Response:
    response = answer(request, 401, now)
    for value in PROVIDER.challenges(now):
        response.headers.add("WWW-Authenticate", value)
    return parse_message(response.serialize())  # type: ignore[return-value]


def test_register_challenge_credentials_200_then_refresh_at_half_the_granted_expiry():
    registration = client()
    [first] = sent(registration.start(1000.0))
    assert first.server == "198.51.100.1:5060"
    request = first.request
    assert str(request.uri) == "sip:198.51.100.1:5060"
    assert request.headers.get("Expires") == "120" and request.headers.get("Contact") == f"<{CONTACT}>"
    assert request.headers.get("Authorization") is None
    [second] = sent(registration.on_response(challenge(request, 1000.0), 1000.1))
    authorized = on_the_wire(second.request)
    assert authorized.call_id == request.call_id and authorized.cseq.number == request.cseq.number + 1
    verdict = PROVIDER.verify("REGISTER", authorized.headers.lines("Authorization"), 1000.1)
    assert verdict.verdict is Verdict.ACCEPTED and verdict.username == "acme"
    # The registrar grants 60 s on our Contact (RFC 3261 10.2.4), less than we asked.
    ok = answer(second.request, 200, 1000.2, Contact=f"<{CONTACT}>;expires=60", Expires="3600")
    [registered] = events(registration.on_response(ok, 1000.2))
    assert registered == TrunkRegistered(at=1000.2, trunk="acme", server="198.51.100.1:5060", expires=60, refresh=False)
    assert registration.next_deadline() == 1030.2
    assert registration.handle_timer(1030.1) == []
    [refresh] = sent(registration.handle_timer(1030.2))
    refreshed = on_the_wire(refresh.request)
    assert refreshed.call_id == request.call_id and refreshed.cseq.number == 3
    # The last nonce answered again, with the next nonce count (RFC 7616 3.4).
    assert "nc=00000002" in refreshed.headers.get("Authorization")
    assert PROVIDER.verify("REGISTER", refreshed.headers.lines("Authorization"), 1030.2).verdict is Verdict.ACCEPTED
    [again] = events(registration.on_response(answer(refresh.request, 200, 1030.3, Expires="60"), 1030.3))
    assert again.refresh is True and again.expires == 60
    assert registration.status()["state"] == "registered"


def test_wrong_password_is_a_failure_not_a_loop():
    registration = client(password="wrong", servers=["198.51.100.1:5060"])
    [first] = sent(registration.start(0.0))
    [second] = sent(registration.on_response(challenge(first.request, 0.0), 0.1))
    assert PROVIDER.verify("REGISTER", on_the_wire(second.request).headers.lines("Authorization"),
                           0.1).verdict is Verdict.REJECTED
    # The registrar answers with the same nonce again: our credentials were refused.
    repeat = answer(second.request, 401, 0.2)
    repeat.headers.add("WWW-Authenticate", challenge(first.request, 0.0).headers.get("WWW-Authenticate"))
    actions = registration.on_response(repeat, 0.2)
    assert sent(actions) == []
    [failed] = events(actions)
    assert failed.reason == "credentials rejected" and failed.next_server is None and failed.retry_in == 2.0
    assert registration.next_deadline() == 2.2


def test_failover_to_the_next_registrar_on_timeout_5xx_and_403_then_back_off():
    registration = client(retry_min=5, retry_max=15)
    [first] = sent(registration.start(0.0))
    actions = registration.on_failure("no answer", 32.0)  # Timer F
    [failed] = events(actions)
    assert failed == TrunkRegistrationFailed(at=32.0, trunk="acme", server="198.51.100.1:5060", status=0,
                                             reason="no answer", next_server="198.51.100.2:5070", retry_in=None)
    [second] = sent(actions)
    assert second.server == "198.51.100.2:5070" and str(second.request.uri) == "sip:198.51.100.2:5070"
    # The second registrar is down too: every server failed, wait 5 s, then 10, then 15 (the cap).
    actions = registration.on_response(answer(second.request, 503, 33.0), 33.0)
    assert sent(actions) == [] and events(actions)[0].retry_in == 5
    [retry] = sent(registration.handle_timer(38.0))
    assert retry.server == "198.51.100.1:5060"
    [next_one] = sent(registration.on_response(answer(retry.request, 403, 38.5), 38.5))
    registration.on_response(answer(next_one.request, 500, 39.0), 39.0)
    assert registration.next_deadline() == 49.0
    [retry] = sent(registration.handle_timer(49.0))
    [other] = sent(registration.on_failure("transport failed", 49.5))
    assert other.server == "198.51.100.2:5070" and registration.status()["state"] == "registering"
    registration.on_failure("no answer", 81.5)
    assert registration.next_deadline() == 81.5 + 15  # the cap


def test_a_success_after_failures_resets_the_back_off_and_423_raises_the_expiry():
    registration = client(servers=["198.51.100.1:5060"], retry_min=5)
    [first] = sent(registration.start(0.0))
    registration.on_failure("no answer", 32.0)
    [retry] = sent(registration.handle_timer(37.0))
    [bigger] = sent(registration.on_response(answer(retry.request, 423, 37.1, Min_Expires="600"), 37.1))
    assert bigger.request.headers.get("Expires") == "600"
    [registered] = events(registration.on_response(answer(bigger.request, 200, 37.2, Expires="600"), 37.2))
    assert registered.expires == 600 and registration.backoff == 5 and registration.next_deadline() == 337.2


def test_stop_unregisters_with_expires_zero_only_when_registered():
    registration = client()
    [first] = sent(registration.start(0.0))
    registration.on_response(answer(first.request, 200, 0.1, Expires="120"), 0.1)
    [goodbye] = sent(registration.stop(1.0))
    assert goodbye.request.headers.get("Expires") == "0" and registration.next_deadline() is None
    assert client().stop(0.0) == []


def test_a_late_answer_to_an_abandoned_register_is_ignored():
    registration = client()
    [first] = sent(registration.start(0.0))
    [second] = sent(registration.on_failure("no answer", 32.0))
    assert events(registration.on_response(answer(first.request, 200, 32.5, Expires="120"), 32.5)) == []
    [registered] = events(registration.on_response(answer(second.request, 200, 33.0, Expires="120"), 33.0))
    assert registered.server == "198.51.100.2:5070"
