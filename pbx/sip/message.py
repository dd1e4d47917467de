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
from typing import Iterator

from .errors import RemoteProtocolError
from .fields import CSeq, Via
from .syntax import is_token, split_list
from .uri import NameAddress, Uri

SIP_VERSION = "SIP/2.0"

# RFC 3261 7.3.3 plus the compact forms later RFCs registered (RFC 3265 o/u, RFC 3515 r,
# RFC 3892 b, RFC 4028 x, RFC 3841 a/j/d, RFC 4474 y/n).
COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
    "v": "Via", "o": "Event", "u": "Allow-Events", "r": "Refer-To", "b": "Referred-By",
    "x": "Session-Expires", "a": "Accept-Contact", "j": "Reject-Contact",
    "d": "Request-Disposition", "y": "Identity", "n": "Identity-Info",
}  # fmt: skip

_CANONICAL_NAMES = [
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
    "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition",
    "Content-Encoding", "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date",
    "Error-Info", "Event", "Expires", "From", "In-Reply-To", "Max-Forwards", "Min-Expires",
    "MIME-Version", "Min-SE", "Organization", "P-Asserted-Identity", "Path", "Priority",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason", "Record-Route",
    "Refer-To", "Referred-By", "Replaces", "Reply-To", "Require", "Retry-After", "Route", "RSeq",
    "Server", "Service-Route", "Session-Expires", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
]  # fmt: skip
CANONICAL = {name.lower(): name for name in _CANONICAL_NAMES}
CANONICAL.update(COMPACT_FORMS)

# RFC 3261 7.3.1: only headers whose grammar is a comma-separated list may be
# split on commas; WWW-Authenticate and friends have commas inside one value.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info", "In-Reply-To",
        "Path", "Proxy-Require", "Reason", "Record-Route", "Require", "Route", "Service-Route",
        "Supported", "Unsupported", "Via", "Warning", "P-Asserted-Identity",
    )
)  # fmt: skip

_STATUS_LINE = re.compile(r"(SIP/[0-9]+\.[0-9]+) ([0-9]{3})(?: (.*))?\Z", re.I)
# RFC 3261 20.14: Content-Length = 1*DIGIT. ASCII only, and short enough for int().
_NUMBER = re.compile(r"\s*([0-9]{1,10})\s*\Z")

# RFC 3261 7.3.1: these may appear once only; a second one is a 400 (RFC 4475 3.3.9 multi01).
SINGLE_HEADERS = frozenset({"call-id", "cseq", "from", "to", "max-forwards", "expires"})


def canonical_name(name: str) -> str:
    return _name_key(name)[1]


# Header names as written -> (lower-case key, canonical name). Phones repeat the
# same few dozen names, so this saves a lower() and a lookup per header.
_NAME_CACHE: dict[str, tuple[str, str]] = {}


# Header names as a parser met them, before the colon and not yet stripped, that
# were found to be tokens -> (lower-case key, canonical name).
_PARSED_NAMES: dict[str, tuple[str, str]] = {}


def _name_key(name: str) -> tuple[str, str]:
    cached = _NAME_CACHE.get(name)
    if cached is None:
        canonical = CANONICAL.get(name.lower(), name)
        cached = (canonical.lower(), canonical)
        if len(_NAME_CACHE) < 4096:
            _NAME_CACHE[name] = cached
    return cached


class Headers:
    """An ordered, case-insensitive multimap of header fields.

    Names are stored in their canonical form (compact forms expanded);
    values as the peer wrote them (folding joined by one space).
    """

    __slots__ = ("_fields", "version", "_index", "_views")

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        cache = _NAME_CACHE
        self._fields: list[tuple[str, str, str]] = (
            [(*(cache.get(name) or _name_key(name)), value) for name, value in fields] if fields else []
        )
        # Bumped by every change.
        self.version = 0
        # Lower-case name -> values, built on the first read and kept up to date after it.
        self._index: dict[str, list[str]] | None = None
        # Typed values parsed from one header each (Message._view), by that header's
        # lower-case name: a change to the header drops its value.
        self._views: dict[str, object] | None = None

    @classmethod
    def _of_fields(cls, fields: list[tuple[str, str, str]]) -> Headers:
        """Headers from (lower-case key, canonical name, value) triples, as the parser makes them."""
        headers = cls.__new__(cls)
        headers._fields = fields
        headers.version = 0
        headers._index = headers._views = None
        return headers

    def _values(self) -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for key, _, value in self._fields:
            found = index.get(key)
            if found is None:
                index[key] = [value]
            else:
                found.append(value)
        self._index = index
        return index

    def _changed(self, key: str) -> None:
        self.version += 1
        if self._views:
            self._views.pop(key, None)

    def add(self, name: str, value: str) -> None:
        key, name = _NAME_CACHE.get(name) or _name_key(name)
        self._fields.append((key, name, value))
        self.version += 1
        if self._views:
            self._views.pop(key, None)
        index = self._index
        if index is not None:
            found = index.get(key)
            if found is None:
                index[key] = [value]
            else:
                found.append(value)

    def prepend(self, name: str, value: str) -> None:
        key, name = _name_key(name)
        self._fields.insert(0, (key, name, value))
        self._changed(key)
        if self._index is not None:
            self._index[key] = [value, *self._index.get(key, ())]

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` by one, kept where the first one was."""
        key, name = _NAME_CACHE.get(name) or _name_key(name)
        self._changed(key)
        if self._index is not None:
            self._index[key] = [value]
        fields = self._fields
        for index, field in enumerate(fields):
            if field[0] == key:
                fields[index] = (key, name, value)
                if len(fields) - 1 > index and any(f[0] == key for f in fields[index + 1 :]):
                    self._fields = [f for i, f in enumerate(fields) if f[0] != key or i == index]
                return
        fields.append((key, name, value))

    def remove(self, name: str) -> None:
        key = _name_key(name)[0]
        self._fields = [field for field in self._fields if field[0] != key]
        self._changed(key)
        if self._index is not None:
            self._index.pop(key, None)

    def get(self, name: str) -> str | None:
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        found = (self._index or self._values()).get(key)
        return found[0] if found else None

    def lines(self, name: str) -> list[str]:
        """Each field line called `name`, unsplit."""
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        found = (self._index or self._values()).get(key)
        return list(found) if found else []

    def _lines(self, name: str) -> list[str] | None:
        """`lines(name)` without the copy, None for none: for readers in this module."""
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        return (self._index or self._values()).get(key)

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, list headers split on commas (RFC 3261 7.3.1)."""
        key = (_NAME_CACHE.get(name) or _name_key(name))[0]
        found = (self._index or self._values()).get(key)
        if not found:
            return []
        if key not in LIST_HEADERS:
            return list(found)
        values: list[str] = []
        for line in found:
            values.extend(split_list(line))
        return values

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((field[1], field[2]) for field in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def copy(self) -> Headers:
        copied = Headers()
        copied._fields = list(self._fields)
        if self._views:
            copied._views = dict(self._views)  # immutable values of the same fields
        return copied

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"


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
        values = self.headers.get_all("Via")
        if not values:
            raise RemoteProtocolError("missing Via header")
        return Via.parse(values[0])

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
    for number, line in enumerate(lines[1:], start=2):
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
        append((entry[0], entry[1], value.strip()))
    return fields, problem


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
        raise RemoteProtocolError(f"conflicting Content-Length headers {values[:4]!r}", partial=message)
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
