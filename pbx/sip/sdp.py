"""SDP session descriptions (RFC 4566) and audio offer/answer (RFC 3264).

`SessionDescription.parse` turns an SDP body into typed Structs and
`serialize` turns them back into CRLF-terminated bytes; SDP already in the
RFC 4566 5 line order round-trips byte for byte, and lines we do not interpret
(i=, u=, e=, p=, r=, z=, k= and unknown types) are kept for that purpose.
`make_offer`, `make_answer` and `apply_answer` apply the RFC 3264 rules for
one plain RTP/AVP audio stream with static or dynamic payload types and
RFC 4733 telephone-event.

It deliberately does not do I/O, allocate ports (the caller passes one, or a
callable that is only asked when a stream is accepted), ICE, DTLS-SRTP, SDES,
BUNDLE, rtcp-mux or video: offers that need those get port 0 for that stream.
An answer accepts at most one audio stream, since a PBX leg carries one.
Hold is read both ways RFC 3264 8.4 allows: a=sendonly/inactive, and the
RFC 2543 c=0.0.0.0, which we treat as "do not send to me".
A peer's malformed SDP raises `SdpError`, which the SIP layer answers with
400 Bad Request; our own misuse of the API raises plain `ValueError`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from msgspec.structs import replace

__all__ = [
    "DIRECTIONS", "STATIC_PAYLOAD_TYPES", "SUPPORTED_PROTOS", "Answer", "Attribute",
    "Bandwidth", "Codec", "Connection", "Line", "MediaDescription", "NegotiatedCodec",
    "NegotiatedStream", "Origin", "RtcpAttribute", "RtpMap", "SdpError",
    "SessionDescription", "apply_answer", "is_hold", "make_answer", "make_offer",
    "next_version",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Profiles we can carry; SAVP/SAVPF/UDP-TLS need keys we do not negotiate.
SUPPORTED_PROTOS = ("RTP/AVP",)
# RFC 3551 6, table 4: static audio payload types usable without a=rtpmap.
STATIC_PAYLOAD_TYPES = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1),
    8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1), 18: ("G729", 8000, 1),
}
_SESSION_ONLY = "vostrzeup"  # RFC 4566 5: these never appear after the first m= line
_BEFORE_CONNECTION = "iuep"  # RFC 4566 5: v o s i u e p c b t r z k a m
_AFTER_TIMING = "rzk"
_KNOWN = "vosiuepcbtrzkam"


class SdpError(ValueError):
    """A peer's SDP is malformed or breaks offer/answer; answer 400 with `reason`."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.line = line
        self.reason = f"line {line}: {reason}" if line is not None else reason
        super().__init__(self.reason)


class Origin(msgspec.Struct, frozen=True):
    """o= (RFC 4566 5.2); session_version grows by one per new offer (RFC 3264 8)."""

    username: str
    session_id: int
    session_version: int
    net_type: str
    address_type: str
    address: str


class Connection(msgspec.Struct, frozen=True):
    """c= (RFC 4566 5.7); `suffix` is a multicast "/ttl[/count]", kept verbatim."""

    net_type: str
    address_type: str
    address: str
    suffix: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.suffix}" if self.suffix is not None else ""
        return f"{self.net_type} {self.address_type} {self.address}{tail}"


class Bandwidth(msgspec.Struct, frozen=True):
    """b=<bwtype>:<bandwidth> (RFC 4566 5.8)."""

    bwtype: str
    bandwidth: int


class Attribute(msgspec.Struct, frozen=True):
    """a=<name> or a=<name>:<value> (RFC 4566 5.13); value is None for flags."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


class Line(msgspec.Struct, frozen=True):
    """A line we keep but do not interpret; `kind` is the RFC's one-letter <type>."""

    kind: str
    value: str


class RtpMap(msgspec.Struct, frozen=True):
    """a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>] (RFC 4566 6)."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    channels: int = 1


class RtcpAttribute(msgspec.Struct, frozen=True):
    """a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605 2.1)."""

    port: int
    net_type: str | None = None
    address_type: str | None = None
    address: str | None = None


class Codec(msgspec.Struct, frozen=True):
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


class MediaDescription(msgspec.Struct, frozen=True, kw_only=True):
    """One m= section (RFC 4566 5.14) with its c=, b= and a= lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = []
    attributes: list[Attribute] = []
    other_lines: list[Line] = []

    def attribute(self, name: str) -> str | None:
        """Value of the first a=<name>:<value> line, or None."""
        return next((a.value for a in self.attributes if a.name == name), None)

    def rtpmaps(self) -> dict[int, RtpMap]:
        """Payload types in m= order; static ones (RFC 3551 6) need no a=rtpmap."""
        declared: dict[int, RtpMap] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                rtpmap = _parse_rtpmap(attribute.value)
                if rtpmap is not None:
                    declared.setdefault(rtpmap.payload_type, rtpmap)
        result: dict[int, RtpMap] = {}
        for text in self.formats:
            if not (text.isascii() and text.isdigit()):
                continue
            number = int(text)
            if number in declared:
                result[number] = declared[number]
            elif number in STATIC_PAYLOAD_TYPES:
                result[number] = RtpMap(number, *STATIC_PAYLOAD_TYPES[number])
        return result

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
        lines += _other(self.other_lines, "i")
        lines += [f"c={self.connection}"] if self.connection else []
        lines += [f"b={b.bwtype}:{b.bandwidth}" for b in self.bandwidths]
        lines += _other(self.other_lines, "k")
        lines += [f"a={a}" for a in self.attributes]
        return lines + _unknown(self.other_lines)


class SessionDescription(msgspec.Struct, frozen=True, kw_only=True):
    """A whole SDP body (RFC 4566 5); session_name "" stands for the RFC's "s= "."""

    origin: Origin
    session_name: str
    version: int = 0
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = []
    timing: list[tuple[int, int]] = msgspec.field(default_factory=lambda: [(0, 0)])
    attributes: list[Attribute] = []
    media: list[MediaDescription] = []
    other_lines: list[Line] = []

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
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
        media = [_parse_media(block) for block in blocks]
        for index, (block, section) in enumerate(zip(blocks, media), start=1):
            if connection is None and section.connection is None:
                raise SdpError(f"m= line {index} ({section.media}) has no c= line and there is "
                               "no session-level c= line (RFC 4566 5.7)", block[0][0])
        return cls(origin=_parse_origin(lines[1][2], lines[1][0]), session_name=lines[2][2],
                   connection=connection, bandwidths=bandwidths, timing=timing or [(0, 0)],
                   attributes=attributes, media=media,
                   other_lines=[line for line in other if line.kind != "t"])

    def serialize(self) -> bytes:
        origin = self.origin
        # RFC 4566 5.3: an empty session name is written as a single space.
        lines = [f"v={self.version}",
                 f"o={origin.username} {origin.session_id} {origin.session_version} "
                 f"{origin.net_type} {origin.address_type} {origin.address}",
                 f"s={self.session_name or ' '}"]
        lines += _other(self.other_lines, _BEFORE_CONNECTION)
        lines += [f"c={self.connection}"] if self.connection else []
        lines += [f"b={b.bwtype}:{b.bandwidth}" for b in self.bandwidths]
        lines += [f"t={start} {stop}" for start, stop in self.timing]
        lines += _other(self.other_lines, _AFTER_TIMING)
        lines += [f"a={a}" for a in self.attributes]
        lines += _unknown(self.other_lines)
        for media in self.media:
            lines += media.serialize_lines()
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


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
    for number, raw in enumerate(data.split("\n"), start=1):
        line = raw.rstrip()
        if not line:
            continue
        # RFC 4566 5: <type>=<value>, where <type> is exactly one letter.
        if len(line) < 2 or line[1] != "=" or not (line[0].isascii() and line[0].isalpha()):
            shown = line if len(line) <= 40 else line[:40] + "..."
            raise SdpError(f"expected '<type>=<value>', got {shown!r}", number)
        result.append((number, line[0], line[2:]))
    if not result:
        raise SdpError("SDP body is empty")
    return result


def _number(text: str, what: str, line: int) -> int:
    if not (text.isascii() and text.isdigit()):
        raise SdpError(f"{what} {text!r} is not a number", line)
    return int(text)


def _parse_origin(value: str, line: int) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError("o= line needs '<username> <sess-id> <sess-version> <nettype> "
                       "<addrtype> <unicast-address>'", line)
    return Origin(parts[0], _number(parts[1], "o= session id", line),
                  _number(parts[2], "o= session version", line), parts[3], parts[4], parts[5])


def _parse_timing(value: str, line: int) -> tuple[int, int]:
    parts = value.split()
    if len(parts) != 2:
        raise SdpError("t= line needs '<start-time> <stop-time>'", line)
    return _number(parts[0], "t= start time", line), _number(parts[1], "t= stop time", line)


def _parse_common(lines: list[tuple[int, str, str]], where: str
                  ) -> tuple[Connection | None, list[Bandwidth], list[Attribute], list[Line]]:
    """c=, b= and a= lines of one section; everything else is kept as `Line`."""
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = []
    attributes: list[Attribute] = []
    other: list[Line] = []
    for number, kind, value in lines:
        if kind == "c":
            if connection is not None:
                raise SdpError(f"second c= line in the {where} section (RFC 4566 5.7)", number)
            parts = value.split()
            if len(parts) != 3:
                raise SdpError("c= line needs '<nettype> <addrtype> <connection-address>'", number)
            address, slash, suffix = parts[2].partition("/")
            connection = Connection(parts[0], parts[1], address, suffix if slash else None)
        elif kind == "b":
            bwtype, colon, amount = value.partition(":")
            if not colon or not bwtype:
                raise SdpError("b= line needs '<bwtype>:<bandwidth>'", number)
            bandwidths.append(Bandwidth(bwtype, _number(amount, "b= bandwidth", number)))
        elif kind == "a":
            name, colon, text = value.partition(":")
            if not name:
                raise SdpError("a= line has no attribute name", number)
            attributes.append(Attribute(name, text if colon else None))
        elif kind in "vos":
            raise SdpError(f"duplicate {kind}= line (RFC 4566 5)", number)
        else:
            other.append(Line(kind, value))
    return connection, bandwidths, attributes, other


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
                            formats=parts[3:], connection=connection, bandwidths=bandwidths,
                            attributes=attributes, other_lines=other)


def _parse_rtpmap(value: str) -> RtpMap | None:
    number, _, encoding = value.strip().partition(" ")
    fields = encoding.strip().split("/")
    try:
        channels = int(fields[2]) if len(fields) > 2 else 1
        return RtpMap(int(number), fields[0], int(fields[1]), channels)
    except (ValueError, IndexError):
        return None  # an unreadable rtpmap only makes its payload type unusable


# --- RFC 3264 offer/answer -------------------------------------------------------------


class NegotiatedCodec(msgspec.Struct, frozen=True):
    """A codec and the RTP payload type number it travels under on this stream."""

    payload_type: int
    codec: Codec


class NegotiatedStream(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome for one m= line, from our side of the call.

    `codecs` carry the payload type numbers on the wire, in the order the answer
    lists them (make_answer keeps the offerer's order, RFC 3264 6.1); send with
    the first. `direction` is ours; `ptime` is what the peer asked for, if any.
    """

    index: int
    media: str
    accepted: bool
    codecs: list[NegotiatedCodec] = []
    telephone_event: NegotiatedCodec | None = None
    local_port: int = 0
    remote_address: str | None = None
    remote_port: int = 0
    remote_rtcp_port: int | None = None
    ptime: int | None = None
    direction: str = "inactive"

    @property
    def telephone_event_payload_type(self) -> int | None:
        return self.telephone_event.payload_type if self.telephone_event else None


class Answer(msgspec.Struct, frozen=True):
    """Our answer SDP and, per offered m= line in order, what was agreed."""

    sdp: SessionDescription
    streams: list[NegotiatedStream]


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")


def _flow(media: MediaDescription, session: SessionDescription) -> tuple[bool, bool]:
    """(sends, receives) of the side that wrote `session`."""
    sends, receives = _flow_of(media.direction(session))
    # RFC 3264 8.4: c=0.0.0.0 is the RFC 2543 way to say "do not send to me".
    return sends, receives and media.connection_address(session) != "0.0.0.0"


def _flow_of(direction: str) -> tuple[bool, bool]:
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(sends: bool, receives: bool) -> str:
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly", (False, False): "inactive"}[(sends, receives)]


def is_hold(sdp: SessionDescription) -> bool:
    """True when every active stream is sendonly, inactive or at c=0.0.0.0 (RFC 3264 8.4)."""
    active = [media for media in sdp.media if media.port != 0]
    return bool(active) and all(not _flow(media, sdp)[1] for media in active)


def next_version(sdp: SessionDescription) -> SessionDescription:
    """RFC 3264 8: each new offer or answer in a session bumps o= version by one."""
    origin = replace(sdp.origin, session_version=sdp.origin.session_version + 1)
    return replace(sdp, origin=origin)


def _codec_attributes(chosen: list[NegotiatedCodec]) -> list[Attribute]:
    attributes = []
    for entry in chosen:
        codec = entry.codec
        channels = f"/{codec.channels}" if codec.channels != 1 else ""
        value = f"{entry.payload_type} {codec.name}/{codec.clock_rate}{channels}"
        attributes.append(Attribute("rtpmap", value))
        if codec.fmtp is not None:
            attributes.append(Attribute("fmtp", f"{entry.payload_type} {codec.fmtp}"))
    return attributes


def _session(address: str, username: str, session_id: int, session_version: int,
             session_name: str, timing: list[tuple[int, int]],
             media: list[MediaDescription]) -> SessionDescription:
    address_type = "IP6" if ":" in address else "IP4"
    return SessionDescription(
        origin=Origin(username, session_id, session_version, "IN", address_type, address),
        session_name=session_name, connection=Connection("IN", address_type, address),
        timing=timing, media=media)


def _audio_media(port: int, chosen: list[NegotiatedCodec], ptime: int | None,
                 direction: str) -> MediaDescription:
    attributes = _codec_attributes(chosen)
    attributes += [Attribute("ptime", str(ptime))] if ptime else []
    return MediaDescription(media="audio", port=port, proto="RTP/AVP",
                            formats=[str(entry.payload_type) for entry in chosen],
                            attributes=[*attributes, Attribute(direction)])


def make_offer(*, address: str, port: int, codecs: list[Codec], session_id: int,
               session_version: int, username: str = "-", direction: str = "sendrecv",
               ptime: int | None = 20, session_name: str = "pbx") -> SessionDescription:
    """One audio stream offering `codecs` in our order of preference."""
    _check_direction(direction)
    if not codecs:
        raise ValueError("make_offer needs at least one codec")
    numbers: list[int | None] = []
    for codec in codecs:
        static = next((n for n, (name, rate, channels) in STATIC_PAYLOAD_TYPES.items()
                       if codec.matches(RtpMap(n, name, rate, channels))), None)
        if static is None and codec.is_telephone_event and codec.clock_rate == 8000:
            static = 101 if 101 not in numbers else None  # the de facto convention
        numbers.append(static)
    # RFC 3551 6: 96-127 are dynamic payload types.
    free = iter([n for n in range(96, 128) if n not in numbers])
    chosen = []
    for number, codec in zip(numbers, codecs):
        if number is None:
            number = next(free, None)
            if number is None:
                raise ValueError("too many codecs: only 32 dynamic payload types exist")
        if codec.is_telephone_event and codec.fmtp is None:
            codec = replace(codec, fmtp="0-16")  # RFC 4733 3: DTMF digits and flash
        chosen.append(NegotiatedCodec(number, codec))
    media = _audio_media(port, chosen, ptime, direction)
    return _session(address, username, session_id, session_version, session_name,
                    [(0, 0)], [media])


def _common_codecs(offered: MediaDescription, supported: list[Codec]
                   ) -> tuple[list[NegotiatedCodec], NegotiatedCodec | None]:
    """Codecs both sides have, in the offer's order and with the offer's numbers."""
    audio: list[NegotiatedCodec] = []
    events: list[NegotiatedCodec] = []
    for number, rtpmap in offered.rtpmaps().items():
        ours = next((codec for codec in supported if codec.matches(rtpmap)), None)
        if ours is None:
            continue
        theirs = offered.fmtp(number)
        if ours.is_telephone_event:
            # RFC 4733 2.4.1: the fmtp event list is what the offerer can receive.
            fmtp = theirs if theirs is not None else ours.fmtp
            events.append(NegotiatedCodec(number, replace(ours, fmtp=fmtp)))
        else:
            fmtp = ours.fmtp if ours.fmtp is not None else theirs
            audio.append(NegotiatedCodec(number, replace(ours, fmtp=fmtp)))
    if not audio:
        return [], None
    # RFC 4733: events share the RTP clock of the audio they travel with.
    same_clock = [e for e in events if e.codec.clock_rate == audio[0].codec.clock_rate]
    return audio, next(iter(same_clock or events), None)


def make_answer(offer: SessionDescription, *, address: str, port: int | Callable[[], int],
                supported: list[Codec], session_id: int, session_version: int,
                username: str = "-", direction: str | None = None, ptime: int | None = 20,
                session_name: str = "pbx") -> Answer:
    """Answer `offer`, accepting its first usable audio stream and rejecting the rest.

    `port` may be a callable so that an RTP port is allocated only if a stream is
    actually accepted. `direction` limits ours further than the offer does.
    """
    wanted = direction or "sendrecv"
    _check_direction(wanted)
    lines: list[MediaDescription] = []
    streams: list[NegotiatedStream] = []
    accepted = False
    for index, offered in enumerate(offer.media):
        codecs: list[NegotiatedCodec] = []
        event: NegotiatedCodec | None = None
        # RFC 3264 6: a stream offered with port 0 stays rejected.
        if (not accepted and offered.media == "audio" and offered.port != 0
                and offered.proto in SUPPORTED_PROTOS):
            codecs, event = _common_codecs(offered, supported)
        if not codecs:
            # RFC 3264 6: reject with port 0, keeping the m= line and its formats.
            lines.append(MediaDescription(media=offered.media, port=0, proto=offered.proto,
                                          formats=list(offered.formats)))
            streams.append(NegotiatedStream(index=index, media=offered.media, accepted=False,
                                            remote_port=offered.port))
            continue
        accepted = True
        local_port = port() if callable(port) else port
        they_send, they_receive = _flow(offered, offer)
        our_send, our_receive = _flow_of(wanted)
        # RFC 3264 6.1: sendonly is answered recvonly, recvonly sendonly, inactive inactive.
        ours = _direction(they_receive and our_send, they_send and our_receive)
        lines.append(_audio_media(local_port, codecs + ([event] if event else []), ptime, ours))
        rtcp = offered.rtcp
        streams.append(NegotiatedStream(
            index=index, media=offered.media, accepted=True, codecs=codecs,
            telephone_event=event, local_port=local_port,
            remote_address=offered.connection_address(offer), remote_port=offered.port,
            # RFC 3605 2.1, else RFC 3550 11: RTCP goes to the next port up.
            remote_rtcp_port=rtcp.port if rtcp else offered.port + 1,
            ptime=offered.ptime, direction=ours))
    # RFC 3264 6: the answer's t= equals the offer's.
    sdp = _session(address, username, session_id, session_version, session_name,
                   list(offer.timing), lines)
    return Answer(sdp=sdp, streams=streams)


def apply_answer(offer: SessionDescription, answer: SessionDescription
                 ) -> list[NegotiatedStream]:
    """Read the peer's answer to our `offer`; raise SdpError if it breaks RFC 3264 6."""
    if len(answer.media) != len(offer.media):
        raise SdpError(f"answer has {len(answer.media)} m= lines but the offer had "
                       f"{len(offer.media)}; RFC 3264 6 requires the same number")
    streams = []
    for index, (offered, answered) in enumerate(zip(offer.media, answer.media)):
        position = index + 1
        if answered.media != offered.media:
            raise SdpError(f"answer m= line {position} is {answered.media!r} but the offer's "
                           f"is {offered.media!r} (RFC 3264 6)")
        if answered.port == 0 or offered.port == 0:
            streams.append(NegotiatedStream(index=index, media=answered.media, accepted=False,
                                            remote_port=answered.port))
            continue
        offered_maps = list(offered.rtpmaps().values())
        answered_maps = answered.rtpmaps()
        codecs: list[NegotiatedCodec] = []
        event: NegotiatedCodec | None = None
        for text in answered.formats:
            rtpmap = answered_maps.get(int(text)) if text.isascii() and text.isdigit() else None
            if rtpmap is None:
                if text in offered.formats:
                    continue  # offered by us yet unknown to us: nothing to use
                raise SdpError(f"answer m= line {position} lists payload type {text}, which "
                               "the offer never listed (RFC 3264 6.1)")
            codec = Codec(rtpmap.encoding_name, rtpmap.clock_rate, rtpmap.channels,
                          answered.fmtp(rtpmap.payload_type))
            if not any(codec.matches(mine) for mine in offered_maps):
                raise SdpError(f"answer m= line {position} picks {rtpmap.encoding_name}/"
                               f"{rtpmap.clock_rate} (payload type {rtpmap.payload_type}), "
                               "which the offer never listed (RFC 3264 6.1)")
            if codec.is_telephone_event:
                event = event or NegotiatedCodec(rtpmap.payload_type, codec)
            else:
                codecs.append(NegotiatedCodec(rtpmap.payload_type, codec))
        if not codecs:
            raise SdpError(f"answer accepts m= line {position} but names none of the "
                           "offered codecs")
        our_send, our_receive = _flow(offered, offer)
        they_send, they_receive = _flow(answered, answer)
        rtcp = answered.rtcp
        streams.append(NegotiatedStream(
            index=index, media=answered.media, accepted=True, codecs=codecs,
            telephone_event=event, local_port=offered.port,
            remote_address=answered.connection_address(answer), remote_port=answered.port,
            remote_rtcp_port=rtcp.port if rtcp else answered.port + 1,
            ptime=answered.ptime,
            direction=_direction(our_send and they_receive, our_receive and they_send)))
    return streams
