"""What the live endpoints answer and accept: queues, agents and calls as a supervisor sees them.

Typed msgspec Structs, so the OpenAPI document (pbx/admin/openapi.py) is generated from the
same types the handlers return. Times are epoch seconds (`since`, `started_at`) or durations
in seconds (`wait_seconds`, `seconds_in_state`) measured on the PBX's clock when the request
was answered. This module holds types only; live_queues.py and live_calls.py fill them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "AgentView", "AgentsQuery", "CallAction", "CallCreated", "CallView", "CallsQuery", "LegView",
    "LogoutRequest", "OriginateRequest", "PauseRequest", "QueueAgent", "QueueView", "RecordingRequest",
    "RecordingView", "TransferRequest", "WaitingCaller",
]

AgentState = Literal["logged-out", "available", "offered", "on-call", "wrap-up", "paused"]
CallState = Literal["routing", "ringing", "answered"]
Limit = Annotated[int, Meta(ge=1, le=1000, description="at most this many rows")]
Offset = Annotated[int, Meta(ge=0, description="rows to skip (pagination)")]
Reason = Annotated[str, Meta(min_length=1, max_length=100)]
Number = Annotated[str, Meta(min_length=1, max_length=64)]


# Queues -------------------------------------------------------------------------------------------

class WaitingCaller(msgspec.Struct, frozen=True):
    """A caller waiting in a queue, in the order they will be served."""

    call_id: str
    caller: str  # the caller's number
    caller_name: str | None
    position: int  # 1 is the next to be served
    wait_seconds: float  # since this call arrived in the queue
    priority: int  # higher is served first
    ewt_seconds: float | None  # estimated wait from now; None while no agent staffs the queue
    skills: dict[str, int]  # skills an agent needs for this caller, with the minimum level
    ringing: list[str]  # agents whose phones ring for this caller now
    callback: Literal["waiting", "dialing", "on-line"] | None  # a callback's state; None for a caller on the line


class QueueAgent(msgspec.Struct, frozen=True):
    """A member of a queue and what they are doing now (across all their queues)."""

    agent: str
    state: AgentState
    reason: str | None  # why they are paused
    seconds_in_state: float
    call_id: str | None  # the call ringing for them or that they are on
    penalty: int  # lower rings first


class QueueView(msgspec.Struct, frozen=True):
    """A queue now: who waits, with their estimated wait, and its agents with their states.

    `ewt_seconds` is the ACD's own estimate (pbx/acd/ewt.py), the one position announcements
    use: the handle time H is an exponentially weighted average of the queue's talk times plus
    its wrap-up; each staffing agent (logged in, not paused) frees up after their expected
    remaining time r (0 when available, the rest of an average call plus wrap-up when on a call,
    the wrap-up left), then every H; the caller at position p is served at the p-th of those
    moments: EWT(p) = sorted(r)[(p-1) mod N] + floor((p-1)/N) * H with N staffing agents."""

    name: str
    strategy: str
    waiting: list[WaitingCaller]
    agents: list[QueueAgent]
    staffed: int  # members logged in and not paused
    available: int  # members free to take a call now
    longest_wait_seconds: float  # of the callers waiting now; 0 when none
    handle_seconds: float  # H above: the average talk time plus wrap-up the estimate uses


# Agents --------------------------------------------------------------------------------------------

class AgentView(msgspec.Struct, frozen=True):
    """An agent now: their state, since when, and the call they are on."""

    agent: str
    extension: str
    state: AgentState
    reason: str | None  # why they are paused
    since: float  # when they entered this state (epoch seconds)
    seconds_in_state: float
    queues: list[str]
    call_id: str | None  # the call ringing for them or that they are on
    queue: str | None  # the queue of that call
    pending: Literal["pause", "logout"] | None  # asked for during a call: done when its wrap-up ends
    calls_taken: int
    in_use: bool = False  # their phone is on a call the ACD did not place: no queue call is offered


class AgentsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which agents: members of a queue, in a state; a page of them, by name."""

    queue: str | None = None
    state: AgentState | None = None
    limit: Limit = 100
    offset: Offset = 0


class PauseRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Why the agent pauses (break, lunch, training, ...): reports count paused time per reason."""

    reason: Reason


class LogoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Why the agent logs out (optional: kept with the state change and in the audit log)."""

    reason: Reason | None = None


# Calls ---------------------------------------------------------------------------------------------

class LegView(msgspec.Struct, frozen=True):
    """One party's side of a call."""

    id: str
    role: Literal["caller", "callee"]
    party: str  # the number of the phone on this leg
    state: Literal["new", "calling", "ringing", "answered", "ended"]


class CallView(msgspec.Struct, frozen=True):
    """A live call: who, where it is (a scenario, a queue, an agent), how long, and its legs."""

    id: str
    caller: str
    caller_name: str | None
    callee: str  # the number dialled (for a call the PBX placed: what it connects to)
    state: CallState
    direction: Literal["inbound", "outbound"]  # outbound: the PBX placed it (click to call, a callback)
    started_at: float
    answered_at: float | None
    duration_seconds: float
    queue: str | None  # the queue it waits in, or whose agent took it
    agent: str | None  # the agent it is connected to
    on_hold_by: str | None  # the number of the party holding the call
    ivr: str | None  # where the scenario is ("Support line:main, attempt 2") while one runs
    disposition: str | None
    recording: Literal["recording", "paused"] | None
    legs: list[LegView]


class CallsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which calls: in a state, in or from a queue, with an agent, from a caller; a page of them,
    oldest first."""

    state: CallState | None = None
    queue: str | None = None
    agent: str | None = None
    caller: str | None = None
    limit: Limit = 100
    offset: Offset = 0


class TransferRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the caller goes: an extension, or a number the inbound routes send to a queue or a
    scenario."""

    to: Number


class OriginateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Click to call: the phone of `agent` (or of `extension`) rings first; once it answers, the
    PBX calls `to` (an extension, or a number routed to a queue or a scenario) and connects them.
    `caller_id` is the number that phone shows while it rings (default: `to`)."""

    to: Number
    agent: str | None = None
    extension: str | None = None
    caller_id: Number | None = None


class CallCreated(msgspec.Struct, frozen=True):
    """The call the PBX placed: its id names it in /api/calls and in the event stream."""

    call_id: str


class CallAction(msgspec.Struct, frozen=True):
    """An action accepted on a live call; what follows is seen in the event stream (CallEnded,
    CallTransferred)."""

    call_id: str
    action: Literal["hangup", "transfer"]
    to: str | None = None


class RecordingView(msgspec.Struct, frozen=True, omit_defaults=True):
    """Whether a live call is being recorded, and where; once stopped, how long it is."""

    call_id: str
    state: Literal["off", "recording", "paused", "stopped"]
    path: str | None = None
    layout: Literal["stereo", "mixed"] | None = None
    seconds: float | None = None  # of audio kept (stopped only)
    paused_seconds: float | None = None  # left out while paused (stopped only)
    failed: bool | None = None  # the file could not be written completely (stopped only)


class RecordingRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Start, stop, pause or resume the recording of a live call (stereo: caller left, callee right)."""

    action: Literal["start", "stop", "pause", "resume"]
    layout: Literal["stereo", "mixed"] | None = None
