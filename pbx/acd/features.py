"""Feature codes an agent dials from their phone: log in, log out, pause, unpause.

`FeatureCodeController` finds the agent whose extension is calling, changes their state in the
ACD (with "feature code" as the reason, so reports show how), answers, and plays a short tone:
two high beeps when done, one low tone when refused (not an agent, or a change the agent's
state does not allow, such as pausing while logged out); then it hangs up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pbx.calls.call import Call
from pbx.calls.leg import Leg
from pbx.calls.own_media import answer_with_own_media
from pbx.calls.signals import Cause, Hangup, Signal, Try
from pbx.media.player import Player
from pbx.media.tones import silence, tone

from .agents import AgentStateError

log = logging.getLogger("pbx.acd")

DONE = tone((1000.0,), 0.15) + silence(0.1) + tone((1000.0,), 0.15)
REFUSED = tone((400.0,), 0.8)
ACTIONS = ("login", "logout", "pause", "unpause")


class FeatureCodeController:
    def __init__(self, service: Any, action: str, new_ssrc: Callable[[], int]) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown feature {action!r}: one of {ACTIONS}")
        self.service = service
        self.action = action
        self.new_ssrc = new_ssrc

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if isinstance(signal, Hangup):
            return self.service.services.end_call(call, Cause.NORMAL, 200, "caller", now)
        if not isinstance(signal, Try):
            return []
        acd = self.service.acd
        agent = next((a for a in acd.agents.values() if a.extension == call.caller.number), None)
        if agent is None:
            actions = leg.send(Hangup(Cause.NOT_FOUND, 404, f"{call.caller.number} is not an agent"), now)
            return actions + self.service.services.end_call(call, Cause.NOT_FOUND, 404, "system", now)
        actions: list[Any] = []
        try:
            if self.action == "pause":
                outputs = acd.pause(agent.name, "feature code", now)
            else:
                outputs = getattr(acd, self.action)(agent.name, now, reason="feature code")
            actions += self.service.run(outputs, now)
            answer = DONE
        except AgentStateError as error:
            log.info("event=feature_refused agent=%s action=%s reason=%r", agent.name, self.action, str(error))
            answer = REFUSED
        answered, session = answer_with_own_media(call, leg, signal, self.service.services, self.new_ssrc(), now)
        actions += answered
        if session is None:
            return actions
        clock = self.service.media_clock

        def played(player: Player, when: float) -> None:
            clock.remove(session)
            session.close(when)
            self.service.execute(leg.send(Hangup(Cause.NORMAL), when)
                                 + self.service.services.end_call(call, Cause.NORMAL, 200, "system", when))

        session.player = Player([answer])
        session.on_played = played
        clock.add(session)
        return actions

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []
