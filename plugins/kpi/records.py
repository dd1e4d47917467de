"""The rows the journey fold produces and the store writes: one Struct per table of schema.py,
field for field (lists are Python lists here, JSON text in the database)."""

from __future__ import annotations

import msgspec


class Journey(msgspec.Struct, kw_only=True):
    """One customer contact (docs/kpi.md "Journeys")."""

    journey_id: str
    node: str
    call_ids: list[str]
    direction: str  # "inbound" | "outbound"
    state: str  # "complete" | "callback-pending"
    outcome: str  # docs/kpi.md: answered, abandoned, timed-out, overflowed, callback-failed, ivr, blocked, unanswered
    caller: str
    caller_name: str | None
    callee: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    route: str | None = None  # "scenario:support", "queue:sales", "extension:1001"
    scenario: str | None = None
    ivr_path: list[str] = msgspec.field(default_factory=list)
    ivr_exit: str | None = None
    ivr_exit_node: str | None = None
    queue: str | None = None
    joined_at: float | None = None
    wait_seconds: float | None = None
    agent: str | None = None
    agents: list[str] = msgspec.field(default_factory=list)
    connected_at: float | None = None
    talk_seconds: float = 0.0
    hold_seconds: float = 0.0
    wrapup_seconds: float = 0.0
    transfers: int = 0
    callbacks: int = 0
    hangup_by: str | None = None
    cause: str | None = None
    status: int | None = None
    disposition: str | None = None
    csat: int | None = None
    nps: int | None = None
    ces: int | None = None
    recording: str | None = None
    mos: float | None = None
    cost: float | None = None


class QueueCall(msgspec.Struct, kw_only=True):
    """One visit of a journey to a queue."""

    journey_id: str
    queue: str
    joined_at: float
    left_at: float | None
    outcome: str  # "answered" | "abandoned" | "timed-out" | "overflowed" | "left" | "callback-failed" | "waiting"
    wait_seconds: float
    agent: str | None
    priority: int
    position: int
    callback: bool
    # the agent segment of an answered visit: talk + hold + wrap-up, and whether it was transferred
    handle_seconds: float = 0.0
    transferred: bool = False


class AgentCall(msgspec.Struct, kw_only=True):
    """One agent's part of a journey: connect to the call's end or the transfer."""

    journey_id: str
    agent: str
    queue: str | None
    connected_at: float
    ended_at: float | None
    talk_seconds: float
    hold_seconds: float
    wrapup_seconds: float
    transferred: bool


class QueueLogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Append-only: one queue event. `event` is ENTERQUEUE, RINGNOANSWER, CONNECT, ABANDON,
    EXITWITHTIMEOUT, OVERFLOW, EXIT, CALLBACK, CALLBACKDONE, COMPLETECALLER, COMPLETEAGENT,
    TRANSFER (Asterisk's queue_log words); `detail` is JSON of the event's figures."""

    at: float
    node: str
    journey_id: str
    call_id: str
    queue: str
    agent: str | None
    event: str
    detail: str


class AgentLogEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Append-only: one agent state change; the row is also the interval [since, at) in `old`."""

    at: float
    node: str
    agent: str
    old: str
    new: str
    reason: str
    since: float
