"""Test extensions the PBX answers itself, like Asterisk's demo: echo, playback, digit read-back.

A person with a softphone checks media in a minute: 600 sends back what it
hears, 601 plays a prompt then music on hold, 602 speaks back each key
pressed (RFC 4733 or SIP INFO). `ServiceController` answers the caller's
leg and runs a `MediaSession` on that leg's relay endpoint: a tap for what
arrives, and the shared media clock for what we send.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from typing import Any

from sdk.events import CallAnswered, DigitReceived, Event

from pbx.media.dtmf import DigitDetected, DigitStream, Rfc4733Receiver, parse_info_body
from pbx.media.player import Player, PromptCache, PromptError
from pbx.media.rtp import RtpPacket
from pbx.media.rtp_header import peek
from pbx.media.sender import RtpSender

from . import anchor
from .call import Call, CallState
from .leg import Leg
from .signals import Answer, Cause, Hangup, Info, Signal, Try, Update, UpdateAnswer

log = logging.getLogger("pbx.calls.services")

DIGIT_PROMPTS = {"*": "digit-star", "#": "digit-pound"}


class MediaSession:
    """Our own audio on one leg: echo, or a player, plus DTMF from the phone."""

    def __init__(self, endpoint: Any, codec: str, payload_type: int, event_types: list[int], ssrc: int,
                 on_digit: Any) -> None:
        self.endpoint = endpoint
        self.payload_type = payload_type
        self.sender = RtpSender(codec, payload_type, ssrc)
        # Every telephone-event payload type the phone offered: sipp's play_dtmf sends PT 96
        # whatever was agreed, its pcaps PT 101 (RFC 4733 at "whatever PT the SDP negotiated").
        self.dtmf = {event_type: Rfc4733Receiver(event_type) for event_type in event_types}
        self.on_digit = on_digit
        self.echo = False
        self.player: Player | None = None
        self.after: Player | None = None  # what to play once the current player ends (music on hold)
        self._echoed: collections.deque[bytes] = collections.deque(maxlen=10)
        self._untap = endpoint.add_tap(self._received)

    def _received(self, data: bytes, now: float) -> None:
        header = peek(data)
        if header is None:
            return
        receiver = self.dtmf.get(header.payload_type)
        if receiver is not None:
            for digit in receiver.receive(data, now):
                self.on_digit(digit)
        elif self.echo and header.payload_type == self.payload_type:
            self._echoed.append(RtpPacket.parse(data).payload)

    def tick(self, now: float) -> None:
        for receiver in self.dtmf.values():
            for digit in receiver.flush(now):
                self.on_digit(digit)
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

    def close(self) -> None:
        self._untap()


class ServiceController:
    """Answers the caller itself and runs one service ("echo", "playback" or "digits")."""

    def __init__(self, kind: str, services: Any, media_clock: Any, prompts: PromptCache, ssrc: int,
                 emit: Callable[[Event], None] = lambda event: None) -> None:
        self.kind = kind
        self.emit = emit  # straight to the bus: digits arrive from RTP taps, outside SIP handling
        self.digits = DigitStream()
        self.call_id = ""
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
            digit = parse_info_body(signal.content_type, signal.body)
            if digit is not None:
                self._digit(DigitDetected(digit, "info", now, None))
            return []
        if isinstance(signal, Hangup):
            self._stop()
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
        payload_type, codec = codecs[0]
        only = [str(payload_type)] + [str(event) for event in events]
        self.far_sdp = anchor.offer_for_leg(offer, host="0.0.0.0", port=9, session=anchor.LegSession(1), only=only)
        actions = leg.send(Answer(self.far_sdp), now)
        call.state = CallState.ANSWERED
        call.answered_at = call.ringing_at = now
        self.call_id = call.id
        actions.append(self.services.publish(CallAnswered(
            at=now, call_id=call.id, callee=call.callee, codec=codec, ring_seconds=0.0)))
        self.session = MediaSession(leg.media, codec, payload_type, events, self.ssrc, self._digit)
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
        if self.digits.add(detected) is None:
            return  # the same press seen by a second source
        self.emit(DigitReceived(at=detected.at, call_id=self.call_id, digit=detected.digit, source=detected.source))
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

    def _stop(self) -> None:
        if self.session is not None:
            self.media_clock.remove(self.session)
            self.session.close()
            self.session = None
