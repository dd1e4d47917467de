"""SIP and SIPS URIs and name-addrs (RFC 3261 19.1, 20.10, 25.1).

`Uri.parse` accepts sip:, sips: and, for routing numbers later, tel:
(RFC 3966) URIs; other absolute URIs are kept opaque so that a request with
an unusual Request-URI can still be answered (416 is the TU's business).
A parsed URI remembers the text it came from and serializes to exactly that
text until it is changed, so forwarding never reformats what a peer wrote.
"""

from __future__ import annotations

import re
from typing import Self

import msgspec

from .errors import RemoteProtocolError
from .syntax import RecentlyParsed, format_params, parse_params, unquote

# RFC 3261 25.1: hostname / IPv4address / IPv6reference. Labels are separated by
# mandatory dots so that a long run of letters has one parse only (a pattern like
# `(label\.?)+` backtracks exponentially on a hostname with a bad last character).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-_]*[A-Za-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?\Z|\[[0-9A-Fa-f:.]+\]\Z")
# RFC 3261 25.1: port = 1*DIGIT, ASCII digits only (str.isdigit also accepts "²").
_PORT = re.compile(r"[0-9]{1,5}\Z")
# RFC 3261 25.1: display-name = *(token LWS) / quoted-string. Non-ASCII is let
# through unquoted because phones send raw UTF-8 names; separators are not.
_UNQUOTED_DISPLAY = re.compile(r"[A-Za-z0-9\-.!%*_+`'~ \t\x80-\U0010ffff]+\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# RFC 3261 25.1: user = 1*( unreserved / escaped / user-unreserved )
_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+\Z")

# Recently parsed values by their text (see RecentlyParsed): a URI without a tag
# comes back in every call, a name-addr with one in every message of its dialog.
_URIS = RecentlyParsed(1024)
_NAME_ADDRESSES = RecentlyParsed(1024)
_HOST_PORTS = RecentlyParsed(1024)

# RFC 3261 19.1.4: these URI parameters must match when present in either URI.
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


# The parameters of a URI or name-address that has none: one dict for all of them (a held call's
# dialogs keep six, issue 16). Never written to: nothing changes a parsed value's params.
NO_PARAMS: dict[str, str | None] = {}


class Uri(msgspec.Struct, frozen=True, gc=False):
    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: dict[str, str | None] = {}
    headers: str | None = None
    opaque: str | None = None
    raw: str | None = None

    @classmethod
    def parse(cls, text: str) -> Self:
        return _URIS.parse(Uri, cls, text)

    @classmethod
    def _parse(cls, text: str) -> Self:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME.match(scheme):
            raise RemoteProtocolError(f"URI {text!r} has no scheme")
        scheme = scheme.lower()
        if scheme == "tel":
            number, _, param_text = rest.partition(";")
            if not number:
                raise RemoteProtocolError(f"tel URI {text!r} has no number")
            return cls(scheme, user=number, params=parse_params(param_text, text) if param_text else NO_PARAMS, raw=text)
        if scheme not in ("sip", "sips"):
            return cls(scheme, opaque=rest, raw=text)
        user = password = None
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user, _, password_text = userinfo.partition(":")
            password = password_text if _ else None
            if not user or not _USER.match(user):
                raise RemoteProtocolError(f"bad user part {user!r} in URI {text!r}")
        rest, question, headers = rest.partition("?")
        hostport, _, param_text = rest.partition(";")
        host, port = split_host_port(hostport, text)
        params = parse_params(param_text, f"URI {text!r}") if param_text else NO_PARAMS
        return cls(scheme, user, password, host, port, params, headers if question else None, raw=text)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers is not None else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{format_params(self.params)}{headers}"

    def replace(self, **changes: object) -> Self:
        """A copy with `changes` applied; it serializes from its parts, not `raw`."""
        return msgspec.structs.replace(self, raw=None, **changes)

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    def host_port(self) -> tuple[str, int | None]:
        return self.host.lower(), self.port

    def equals(self, other: Uri) -> bool:
        """URI comparison of RFC 3261 19.1.4 (used to match Contact bindings)."""
        if self.scheme != other.scheme:
            return False
        if self.opaque is not None or other.opaque is not None:
            return self.opaque == other.opaque
        if unescape(self.user) != unescape(other.user) or self.password != other.password:
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        for name in _SIGNIFICANT_PARAMS:
            mine, theirs = self.params.get(name, ""), other.params.get(name, "")
            if (mine or "").lower() != (theirs or "").lower():
                return False
        for name, value in self.params.items():
            if name in other.params and (value or "").lower() != (other.params[name] or "").lower():
                return False
        # RFC 3261 19.1.4: header components are never ignored; they match as a set.
        return _header_set(self.headers) == _header_set(other.headers)


class NameAddress(msgspec.Struct, frozen=True, gc=False):
    """`"Display" <uri>;param=value` (RFC 3261 20.10, 20.20, 20.39)."""

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = {}
    raw: str | None = None

    @classmethod
    def parse(cls, text: str) -> Self:
        return _NAME_ADDRESSES.parse(NameAddress, cls, text)

    @classmethod
    def _parse(cls, text: str) -> Self:
        text = text.strip()
        if not text:
            raise RemoteProtocolError("empty name-addr")
        open_angle = _find_unquoted(text, "<")
        if open_angle >= 0:
            close_angle = text.find(">", open_angle)
            if close_angle < 0:
                raise RemoteProtocolError(f"missing '>' in {text!r}")
            display = text[:open_angle].strip()
            display_name = _display_name(display, text) if display else None
            uri = Uri.parse(text[open_angle + 1 : close_angle])
            param_text = text[close_angle + 1 :].strip()
            if param_text and not param_text.startswith(";"):
                raise RemoteProtocolError(f"unexpected {param_text!r} after '>' in {text!r}")
            param_text = param_text[1:]  # one SEMI; ";;" is an empty parameter (RFC 4475 3.1.2.1)
        else:
            # RFC 3261 20.10: without <>, parameters after the URI belong to the header.
            uri_text, _, param_text = text.partition(";")
            if " " in uri_text.strip():
                raise RemoteProtocolError(f"URI with a display name must be in <> in {text!r}")
            if "?" in uri_text:
                # RFC 3261 20.10: a URI with a comma, question mark or semicolon must be in <>.
                raise RemoteProtocolError(f"URI with headers must be in <> in {text!r}")
            display_name = None
            uri = Uri.parse(uri_text)
        params = parse_params(param_text, f"header value {text!r}") if param_text else NO_PARAMS
        return cls(uri, display_name, params, raw=text)

    def __str__(self) -> str:
        if self.raw is not None:
            return self.raw
        display = f'"{self.display_name}" ' if self.display_name else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"

    def replace(self, **changes: object) -> Self:
        return msgspec.structs.replace(self, raw=None, **changes)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


def split_host_port(hostport: str, where: str) -> tuple[str, int | None]:
    """`host[:port]` with IPv6 references in brackets (RFC 3261 25.1 hostport)."""
    cached = _HOST_PORTS.get(hostport)
    if cached is not None:
        return cached
    host_port = _split_host_port(hostport, where)
    _HOST_PORTS.remember(hostport, host_port)
    return host_port


def _split_host_port(hostport: str, where: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port_text = hostport[: close + 1], hostport[close + 1 :]
        if port_text and not port_text.startswith(":"):
            raise RemoteProtocolError(f"bad host {hostport!r} in {where!r}")
        port_text = port_text[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host or not _HOST.match(host):
        raise RemoteProtocolError(f"bad host {host!r} in {where!r}")
    if not port_text:
        return host, None
    if not _PORT.match(port_text) or not 0 < int(port_text) < 65536:
        raise RemoteProtocolError(f"bad port {port_text!r} in {where!r}")
    return host, int(port_text)


def unescape(text: str | None) -> str | None:
    """RFC 3261 19.1.4: escaped and unescaped forms of a character are equal."""
    if text is None or "%" not in text:
        return text
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda match: chr(int(match.group(1), 16)), text)


def _header_set(headers: str | None) -> frozenset[tuple[str, str | None]]:
    if not headers:
        return frozenset()
    pairs = (part.partition("=") for part in headers.split("&") if part)
    return frozenset((unescape(name).lower(), unescape(value)) for name, _, value in pairs)


def _find_unquoted(text: str, char: str) -> int:
    if '"' not in text:
        return text.find(char)
    in_quotes = False
    escaped = False
    for index, current in enumerate(text):
        if escaped:
            escaped = False
        elif in_quotes and current == "\\":
            escaped = True
        elif current == '"':
            in_quotes = not in_quotes
        elif current == char and not in_quotes:
            return index
    if in_quotes:
        raise RemoteProtocolError(f"unterminated quoted string in {text!r}")
    return -1


def _display_name(display: str, text: str) -> str:
    """The display name before `<`: one quoted-string, or tokens (RFC 3261 25.1)."""
    if display[0] == '"':
        index = 1
        while index < len(display) and display[index] != '"':
            index += 2 if display[index] == "\\" else 1  # quoted-pair
        if index != len(display) - 1:
            raise RemoteProtocolError(f"text after the quoted display name in {text!r}")
        return unquote(display)
    if not _UNQUOTED_DISPLAY.match(display):
        # RFC 4475 3.1.2.15 (baddn): `Bell, Alexander <sip:...>` needs quotes.
        raise RemoteProtocolError(f"display name {display!r} has separators and must be quoted")
    return display
