"""The PBX as the far end of a leg: it answers the phone itself and sends its own audio.

`answer_with_own_media` answers a caller's INVITE with an SDP of ours (the first PCMU or PCMA
the phone offered, and its telephone-event types), marks the call answered and starts a
`MediaSession` on the leg's relay endpoint: our audio (a player, or the phone's own audio
echoed) paced by the shared media clock, and RTCP reports as an RTP end system. Digits and
receive quality come from the leg's watch (media_watch.py), which is told to listen for tones.
Controllers that answer calls themselves use it: the test extensions, the IVR.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from pbx.media.clock import TICK
from pbx.media.leg_monitor import LegMonitor
from pbx.media.player import SILENCE, Player
from pbx.media.rtcp_session import RtcpReporter
from pbx.media.rtp import RtpPacket
from pbx.media.rtp_header import peek
from pbx.media.sender import RtpSender
from sdk.events import CallAnswered

from pbx.sip.sdp import SessionDescription

from . import anchor
from .call import Call, CallState
from .leg import Leg
from .signals import Answer, Cause, Hangup, Try

MAX_CATCH_UP = 5  # frames sent in one tick to make up for skipped ticks (100 ms)
EARLY_MARGIN = TICK / 4  # a tick may run a little before a frame's time (timer resolution)


# What the PBX offers when it places a call itself: G.711 both ways and RFC 4733 events.
_OWN_OFFER = ("v=0\r\no=pbx 1 1 IN IP4 0.0.0.0\r\ns=pbx\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
              "m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
              "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n")


def own_offer() -> Any:
    """The SDP offer of a call the PBX places (re-addressed to the leg's relay port when sent)."""
    return SessionDescription.parse(_OWN_OFFER)


def media_on_answer(leg: Leg, ssrc: int, now: float) -> MediaSession | None:
    """Our own audio on a leg we called and the phone answered (its SDP chose the codec)."""
    found = anchor.audio_stream(leg.phone_sdp) if leg.phone_sdp is not None else None
    rtpmaps = found[1].rtpmaps() if found is not None else {}
    codecs = [(pt, m.encoding_name.upper()) for pt, m in rtpmaps.items() if m.encoding_name.upper() in ("PCMU", "PCMA")]
    if not codecs or leg.media is None:
        return None
    payload_type, codec = codecs[0]
    events = [pt for pt, m in rtpmaps.items() if m.encoding_name.casefold() == "telephone-event"]
    leg.watch.want_inband()
    session = MediaSession(leg.media, leg.watch.monitor, codec, payload_type, ssrc, now)
    session.local_sdp = leg.local_sdp
    session.formats = [str(payload_type)] + [str(event) for event in events]
    leg.own_media = session
    return session


def answer_with_own_media(call: Call, leg: Leg, signal: Try, services: Any, ssrc: int,
                          now: float) -> tuple[list[Any], MediaSession | None]:
    """Answer `leg`; the session is None when the offer has no codec we can send (488)."""
    offer = signal.sdp
    found = anchor.audio_stream(offer) if offer is not None else None
    rtpmaps = found[1].rtpmaps() if found is not None else {}
    codecs = [(pt, m.encoding_name.upper()) for pt, m in rtpmaps.items() if m.encoding_name.upper() in ("PCMU", "PCMA")]
    if not codecs or leg.media is None:
        actions = leg.send(Hangup(Cause.FAILURE, 488, "no PCMU or PCMA offered"), now)
        return actions + services.end_call(call, Cause.FAILURE, 488, "system", now), None
    events = [pt for pt, m in rtpmaps.items() if m.encoding_name.casefold() == "telephone-event"]
    payload_type, codec = codecs[0]
    only = [str(payload_type)] + [str(event) for event in events]
    local_sdp = anchor.offer_for_leg(offer, host="0.0.0.0", port=9, session=anchor.LegSession(1), only=only)
    actions = leg.send(Answer(local_sdp), now)
    call.state = CallState.ANSWERED
    call.answered_at = call.ringing_at = now
    actions.append(services.publish(CallAnswered(
        at=now, call_id=call.id, callee=call.callee, codec=codec, ring_seconds=0.0)))
    # The PBX is the far end here: listen for tones too, whatever the phone offered.
    leg.watch.want_inband()
    session = MediaSession(leg.media, leg.watch.monitor, codec, payload_type, ssrc, now)
    session.local_sdp = local_sdp
    session.formats = only
    leg.own_media = session
    return actions, session


class MediaSession:
    """Our own audio on one leg, echo or a player, paced by the media clock, with RTCP reports.

    What the phone sends is watched by the leg's `LegWatch` (digits, quality); the session taps
    the endpoint only to echo audio back, and sends sender reports from the watch's statistics
    (RFC 3550 6.4.1): the PBX is the RTP end system on this leg.
    """

    def __init__(self, endpoint: Any, monitor: LegMonitor, codec: str, payload_type: int, ssrc: int,
                 now: float) -> None:
        self.endpoint = endpoint
        self.monitor = monitor
        self.payload_type = payload_type
        self.sender = RtpSender(codec, payload_type, ssrc)
        # RFC 3550 6.2: randomise the report interval; the SSRC is random, so it spreads reports.
        self.rtcp = RtcpReporter(ssrc, f"pbx-{ssrc:08x}", now, spread=0.5 + (ssrc % 1000) / 1000)
        self.echo = False
        self.player: Player | None = None
        self.after: Player | None = None  # what to play once the current player ends (music on hold)
        self.interjection: Player | None = None  # a plugin's prompt played over the current one (interject)
        self._interrupted: Player | None = None
        self._echoed: collections.deque[bytes] = collections.deque(maxlen=10)
        self._untap = endpoint.add_tap(self._received)
        self._next_frame_at: float | None = None
        self.local_sdp: Any = None
        self.formats: list[str] | None = None  # the payload types agreed with the phone
        # Called from the media clock when a player runs out (the IVR's "prompt finished").
        self.on_played: Callable[[Player, float], None] | None = None
        self.recorder: Any = None  # a CallRecorder of this call, fed what we send

    def _received(self, data: bytes, now: float) -> None:
        if not self.echo:
            return
        header = peek(data)
        if header is not None and header.payload_type == self.payload_type:
            self._echoed.append(RtpPacket.parse(data).payload)

    @property
    def finished(self) -> bool:
        """The leg's media endpoint was closed (its call ended by a path that did not stop us)."""
        return self.endpoint.closed

    def tick(self, now: float) -> None:
        if self.endpoint.closed:
            return
        if self.rtcp.due(now):
            self.endpoint.send_rtcp(self.rtcp.report(now, self.sender, self.monitor))
        # A tick the clock had to skip (the loop woke up late) is made up for at once, so the
        # stream stays on real time instead of falling 20 ms behind for good; the phone's jitter
        # buffer absorbs the burst. Long stalls are not made up beyond MAX_CATCH_UP frames.
        # Frames are due on the session's own 20 ms grid; a tick sends every frame due by then.
        if self._next_frame_at is None or now - self._next_frame_at > MAX_CATCH_UP * TICK:
            self._next_frame_at = now  # first tick, or a stall too long to make up: start afresh
        sent = 0
        while self._next_frame_at <= now + EARLY_MARGIN and sent < MAX_CATCH_UP and not self.endpoint.closed:
            self._send_frame(now)
            self._next_frame_at += TICK
            sent += 1

    def interject(self, player: Player) -> None:
        """Play `player` now, then go on with what was playing (a consent notice over the IVR's
        greeting, a message to a caller on hold music). A new prompt started meanwhile by the
        session's owner replaces both."""
        if self.interjection is None:
            self._interrupted = self.player
        self.player = self.interjection = player

    def _send_frame(self, now: float) -> None:
        if self.echo:
            if self._echoed:
                self.endpoint.send(self.sender.packet_of_payload(self._echoed.popleft()))
            else:
                self.sender.pause()
            return
        frame = self.player.next_frame() if self.player is not None else None
        if frame is None and self.player is not None and self.player is self.interjection:
            # The interjection is over: what it interrupted goes on where it stopped, and whoever
            # owns the session (the IVR) is not told that anything ended.
            self.player, self.interjection, self._interrupted = self._interrupted, None, None
            frame = self.player.next_frame() if self.player is not None else None
        if frame is None and self.player is not None and self.on_played is not None:
            finished, self.player = self.player, None
            self.on_played(finished, now)  # may start the next prompt at once
            frame = self.player.next_frame() if self.player is not None else None
        if frame is None and self.after is not None:
            self.player, self.after = self.after, None
            frame = self.player.next_frame()
        if frame is None:
            self.sender.pause()
        elif not self.endpoint.closed:  # a prompt's end may have ended the call just now
            self.endpoint.send(self.sender.packet(frame))
        if self.recorder is not None:
            # The caller's recording holds what the PBX said to them in the other channel.
            self.recorder.feed_sent("callee", frame or SILENCE)

    def close(self, now: float) -> None:
        self._untap()
        if not self.endpoint.closed:
            self.endpoint.send_rtcp(self.rtcp.goodbye(now, self.sender, self.monitor, "call ended"))
