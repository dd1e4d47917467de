"""Helpers for pure tests: build an endpoint with a fixed secret and counting tags, and
write SIP requests as readable text (LF in the test source, CRLF on the wire)."""

from __future__ import annotations

import itertools
import re

from pbx.sip.digest import DigestAuthenticator, client_response
from pbx.sip.endpoint import EndpointSettings, SipEndpoint
from pbx.sip.message import Response, parse_message
from pbx.sip.registrar import Registrar, RegistrarSettings
from pbx.sip.transaction import Peer, TransactionLayer, Transmit

REALM = "pbx.test"
PASSWORDS = {"1001": "secret1001", "1002": "secret1002"}
PHONE = Peer("udp", "127.0.0.1", 5062)


def make_endpoint(**registrar_settings) -> SipEndpoint:
    tags = (f"tag{n}" for n in itertools.count(1))
    return SipEndpoint(
        EndpointSettings(realm=REALM, user_agent="pbx-test"),
        transactions=TransactionLayer(),
        authenticator=DigestAuthenticator(REALM, b"k" * 32, PASSWORDS.get, nonce_lifetime=300),
        registrar=Registrar(RegistrarSettings(**registrar_settings), domain=REALM),
        is_extension=PASSWORDS.__contains__,
        new_tag=lambda: next(tags),
    )


def wire(text: str, body: str = "") -> bytes:
    head = text.strip("\n").replace("\n", "\r\n")
    return f"{head}\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()


def register(user: str = "1001", *, cseq: int = 1, call_id: str = "reg-1", contact: str | None = None,
             expires: str | None = "3600", extra: str = "", to_user: str | None = None, branch: str | None = None) -> str:
    contact = contact if contact is not None else f"<sip:{user}@127.0.0.1:5062>"
    lines = [
        "REGISTER sip:pbx.test SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch or f'z9hG4bK-{call_id}-{cseq}'};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@pbx.test>;tag=from{cseq}",
        f"To: <sip:{to_user or user}@pbx.test>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
    ]
    if contact:
        lines.append(f"Contact: {contact}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def responses(actions) -> list[Response]:
    return [parse_message(action.data) for action in actions if isinstance(action, Transmit)]


def only_response(actions) -> Response:
    found = responses(actions)
    assert len(found) == 1, found
    return found[0]


def challenge_params(response: Response, header: str = "WWW-Authenticate") -> dict[str, str]:
    value = response.headers.get(header)
    return dict((k, v.strip('"')) for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', value))


def authorization(challenge: dict[str, str], user: str, password: str, *, method: str = "REGISTER",
                  uri: str = "sip:pbx.test", qop: bool = True, algorithm: str = "MD5") -> str:
    params = dict(method=method, uri=uri, username=user, password=password, realm=challenge["realm"],
                  nonce=challenge["nonce"], algorithm=algorithm)
    if qop:
        response = client_response(**params, qop="auth", cnonce="c0ffee", nonce_count="00000001")
        tail = ', qop=auth, cnonce="c0ffee", nc=00000001'
    else:
        response = client_response(**params)
        tail = ""
    return (f'Authorization: Digest username="{user}", realm="{challenge["realm"]}", nonce="{challenge["nonce"]}", '
            f'uri="{uri}", response="{response}", algorithm={algorithm}{tail}')
