"""Test extensions the PBX answers itself, like Asterisk's demo: echo, playback, digit read-back.

A person with a softphone checks media in a minute: 600 sends back what it
hears, 601 plays a prompt then music on hold, 602 speaks back each key
pressed (RFC 4733, SIP INFO or in-band tones). `ServiceController` answers
the caller's leg with the PBX's own media (own_media.py) and listens to the
keys the leg's watch (media_watch.py) reports.
"""

from __future__ import annotations

import logging
from typing import Any

from pbx.media.dtmf import DigitDetected
from pbx.media.player import Player, PromptCache, PromptError

from .call import Call
from .leg import Leg
from .own_media import MediaSession, answer_with_own_media
from .signals import Cause, Hangup, Info, Signal, Try, Update, UpdateAnswer

log = logging.getLogger("pbx.calls.services")

DIGIT_PROMPTS = {"*": "digit-star", "#": "digit-pound"}


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
        actions, self.session = answer_with_own_media(call, leg, signal, self.services, self.ssrc, now)
        if self.session is None:
            return actions
        self.far_sdp = self.session.local_sdp
        self._stop_listening = leg.watch.on_digit(self._digit)
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
