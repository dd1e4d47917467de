"""The call controllers of the ACD: a caller waiting in a queue, a call routed straight to a queue,
and the PBX's call to a customer who asked to be called back. They turn call signals into reports
to `AcdService` (service.py), which talks to the pure core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pbx.calls.call import Call
from pbx.calls.leg import Leg
from pbx.calls.own_media import answer_with_own_media
from pbx.calls.signals import Answer, Cause, Hangup, Info, Signal, Try, Update, UpdateAnswer
from pbx.ivr.runtime import QueueRefused

if TYPE_CHECKING:
    from .service import AcdService

log = logging.getLogger("pbx.acd")

# The SIP answer of a refused offer, as the ACD's reason.
OFFER_FAILURE = {486: "busy", 600: "busy", 603: "rejected", 480: "no-answer", 408: "no-answer", 487: "no-answer"}


class WaitingCall:
    """The controller of a call waiting in a queue (and of the agent legs rung for it)."""

    def __init__(self, service: AcdService, call: Call, leg: Leg, session: Any,
                 on_left: Callable[[str, Any, float], list[Any]] | None, key: str | None = None) -> None:
        self.service = service
        self.call = call
        # The ACD's name for this caller: the call id, or the first call's id for a called-back customer.
        self.key = key or call.id
        self.leg = leg
        self.session = session  # own_media.MediaSession on the caller's leg
        # Told how the call left the queue (the outcome; the media session when it goes back to
        # the scenario that queued it, whose on-failure branch runs).
        self.on_left = on_left
        self.offers: dict[int, tuple[str, Leg]] = {}  # id(agent leg) -> (agent, leg)
        self.overflow_to: str | None = None
        self.stop_listening: Callable[[], None] = lambda: None
        self.whispers: dict[str, str] = {}  # agent -> the queue name to whisper when they answer
        self.whispering: Leg | None = None  # the agent leg hearing the whisper before the bridge
        self.timeout: Any = None  # the scheduler timer of the scenario's own wait limit, if any

    @property
    def position(self) -> str:
        entry = self.service.acd.entries.get(self.key)
        return f"queue {entry.queue}" if entry is not None else "queue"

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if leg is self.leg:
            if isinstance(signal, Hangup):
                return self.service.caller_left(self, now)
            if isinstance(signal, Update):
                return leg.send(UpdateAnswer(self.session.local_sdp if self.session else None), now)
            return []
        if leg is self.whispering and isinstance(signal, Hangup):
            # The agent hung up while hearing the whisper: the call ends for both.
            self.whispering = None
            self.service._stop_media(self, now)
            actions = self.leg.send(Hangup(Cause.NORMAL), now)
            return actions + self.service.services.end_call(call, Cause.NORMAL, 200, "callee", now)
        offer = self.offers.get(id(leg))
        if offer is None:
            return leg.send(Hangup(Cause.NORMAL), now) if isinstance(signal, Answer) else []
        agent = offer[0]
        if isinstance(signal, Answer):
            return self.service.offer_answered(self, agent, leg, now)
        if isinstance(signal, Hangup):
            del self.offers[id(leg)]
            reason = OFFER_FAILURE.get(signal.status or 0, "failure")
            return self.service.run(self.service.acd.offer_failed(agent, self.key, reason, now), now)
        if isinstance(signal, Info):
            return []
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []

    def leg_of(self, agent: str) -> Leg | None:
        return next((leg for name, leg in self.offers.values() if name == agent), None)


class CallbackController:
    """The controller of a call the PBX places to a customer who asked to be called back."""

    def __init__(self, service: AcdService, key: str) -> None:
        self.service = service
        self.key = key  # the ACD's name for the customer's entry (their first call's id)

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        service = self.service
        if isinstance(signal, Answer):
            return service.callback_answered(self.key, call, leg, now)
        if isinstance(signal, Hangup):
            reason = OFFER_FAILURE.get(signal.status or 0, "failure")
            actions = service.services.end_call(call, Cause.NO_ANSWER, signal.status or 480, "callee", now)
            return actions + service.run(service.acd.callback_failed(self.key, reason, now), now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []


class QueueEntry:
    """The controller of a call routed straight to a queue: answer with hold music, then wait."""

    def __init__(self, service: AcdService, queue: str, new_ssrc: Callable[[], int]) -> None:
        self.service = service
        self.queue = queue
        self.new_ssrc = new_ssrc

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if not isinstance(signal, Try):
            return []
        actions, session = answer_with_own_media(call, leg, signal, self.service.services, self.new_ssrc(), now)
        if session is None:
            return actions
        self.service.media_clock.add(session)
        try:
            return actions + self.service.enqueue(call, leg, self.queue, priority=0, skills=(), timeout=None, now=now,
                                                  media=session)
        except QueueRefused as refused:
            log.info("event=queue_refused call_id=%s queue=%s reason=%s", call.id, self.queue, refused)
            self.service.media_clock.remove(session)
            session.close(now)
            return actions + leg.send(Hangup(Cause.UNAVAILABLE), now) + self.service.services.end_call(
                call, Cause.UNAVAILABLE, 200, "system", now)

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []
