"""The UAS core driven with bytes and a fake clock: challenge, register, reject, expire."""

from __future__ import annotations

import pytest

from pbx.sip.endpoint import Dropped, Publish
from pbx.sip.transaction import Peer, Transmit
from sdk.events import AuthenticationFailed, RegistrationAdded, RegistrationExpired, RegistrationRemoved
from tests.unit.sipkit import (
    PHONE, authorization, challenge_params, make_endpoint, only_response, register, responses, wire,
)

NOW = 1_000_000.0


def registered(endpoint, user="1001", password=None, now=NOW, **kwargs):
    """Run the two rounds of a REGISTER; return the final response and all actions of round two."""
    first = only_response(endpoint.receive(wire(register(user, **kwargs)), PHONE, now))
    assert first.status == 401
    challenge = challenge_params(first)
    kwargs["cseq"] = kwargs.get("cseq", 1) + 1
    extra = authorization(challenge, user, password or f"secret{user}")
    actions = endpoint.receive(wire(register(user, extra=extra, **kwargs)), PHONE, now)
    return only_response(actions), actions


def events(actions):
    return [action.event for action in actions if isinstance(action, Publish)]


def test_register_is_challenged_with_md5_and_sha256():
    endpoint = make_endpoint()
    response = only_response(endpoint.receive(wire(register()), PHONE, NOW))
    assert response.status == 401
    challenges = response.headers.lines("WWW-Authenticate")
    assert [c.split("algorithm=")[1].split(",")[0] for c in challenges] == ["MD5", "SHA-256"]
    assert all('realm="pbx.test"' in c and 'qop="auth"' in c for c in challenges)
    assert len(response.to.tag) == 16  # keyed hash of Call-ID and From tag
    # RFC 3581: rport filled in, received added.
    assert response.top_via.params["rport"] == "5062"
    assert response.top_via.params["received"] == "127.0.0.1"


def test_register_with_credentials_binds_contact_and_publishes():
    endpoint = make_endpoint()
    response, actions = registered(endpoint, contact='<sip:1001-0x55@127.0.0.1:5062>;+sip.instance="<urn:uuid:abc>"')
    assert response.status == 200
    assert response.headers.get_all("Contact") == ['<sip:1001-0x55@127.0.0.1:5062>;+sip.instance="<urn:uuid:abc>";expires=3600']
    assert "Date" in response.headers
    [added] = events(actions)
    assert isinstance(added, RegistrationAdded)
    assert (added.aor, added.instance, added.expires, added.source) == ("sip:1001@pbx.test", "<urn:uuid:abc>", 3600, "127.0.0.1:5062")
    [binding] = endpoint.registrar.lookup("1001", NOW)
    assert str(binding.uri) == "sip:1001-0x55@127.0.0.1:5062"


def test_rfc2069_answer_without_qop_is_accepted():
    endpoint = make_endpoint()
    first = only_response(endpoint.receive(wire(register()), PHONE, NOW))
    extra = authorization(challenge_params(first), "1001", "secret1001", qop=False, uri="sip:127.0.0.1;transport=UDP")
    response = only_response(endpoint.receive(wire(register(cseq=2, extra=extra)), PHONE, NOW))
    assert response.status == 200


def test_sha256_answer_is_accepted():
    endpoint = make_endpoint()
    first = only_response(endpoint.receive(wire(register()), PHONE, NOW))
    extra = authorization(challenge_params(first), "1001", "secret1001", algorithm="SHA-256")
    assert only_response(endpoint.receive(wire(register(cseq=2, extra=extra)), PHONE, NOW)).status == 200


def test_wrong_password_gets_403_and_an_event():
    endpoint = make_endpoint()
    response, actions = registered(endpoint, password="guess")
    assert response.status == 403
    [failed] = events(actions)
    assert isinstance(failed, AuthenticationFailed) and failed.username == "1001"
    assert len(endpoint.registrar) == 0


def test_unknown_and_known_users_get_the_same_challenge_and_the_same_rejection():
    endpoint = make_endpoint()
    known = only_response(endpoint.receive(wire(register("1001", call_id="a")), PHONE, NOW))
    unknown = only_response(endpoint.receive(wire(register("9999", call_id="b")), PHONE, NOW))
    shape = lambda r: (r.status, r.reason, [name for name, _ in r.headers], [v.split("nonce=")[0] for v in r.headers.lines("WWW-Authenticate")])
    assert shape(known) == shape(unknown)
    rejected_known, _ = registered(endpoint, "1001", password="x", call_id="c")
    rejected_unknown, _ = registered(endpoint, "9999", password="x", call_id="d")
    assert (rejected_known.status, rejected_known.reason) == (rejected_unknown.status, rejected_unknown.reason) == (403, "Forbidden")


def test_stale_nonce_gets_a_new_challenge_with_stale_true():
    endpoint = make_endpoint()
    first = only_response(endpoint.receive(wire(register()), PHONE, NOW))
    extra = authorization(challenge_params(first), "1001", "secret1001")
    late = only_response(endpoint.receive(wire(register(cseq=2, extra=extra)), PHONE, NOW + 301))
    assert late.status == 401
    assert "stale=true" in late.headers.get("WWW-Authenticate")


def test_user_may_only_register_its_own_address():
    endpoint = make_endpoint()
    first = only_response(endpoint.receive(wire(register("1001", to_user="1002")), PHONE, NOW))
    extra = authorization(challenge_params(first), "1001", "secret1001")
    response = only_response(endpoint.receive(wire(register("1001", to_user="1002", cseq=2, extra=extra)), PHONE, NOW))
    assert response.status == 403
    assert "1001 may not register 1002" in response.headers.get("Warning")


def test_short_expiry_gets_423_with_min_expires():
    endpoint = make_endpoint(min_expires=60)
    response, _ = registered(endpoint, expires="30")
    assert response.status == 423
    assert response.headers.get("Min-Expires") == "60"


def test_expiry_above_maximum_is_cut():
    endpoint = make_endpoint(max_expires=7200)
    response, _ = registered(endpoint, expires="86400")
    assert response.headers.get("Contact").endswith(";expires=7200")


def test_binding_expires_on_the_fake_clock():
    endpoint = make_endpoint()
    registered(endpoint, expires="120")
    assert endpoint.next_deadline() is not None
    assert events(endpoint.handle_timer(NOW + 119)) == []
    [expired] = [e for e in events(endpoint.handle_timer(NOW + 120)) if isinstance(e, RegistrationExpired)]
    assert expired.aor == "sip:1001@pbx.test"
    assert endpoint.registrar.lookup("1001", NOW + 120) == []


def test_several_bindings_and_star_unregister():
    endpoint = make_endpoint()
    registered(endpoint, contact="<sip:1001@127.0.0.1:5062>", call_id="desk")
    response, _ = registered(endpoint, contact="<sip:1001@127.0.0.1:5064>", call_id="soft")
    assert len(response.headers.get_all("Contact")) == 2
    response, actions = registered(endpoint, contact="*", expires="0", call_id="soft", cseq=5)
    assert response.status == 200 and response.headers.get("Contact") is None
    assert sorted(e.reason for e in events(actions)) == ["unregistered", "unregistered"]
    assert len(endpoint.registrar) == 0


def test_star_without_expires_zero_is_400():
    endpoint = make_endpoint()
    response, _ = registered(endpoint, contact="*", expires="60")
    assert response.status == 400


def test_refresh_with_same_call_id_needs_higher_cseq():
    endpoint = make_endpoint()
    registered(endpoint, cseq=10)
    response, _ = registered(endpoint, cseq=3)
    assert response.status == 500


def test_register_query_without_contact_lists_bindings():
    endpoint = make_endpoint()
    registered(endpoint)
    response, actions = registered(endpoint, contact="", call_id="query")
    assert response.status == 200 and len(response.headers.get_all("Contact")) == 1
    assert events(actions) == []


def test_same_instance_new_contact_replaces_binding():
    endpoint = make_endpoint()
    instance = ';+sip.instance="<urn:uuid:1>"'
    registered(endpoint, contact=f"<sip:1001@127.0.0.1:5062>{instance}", call_id="x")
    _, actions = registered(endpoint, contact=f"<sip:1001@127.0.0.1:6000>{instance}", call_id="y")
    assert [type(e).__name__ for e in events(actions)] == ["RegistrationRemoved", "RegistrationAdded"]
    assert isinstance(events(actions)[0], RegistrationRemoved) and events(actions)[0].reason == "replaced"
    assert [str(b.uri) for b in endpoint.registrar.lookup("1001", NOW)] == ["sip:1001@127.0.0.1:6000"]


def test_a_register_without_credentials_is_challenged_statelessly():
    """RFC 3261 8.2.7: no transaction for a challenge; a retransmission is challenged again,
    with the same To tag, and the phone may answer either nonce."""
    endpoint = make_endpoint()
    data = wire(register())
    first = only_response(endpoint.receive(data, PHONE, NOW))
    assert first.status == 401 and len(endpoint.transactions) == 0 and endpoint.stats["sent_stateless"] == 1
    again = only_response(endpoint.receive(data, PHONE, NOW + 0.5))
    assert again.status == 401 and again.to.tag == first.to.tag
    for cseq, challenge in ((2, first), (3, again)):
        extra = authorization(challenge_params(challenge), "1001", "secret1001")
        response = only_response(endpoint.receive(wire(register(cseq=cseq, extra=extra)), PHONE, NOW + 1))
        assert response.status == 200


def test_a_retransmitted_register_with_credentials_is_answered_from_the_transaction():
    endpoint = make_endpoint()
    challenge = only_response(endpoint.receive(wire(register()), PHONE, NOW))
    data = wire(register(cseq=2, extra=authorization(challenge_params(challenge), "1001", "secret1001")))
    first = only_response(endpoint.receive(data, PHONE, NOW))
    again = only_response(endpoint.receive(data, PHONE, NOW + 1.5))
    assert (first.status, again.status, len(endpoint.transactions)) == (200, 200, 1)
    assert again.headers.get("Date") == first.headers.get("Date")  # the same response, resent


def test_options_is_answered_with_capabilities():
    endpoint = make_endpoint()
    text = register().replace("REGISTER", "OPTIONS")
    response = only_response(endpoint.receive(wire(text), PHONE, NOW))
    assert response.status == 200
    assert "REGISTER" in response.headers.get("Allow")


@pytest.mark.parametrize(
    ("edit", "status", "phrase"),
    [
        (lambda t: t.replace("Call-ID: reg-1\n", ""), 400, "missing Call-ID"),
        (lambda t: t.replace("CSeq: 1 REGISTER", "CSeq: 1 INVITE"), 400, "does not match"),
        (lambda t: t.replace("CSeq: 1 REGISTER", "CSeq: one REGISTER"), 400, "bad CSeq"),
        (lambda t: t.replace("SIP/2.0\n", "SIP/3.0\n", 1), 505, "version"),
        (lambda t: t.replace("Expires: 3600", "Expires: soon"), 400, "Expires"),
        (lambda t: t.replace("Contact: <sip:1001@127.0.0.1:5062>", "Contact: <sip:1001@>"), 400, "Contact"),
        (lambda t: t.replace("Max-Forwards: 70", "Max-Forwards: many"), 400, "Max-Forwards"),
        (lambda t: t.replace("From: ", "From ") , 400, "header line"),
        (lambda t: t.replace("REGISTER sip:pbx.test", "REGISTER sip:pbx.test:99999"), 400, "Request-URI"),
    ],
)
def test_malformed_requests_get_an_error_that_says_what_is_wrong(edit, status, phrase):
    endpoint = make_endpoint()
    response = only_response(endpoint.receive(wire(edit(register())), PHONE, NOW))
    assert response.status == status
    assert phrase in response.reason or phrase in (response.headers.get("Warning") or "")
    assert endpoint.stats["malformed"] == 1


def test_content_length_larger_than_body_is_400():
    endpoint = make_endpoint()
    data = wire(register()).replace(b"Content-Length: 0", b"Content-Length: 50")
    response = only_response(endpoint.receive(data, PHONE, NOW))
    assert response.status == 400 and "Content-Length 50" in response.reason


def test_garbage_and_stray_responses_are_dropped_silently():
    endpoint = make_endpoint()
    for data in (b"\x00\x01garbage", b"HELLO WORLD", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nCSeq: 1 OPTIONS\r\n\r\n"):
        actions = endpoint.receive(data, PHONE, NOW)
        assert responses(actions) == [] and all(isinstance(a, Dropped) for a in actions)


def test_unknown_method_is_501_and_unclaimed_method_is_405():
    endpoint = make_endpoint()
    text = register().replace("REGISTER", "FROBNICATE")
    assert only_response(endpoint.receive(wire(text), PHONE, NOW)).status == 501
    text = register(call_id="m").replace("REGISTER", "MESSAGE")
    response = only_response(endpoint.receive(wire(text), PHONE, NOW))
    assert response.status == 405 and "REGISTER" in response.headers.get("Allow")


def test_bye_outside_a_dialog_is_481():
    endpoint = make_endpoint()
    text = register().replace("REGISTER", "BYE")
    assert only_response(endpoint.receive(wire(text), PHONE, NOW)).status == 481


def test_unsupported_require_is_420():
    """Once authenticated: RFC 3261 8.2 has the UAS authenticate first, then inspect headers."""
    endpoint = make_endpoint()
    challenge = only_response(endpoint.receive(wire(register(extra="Require: foo")), PHONE, NOW))
    assert challenge.status == 401
    extra = "Require: foo\n" + authorization(challenge_params(challenge), "1001", "secret1001")
    text = register(cseq=2, extra=extra)
    response = only_response(endpoint.receive(wire(text), PHONE, NOW))
    assert response.status == 420 and response.headers.get("Unsupported") == "foo"


def test_tcp_responses_go_back_on_the_connection():
    endpoint = make_endpoint()
    peer = Peer("tcp", "127.0.0.1", 40000)
    [action] = [a for a in endpoint.receive(wire(register().replace("UDP", "TCP")), peer, NOW) if isinstance(a, Transmit)]
    assert action.peer == peer


def test_udp_response_without_rport_goes_to_via_port():
    endpoint = make_endpoint()
    text = register().replace(";rport", "").replace("127.0.0.1:5062;", "127.0.0.1:5070;")
    [action] = endpoint.receive(wire(text), PHONE, NOW)
    assert action.peer == Peer("udp", "127.0.0.1", 5070)


def test_transactions_drain_to_zero_after_timers():
    endpoint = make_endpoint()
    registered(endpoint)
    assert len(endpoint.transactions) == 1  # the REGISTER with credentials; the challenge kept none
    endpoint.handle_timer(NOW + 40)
    assert len(endpoint.transactions) == 0


def test_to_tag_is_the_same_for_the_challenge_and_the_retry():
    """sipp callers keep the first To tag they see (the 407's) for their BYE."""
    endpoint = make_endpoint()
    text = register(call_id="same").replace("tag=from1", "tag=caller")
    first = only_response(endpoint.receive(wire(text), PHONE, NOW))
    second_text = register(call_id="same", cseq=2).replace("tag=from2", "tag=caller")
    second = only_response(endpoint.receive(wire(second_text), PHONE, NOW))
    assert first.to.tag == second.to.tag
    other = only_response(endpoint.receive(wire(register(call_id="other")), PHONE, NOW))
    assert other.to.tag != first.to.tag
