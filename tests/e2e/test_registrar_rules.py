"""Registrar and digest rules seen from the wire, with the hand-rolled client (exact bytes).

Covers what the peers do not pin down precisely: the challenge shape (identical for known and
unknown users), RFC 2069 and SHA-256 answers, 423 with Min-Expires, unregistering with Expires: 0
and Contact: *, and stale nonces.
"""

from __future__ import annotations

import time

import pytest

from .harness import wait_for
from .sipmsg import (
    Dialogish,
    UdpSipClient,
    build_request,
    challenges,
    digest_authorization,
    pick_challenge,
)

pytestmark = pytest.mark.e2e


# The default offers MD5 alone (baresip 1.0.0 gives up on SHA-256); these tests turn both on.
MD5_AND_SHA256 = {"nonce_lifetime": 300, "algorithms": ["MD5", "SHA-256"]}


def _extensions(pbx) -> list[str]:
    return sorted(entry["extension"] for entry in pbx.registrations())


@pytest.mark.timeout(30)
def test_challenge_is_the_same_for_known_and_unknown_users(start_pbx):
    pbx = start_pbx(auth=MD5_AND_SHA256)
    with UdpSipClient(pbx.sip_address) as client:
        known, _ = client.register("1001", "irrelevant")
        unknown, _ = client.register("9999", "irrelevant")
    assert known is not None and unknown is not None
    assert (known.status, known.reason) == (401, unknown.reason) and unknown.status == 401, f"{known}\n{unknown}"
    shape = [(c.scheme, c.algorithm, sorted(c.params)) for c in challenges(known)]
    assert shape == [(c.scheme, c.algorithm, sorted(c.params)) for c in challenges(unknown)], f"{known}\n{unknown}"
    algorithms = [c.algorithm for c in challenges(known)]
    assert "MD5" in algorithms and "SHA-256" in algorithms, known
    # sipp 3.6.1 answers only the first challenge and aborts the call on anything but MD5
    # ("createAuthHeader: authentication must use MD5 or AKAv1-MD5"), so MD5 must come first.
    assert algorithms[0] == "MD5", known
    for challenge in challenges(known):
        assert challenge.params["realm"] == "pbx.test", known
        assert "auth" in challenge.qop_options, known
    assert sorted(name for name, _ in known.headers) == sorted(name for name, _ in unknown.headers), (
        f"{known}\n{unknown}"
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("algorithm", "use_qop"),
    [("MD5", True), ("MD5", False), ("SHA-256", True)],
    ids=["md5-qop", "md5-rfc2069", "sha256-qop"],
)
def test_digest_answers_are_accepted(start_pbx, algorithm, use_qop):
    pbx = start_pbx(auth=MD5_AND_SHA256)
    with UdpSipClient(pbx.sip_address) as client:
        first, final = client.register("1003", "secret1003", algorithm=algorithm, use_qop=use_qop)
    assert first is not None and first.status == 401, first
    assert final is not None and final.status == 200, final
    assert any(
        f"sip:1003@{client.local_host}:{client.local_port}" in value for value in final.header_values("contact")
    ), final
    assert _extensions(pbx) == ["1003"]


@pytest.mark.timeout(30)
def test_wrong_password_gets_403_and_unknown_user_too(pbx):
    with UdpSipClient(pbx.sip_address) as client:
        _, wrong = client.register("1001", "not-the-password")
        _, unknown = client.register("9999", "whatever")
    assert wrong is not None and wrong.status == 403, wrong
    assert unknown is not None and unknown.status == 403, unknown
    assert (wrong.status, wrong.reason) == (unknown.status, unknown.reason)
    assert _extensions(pbx) == []


@pytest.mark.timeout(30)
def test_too_brief_expiry_gets_423_with_min_expires(pbx):
    with UdpSipClient(pbx.sip_address) as client:
        _, final = client.register("1001", "secret1001", expires=10)
    assert final is not None and final.status == 423, final
    assert final.header("min-expires") == "60", final
    assert _extensions(pbx) == []


@pytest.mark.timeout(30)
def test_expires_zero_and_contact_star_unregister(pbx):
    with UdpSipClient(pbx.sip_address) as first_phone, UdpSipClient(pbx.sip_address) as second_phone:
        for phone in (first_phone, second_phone):
            _, final = phone.register("1004", "secret1004")
            assert final is not None and final.status == 200, final
        bindings = [entry for entry in pbx.registrations() if entry["extension"] == "1004"]
        assert len(bindings) == 2, bindings

        _, final = first_phone.register("1004", "secret1004", expires=0)
        assert final is not None and final.status == 200, final
        remaining = [entry["source"] for entry in pbx.registrations() if entry["extension"] == "1004"]
        assert remaining == [f"{second_phone.local_host}:{second_phone.local_port}"], remaining

        _, final = second_phone.register("1004", "secret1004", expires=0, contact="*")
        assert final is not None and final.status == 200, final
    assert _extensions(pbx) == []
    assert pbx.api("/api/status")["registrations"] == 0


@pytest.mark.timeout(30)
def test_options_is_answered(pbx):
    with UdpSipClient(pbx.sip_address) as client:
        exchange = Dialogish(client.local_host, client.local_port, "1001", "127.0.0.1")
        uri = f"sip:{pbx.host}:{pbx.sip_port}"
        response = client.request(build_request(f"OPTIONS {uri} SIP/2.0", exchange.headers("OPTIONS")))
        if response is not None and response.status == 401:
            authorization = digest_authorization(
                pick_challenge(response), username="1001", password="secret1001", method="OPTIONS", uri=uri
            )
            headers = exchange.headers("OPTIONS") + [("Authorization", authorization)]
            response = client.request(build_request(f"OPTIONS {uri} SIP/2.0", headers))
    assert response is not None and response.status == 200, response


@pytest.mark.timeout(30)
def test_expired_nonce_is_challenged_again_with_stale_true(start_pbx):
    pbx = start_pbx(auth={"nonce_lifetime": 1})
    with UdpSipClient(pbx.sip_address) as client:
        exchange = Dialogish(client.local_host, client.local_port, "1001", "127.0.0.1")
        uri = f"sip:{pbx.host}:{pbx.sip_port}"

        def register(authorization: str | None):
            headers = exchange.headers("REGISTER") + [
                ("Contact", f"<sip:1001@{client.local_host}:{client.local_port}>"),
                ("Expires", "3600"),
            ]
            if authorization:
                headers.append(("Authorization", authorization))
            return client.request(build_request(f"REGISTER {uri} SIP/2.0", headers))

        challenge = pick_challenge(register(None))
        time.sleep(2.5)
        late = register(
            digest_authorization(challenge, username="1001", password="secret1001", method="REGISTER", uri=uri)
        )
        assert late is not None and late.status == 401, late
        assert all(c.params.get("stale", "").lower() == "true" for c in challenges(late)), late
        fresh = register(
            digest_authorization(
                pick_challenge(late), username="1001", password="secret1001", method="REGISTER", uri=uri
            )
        )
        assert fresh is not None and fresh.status == 200, fresh
    wait_for(lambda: _extensions(pbx) == ["1001"], timeout=2, what="the 1001 binding")
