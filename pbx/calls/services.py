"""Test extensions the PBX answers itself, like Asterisk's demo: echo, playback, digit read-back.

A person with a softphone checks media in a minute: 600 sends back what it
hears, 601 plays a prompt then music on hold, 602 speaks back each key
pressed (RFC 4733, SIP INFO or in-band tones). `ServiceController` answers
the caller's leg and runs a `MediaSession` on that leg's relay endpoint: a
tap for what arrives, the shared media clock for what we send, and the
leg's watch (media_watch.py) for the keys pressed.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from pbx.media.dtmf import DigitDetected
from pbx.media.leg_monitor import LegMonitor
from pbx.media.player import Player, PromptCache, PromptError
from pbx.media.rtcp_session import RtcpReporter
from pbx.media.rtp import RtpPacket
from pbx.media.rtp_header import peek
from pbx.media.sender import RtpSender
from sdk.events import CallAnswered

from . import anchor
from .call import Call, CallState
from .leg import Leg
from .signals import Answer, Cause, Hangup, Info, Signal, Try, Update, UpdateAnswer

log = logging.getLogger("pbx.calls.services")

DIGIT_PROMPTS = {"*": "digit-star", "#": "digit-pound"}


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
        self._echoed: collections.deque[bytes] = collections.deque(maxlen=10)
        self._untap = endpoint.add_tap(self._received)

    def _received(self, data: bytes, now: float) -> None:
        if not self.echo:
            return
        header = peek(data)
        if header is not None and header.payload_type == self.payload_type:
            self._echoed.append(RtpPacket.parse(data).payload)

    def tick(self, now: float) -> None:
        if self.rtcp.due(now):
            self.endpoint.send_rtcp(self.rtcp.report(now, self.sender, self.monitor))
        if self.echo:
            if self._echoed:
                self.endpoint.send(self.sender.packet_of_payload(self._echoed.popleft()))
            else:
                self.sender.pause()
            return
        frame = self.player.next_frame() if self.player is not None else None
        if frame is None and self.after is not None:
            self.player, self.after = self.after, None
            frame = self.player.next_frame()
        if frame is None:
            self.sender.pause()
        else:
            self.endpoint.send(self.sender.packet(frame))

    def close(self, now: float) -> None:
        self._untap()
        if not self.endpoint.closed:
            self.endpoint.send_rtcp(self.rtcp.goodbye(now, self.sender, self.monitor, "call ended"))


class ServiceController:
    """Answers the caller itself and runs one service ("echo", "playback" or "digits")."""

    def __init__(self, kind: str, services: Any, media_clock: Any, prompts: PromptCache, ssrc: int) -> None:
        self.kind = kind
        self.services = services
        self.media_clock = media_clock
        self.prompts = prompts
        self.ssrc = ssrc
        self.session: MediaSession | None = None
        self.far_sdp: Any = None

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if isinstance(signal, Try):
            return self._answer(call, leg, signal, now)
        if isinstance(signal, Update):
            return leg.send(UpdateAnswer(self.far_sdp), now)
        if isinstance(signal, Info):
            return []  # its digit, if any, reached us through the leg's watch
        if isinstance(signal, Hangup):
            self._stop(now)
            return self.services.end_call(call, Cause.NORMAL, 200, "caller", now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []

    def _answer(self, call: Call, leg: Leg, signal: Try, now: float) -> list[Any]:
        offer = signal.sdp
        found = anchor.audio_stream(offer) if offer is not None else None
        if found is None or leg.media is None:
            return leg.send(Hangup(Cause.FAILURE, 488, "no PCMU or PCMA offered"), now) + self.services.end_call(
                call, Cause.FAILURE, 488, "system", now)
        rtpmaps = found[1].rtpmaps()
        codecs = [(pt, m.encoding_name.upper()) for pt, m in rtpmaps.items() if m.encoding_name.upper() in ("PCMU", "PCMA")]
        events = [pt for pt, m in rtpmaps.items() if m.encoding_name.casefold() == "telephone-event"]
        if not codecs:
            return leg.send(Hangup(Cause.FAILURE, 488, "no PCMU or PCMA offered"), now) + self.services.end_call(
                call, Cause.FAILURE, 488, "system", now)
        payload_type, codec = codecs[0]
        only = [str(payload_type)] + [str(event) for event in events]
        self.far_sdp = anchor.offer_for_leg(offer, host="0.0.0.0", port=9, session=anchor.LegSession(1), only=only)
        actions = leg.send(Answer(self.far_sdp), now)
        call.state = CallState.ANSWERED
        call.answered_at = call.ringing_at = now
        actions.append(self.services.publish(CallAnswered(
            at=now, call_id=call.id, callee=call.callee, codec=codec, ring_seconds=0.0)))
        # The PBX is the far end here: listen for tones too, whatever the phone offered.
        leg.watch.want_inband()
        self._stop_listening = leg.watch.on_digit(self._digit)
        self.session = MediaSession(leg.media, leg.watch.monitor, codec, payload_type, self.ssrc, now)
        if self.kind == "echo":
            self.session.echo = True
        elif self.kind == "playback":
            self.session.player = self._play("playback-test")
            self.session.after = self._play("moh", loop=True)
        else:
            self.session.player = self._play("digit-test")
        self.media_clock.add(self.session)
        return actions

    def _digit(self, detected: DigitDetected) -> None:
        if self.kind != "digits" or self.session is None:
            return
        # Barge-in: stop what plays and read the key back.
        self.session.player = self._play("you-pressed", DIGIT_PROMPTS.get(detected.digit, f"digit-{detected.digit}"))

    def _play(self, *names: str, loop: bool = False) -> Player:
        clips = []
        for name in names:
            try:
                clips.append(self.prompts.get(name))
            except PromptError as error:
                log.warning("event=prompt_missing prompt=%s reason=%r", name, str(error))
        return Player(clips, loop=loop)

    def _stop(self, now: float) -> None:
        if self.session is not None:
            self.media_clock.remove(self.session)
            self._stop_listening()
            self.session.close(now)
            self.session = None
