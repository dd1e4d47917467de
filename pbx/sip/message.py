"""SIP messages: parse bytes into requests and responses, serialize them back.

RFC 3261 section 7 (message format), 20 (header fields), 25 (ABNF), with the
tolerance RFC 4475 asks for: case-insensitive and compact header names,
folded header lines, comma-separated multi-value headers, LF-only line ends,
Content-Length framing of datagrams. Header values stay strings; typed views
(Via, CSeq, name-addrs) are parsed when asked for.

What it does not do: decide what a message means (transactions, dialogs and
the registrar do), or frame TCP streams (see framing.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import RemoteProtocolError
from .fields import CSeq, Via
# Headers lives in headers.py; importers keep finding it (and the name helpers) here.
from .headers import (  # noqa: F401
    _NAME_CACHE, CANONICAL, COMPACT_FORMS, LIST_HEADERS, Headers, _name_key, canonical_name,
)
from .syntax import RecentlyParsed, is_token, split_list
from .uri import NameAddress, Uri

__all__ = ["SIP_VERSION", "Headers", "Message", "Request", "Response", "parse_message"]

SIP_VERSION = "SIP/2.0"

_STATUS_LINE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?\Z", re.I)
# RFC 3261 20.14: Content-Length = 1*DIGIT. ASCII only, and short enough for int().
_NUMBER = re.compile(r"\s*([0-9]{1,10})\s*\Z")

# RFC 3261 7.3.1: these may appear once only; a second one is a 400 (RFC 4475 3.3.9 multi01).
SINGLE_HEADERS = frozenset({"call-id", "cseq", "from", "to", "max-forwards", "expires"})

# Header names as a parser met them, before the colon and not yet stripped, that
# were found to be tokens -> (lower-case key, canonical name).
_PARSED_NAMES: dict[str, tuple[str, str]] = {}


class Message:
    """What requests and responses share: headers, body and typed views."""

    __slots__ = ("headers", "body")

    def __init__(self, headers: Headers | None = None, body: bytes = b"") -> None:
        self.headers = headers if headers is not None else Headers()
        self.body = body

    def _view(self, key: str, parse):
        """`parse(self)`, a value read from the header `key` (lower-case) alone, computed
        once per state of that header (the endpoint, transaction layer and registrar all
        read the same Via, CSeq, From, To).

        Kept in the Headers, which drop it when that header changes; only immutable
        values are kept, as messages may share one Headers. The properties below look
        there first themselves: they are read a hundred times a call."""
        headers = self.headers
        views = headers._views
        if views is None:
            views = headers._views = {}
        elif key in views:
            return views[key]
        value = views[key] = parse(self)
        return value

    def compact(self) -> None:
        """Let go of what reading the headers built (their index, the parsed views): a message
        kept for the life of a call (the INVITE a leg keeps) costs its text alone, and a later
        read builds them again (issue 16)."""
        self.headers._index = None
        self.headers._views = None

    def prepend_via(self, via: Via) -> None:
        """Put `via` on top of the Via fields, and keep it as the parsed top Via."""
        self.headers.prepend("Via", str(via))
        self.known_top_via(via)

    def known_top_via(self, via: Via) -> None:
        """`via` is what the top Via field reads as: keep it, not to parse the text again."""
        headers = self.headers
        if headers._views is None:
            headers._views = {}
        headers._views["via"] = via

    def start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """Wire bytes; Content-Length always states the body length (RFC 3261 18.3)."""
        self.headers.set("Content-Length", str(len(self.body)))
        lines = [self.start_line()]
        lines += [f"{field[1]}: {field[2]}" for field in self.headers._fields]
        lines.append("\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    # Typed views of the headers every transaction needs.

    def single(self, name: str) -> str | None:
        """The value of a header that may appear once; a second one is the peer's fault."""
        headers = self.headers
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        lines = (headers._index or headers._values()).get(key)
        if not lines:
            return None
        if len(lines) > 1:
            raise RemoteProtocolError(f"more than one {canonical_name(name)} header")
        return lines[0]

    @property
    def call_id(self) -> str:
        views = self.headers._views
        if views is not None and "call-id" in views:
            return views["call-id"]
        return self._view("call-id", Message._parse_call_id)

    def _parse_call_id(self) -> str:
        value = self.single("Call-ID")
        if not value or not value.strip():
            raise RemoteProtocolError("missing Call-ID header")
        return value.strip()

    @property
    def cseq(self) -> CSeq:
        views = self.headers._views
        if views is not None and "cseq" in views:
            return views["cseq"]
        return self._view("cseq", Message._parse_cseq)

    def _parse_cseq(self) -> CSeq:
        value = self.single("CSeq")
        if value is None:
            raise RemoteProtocolError("missing CSeq header")
        return CSeq.parse(value)

    @property
    def vias(self) -> list[Via]:
        return [Via.parse(value) for value in self.headers.get_all("Via")]

    @property
    def top_via(self) -> Via:
        views = self.headers._views
        if views is not None and "via" in views:
            return views["via"]
        return self._view("via", Message._parse_top_via)

    def _parse_top_via(self) -> Via:
        # The first element of get_all("Via"), without splitting the Via lines below it.
        for line in self.headers._lines("Via") or ():
            values = split_list(line)
            if values:
                return Via.parse(values[0])
        raise RemoteProtocolError("missing Via header")

    @property
    def from_(self) -> NameAddress:
        views = self.headers._views
        if views is not None and "from" in views:
            return views["from"]
        return self._view("from", _parse_from)

    @property
    def to(self) -> NameAddress:
        views = self.headers._views
        if views is not None and "to" in views:
            return views["to"]
        return self._view("to", _parse_to)

    def _name_address(self, name: str) -> NameAddress:
        value = self.single(name)
        if value is None:
            raise RemoteProtocolError(f"missing {name} header")
        try:
            return NameAddress.parse(value)
        except RemoteProtocolError as error:
            raise RemoteProtocolError(f"bad {name} header: {error.reason}") from None

    @property
    def contacts(self) -> list[NameAddress]:
        """Contact values; `*` is returned as a NameAddress with scheme '*'."""
        found = []
        for value in self.headers.get_all("Contact"):
            if value.strip() == "*":
                found.append(NameAddress(Uri("*", opaque=""), raw="*"))
                continue
            try:
                found.append(NameAddress.parse(value))
            except RemoteProtocolError as error:
                raise RemoteProtocolError(f"bad Contact header: {error.reason}") from None
        return found

    def int_header(self, name: str, limit: int = 2**32 - 1) -> int | None:
        value = self.single(name) if name.lower() in SINGLE_HEADERS else self.headers.get(name)
        if value is None:
            return None
        match = _NUMBER.match(value)
        # ASCII digits only: str.isdigit() accepts "²", which int() then refuses.
        if not match or int(match.group(1)) > limit:
            raise RemoteProtocolError(f"bad {name} {value.strip()[:40]!r}: expected a number up to {limit}")
        return int(match.group(1))


def _parse_from(message: Message) -> NameAddress:
    return message._name_address("From")


def _parse_to(message: Message) -> NameAddress:
    return message._name_address("To")


class Request(Message):
    __slots__ = ("method", "uri", "version", "source")

    def __init__(
        self, method: str, uri: Uri, headers: Headers | None = None, body: bytes = b"", version: str = SIP_VERSION
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri
        self.version = version
        # Where the transport received it from (a transaction.Peer), set by the endpoint.
        self.source = None

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def copy_keeping(self, keep: Callable[[str], bool]) -> Request:
        """The same start line with only the header fields whose lower-case names `keep` says
        yes to (the same field tuples) and no body: what a leg keeps of a request it may read
        again."""
        copy = Request(self.method, self.uri, Headers._of_fields([f for f in self.headers._fields if keep(f[0])]),
                       version=self.version)
        copy.source = self.source
        return copy

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    __slots__ = ("status", "reason", "version")

    def __init__(
        self, status: int, reason: str, headers: Headers | None = None, body: bytes = b"", version: str = SIP_VERSION
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason
        self.version = version

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def parse_message(data: bytes) -> Request | Response:
    """One complete message (a datagram, or a frame cut from a stream).

    Raises RemoteProtocolError. Its `partial` holds the message as far as it
    could be read when the start line made sense, so the caller can answer a
    request with the error's status; without `partial` the input is dropped.
    """
    head, body, separated = _split_head(data)
    text = head.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    while lines and not lines[0].strip("\r"):
        lines.pop(0)  # RFC 3261 7.5: ignore CRLFs before the start line
    if not lines:
        raise RemoteProtocolError("empty message")
    fields, field_problem = _parse_fields(lines)
    message, problem, status = _parse_start_line(lines[0].rstrip("\r"), Headers._of_fields(fields))
    if field_problem and not problem:
        problem, status = field_problem, 400
    if problem:
        raise RemoteProtocolError(problem, status=status, partial=message)
    message.body = _framed_body(message, body, separated)
    return message


def _parse_fields(lines: list[str]) -> tuple[list[tuple[str, str, str]], str | None]:
    """(key, canonical name, value) of each header line after the start line, and the first problem."""
    fields: list[tuple[str, str, str]] = []
    problem = None
    append = fields.append
    names = _PARSED_NAMES
    recent = _RECENT_FIELDS
    for number, line in enumerate(lines[1:], start=2):
        field = recent.get(line)
        if field is not None:
            append(field)
            continue
        raw = line
        # Most lines start with a name met before: one lookup, and strip() drops the CR.
        name, colon, value = line.partition(":")
        entry = names.get(name) if colon else None
        if entry is None:
            line = line.rstrip("\r")
            if not line:
                continue
            if line[0] in " \t":
                # RFC 3261 7.3.1: a line starting with whitespace continues the previous one.
                if fields:
                    key, name, value = fields[-1]
                    fields[-1] = (key, name, f"{value} {line.strip()}".strip())
                continue
            stripped = name.strip()
            if not colon or not is_token(stripped):
                if not problem:
                    problem = f"header line {number} is not 'Name: value': {line[:60]!r}"
                continue
            entry = _name_key(stripped)
            if len(names) < 4096:
                names[name] = entry  # never a continuation line: those start with whitespace
        field = (entry[0], entry[1], value.strip())
        if len(raw) <= 256:
            recent.remember(raw, field)
        append(field)
    return fields, problem


# Header lines seen lately, parsed: the same Max-Forwards, Content-Type, User-Agent, Allow,
# Contact or To come in every call, and one shared tuple (and its strings) is kept for all,
# which spares memory and the collector's walk (issue 16). A continuation line (leading
# whitespace) is never looked up here: it changes the field before it.
_RECENT_FIELDS = RecentlyParsed(2048, longest=256)


def _split_head(data: bytes) -> tuple[bytes, bytes, bool]:
    """Headers and body split at the first empty line, CRLF or (RFC 4475 tolerance) LF."""
    crlf = data.find(b"\r\n\r\n")
    lf = data.find(b"\n\n", 0, crlf if crlf >= 0 else len(data))  # only before the CRLF one matters
    if lf >= 0:
        return data[:lf], data[lf + 2 :], True  # an LF-only head may carry a CRLF body
    if crlf >= 0:
        return data[:crlf], data[crlf + 4 :], True
    return data, b"", False


def _parse_start_line(line: str, headers: Headers) -> tuple[Request | Response, str | None, int]:
    if line[:4].upper() == "SIP/":
        match = _STATUS_LINE.match(line)
        if not match:
            raise RemoteProtocolError(f"unparseable status line {line[:60]!r}")
        version, status, reason = match.groups()
        return Response(int(status), reason or "", headers, version=version.upper()), None, 0
    # RFC 3261 7.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF
    parts = line.split(" ")
    if len(parts) == 3 and parts[2].upper() == SIP_VERSION and parts[1][:4].upper() != "SIP/" and is_token(parts[0]):
        # The well-formed line: everything below would find no problem in it but the URI's.
        uri_text = parts[1]
        try:
            uri = Uri.parse(uri_text)
        except RemoteProtocolError as error:
            invalid = Uri("invalid", opaque=uri_text, raw=uri_text)
            return Request(parts[0], invalid, headers), f"bad Request-URI: {error.reason}", 400
        if uri.headers is not None:
            # RFC 3261 19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 3.1.2.10 escruri).
            return Request(parts[0], uri, headers), f"Request-URI {uri_text[:60]!r} must not contain headers", 400
        return Request(parts[0], uri, headers), None, 400
    at = next((i for i, part in enumerate(parts) if i and part[:4].upper() == "SIP/"), None)
    if not is_token(parts[0]) or at is None:
        raise RemoteProtocolError(f"unparseable request line {line[:60]!r}")
    method, version = parts[0], parts[at]
    uri_text = " ".join(parts[1:at])
    problem, status = None, 400
    if len(parts) != 3 or at != 2:
        # Readable enough to answer (RFC 4475 3.1.2.7-9: lwsruri, lwsstart, trws).
        if at != len(parts) - 1 and any(parts[at + 1 :]):
            problem = f"unexpected text after the SIP version in request line {line[:60]!r}"
        elif not uri_text.strip():
            problem = f"missing Request-URI in request line {line[:60]!r}"
        elif len(line.split()) == 3:
            problem = f"extra whitespace in request line {line[:60]!r}"
        else:
            problem = f"whitespace inside the Request-URI {uri_text.strip()[:60]!r}"
    elif version.upper() != SIP_VERSION:
        # RFC 3261 8.2.2 / 21.5.6: 505 Version Not Supported.
        problem, status = f"SIP version {version!r} not supported", 505
    try:
        uri = Uri.parse(uri_text)
    except RemoteProtocolError as error:
        uri = Uri("invalid", opaque=uri_text, raw=uri_text)
        problem = problem or f"bad Request-URI: {error.reason}"
    if uri.headers is not None and not problem:
        # RFC 3261 19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 3.1.2.10 escruri).
        problem = f"Request-URI {uri_text[:60]!r} must not contain headers"
    return Request(method, uri, headers, version=version.upper()), problem, status


def _framed_body(message: Message, body: bytes, separated: bool) -> bytes:
    """RFC 3261 18.3: Content-Length frames the body inside a datagram."""
    values = message.headers._lines("Content-Length")
    if not values:
        return body
    if len(values) > 1 and len({value.strip() for value in values}) > 1:
        # RFC 4475 3.3.8 (mcl01): no way to know which one frames the body.
        raise RemoteProtocolError(f"conflicting Content-Length headers {list(values[:4])!r}", partial=message)
    value = values[0]
    match = _NUMBER.match(value)
    if not match:
        raise RemoteProtocolError(f"bad Content-Length {value[:40]!r}: expected a number", partial=message)
    length = int(match.group(1))
    if length > len(body):
        raise RemoteProtocolError(
            f"Content-Length {length} is larger than the {len(body)}-byte body", partial=message
        )
    if length and not separated:
        raise RemoteProtocolError("no blank line between headers and body", partial=message)
    return body[:length]
