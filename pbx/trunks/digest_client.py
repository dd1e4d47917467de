"""Answering a digest challenge as a client (RFC 3261 22.2-22.4, RFC 7616 3.4, RFC 8760).

The provider challenges our REGISTER (401 WWW-Authenticate) or INVITE (401, or 407
Proxy-Authenticate); we answer with the trunk's credentials. The first challenge whose
algorithm we know is taken (RFC 8760 2.4: servers list them most preferred first);
qop=auth when offered, else the RFC 2069 form. The cnonce comes from the caller: pure.
"""

from __future__ import annotations

import msgspec

from pbx.sip.digest import ALGORITHMS, client_response
from pbx.sip.errors import RemoteProtocolError
from pbx.sip.fields import AuthParams
from pbx.sip.message import Response


class Challenge(msgspec.Struct, frozen=True):
    """A challenge we can answer: which header carried it and its parameters."""

    proxy: bool  # 407 Proxy-Authenticate (answer in Proxy-Authorization) or 401 WWW-Authenticate
    realm: str
    nonce: str
    algorithm: str
    qop: str | None
    opaque: str | None
    stale: bool


def challenge_of(response: Response) -> Challenge | None:
    """The first usable digest challenge of a 401 or 407, or None (unreadable or unknown algorithm)."""
    proxy = response.status == 407
    for value in response.headers.lines("Proxy-Authenticate" if proxy else "WWW-Authenticate"):
        try:
            params = AuthParams.parse(value)
        except RemoteProtocolError:
            continue
        algorithm = (params.get("algorithm") or "MD5").upper()
        if params.scheme.lower() != "digest" or algorithm not in ALGORITHMS or not params.get("nonce"):
            continue
        offered = [item.strip().lower() for item in (params.get("qop") or "").split(",") if item.strip()]
        if offered and "auth" not in offered:
            continue  # auth-int only: we cannot answer it
        return Challenge(proxy=proxy, realm=params.get("realm") or "", nonce=params.params["nonce"],
                         algorithm=algorithm, qop="auth" if offered else None, opaque=params.get("opaque"),
                         stale=(params.get("stale") or "").lower() == "true")
    return None


def credentials(challenge: Challenge, *, method: str, uri: str, username: str, password: str,
                cnonce: str, nonce_count: int = 1) -> tuple[str, str]:
    """(header name, value) answering `challenge` for a request of `method` to `uri`."""
    nc = f"{nonce_count:08x}"
    response = client_response(method=method, uri=uri, username=username, password=password, realm=challenge.realm,
                               nonce=challenge.nonce, algorithm=challenge.algorithm, qop=challenge.qop,
                               cnonce=cnonce, nonce_count=nc)
    parts = [f'username="{username}"', f'realm="{challenge.realm}"', f'nonce="{challenge.nonce}"', f'uri="{uri}"',
             f'response="{response}"', f"algorithm={challenge.algorithm}"]
    if challenge.qop is not None:
        parts += ["qop=auth", f'cnonce="{cnonce}"', f"nc={nc}"]
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    header = "Proxy-Authorization" if challenge.proxy else "Authorization"
    return header, "Digest " + ", ".join(parts)
