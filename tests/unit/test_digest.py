"""Digest computations against the RFC 7616 3.9.1 example, and nonce handling on a fake clock."""

from pbx.sip.digest import DigestAuthenticator, Verdict, client_response

# RFC 7616 3.9.1 (Mufasa / "Circle of Life").
EXAMPLE = dict(
    method="GET", uri="/dir/index.html", username="Mufasa", password="Circle of Life",
    realm="http-auth@example.org", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    qop="auth", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", nonce_count="00000001",
)


def test_rfc7616_md5_example():
    assert client_response(**EXAMPLE, algorithm="MD5") == "8ca523f5e9506fed4657c9700eebdbec"


def test_rfc7616_sha256_example():
    assert client_response(**EXAMPLE, algorithm="SHA-256") == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def make(lifetime=300):
    return DigestAuthenticator("pbx.test", b"s" * 32, {"1001": "pw"}.get, nonce_lifetime=lifetime)


def credentials(auth, nonce, *, password="pw", user="1001", algorithm="MD5", qop=True, uri="sip:pbx.test"):
    kwargs = dict(method="REGISTER", uri=uri, username=user, password=password, realm="pbx.test",
                  nonce=nonce, algorithm=algorithm)
    if qop:
        response = client_response(**kwargs, qop="auth", cnonce="abc", nonce_count="00000001")
        return (f'Digest username="{user}", realm="pbx.test", nonce="{nonce}", uri="{uri}", '
                f'response="{response}", algorithm={algorithm}, qop=auth, nc=00000001, cnonce="abc"')
    response = client_response(**kwargs)
    return f'Digest username="{user}", realm="pbx.test", nonce="{nonce}", uri="{uri}", response="{response}"'


def test_accepts_md5_sha256_and_qopless():
    auth = make()
    nonce = auth.make_nonce(100.0)
    for value in (credentials(auth, nonce), credentials(auth, nonce, algorithm="SHA-256"), credentials(auth, nonce, qop=False)):
        result = auth.verify("REGISTER", [value], 101.0)
        assert (result.verdict, result.username) == (Verdict.ACCEPTED, "1001")


def test_wrong_password_and_unknown_user_are_rejected_alike():
    auth = make()
    nonce = auth.make_nonce(100.0)
    wrong = auth.verify("REGISTER", [credentials(auth, nonce, password="x")], 101.0)
    unknown = auth.verify("REGISTER", [credentials(auth, nonce, user="7777")], 101.0)
    assert wrong.verdict is unknown.verdict is Verdict.REJECTED
    assert wrong.reason == unknown.reason


def test_expired_nonce_with_right_password_is_stale_and_wrong_password_is_rejected():
    auth = make(lifetime=300)
    nonce = auth.make_nonce(100.0)
    assert auth.verify("REGISTER", [credentials(auth, nonce)], 401.0).verdict is Verdict.STALE
    assert auth.verify("REGISTER", [credentials(auth, nonce, password="x")], 401.0).verdict is Verdict.REJECTED


def test_foreign_or_forged_nonce_is_challenged_again():
    auth = make()
    other = DigestAuthenticator("pbx.test", b"t" * 32, {"1001": "pw"}.get)
    forged = other.make_nonce(100.0)
    assert auth.verify("REGISTER", [credentials(auth, forged)], 101.0).verdict is Verdict.CHALLENGE
    assert auth.verify("REGISTER", [credentials(auth, "not-base64!!")], 101.0).verdict is Verdict.CHALLENGE


def test_other_realm_or_no_credentials_is_a_challenge():
    auth = make()
    assert auth.verify("REGISTER", [], 1.0).verdict is Verdict.CHALLENGE
    value = credentials(auth, auth.make_nonce(1.0)).replace('realm="pbx.test"', 'realm="elsewhere"')
    assert auth.verify("REGISTER", [value], 1.0).verdict is Verdict.CHALLENGE


def test_incomplete_credentials_are_malformed_with_a_reason():
    auth = make()
    result = auth.verify("REGISTER", ['Digest username="1001", realm="pbx.test"'], 1.0)
    assert result.verdict is Verdict.MALFORMED
    assert "nonce" in result.reason and "response" in result.reason
    bad_qop = credentials(auth, auth.make_nonce(1.0)).replace(', nc=00000001, cnonce="abc"', "")
    assert auth.verify("REGISTER", [bad_qop], 1.0).verdict is Verdict.MALFORMED


def test_method_is_part_of_the_digest():
    auth = make()
    value = credentials(auth, auth.make_nonce(1.0))
    assert auth.verify("INVITE", [value], 1.0).verdict is Verdict.REJECTED


def test_challenges_list_each_algorithm_and_stale_flag():
    auth = make()
    plain = auth.challenges(5.0)
    assert len(plain) == 2 and "algorithm=MD5" in plain[0] and "algorithm=SHA-256" in plain[1]
    assert all("stale" not in value for value in plain)
    assert all(value.endswith("stale=true") for value in auth.challenges(5.0, stale=True))
