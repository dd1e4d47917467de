"""What the ACD core says to the outside world: commands for the call layer and events for the bus.

Commands are imperative (`OfferCall`: ring this agent for this caller); the call
layer carries them out and reports back through the `Acd` entry points
(`offer_answered`, `offer_failed`, `call_ended`, `caller_left`, ...). Events are
frozen, past tense and carry `at`; they are defined in sdk/events.py (plugins import them
from there) and the wiring publishes them on the bus. `Refused` is the answer to a `join` that is not accepted.

Every waiting entry (a live caller or a callback) leaves the queue exactly once,
and that moment is always a `RemoveCaller(call_id, outcome)` command, so "every
caller has exactly one outcome" can be checked by counting them. The outcomes are
the constants in `Outcome`.

Nothing here decides anything; the dispatcher does.
"""

from __future__ import annotations

import msgspec

from sdk.events import (  # noqa: F401 - the ACD's events live in sdk.events; re-exported here
    AgentConnected,
    AgentNoAnswer,
    AgentOffered,
    AgentStateChanged,
    AgentStateRepaired,
    CallbackCompleted,
    CallbackScheduled,
    Event,
    OverflowTarget,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    QueueOverflowed,
    QueueTimedOut,
)


class Outcome:
    """The ways an entry leaves a queue (the `outcome` of RemoveCaller)."""

    ANSWERED = "answered"  # an agent answered; ConnectAgent came just before
    ABANDONED = "abandoned"  # the caller hung up (or a called-back customer hung up while waiting again)
    TIMED_OUT = "timed-out"  # max wait reached and no overflow target: back to the scenario's failure branch
    OVERFLOWED = "overflowed"  # max wait reached: an Overflow command came just before
    LEFT_EMPTY = "left-empty"  # leave_when_empty and the queue became empty of agents
    EXITED = "exited"  # the call layer took the caller out (exit-with-key, transfer, shutdown)
    CALLBACK_ANSWERED = "callback-answered"  # a called-back customer was connected to an agent
    CALLBACK_FAILED = "callback-failed"  # every callback attempt failed

    ALL = (ANSWERED, ABANDONED, TIMED_OUT, OVERFLOWED, LEFT_EMPTY, EXITED, CALLBACK_ANSWERED, CALLBACK_FAILED)


# Commands ------------------------------------------------------------------------------------------


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """Base of what the ACD asks the call layer to do."""


class OfferCall(Command, frozen=True, kw_only=True):
    """Ring `agent` for the caller `call_id`. The ACD times the offer itself (handle_timer) and
    sends CancelOffer when `timeout` passes; `timeout` is informational. `whisper`, when not
    None, is a prompt (the queue name) to play to the agent after they answer, before bridging."""

    agent: str
    extension: str
    call_id: str
    queue: str
    timeout: float
    whisper: str | None = None


class CancelOffer(Command, frozen=True, kw_only=True):
    """Stop ringing `agent` for `call_id` (or hang up the agent's leg if it answered too late)."""

    agent: str
    call_id: str
    reason: str


class ConnectAgent(Command, frozen=True, kw_only=True):
    """Bridge the caller `call_id` with the agent's answered leg."""

    agent: str
    call_id: str
    queue: str


class Overflow(Command, frozen=True, kw_only=True):
    """Send the caller to `target` (for a queue: the wiring calls `join` on it)."""

    call_id: str
    target: OverflowTarget


class AnnounceToCaller(Command, frozen=True, kw_only=True):
    """Tell the caller their position (1 is next) and estimated wait (None: unknown)."""

    call_id: str
    queue: str
    position: int
    ewt_seconds: float | None


class PlaceCallback(Command, frozen=True, kw_only=True):
    """Call the customer back at `number`; report callback_answered/callback_failed with `call_id`."""

    call_id: str
    number: str
    queue: str
    attempt: int


class RemoveCaller(Command, frozen=True, kw_only=True):
    """The entry `call_id` has left the queue for good, for `outcome` (one of Outcome.ALL)."""

    call_id: str
    queue: str
    outcome: str


class Refused(msgspec.Struct, frozen=True, kw_only=True):
    """A join that was not accepted: "full", "empty" or "unknown-queue"."""

    reason: str


# Events: defined in sdk.events (plugins and folds read them), re-exported here ---------------------

AcdEvent = Event
Output = Command | AcdEvent
