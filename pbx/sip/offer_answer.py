"""SDP offer/answer for one audio stream (RFC 3264).

`make_offer`, `make_answer` and `apply_answer` apply the RFC 3264 rules for
one RTP/AVP audio stream with static or dynamic payload types and
RFC 4733 telephone-event (whatever payload type the offerer chose: 96 and
101 both occur), or one RTP/SAVP stream keyed by SDES (RFC 4568): the answer
takes the first usable a=crypto line with its tag and suite and a fresh key of
ours; an RTP/SAVP stream with no usable line is refused (RFC 4568 7.1.2), and
an RTP/AVP stream that carries a=crypto lines (best-effort SRTP, as baresip's
`mediaenc srtp`) is answered with SRTP too.

It deliberately does not do I/O, allocate ports (the caller passes one, or a
callable that is only asked when a stream is accepted), ICE, DTLS-SRTP,
BUNDLE, rtcp-mux or video: offers that need those get port 0 for that stream.
An answer accepts at most one audio stream, since a PBX leg carries one.
Hold is read both ways RFC 3264 8.4 allows: a=sendonly/inactive, and the
RFC 2543 c=0.0.0.0, which we treat as "do not send to me".
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from msgspec.structs import replace

from .sdes import CryptoAttribute, choose, fresh_crypto
from .sdp import (
    DIRECTIONS,
    SECURE_PROTO,
    STATIC_PAYLOAD_TYPES,
    SUPPORTED_PROTOS,
    Attribute,
    Codec,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SdpError,
    SessionDescription,
)

__all__ = [
    "Answer", "NegotiatedCodec", "NegotiatedStream", "SrtpKeys", "apply_answer", "is_hold", "make_answer", "make_offer",
    "next_version",
]  # fmt: skip



class NegotiatedCodec(msgspec.Struct, frozen=True):
    """A codec and the RTP payload type number it travels under on this stream."""

    payload_type: int
    codec: Codec


class SrtpKeys(msgspec.Struct, frozen=True):
    """The SDES keys of one SRTP stream: `local` protects what we send, `remote` (the
    peer's a=crypto line) unprotects what it sends (RFC 4568 6.1)."""

    local: CryptoAttribute
    remote: CryptoAttribute


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
    srtp: SrtpKeys | None = None

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
             session_name: str, timing: tuple[tuple[int, int], ...],
             media: list[MediaDescription]) -> SessionDescription:
    address_type = "IP6" if ":" in address else "IP4"
    return SessionDescription(
        origin=Origin(username, session_id, session_version, "IN", address_type, address),
        session_name=session_name, connection=Connection("IN", address_type, address),
        timing=timing, media=tuple(media))


def _audio_media(port: int, chosen: list[NegotiatedCodec], ptime: int | None,
                 direction: str, proto: str = "RTP/AVP",
                 crypto: CryptoAttribute | None = None) -> MediaDescription:
    attributes = _codec_attributes(chosen)
    attributes += [Attribute("ptime", str(ptime))] if ptime else []
    attributes += [Attribute("crypto", str(crypto))] if crypto is not None else []
    return MediaDescription(media="audio", port=port, proto=proto,
                            formats=tuple(str(entry.payload_type) for entry in chosen),
                            attributes=(*attributes, Attribute(direction)))


def make_offer(*, address: str, port: int, codecs: list[Codec], session_id: int,
               session_version: int, username: str = "-", direction: str = "sendrecv",
               ptime: int | None = 20, session_name: str = "pbx",
               crypto: CryptoAttribute | None = None) -> SessionDescription:
    """One audio stream offering `codecs` in our order of preference; with `crypto` (our
    SDES key, `fresh_crypto`) an RTP/SAVP stream that requires SRTP (RFC 4568 4)."""
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
    proto = SECURE_PROTO if crypto is not None else "RTP/AVP"
    media = _audio_media(port, chosen, ptime, direction, proto, crypto)
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
                session_name: str = "pbx",
                random_bytes: Callable[[int], bytes] | None = None) -> Answer:
    """Answer `offer`, accepting its first usable audio stream and rejecting the rest.

    `port` may be a callable so that an RTP port is allocated only if a stream is
    actually accepted. `direction` limits ours further than the offer does.
    `random_bytes` makes our SDES keys (os.urandom unless a test passes its own).
    """
    wanted = direction or "sendrecv"
    _check_direction(wanted)
    lines: list[MediaDescription] = []
    streams: list[NegotiatedStream] = []
    accepted = False
    for index, offered in enumerate(offer.media):
        codecs: list[NegotiatedCodec] = []
        event: NegotiatedCodec | None = None
        # RFC 4568 7.1.2: the first a=crypto line we can use; RTP/SAVP without one is refused.
        theirs = choose(offered.crypto_lines())
        # RFC 3264 6: a stream offered with port 0 stays rejected.
        if (not accepted and offered.media == "audio" and offered.port != 0
                and offered.proto in SUPPORTED_PROTOS
                and (theirs is not None or offered.proto != SECURE_PROTO)):
            codecs, event = _common_codecs(offered, supported)
        if not codecs:
            # RFC 3264 6: reject with port 0, keeping the m= line and its formats.
            lines.append(MediaDescription(media=offered.media, port=0, proto=offered.proto,
                                          formats=offered.formats))
            streams.append(NegotiatedStream(index=index, media=offered.media, accepted=False,
                                            remote_port=offered.port))
            continue
        accepted = True
        local_port = port() if callable(port) else port
        they_send, they_receive = _flow(offered, offer)
        our_send, our_receive = _flow_of(wanted)
        # RFC 3264 6.1: sendonly is answered recvonly, recvonly sendonly, inactive inactive.
        ours = _direction(they_receive and our_send, they_send and our_receive)
        keys = None
        if theirs is not None:
            mine = (fresh_crypto(theirs.tag, theirs.suite) if random_bytes is None
                    else fresh_crypto(theirs.tag, theirs.suite, random_bytes))
            keys = SrtpKeys(local=mine, remote=theirs)
        lines.append(_audio_media(local_port, codecs + ([event] if event else []), ptime, ours,
                                  offered.proto, keys.local if keys else None))
        rtcp = offered.rtcp
        streams.append(NegotiatedStream(
            index=index, media=offered.media, accepted=True, codecs=codecs,
            telephone_event=event, local_port=local_port,
            remote_address=offered.connection_address(offer), remote_port=offered.port,
            # RFC 3605 2.1, else RFC 3550 11: RTCP goes to the next port up.
            remote_rtcp_port=rtcp.port if rtcp else offered.port + 1,
            ptime=offered.ptime, direction=ours, srtp=keys))
    # RFC 3264 6: the answer's t= equals the offer's.
    sdp = _session(address, username, session_id, session_version, session_name,
                   offer.timing, lines)
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
        keys = _answered_keys(offered, answered, position)
        rtcp = answered.rtcp
        streams.append(NegotiatedStream(
            index=index, media=answered.media, accepted=True, codecs=codecs,
            telephone_event=event, local_port=offered.port,
            remote_address=answered.connection_address(answer), remote_port=answered.port,
            remote_rtcp_port=rtcp.port if rtcp else answered.port + 1,
            ptime=answered.ptime,
            direction=_direction(our_send and they_receive, our_receive and they_send),
            srtp=keys))
    return streams


def _answered_keys(offered: MediaDescription, answered: MediaDescription, position: int) -> SrtpKeys | None:
    """RFC 4568 7.1.3 / 7.4: the answer's a=crypto must echo the tag and suite of one we offered."""
    ours = [CryptoAttribute.parse(value) for value in offered.crypto_lines()]
    if not ours:
        return None
    theirs = choose(answered.crypto_lines())
    if theirs is None:
        if offered.proto == SECURE_PROTO:
            raise SdpError(f"answer m= line {position} accepts our RTP/SAVP stream without a usable "
                           "a=crypto line (RFC 4568 7.1.3)")
        return None  # best-effort SRTP declined: plain RTP
    mine = next((crypto for crypto in ours if crypto.tag == theirs.tag), None)
    if mine is None or mine.suite != theirs.suite:
        raise SdpError(f"answer m= line {position} has a=crypto tag {theirs.tag} {theirs.suite}, which "
                       "does not match an offered one (RFC 4568 7.1.3)")
    return SrtpKeys(local=mine, remote=theirs)
