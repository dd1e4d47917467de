"""SDP session descriptions (RFC 4566): parse and serialize.

`SessionDescription.parse` turns an SDP body into typed Structs and
`serialize` turns them back into CRLF-terminated bytes; SDP already in the
RFC 4566 5 line order round-trips byte for byte, and lines we do not interpret
(i=, u=, e=, p=, r=, z=, k= and unknown types) are kept for that purpose.
Offer/answer (RFC 3264) lives in offer_answer.py.

A peer's malformed SDP raises `SdpError`, which the SIP layer answers with
400 Bad Request; our own misuse of the API raises plain `ValueError`.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "DIRECTIONS", "SECURE_PROTO", "STATIC_PAYLOAD_TYPES", "SUPPORTED_PROTOS", "Attribute", "Bandwidth", "Codec",
    "Connection", "Line", "MediaDescription", "Origin", "RtcpAttribute", "RtpMap", "SdpError",
    "SessionDescription",
]  # fmt: skip

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Profiles we can carry: plain RTP, and SRTP keyed by SDES a=crypto lines (RFC 4568 4, sdes.py).
# SAVPF/UDP-TLS (DTLS-SRTP) need keys we do not negotiate.
SUPPORTED_PROTOS = ("RTP/AVP", "RTP/SAVP")
SECURE_PROTO = "RTP/SAVP"
# RFC 3551 6, table 4: static audio payload types usable without a=rtpmap.
STATIC_PAYLOAD_TYPES = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1),
    8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1), 18: ("G729", 8000, 1),
}
_SESSION_ONLY = "vostrzeup"  # RFC 4566 5: these never appear after the first m= line
_BEFORE_CONNECTION = "iuep"  # RFC 4566 5: v o s i u e p c b t r z k a m
_AFTER_TIMING = "rzk"
_KNOWN = "vosiuepcbtrzkam"
# RFC 4566 5: a line starts with its one-letter <type> and "=".
_LINE_STARTS = frozenset(f"{letter}=" for letter in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class SdpError(ValueError):
    """A peer's SDP is malformed or breaks offer/answer; answer 400 with `reason`."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.line = line
        self.reason = f"line {line}: {reason}" if line is not None else reason
        super().__init__(self.reason)


# RFC 4566 5.9: t=0 0, an unbounded session, what nearly every SDP says.
UNBOUNDED: tuple[tuple[int, int], ...] = ((0, 0),)


class Origin(msgspec.Struct, frozen=True, gc=False):
    """o= (RFC 4566 5.2); session_version grows by one per new offer (RFC 3264 8)."""

    username: str
    session_id: int
    session_version: int
    net_type: str
    address_type: str
    address: str


class Connection(msgspec.Struct, frozen=True, gc=False):
    """c= (RFC 4566 5.7); `suffix` is a multicast "/ttl[/count]", kept verbatim."""

    net_type: str
    address_type: str
    address: str
    suffix: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.suffix}" if self.suffix is not None else ""
        return f"{self.net_type} {self.address_type} {self.address}{tail}"


class Bandwidth(msgspec.Struct, frozen=True, gc=False):
    """b=<bwtype>:<bandwidth> (RFC 4566 5.8)."""

    bwtype: str
    bandwidth: int


class Attribute(msgspec.Struct, frozen=True, gc=False):
    """a=<name> or a=<name>:<value> (RFC 4566 5.13); value is None for flags."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


class Line(msgspec.Struct, frozen=True, gc=False):
    """A line we keep but do not interpret; `kind` is the RFC's one-letter <type>."""

    kind: str
    value: str


class RtpMap(msgspec.Struct, frozen=True, gc=False):
    """a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>] (RFC 4566 6)."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    channels: int = 1


_STATIC_RTPMAPS = {number: RtpMap(number, *mapping) for number, mapping in STATIC_PAYLOAD_TYPES.items()}


class RtcpAttribute(msgspec.Struct, frozen=True, gc=False):
    """a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605 2.1)."""

    port: int
    net_type: str | None = None
    address_type: str | None = None
    address: str | None = None


class Codec(msgspec.Struct, frozen=True, gc=False):
    """An RTP payload format we can handle; names compare case-insensitively (RFC 4855 3)."""

    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def is_telephone_event(self) -> bool:
        return self.name.casefold() == "telephone-event"

    def matches(self, rtpmap: RtpMap) -> bool:
        return (self.name.casefold() == rtpmap.encoding_name.casefold()
                and self.clock_rate == rtpmap.clock_rate and self.channels == rtpmap.channels)


class MediaDescription(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One m= section (RFC 4566 5.14) with its c=, b= and a= lines."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    # Tuples: mostly empty, and the empty tuple is one shared object (an empty list is one
    # per SDP, for the memory and the collector's walk: issue 16); a full one is smaller than
    # the list it was built in.
    bandwidths: tuple[Bandwidth, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    other_lines: tuple[Line, ...] = ()

    def attribute(self, name: str) -> str | None:
        """Value of the first a=<name>:<value> line, or None."""
        return next((a.value for a in self.attributes if a.name == name), None)

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Payload types in m= order; static ones (RFC 3551 6) need no a=rtpmap."""
        declared: dict[int, RtpMap] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                rtpmap = _rtpmap_of(attribute.value)
                if rtpmap is not None and rtpmap.payload_type not in declared:
                    declared[rtpmap.payload_type] = rtpmap
        result: dict[int, RtpMap] = {}
        for text in self.formats:
            if not (text.isascii() and text.isdigit()):
                continue
            number = int(text)
            rtpmap = declared.get(number) or _STATIC_RTPMAPS.get(number)
            if rtpmap is not None:
                result[number] = rtpmap
        return result

    def crypto_lines(self) -> list[str]:
        """Values of the a=crypto lines (RFC 4568 9.1), in the offerer's order of preference."""
        return [a.value for a in self.attributes if a.name == "crypto" and a.value is not None]

    def fmtp(self, payload_type: int) -> str | None:
        """Format parameters of a=fmtp:<payload type> (RFC 4566 6), or None."""
        for attribute in self.attributes:
            if attribute.name == "fmtp" and attribute.value is not None:
                number, _, parameters = attribute.value.partition(" ")
                if number == str(payload_type):
                    return parameters.strip()
        return None

    @property
    def ptime(self) -> int | None:
        """a=ptime in milliseconds (RFC 4566 6), or None if absent or unreadable."""
        value = self.attribute("ptime")
        try:
            return int(float(value)) if value is not None else None
        except ValueError:
            return None

    def direction(self, session: SessionDescription | None = None) -> str:
        """RFC 3264 5.1 / RFC 4566 6: media-level, else session-level, else sendrecv."""
        for attributes in (self.attributes, session.attributes if session else []):
            for attribute in attributes:
                if attribute.name in DIRECTIONS and attribute.value is None:
                    return attribute.name
        return "sendrecv"

    @property
    def rtcp(self) -> RtcpAttribute | None:
        value = self.attribute("rtcp")
        parts = value.split() if value else []
        if not parts or not (parts[0].isascii() and parts[0].isdigit()):
            return None
        if len(parts) == 4:
            return RtcpAttribute(int(parts[0]), parts[1], parts[2], parts[3])
        return RtcpAttribute(int(parts[0]))

    def connection_address(self, session: SessionDescription) -> str:
        """RFC 4566 5.7: a media-level c= overrides the session-level one."""
        connection = self.connection or session.connection
        if connection is None:
            raise SdpError(f"m={self.media} has no c= line and the session has none")
        return connection.address

    def serialize_lines(self) -> list[str]:
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [f"m={self.media} {port} {' '.join([self.proto, *self.formats])}"]
        other = self.other_lines
        if other:
            lines += _other(other, "i")
        if self.connection:
            lines.append(_connection_line(self.connection))
        if self.bandwidths:
            lines += [f"b={b.bwtype}:{b.bandwidth}" for b in self.bandwidths]
        if other:
            lines += _other(other, "k")
        lines += [f"a={a.name}" if a.value is None else f"a={a.name}:{a.value}" for a in self.attributes]
        if other:
            lines += _unknown(other)
        return lines


class SessionDescription(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A whole SDP body (RFC 4566 5); session_name "" stands for the RFC's "s= "."""

    origin: Origin
    session_name: str
    version: int = 0
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timing: tuple[tuple[int, int], ...] = UNBOUNDED  # tuples, as in MediaDescription
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    other_lines: tuple[Line, ...] = ()

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """The description in `data`; raises SdpError. Treat the result as immutable: the same
        body object parsed again gives the same description back (below)."""
        # A call reads the same message's body several times as it is set up (is there
        # SDP, what does it offer, what do we answer): the last body object and what it
        # gave are remembered. By identity, not content: a message's body is its own
        # bytes object, so only that message's later reads find it.
        last = _last_parsed[0]
        if data is last[0] and type(last[1]) is cls:
            return last[1]
        description = cls._parse(data)
        if type(data) is bytes or type(data) is str:  # immutable: the same object, the same text
            _last_parsed[0] = (data, description)  # one store: a reader never sees half of it
        return description

    @classmethod
    def _parse(cls, data: bytes | str) -> SessionDescription:
        lines = _split_lines(data)
        # RFC 4566 5: v=, o= and s= come first, in that order.
        for position, (kind, meaning) in enumerate((("v", "version"), ("o", "origin"),
                                                     ("s", "session name"))):
            if position >= len(lines):
                raise SdpError(f"SDP ended before its {kind}= ({meaning}) line")
            if lines[position][1] != kind:
                raise SdpError(f"expected {kind}= ({meaning}); SDP must start with v=, o= "
                               "and s= in that order (RFC 4566 5)", lines[position][0])
        if lines[0][2] != "0":
            raise SdpError(f"unsupported SDP version {lines[0][2]!r}, only v=0 exists "
                           "(RFC 4566 5.1)", lines[0][0])
        session_lines: list[tuple[int, str, str]] = []
        blocks: list[list[tuple[int, str, str]]] = []
        for entry in lines[3:]:
            if entry[1] == "m":
                blocks.append([entry])
            elif blocks:
                blocks[-1].append(entry)
            else:
                session_lines.append(entry)
        connection, bandwidths, attributes, other = _parse_common(session_lines, "session")
        timing = [_parse_timing(value, number) for number, kind, value in session_lines
                  if kind == "t"]
        if timing:
            other = tuple(line for line in other if line.kind != "t")
        media = [_parse_media(block) for block in blocks]
        for index, (block, section) in enumerate(zip(blocks, media), start=1):
            if connection is None and section.connection is None:
                raise SdpError(f"m= line {index} ({section.media}) has no c= line and there is "
                               "no session-level c= line (RFC 4566 5.7)", block[0][0])
        return cls(origin=_parse_origin(lines[1][2], lines[1][0]), session_name=lines[2][2],
                   connection=connection, bandwidths=bandwidths,
                   timing=tuple(timing) if timing and timing != [(0, 0)] else UNBOUNDED,
                   attributes=attributes, media=tuple(media), other_lines=other)

    def serialize(self) -> bytes:
        origin = self.origin
        # RFC 4566 5.3: an empty session name is written as a single space.
        lines = [f"v={self.version}",
                 f"o={origin.username} {origin.session_id} {origin.session_version} "
                 f"{origin.net_type} {origin.address_type} {origin.address}",
                 f"s={self.session_name or ' '}"]
        other = self.other_lines
        if other:
            lines += _other(other, _BEFORE_CONNECTION)
        if self.connection:
            lines.append(_connection_line(self.connection))
        if self.bandwidths:
            lines += [f"b={b.bwtype}:{b.bandwidth}" for b in self.bandwidths]
        lines += [f"t={start} {stop}" for start, stop in self.timing]
        if other:
            lines += _other(other, _AFTER_TIMING)
        lines += [f"a={a.name}" if a.value is None else f"a={a.name}:{a.value}" for a in self.attributes]
        if other:
            lines += _unknown(other)
        for media in self.media:
            lines += media.serialize_lines()
        lines.append("")
        return "\r\n".join(lines).encode("utf-8")


# (the body `SessionDescription.parse` read last, the object itself; its description).
_last_parsed: list[tuple[bytes | str | None, SessionDescription | None]] = [(None, None)]


def _connection_line(connection: Connection) -> str:
    """c= as `Connection.__str__` writes it, without the call."""
    if connection.suffix is None:
        return f"c={connection.net_type} {connection.address_type} {connection.address}"
    return f"c={connection.net_type} {connection.address_type} {connection.address}/{connection.suffix}"


def _other(lines: list[Line], kinds: str) -> list[str]:
    return [f"{line.kind}={line.value}" for kind in kinds for line in lines if line.kind == kind]


def _unknown(lines: list[Line]) -> list[str]:
    # RFC 4566 5: unknown types are ignored; we keep them, after the a= lines.
    return [f"{line.kind}={line.value}" for line in lines if line.kind not in _KNOWN]


def _split_lines(data: bytes | str) -> list[tuple[int, str, str]]:
    """(line number, type, value) per non-blank line; CRLF or bare LF both end a line."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SdpError(f"SDP is not valid UTF-8 (bad byte at offset {error.start})") from None
    result = []
    append = result.append
    starts = _LINE_STARTS
    for number, raw in enumerate(data.split("\n"), start=1):
        line = raw.rstrip()
        if not line:
            continue
        # RFC 4566 5: <type>=<value>, where <type> is exactly one letter.
        if line[:2] not in starts:
            shown = line if len(line) <= 40 else line[:40] + "..."
            raise SdpError(f"expected '<type>=<value>', got {shown!r}", number)
        append((number, line[0], line[2:]))
    if not result:
        raise SdpError("SDP body is empty")
    return result


def _number(text: str, what: str, line: int) -> int:
    # 20 digits hold any 64-bit value (o= ids, NTP times); int() refuses 4300+ digits with ValueError.
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise SdpError(f"{what} {text[:40]!r} is not a number", line)
    return int(text)


def _parse_origin(value: str, line: int) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError("o= line needs '<username> <sess-id> <sess-version> <nettype> "
                       "<addrtype> <unicast-address>'", line)
    return Origin(_shared(parts[0]), _number(parts[1], "o= session id", line),
                  _number(parts[2], "o= session version", line), _shared(parts[3]), _shared(parts[4]),
                  _shared(parts[5]))


def _parse_timing(value: str, line: int) -> tuple[int, int]:
    if value == "0 0":
        return (0, 0)  # RFC 4566 5.9: an unbounded session, what nearly every phone writes
    parts = value.split()
    if len(parts) != 2:
        raise SdpError("t= line needs '<start-time> <stop-time>'", line)
    return _number(parts[0], "t= start time", line), _number(parts[1], "t= stop time", line)


def _parse_common(lines: list[tuple[int, str, str]], where: str
                  ) -> tuple[Connection | None, tuple[Bandwidth, ...], tuple[Attribute, ...], tuple[Line, ...]]:
    """c=, b= and a= lines of one section; everything else is kept as `Line`."""
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = []
    attributes: list[Attribute] = []
    other: list[Line] = []
    for number, kind, value in lines:
        if kind == "a":
            # The most frequent line; the same few (rtpmap, fmtp, ptime, direction) in every call.
            attribute = _ATTRIBUTES.get(value)
            if attribute is None:
                name, colon, text = value.partition(":")
                if not name:
                    raise SdpError("a= line has no attribute name", number)
                attribute = Attribute(name, text if colon else None)
                if len(value) <= 64 and len(_ATTRIBUTES) < _ATTRIBUTES_LIMIT:
                    _ATTRIBUTES[value] = attribute
            attributes.append(attribute)
        elif kind == "c":
            if connection is not None:
                raise SdpError(f"second c= line in the {where} section (RFC 4566 5.7)", number)
            connection = _CONNECTIONS.get(value)
            if connection is None:
                parts = value.split()
                if len(parts) != 3:
                    raise SdpError("c= line needs '<nettype> <addrtype> <connection-address>'", number)
                address, slash, suffix = parts[2].partition("/")
                connection = Connection(parts[0], parts[1], address, suffix if slash else None)
                if len(value) <= 64 and len(_CONNECTIONS) < _ATTRIBUTES_LIMIT:
                    _CONNECTIONS[value] = connection
        elif kind == "b":
            bwtype, colon, amount = value.partition(":")
            if not colon or not bwtype:
                raise SdpError("b= line needs '<bwtype>:<bandwidth>'", number)
            bandwidths.append(Bandwidth(bwtype, _number(amount, "b= bandwidth", number)))
        elif kind in "vos":
            raise SdpError(f"duplicate {kind}= line (RFC 4566 5)", number)
        else:
            other.append(Line(kind, value))
    return connection, tuple(bandwidths), tuple(attributes), tuple(other)


def _parse_media(block: list[tuple[int, str, str]]) -> MediaDescription:
    number, _, value = block[0]
    parts = value.split()
    if len(parts) < 4:
        raise SdpError("m= line needs '<media> <port> <proto> <fmt>...'", number)
    port_text, slash, count_text = parts[1].partition("/")
    port = _number(port_text, "m= port", number)
    if port > 65535:
        raise SdpError(f"m= port {port} is out of range 0-65535", number)
    port_count = _number(count_text, "m= port count", number) if slash else None
    for line_number, kind, _ in block[1:]:
        if kind in _SESSION_ONLY:
            raise SdpError(f"{kind}= is only allowed at session level, before the first m= "
                           "line (RFC 4566 5)", line_number)
    connection, bandwidths, attributes, other = _parse_common(block[1:], "media")
    return MediaDescription(media=parts[0], port=port, port_count=port_count, proto=parts[2],
                            formats=tuple(_shared(text) for text in parts[3:]), connection=connection, bandwidths=bandwidths,
                            attributes=attributes, other_lines=other)


# a= values by their text -> their Attribute (frozen, so shared); failures are not kept.
_ATTRIBUTES: dict[str, Attribute] = {}
_CONNECTIONS: dict[str, Connection] = {}  # c= values the same way: a phone's address, call after call
_ATTRIBUTES_LIMIT = 1024

# Payload type numbers, addresses and other short words of SDP, one string each for every body
# that carries them (held calls keep four SDPs each: issue 16). Bounded like _ATTRIBUTES.
_WORDS: dict[str, str] = {}


def _shared(text: str) -> str:
    found = _WORDS.get(text)
    if found is not None:
        return found
    if len(_WORDS) < _ATTRIBUTES_LIMIT and len(text) <= 64:
        _WORDS[text] = text
    return text

# a=rtpmap values by their text: phones offer the same few codecs in every call, and
# the call path reads them several times per offer.
_RTPMAPS: dict[str, RtpMap | None] = {}
_RTPMAPS_LIMIT = 512


def _rtpmap_of(value: str) -> RtpMap | None:
    try:
        return _RTPMAPS[value]
    except KeyError:
        rtpmap = _parse_rtpmap(value)
        if len(_RTPMAPS) < _RTPMAPS_LIMIT and len(value) <= 64:
            _RTPMAPS[value] = rtpmap
        return rtpmap


def _parse_rtpmap(value: str) -> RtpMap | None:
    number, _, encoding = value.strip().partition(" ")
    fields = encoding.strip().split("/")
    try:
        channels = int(fields[2]) if len(fields) > 2 else 1
        return RtpMap(int(number), fields[0], int(fields[1]), channels)
    except (ValueError, IndexError):
        return None  # an unreadable rtpmap only makes its payload type unusable
