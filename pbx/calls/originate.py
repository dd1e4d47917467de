"""A call the PBX places for a plugin (`api.originate`): ring a phone, and when it answers,
connect it to a number the inbound routes know (a scenario or a queue), as if that phone had
dialled it. The media session starts on the answered leg; `connect` is the composition root's
(it knows the routes, the scenarios and the queues).

With `ring_timeout` the call is given up after that long unanswered (CallEnded, "no_answer"): the
caller starts the ring timer. With `amd` an `AmdWatch` (amd_watch.py) listens to the answered leg
beside the connected call and publishes its verdict; the call is connected without waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sdk.events import CallAnswered

from .amd_watch import AmdWatch
from .call import Call, CallState
from .leg import Leg
from .own_media import media_on_answer
from .signals import Answer, Cause, Hangup, Signal

log = logging.getLogger("pbx.calls.originate")


class OriginateController:
    def __init__(self, services: Any, connect_to: str, new_ssrc: Callable[[], int],
                 connect: Callable[[Call, Leg, Any, str, float], list[Any]], *, amd: bool = False) -> None:
        self.services = services
        self.connect_to = connect_to
        self.new_ssrc = new_ssrc
        self.connect = connect
        self.amd = amd
        self.amd_watch: AmdWatch | None = None

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if isinstance(signal, Answer):
            session = media_on_answer(leg, self.new_ssrc(), now)
            if session is None:
                log.warning("event=originate_failed call_id=%s reason='no G.711 in the answer'", call.id)
                return leg.send(Hangup(Cause.FAILURE), now) + self.services.end_call(call, Cause.FAILURE, 488,
                                                                                    "system", now)
            self.services.stop_ring_timer(call)
            call.state = CallState.ANSWERED
            call.answered_at = call.ringing_at = now
            if self.amd:
                self.amd_watch = AmdWatch(leg, call.id, call.caller.number, self.services.emit,
                                          self.services.scheduler, now)
            answered = self.services.publish(CallAnswered(at=now, call_id=call.id, callee=call.callee,
                                                          codec=session.sender.codec.name, ring_seconds=now - call.started_at))
            return [answered, *self.connect(call, leg, session, self.connect_to, now)]
        if isinstance(signal, Hangup):
            # Before the answer any failure is "no answer" to whoever placed the call, but busy (486,
            # 600): a dialer retries a busy number sooner than one nobody picked up.
            cause = signal.cause if call.answered_at is not None or signal.cause is Cause.BUSY else Cause.NO_ANSWER
            return self.services.end_call(call, cause, signal.status or 480, "callee", now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        """Nobody answered within the ring time: cancel the leg (RFC 3261 9.1), the call ends unanswered."""
        if call.answered_at is not None or call.state is CallState.ENDED:
            return []
        actions: list[Any] = []
        for leg in call.live_legs():
            actions += leg.send(Hangup(Cause.NO_ANSWER), now)
        return actions + self.services.end_call(call, Cause.NO_ANSWER, 480, "system", now)
