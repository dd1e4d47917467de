"""Agents and their state machine, as a table.

An agent is one person at one extension, member of any number of queues (with a
penalty, a weight and skills {name: level} per queue). They have one state across
all queues (capacity 1: one call at a time, one wrap-up shared by every queue):

    logged-out --log-in--> available --offer--> offered --answer--> on-call --hang-up--> wrap-up
                                                                                           |
    available <------------------------------------ wrap-up-ended -------------------------+
    available/wrap-up --pause--> paused --unpause--> available

`TRANSITIONS` is the whole machine; anything not in it raises `AgentStateError`
naming the state and the event. Pausing or logging out while on a call is not
a transition: the dispatcher defers it (`pending_pause`, `pending_logout`) until
the wrap-up ends. Every change returns an `AgentStateChanged` with its reason.

This module decides nothing about queues or calls and keeps no clock: `now` is passed in.
"""

from __future__ import annotations

from enum import Enum

import msgspec

from .outputs import AgentStateChanged


class AgentState(Enum):
    LOGGED_OUT = "logged-out"
    AVAILABLE = "available"
    OFFERED = "offered"  # the agent's phone rings for a queue caller
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"
    PAUSED = "paused"


class AgentEvent(Enum):
    LOG_IN = "log in"
    LOG_OUT = "log out"
    OFFER = "offer a call"
    ANSWER = "answer the offer"
    NO_ANSWER = "fail the offer (no answer, busy, rejected)"
    WITHDRAW = "withdraw the offer (caller left, answered elsewhere, agent pausing)"
    HANG_UP = "end the call"
    WRAP_UP_END = "end the wrap-up"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    CALL_FOUND = "find a call the ACD did not know (reconciler)"


S, E = AgentState, AgentEvent

TRANSITIONS: dict[tuple[AgentState, AgentEvent], AgentState] = {
    (S.LOGGED_OUT, E.LOG_IN): S.AVAILABLE,
    (S.AVAILABLE, E.LOG_OUT): S.LOGGED_OUT,
    (S.AVAILABLE, E.OFFER): S.OFFERED,
    (S.AVAILABLE, E.PAUSE): S.PAUSED,
    (S.AVAILABLE, E.CALL_FOUND): S.ON_CALL,
    (S.OFFERED, E.ANSWER): S.ON_CALL,
    (S.OFFERED, E.NO_ANSWER): S.AVAILABLE,
    (S.OFFERED, E.WITHDRAW): S.AVAILABLE,
    (S.ON_CALL, E.HANG_UP): S.WRAP_UP,
    (S.WRAP_UP, E.WRAP_UP_END): S.AVAILABLE,
    (S.WRAP_UP, E.PAUSE): S.PAUSED,  # pausing ends the wrap-up early
    (S.WRAP_UP, E.LOG_OUT): S.LOGGED_OUT,
    (S.WRAP_UP, E.CALL_FOUND): S.ON_CALL,
    (S.PAUSED, E.UNPAUSE): S.AVAILABLE,
    (S.PAUSED, E.PAUSE): S.PAUSED,  # a new reason code
    (S.PAUSED, E.LOG_OUT): S.LOGGED_OUT,
    (S.PAUSED, E.CALL_FOUND): S.ON_CALL,
}

# States in which the agent counts as staffing their queues (for EWT and "empty" rules).
STAFFED = frozenset({S.AVAILABLE, S.OFFERED, S.ON_CALL, S.WRAP_UP})
LOGGED_IN = STAFFED | {S.PAUSED}


class AgentStateError(Exception):
    """Our own misuse: an event the agent's state does not accept."""

    def __init__(self, agent: str, state: AgentState, event: AgentEvent) -> None:
        super().__init__(f"agent {agent!r} in state {state.value!r} cannot {event.value}")
        self.agent = agent
        self.state = state
        self.event = event


class Membership(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An agent's place in one queue. Lower penalty rings first; `weight` is for weighted-random;
    `skills` maps a skill name to a proficiency level (higher is better)."""

    queue: str
    penalty: int = 0
    weight: float = 1.0
    skills: dict[str, int] = {}


class Agent:
    """One agent's live state and counters. Mutated only by `apply` and the dispatcher."""

    def __init__(self, name: str, extension: str, memberships: list[Membership] = (), *,
                 static: bool = False, now: float = 0.0) -> None:
        self.name = name
        self.extension = extension
        self.static = static  # logged in whenever the phone is registered (the wiring calls login/logout)
        self.memberships: dict[str, Membership] = {m.queue: m for m in memberships}
        self.state = AgentState.LOGGED_OUT
        self.state_since = now
        self.pause_reason: str | None = None
        self.call_id: str | None = None  # the call offered to or taken by the agent
        self.queue: str | None = None  # the queue of that call
        self.offered_at: float | None = None
        self.answered_at: float | None = None
        self.wrap_up_until: float | None = None
        self.pending_pause: str | None = None  # a pause asked for while on a call
        self.pending_logout: str | None = None  # a logout asked for while on a call (its reason)
        # Counters across all queues.
        self.calls_taken = 0
        self.talk_seconds = 0.0
        self.last_call_ended: float | None = None
        self.consecutive_no_answers = 0
        self.missed_offers = 0
        # Calls the agent's phone is on that the ACD did not place (a direct call, a click-to-call):
        # no queue call is offered meanwhile (Asterisk's ringinuse=no), whatever the state says.
        self.direct_calls: set[str] = set()

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, {self.state.value}, call={self.call_id!r})"

    @property
    def is_available(self) -> bool:
        """Ready for a queue call: available, and their phone on no call the ACD did not place."""
        return self.state is AgentState.AVAILABLE and not self.direct_calls

    @property
    def is_logged_in(self) -> bool:
        return self.state in LOGGED_IN

    @property
    def is_staffed(self) -> bool:
        return self.state in STAFFED

    @property
    def idle_since(self) -> float:
        """When the agent's last call ended, or, with no call yet, when they became available."""
        return self.last_call_ended if self.last_call_ended is not None else self.state_since

    def can(self, event: AgentEvent) -> bool:
        return (self.state, event) in TRANSITIONS

    def apply(self, event: AgentEvent, now: float, reason: str) -> AgentStateChanged:
        """Move along the table, or raise AgentStateError. Returns the event to publish."""
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise AgentStateError(self.name, self.state, event)
        old = self.state
        self.state = target
        self.state_since = now
        if target is AgentState.PAUSED:
            self.pause_reason = reason
        else:
            self.pause_reason = None
        if target not in (AgentState.OFFERED, AgentState.ON_CALL):
            self.call_id = None
            self.queue = None
            self.offered_at = None
            self.answered_at = None
        if target is not AgentState.WRAP_UP:
            self.wrap_up_until = None
        if target is AgentState.LOGGED_OUT:
            self.pending_pause = None
            self.pending_logout = None
        return AgentStateChanged(at=now, agent=self.name, old=old.value, new=target.value, reason=reason)
