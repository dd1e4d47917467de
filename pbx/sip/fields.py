"""Typed values of the header fields the stack itself reads (RFC 3261 20).

Via, CSeq and the digest credentials/challenges. Everything else stays a
string in `Headers` until someone needs it; parsing on demand keeps the hot
path short.
"""

from __future__ import annotations

import re
from typing import Self

import msgspec

from .errors import RemoteProtocolError
from .syntax import RecentlyParsed, format_params, is_token, parse_params, quote, split_outside_quotes, unquote
from .uri import split_host_port

# RFC 3261 8.1.1.7: branches of RFC 3261 transactions start with the magic cookie.
MAGIC_COOKIE = "z9hG4bK"

# RFC 3261 25.1: CSeq = 1*DIGIT LWS Method, ASCII digits only.
_CSEQ = re.compile(r"\s*([0-9]+)\s+(\S+)\s*\Z")
# The Via almost every phone writes: IPv4 or a host name, token parameters, no spaces. One
# match reads it; anything else (IPv6, quoted values, spaces, a bad port) takes the full parse.
_PLAIN_VIA = re.compile(
    r"SIP/2\.0/([A-Za-z]{2,4}) ([A-Za-z0-9.\-]+)(?::([0-9]{1,5}))?"
    r"((?:;[A-Za-z0-9.!%*_+`'~\-]+(?:=[A-Za-z0-9.!%*_+`'~\-]+)?)*)\Z"
)
_SENT_PROTOCOL = re.compile(r"\s*([^\s/]+)\s*/\s*([^\s/]+)\s*/\s*([^\s/]+)\s+(.*)\Z", re.S)


# Recently parsed values by their text (see RecentlyParsed).
_VIAS = RecentlyParsed(1024)
_CSEQS = RecentlyParsed(1024, longest=64)


class Via(msgspec.Struct, frozen=True, gc=False):
    """RFC 3261 20.42: `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport`."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = {}

    @classmethod
    def parse(cls, text: str) -> Self:
        # A request's Via comes back in each of its responses.
        return _VIAS.parse(Via, cls, text)

    @classmethod
    def _parse(cls, text: str) -> Self:
        plain = _PLAIN_VIA.match(text)
        if plain is not None:
            transport, host, port_text, param_text = plain.groups()
            port = int(port_text) if port_text else None
            if (port is None or 0 < port < 65536) and not host.startswith((".", "-")):
                params: dict[str, str | None] = {}
                for piece in param_text[1:].split(";") if param_text else ():
                    name, equals, value = piece.partition("=")
                    params[name.lower()] = value if equals else None
                return cls(transport.upper(), host, port, params)
        match = _SENT_PROTOCOL.match(text)
        if not match:
            raise RemoteProtocolError(f"bad Via {text.strip()!r}: expected 'SIP/2.0/<transport> <host>'")
        name, version, transport, rest = match.groups()
        if name.upper() != "SIP" or version != "2.0":
            raise RemoteProtocolError(f"bad Via {text.strip()!r}: protocol must be SIP/2.0")
        sent_by, _, param_text = rest.partition(";")
        host, port = split_host_port(sent_by.strip(), "Via")
        return cls(transport.upper(), host, port, parse_params(param_text, "Via") if param_text else {})

    @classmethod
    def ours(cls, transport: str, host: str, port: int, branch: str) -> Self:
        """The Via we put on a request we send (RFC 3261 8.1.1.7, with rport: RFC 3581 3); its
        text is remembered, so the responses that carry it back are not parsed for it."""
        via = cls(transport.upper(), host, port, {"branch": branch, "rport": None})
        _VIAS.remember(str(via), via)
        return via

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def has_rfc3261_branch(self) -> bool:
        return (self.branch or "").startswith(MAGIC_COOKIE)


class CSeq(msgspec.Struct, frozen=True, gc=False):
    """RFC 3261 20.16: a sequence number below 2**31 and a method."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> Self:
        return _CSEQS.parse(CSeq, cls, text)

    @classmethod
    def _parse(cls, text: str) -> Self:
        match = _CSEQ.match(text)
        if not match:
            raise RemoteProtocolError(f"bad CSeq {text.strip()!r}: expected '<number> <method>'")
        digits = match.group(1).lstrip("0") or "0"
        # Length first: int() refuses strings over 4300 digits (RFC 4475 scalar02).
        if len(digits) > 10 or int(digits) >= 2**31:
            shown = digits if len(digits) <= 20 else digits[:20] + "..."
            raise RemoteProtocolError(f"CSeq number {shown} is not below 2**31")
        number = int(digits)
        method = match.group(2)
        if not is_token(method):
            raise RemoteProtocolError(f"bad CSeq method {method!r}")
        return cls(number, method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


class AuthParams(msgspec.Struct, frozen=True, gc=False):
    """A digest challenge or credentials: `Digest name=value, ...` (RFC 3261 25.1, RFC 7616).

    Names are lower-case; values are unquoted.
    """

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Self:
        text = text.strip()
        scheme, _, rest = text.partition(" ")
        if not scheme or not is_token(scheme):
            raise RemoteProtocolError(f"bad authentication scheme in {text!r}")
        params: dict[str, str] = {}
        for piece in split_outside_quotes(rest, ","):
            piece = piece.strip()
            if not piece:
                continue
            name, equals, value = piece.partition("=")
            if not equals or not is_token(name.strip()):
                raise RemoteProtocolError(f"bad auth-param {piece!r}")
            params[name.strip().lower()] = unquote(value.strip())
        return cls(scheme, params)

    def get(self, name: str) -> str | None:
        return self.params.get(name)


def format_challenge(params: list[tuple[str, str, bool]]) -> str:
    """`Digest realm="x", qop="auth", algorithm=MD5` from (name, value, quoted)."""
    return "Digest " + ", ".join(f"{name}={quote(value) if quoted else value}" for name, value, quoted in params)
