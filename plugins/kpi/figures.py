"""The figures a KPI report returns, one Struct per kind of row (docs/kpi.md defines each).

`interval_start` is the bucket's start (seconds since the epoch; the bucket is local time in
the configured zone) or the range's start when the report is not bucketed. A rate whose
denominator is zero is None, never 0.
"""

from __future__ import annotations

import msgspec


class QueueFigures(msgspec.Struct, kw_only=True):
    """One queue over one interval: calls offered and how each ended, service level (four ways),
    waits, abandonment, handle time and transfers (docs/kpi.md "Queues")."""

    queue: str
    interval_start: float
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    timed_out: int
    overflowed: int
    left: int
    answered_within: int
    abandoned_within: int
    target_seconds: float
    goal: float
    sl: float | None
    sl_answered: float | None
    sl_no_short: float | None
    sl_abandons: float | None
    asa: float | None
    avg_wait: float | None
    longest_wait: float | None
    abandon_rate: float | None
    abandon_rate_no_short: float | None
    aht: float | None
    transfer_rate: float | None


class AgentFigures(msgspec.Struct, kw_only=True):
    """One agent over one interval: time logged in, staffed, busy and paused, occupancy and
    utilization, calls answered and handle time (docs/kpi.md "Agents")."""

    agent: str
    interval_start: float
    logged_in_seconds: float
    staffed_seconds: float
    busy_seconds: float
    paused_seconds: float
    pause_by_reason: dict[str, float]  # seconds paused per reason
    pause_share: dict[str, float]  # per reason, over logged-in time
    occupancy: float | None
    utilization: float | None
    answered: int
    calls_per_hour: float | None
    talk_seconds: float
    hold_seconds: float
    wrapup_seconds: float
    aht: float | None


class ContactFigures(msgspec.Struct, kw_only=True):
    """Customer contacts (journeys) over one interval: repeats, first contact resolution,
    satisfaction, call quality, IVR containment and cost (docs/kpi.md "Contacts")."""

    scope: str  # a queue's name, or "" for the whole PBX
    interval_start: float
    journeys: int
    answered: int
    repeats: int
    repeat_rate: float | None
    fcr: float | None
    blocked: int
    blocked_rate: float | None
    csat_mean: float | None
    csat_satisfied: float | None
    nps: float | None
    ces_mean: float | None
    mos_mean: float | None
    poor_quality_share: float | None
    ivr_journeys: int
    ivr_contained: int
    containment: float | None
    cost_total: float
    cost_per_call: float | None


class IvrDropOff(msgspec.Struct, kw_only=True):
    """Callers who hung up in a scenario before reaching a queue, at its node `node`."""

    scenario: str
    node: str
    interval_start: float
    dropped: int


class Availability(msgspec.Struct, kw_only=True):
    """How much of one interval at least one agent was staffed."""

    interval_start: float
    seconds: float  # the interval's length
    staffed_seconds: float  # time with at least one staffed agent
    availability: float | None


class StaffingFigures(msgspec.Struct, kw_only=True):
    """Erlang C / Erlang A for one interval."""

    interval_start: float
    calls: float
    aht: float
    traffic_erlangs: float
    agents: int
    service_level: float
    asa: float
    occupancy: float
    abandonment: float | None  # Erlang A only


class AdherenceFigures(msgspec.Struct, kw_only=True):
    agent: str
    interval_start: float
    scheduled_seconds: float
    in_adherence_seconds: float
    adherence: float | None
    out_of_adherence: dict[str, float]  # seconds by "planned/actual"
