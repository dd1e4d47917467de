"""Anchored media: the SDP each phone sees points at the PBX's relay port for its leg.

An offer that arrives from one phone is re-addressed before it goes to the
other: same codecs (PCMU, PCMA, telephone-event, with the caller's payload
type numbers, so RTP passes through unchanged: no transcoding), same
direction, our address and the port of that leg's relay endpoint. Answers
are shaped after the offer the phone made (RFC 3264 6: same m= lines, the
ones we do not carry refused with port 0).

SRTP is per leg (RFC 4568 SDES): a phone that offers RTP/SAVP (or RTP/AVP
with a=crypto lines, best-effort) is answered with the same profile and a
crypto line of ours (`srtp_answer_keys`); the other leg sees plain RTP/AVP
unless it wants SRTP too (`offer_for_leg(crypto=...)`). Keys never cross
from one leg to the other: the relay decrypts and encrypts in between.

Pure: SDP in, SDP out.
"""

from __future__ import annotations

import functools

import msgspec

from pbx.sip.offer_answer import SrtpKeys
from pbx.sip.sdes import CryptoAttribute, choose
from pbx.sip.sdp import (
    SECURE_PROTO,
    Attribute,
    Codec,
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
)

# What the relay can carry end to end without transcoding.
SUPPORTED = (Codec("PCMU", 8000), Codec("PCMA", 8000), Codec("telephone-event", 8000))
_SUPPORTED_KEYS = frozenset((codec.name.casefold(), codec.clock_rate, codec.channels) for codec in SUPPORTED)
_KEEP_ATTRIBUTES = {"rtpmap", "fmtp", "ptime", "maxptime", "sendrecv", "sendonly", "recvonly", "inactive"}


class NoCommonCodec(SdpError):
    """The offer has no audio stream in a codec the relay carries (answered 488)."""


class MediaAddress(msgspec.Struct, frozen=True):
    host: str
    port: int
    rtcp_port: int


class LegSession(msgspec.Struct):
    """The o= line a leg presents to its phone; the version grows with each new SDP (RFC 3264 8)."""

    session_id: int
    version: int = 0

    def next_origin(self, host: str) -> Origin:
        self.version += 1
        return Origin("-", self.session_id, self.version, "IN", "IP4", host)


def audio_stream(sdp: SessionDescription) -> tuple[int, MediaDescription] | None:
    """The first audio stream we can carry: RTP/AVP, or RTP/SAVP with a usable a=crypto line
    (RFC 4568 7.1.2), a port, and a supported codec."""
    for index, media in enumerate(sdp.media):
        if media.media != "audio" or media.port == 0 or media.proto not in ("RTP/AVP", SECURE_PROTO):
            continue
        if media.proto == SECURE_PROTO and choose(media.crypto_lines()) is None:
            continue
        if _supported_formats(media):
            return index, media
    return None


def srtp_refusal(sdp: SessionDescription) -> str | None:
    """Why an offer must be refused with 488 for want of keys, or None: it asks for SRTP
    (RTP/SAVP) and has no a=crypto line we can use (RFC 4568 7.1.2, RFC 3264 6)."""
    if audio_stream(sdp) is not None:
        return None
    secure = [m for m in sdp.media if m.media == "audio" and m.port != 0 and m.proto == SECURE_PROTO]
    if not secure:
        return None
    lines = secure[0].crypto_lines()
    return "RTP/SAVP offered without an a=crypto line" if not lines else \
        "no offered a=crypto line is usable (we support AES_CM_128_HMAC_SHA1_80 and _32, one key, no MKI)"


def offered_crypto(sdp: SessionDescription) -> CryptoAttribute | None:
    """The phone's SDES key on the stream we carry: the first usable a=crypto line, or None
    for plain RTP. An RTP/AVP offer may carry them too (best-effort SRTP, as baresip's)."""
    found = audio_stream(sdp)
    return choose(found[1].crypto_lines()) if found is not None else None


def answered_keys(our_offer: SessionDescription, answer: SessionDescription) -> SrtpKeys | None:
    """The keys agreed when the phone answers our SRTP offer: its a=crypto line must echo the
    tag and suite of ours (RFC 4568 7.1.3). None when we offered plain RTP; raise SdpError when
    the answer drops or garbles the crypto we required."""
    ours = audio_stream(our_offer)
    mine = choose(ours[1].crypto_lines()) if ours is not None else None
    if mine is None:
        return None
    found = audio_stream(answer)
    theirs = choose(found[1].crypto_lines()) if found is not None else None
    if theirs is None or theirs.tag != mine.tag or theirs.suite != mine.suite:
        raise SdpError("the answer to our RTP/SAVP offer has no a=crypto line matching ours "
                       f"(tag {mine.tag} {mine.suite}, RFC 4568 7.1.3)")
    return SrtpKeys(local=mine, remote=theirs)


def media_address(sdp: SessionDescription) -> MediaAddress | None:
    """Where the phone wants RTP (and RTCP, RFC 3605 a=rtcp or port + 1)."""
    found = audio_stream(sdp)
    if found is None:
        return None
    media = found[1]
    rtcp = media.rtcp
    return MediaAddress(media.connection_address(sdp), media.port, rtcp.port if rtcp else media.port + 1)


def is_on_hold(sdp: SessionDescription) -> bool:
    """RFC 3264 8.4: sendonly or inactive, or the RFC 2543 c=0.0.0.0 convention."""
    found = audio_stream(sdp)
    if found is None:
        return False
    media = found[1]
    return media.direction(sdp) in ("sendonly", "inactive") or media.connection_address(sdp) == "0.0.0.0"


def offer_for_leg(source: SessionDescription, *, host: str, port: int, session: LegSession,
                  only: list[str] | None = None, crypto: CryptoAttribute | None = None) -> SessionDescription:
    """Re-address `source` (an offer from the other side) for a phone behind relay port `port`.

    `only` limits the payload types offered (a transfer target must take the
    codec already flowing, since we do not transcode). With `crypto` (our key
    for this leg) the offer is RTP/SAVP and requires SRTP (RFC 4568 4).
    """
    found = audio_stream(source)
    if found is None:
        raise NoCommonCodec("no audio stream in PCMU or PCMA to offer")
    _, media = found
    formats = [f for f in _supported_formats(media) if only is None or f in only]
    if not any(not _is_event(media, f) for f in formats):
        raise NoCommonCodec("no codec in common with the call's other party")
    return _session(host, session, [_readdressed(media, source, formats, port, crypto)])


def answer_for_leg(phone_offer: SessionDescription, far_answer: SessionDescription, *, host: str, port: int,
                   session: LegSession, crypto: CryptoAttribute | None = None) -> SessionDescription:
    """Our answer to `phone_offer`, carrying what the far end chose in `far_answer`; with
    `crypto` (ours, same tag and suite as the phone's) in the profile the phone offered."""
    ours = audio_stream(phone_offer)
    theirs = audio_stream(far_answer)
    if ours is None or theirs is None:
        raise NoCommonCodec("no audio stream both sides can carry")
    chosen_index, offered = ours
    answered = theirs[1]
    # Payload types the far end chose, limited to what this phone offered.
    formats = [f for f in answered.formats if f in offered.formats] or [f for f in answered.formats]
    media_list = []
    for index, media in enumerate(phone_offer.media):
        if index == chosen_index:
            proto = offered.proto if crypto is not None else "RTP/AVP"
            media_list.append(_readdressed(answered, far_answer, formats, port, crypto, proto))
        else:
            media_list.append(MediaDescription(media=media.media, port=0, proto=media.proto, formats=media.formats))
    return _session(host, session, media_list)


def _readdressed(media: MediaDescription, sdp: SessionDescription, formats: list[str], port: int,
                 crypto: CryptoAttribute | None = None, proto: str | None = None) -> MediaDescription:
    numbers = set(formats)
    attributes = []
    for attribute in media.attributes:
        if attribute.name not in _KEEP_ATTRIBUTES:
            continue
        if attribute.name in ("rtpmap", "fmtp") and (attribute.value or "").split(" ")[0] not in numbers:
            continue
        attributes.append(attribute)
    direction = media.direction(sdp)
    if not any(a.name == direction for a in attributes):
        attributes = [a for a in attributes if a.name not in ("sendrecv", "sendonly", "recvonly", "inactive")]
        attributes.append(Attribute(direction))
    if crypto is not None:
        attributes.insert(0, Attribute("crypto", str(crypto)))
        proto = proto or SECURE_PROTO
    return MediaDescription(media="audio", port=port, proto=proto or "RTP/AVP", formats=tuple(formats),
                            attributes=tuple(attributes))


def _session(host: str, session: LegSession, media: list[MediaDescription]) -> SessionDescription:
    return SessionDescription(
        origin=session.next_origin(host),
        session_name="pbx",
        connection=_connection(host),
        media=tuple(media),
    )


@functools.lru_cache(maxsize=64)
def _connection(host: str) -> Connection:
    """c=IN IP4 <host>: the same few relay addresses in every SDP we write, one object each."""
    return Connection("IN", "IP4", host)


def _supported_formats(media: MediaDescription) -> list[str]:
    rtpmaps = media.rtpmaps()
    return [str(pt) for pt, rtpmap in rtpmaps.items()
            if (rtpmap.encoding_name.casefold(), rtpmap.clock_rate, rtpmap.channels) in _SUPPORTED_KEYS]


def _is_event(media: MediaDescription, payload_type: str) -> bool:
    rtpmap = media.rtpmaps().get(int(payload_type))
    return rtpmap is not None and rtpmap.encoding_name.casefold() == "telephone-event"


def codec_name(sdp: SessionDescription) -> str:
    """The first non-event codec of the audio stream, e.g. "PCMU"."""
    found = audio_stream(sdp)
    if found is None:
        return ""
    for pt, rtpmap in found[1].rtpmaps().items():
        if rtpmap.encoding_name.casefold() != "telephone-event":
            return rtpmap.encoding_name.upper()
    return ""


def audio_formats(sdp: SessionDescription) -> list[str]:
    found = audio_stream(sdp)
    return _supported_formats(found[1]) if found else []


def with_direction(sdp: SessionDescription, direction: str) -> SessionDescription:
    """The same SDP with its audio stream set to `direction` (to take a call off hold)."""
    media = []
    for item in sdp.media:
        attributes = [a for a in item.attributes if a.name not in ("sendrecv", "sendonly", "recvonly", "inactive")]
        media.append(msgspec.structs.replace(item, attributes=(*attributes, Attribute(direction))))
    session_attributes = tuple(a for a in sdp.attributes if a.name not in ("sendrecv", "sendonly", "recvonly", "inactive"))
    return msgspec.structs.replace(sdp, media=tuple(media), attributes=session_attributes)
