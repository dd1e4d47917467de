"""A controller that refuses the call with a final answer and a reason the caller's phone shows.

For a called number whose destination cannot take calls: a route to a scenario that failed to
load (503 with the reason, RFC 3261 21.5.4).
"""

from __future__ import annotations

from typing import Any

from .call import Call
from .leg import Leg
from .signals import Cause, Hangup, Signal, Try, cause_of_status


class RefuseController:
    def __init__(self, services: Any, status: int, reason: str) -> None:
        self.services = services
        self.status = status
        self.reason = reason

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if not isinstance(signal, Try):
            return []
        cause = cause_of_status(self.status) if self.status != 503 else Cause.UNAVAILABLE
        actions = leg.send(Hangup(cause, self.status, self.reason), now)
        return actions + self.services.end_call(call, cause, self.status, "system", now)

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []
