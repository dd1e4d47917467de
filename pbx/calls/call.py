"""One call: its legs, its controller and its life from first INVITE to CallEnded.

A leg (leg.py) reports signals to its call; the call hands them to its
controller, which decides what the other legs do. The call publishes the
call events of sdk.events and knows the timestamps CDRs are folded from.
No global state: the CallManager owns the calls it creates.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol

from sdk.events import CallEnded, Event

from .signals import Cause, Party, Signal

if TYPE_CHECKING:
    from .leg import Leg


class CallState(enum.Enum):
    ROUTING = "routing"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class Controller(Protocol):
    """The business logic in the middle of a call (bridge now; IVR and queues later)."""

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]: ...

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]: ...


class Call:
    __slots__ = ("id", "caller", "callee", "controller", "state", "legs", "started_at", "ringing_at", "answered_at",
                 "ended_at", "on_hold_by", "disposition", "outbox", "customer", "routing", "__weakref__")

    def __init__(self, call_id: str, caller: Party, callee: str, controller: Controller, now: float) -> None:
        self.id = call_id
        self.caller = caller
        self.callee = callee
        self.controller = controller
        self.state = CallState.ROUTING
        self.legs: list[Leg] = []
        self.started_at = now
        self.ringing_at: float | None = None
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.on_hold_by: str | None = None
        self.disposition: str | None = None  # the outcome a scenario or an agent gave the call
        self.outbox: list[Any] = []  # events and actions produced outside a signal (timers)
        self.customer: Any = None  # sdk.CallerInfo from a plugin's caller lookup, before routing
        self.routing: Any = None  # sdk.RoutingInputs: priority and preferred agent for the queues

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.caller.number}->{self.callee} {self.state.value}>"

    @property
    def caller_leg(self) -> Leg:
        return self.legs[0]

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs if not leg.is_ended]

    def add_leg(self, leg: Leg) -> None:
        leg.call = self
        self.legs.append(leg)

    def release(self) -> None:
        """Let go of the legs, and they of the call, once nothing can reach either (the call
        manager calls this after the legs' last transactions are over)."""
        for leg in self.legs:
            if leg.call is self:
                leg.call = None
        self.legs = []

    def on_signal(self, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if self.state is CallState.ENDED:
            return []
        return self.controller.on_signal(self, leg, signal, now)

    def end(self, cause: Cause, status: int, hangup_by: str, now: float) -> list[Event]:
        """Mark the call over and return its CallEnded event (once)."""
        if self.state is CallState.ENDED:
            return []
        self.state = CallState.ENDED
        self.ended_at = now
        answered = self.answered_at is not None
        ring_end = self.answered_at if answered else now
        return [CallEnded(
            at=now, call_id=self.id, caller=self.caller.number, callee=self.callee, cause=str(cause), status=status,
            hangup_by=hangup_by, answered=answered, total_seconds=round(now - self.started_at, 3),
            ring_seconds=round(ring_end - (self.ringing_at or ring_end), 3),
            talk_seconds=round(now - self.answered_at, 3) if answered else 0.0,
        )]  # fmt: skip
