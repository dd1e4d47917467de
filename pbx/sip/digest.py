"""Digest authentication, server side (RFC 3261 22, RFC 7616, RFC 8760).

MD5 and SHA-256 (and their -sess forms), qop=auth, and the qop-less RFC 2069
answers that old phones and pyVoIP still send. Nonces are stateless: the
issue time and an HMAC over it, so any node sharing the secret can check
them and a restart only makes outstanding nonces stale.

The response is verified against the `uri` the client put in its
credentials, not the Request-URI: sipp sends `sip:<ip>:<port>` and pyVoIP
`sip:<server>;transport=UDP` there (RFC 3261 22.4 only says they SHOULD match).

Deliberately absent: auth-int, userhash, nonce-count replay tracking.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import struct
from collections.abc import Callable

import msgspec

from .errors import RemoteProtocolError
from .fields import AuthParams, format_challenge

# RFC 8760 2: the algorithms SIP may use, keyed by the name on the wire.
_HASHES: dict[str, Callable[[bytes], "hashlib._Hash"]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data),
}
ALGORITHMS = tuple(_HASHES)


def _hex(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode()).hexdigest()


class Verdict(enum.Enum):
    ACCEPTED = "accepted"        # credentials are good: go on with the request
    CHALLENGE = "challenge"      # no (usable) credentials for our realm: 401/407
    STALE = "stale"              # right password, expired nonce: challenge with stale=true
    REJECTED = "rejected"        # wrong password or unknown user: 403
    MALFORMED = "malformed"      # credentials we cannot read: 400


class AuthResult(msgspec.Struct, frozen=True):
    verdict: Verdict
    username: str | None = None
    reason: str = ""


class DigestAuthenticator:
    """Issues challenges and checks credentials for one realm.

    `password_of(username)` returns the user's password or None. Unknown
    users are challenged and rejected exactly like known ones, so that
    scanners (svwar) cannot tell which extensions exist.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        password_of: Callable[[str], str | None],
        *,
        nonce_lifetime: float = 300.0,
        algorithms: tuple[str, ...] = ("MD5", "SHA-256"),
    ) -> None:
        unknown = [name for name in algorithms if name not in _HASHES]
        if unknown:
            raise ValueError(f"unknown digest algorithms {unknown}; known: {list(ALGORITHMS)}")
        self.realm = realm
        self.algorithms = algorithms
        self.nonce_lifetime = nonce_lifetime
        self._secret = secret
        self._password_of = password_of
        self._ha1_cache: dict[tuple[str, str, str], str] = {}

    # RFC 7616 3.3 / RFC 8760 2.4: one challenge per algorithm, preferred first.
    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        nonce = self.make_nonce(now)
        values = []
        for algorithm in self.algorithms:
            params = [("realm", self.realm, True), ("nonce", nonce, True), ("qop", "auth", True)]
            params.append(("algorithm", algorithm, False))
            if stale:
                params.append(("stale", "true", False))
            values.append(format_challenge(params))
        return values

    def make_nonce(self, now: float) -> str:
        issued = struct.pack(">d", now)
        mac = hmac.digest(self._secret, issued + self.realm.encode(), "sha256")[:16]
        return base64.urlsafe_b64encode(issued + mac).decode().rstrip("=")

    def nonce_age(self, nonce: str, now: float) -> float | None:
        """Seconds since we issued `nonce`, or None when we did not issue it."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 24:
            return None
        issued_bytes, mac = raw[:8], raw[8:]
        expected = hmac.digest(self._secret, issued_bytes + self.realm.encode(), "sha256")[:16]
        if not hmac.compare_digest(mac, expected):
            return None
        (issued,) = struct.unpack(">d", issued_bytes)
        return now - issued

    def verify(self, method: str, credential_values: list[str], now: float) -> AuthResult:
        """Check the Authorization (or Proxy-Authorization) values of a request."""
        credentials = None
        for value in credential_values:
            try:
                parsed = AuthParams.parse(value)
            except RemoteProtocolError as error:
                return AuthResult(Verdict.MALFORMED, reason=f"unreadable credentials: {error}")
            if parsed.scheme.lower() == "digest" and parsed.get("realm") == self.realm:
                credentials = parsed
                break
        if credentials is None:
            return AuthResult(Verdict.CHALLENGE)
        return self._check(method, credentials, now)

    def _check(self, method: str, credentials: AuthParams, now: float) -> AuthResult:
        missing = [name for name in ("username", "nonce", "uri", "response") if not credentials.get(name)]
        if missing:
            return AuthResult(Verdict.MALFORMED, reason=f"credentials lack {', '.join(missing)}")
        username = credentials.params["username"]
        algorithm_name = credentials.get("algorithm") or "MD5"
        session = algorithm_name.upper().endswith("-SESS")
        algorithm = algorithm_name[:-5] if session else algorithm_name
        algorithm = algorithm.upper()
        if algorithm not in self.algorithms:
            return AuthResult(Verdict.CHALLENGE, username, f"algorithm {algorithm_name} not offered")
        nonce = credentials.params["nonce"]
        age = self.nonce_age(nonce, now)
        if age is None:
            # Not our nonce (another realm, a restart with a new secret): start over.
            return AuthResult(Verdict.CHALLENGE, username, "unknown nonce")
        qop = credentials.get("qop")
        cnonce = credentials.get("cnonce")
        nonce_count = credentials.get("nc")
        if qop is not None and (qop.lower() != "auth" or not cnonce or not nonce_count):
            return AuthResult(Verdict.MALFORMED, username, f"qop={qop} needs cnonce and nc; only auth is offered")
        if session and not cnonce:
            return AuthResult(Verdict.MALFORMED, username, f"{algorithm_name} needs a cnonce")
        password = self._password_of(username)
        if password is None:
            return AuthResult(Verdict.REJECTED, username, "wrong credentials")
        ha1 = self._ha1(algorithm, username, password)
        if session:
            # RFC 7616 3.4.2: A1 = H(user:realm:pass):nonce:cnonce for -sess algorithms.
            ha1 = _hex(algorithm, f"{ha1}:{nonce}:{cnonce}")
        ha2 = _hex(algorithm, f"{method}:{credentials.params['uri']}")
        if qop is None:
            # RFC 2069 / RFC 2617 3.2.2.1: response = H(HA1:nonce:HA2).
            expected = _hex(algorithm, f"{ha1}:{nonce}:{ha2}")
        else:
            expected = _hex(algorithm, f"{ha1}:{nonce}:{nonce_count}:{cnonce}:{qop.lower()}:{ha2}")
        if not hmac.compare_digest(expected, credentials.params["response"].lower()):
            return AuthResult(Verdict.REJECTED, username, "wrong credentials")
        if age > self.nonce_lifetime or age < -5:
            return AuthResult(Verdict.STALE, username, "nonce expired")
        return AuthResult(Verdict.ACCEPTED, username)

    def _ha1(self, algorithm: str, username: str, password: str) -> str:
        key = (algorithm, username, password)
        cached = self._ha1_cache.get(key)
        if cached is None:
            if len(self._ha1_cache) > 100_000:
                self._ha1_cache.clear()
            cached = self._ha1_cache[key] = _hex(algorithm, f"{username}:{self.realm}:{password}")
        return cached


def client_response(
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    realm: str,
    nonce: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    cnonce: str | None = None,
    nonce_count: str = "00000001",
) -> str:
    """The response a client computes (RFC 7616 3.4.1); for tests and our own UAC legs."""
    ha1 = _hex(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hex(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hex(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _hex(algorithm, f"{ha1}:{nonce}:{nonce_count}:{cnonce}:{qop}:{ha2}")
