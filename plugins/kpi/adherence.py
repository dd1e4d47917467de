"""Schedule adherence: the plan against the agent log, historically and live (docs/kpi.md).

An agent is in adherence when planned `working` and staffed (available, offered, on-call,
wrap-up), planned on a `break:<reason>` and paused (whatever the pause's reason), or planned
`off` and logged out. adherence = time in adherence during scheduled time (working + breaks) /
scheduled time; time out of adherence is kept by "planned/actual" (e.g. "working/paused",
"break:lunch/available", "off/available"), off-schedule time included.

`adherence` is a pure function of the plan (schedules.planned_activity) and the agent log rows
(records.AgentLogEntry, each the interval [since, at) in `old`). Before an agent's first row
they are taken as logged out, after their last row as in its `new` state.

`AdherenceMonitor` is the live side, sans-IO: feed it state changes with `on_state(..., now)`,
call `tick(now)` (when `next_check()` says, or on any timer) and publish what it returns: one
AdherenceAlert when an agent has been out of adherence for longer than the grace, and another
only after they have come back into adherence and left it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sdk.events import AdherenceAlert

from .config import Config
from .figures import AdherenceFigures
from .records import AgentLogEntry
from .schedules import OFF, WORKING, Planned, activity_at, planned_activity

STAFFED = frozenset({"available", "offered", "on-call", "wrap-up"})
PAUSED = "paused"
LOGGED_OUT = "logged-out"


def in_adherence(planned: str, actual: str) -> bool:
    if planned == WORKING:
        return actual in STAFFED
    if planned == OFF:
        return actual == LOGGED_OUT
    return actual == PAUSED  # break:<reason>


def actual_states(rows: Iterable[AgentLogEntry], start: float, end: float) -> dict[str, list[tuple[float, float, str]]]:
    """Per agent, (from, to, state) covering [start, end) from their log rows."""
    by_agent: dict[str, list[AgentLogEntry]] = {}
    for row in rows:
        by_agent.setdefault(row.agent, []).append(row)
    states: dict[str, list[tuple[float, float, str]]] = {}
    for agent, entries in by_agent.items():
        entries.sort(key=lambda row: (row.at, row.since))
        pieces: list[tuple[float, float, str]] = []
        cursor = start
        for row in entries:
            if row.since > cursor:
                pieces.append((cursor, min(row.since, end), LOGGED_OUT))
            a, b = max(row.since, cursor), min(row.at, end)
            if b > a:
                pieces.append((a, b, row.old))
            cursor = max(cursor, row.at)
            if cursor >= end:
                break
        if cursor < end:
            pieces.append((cursor, end, entries[-1].new))
        states[agent] = [piece for piece in pieces if piece[1] > piece[0]]
    return states


def adherence(plans: Mapping[str, Sequence[Planned]], rows: Iterable[AgentLogEntry],
              bounds: Sequence[float]) -> list[AdherenceFigures]:
    """AdherenceFigures per scheduled agent and bucket; `bounds` are bucket edges (schedules.bucket_bounds)."""
    start, end = bounds[0], bounds[-1]
    actual = actual_states(rows, start, end)
    figures = []
    for agent in sorted(plans):
        buckets = [_Bucket() for _ in bounds[:-1]]
        states = actual.get(agent, [(start, end, LOGGED_OUT)])
        for piece in plans[agent]:
            for a, b, state in states:
                lo, hi = max(a, piece.start), min(b, piece.end)
                if hi > lo:
                    _spread(buckets, bounds, lo, hi, piece.activity, state)
        for bucket, edge in zip(buckets, bounds):
            figures.append(AdherenceFigures(
                agent=agent, interval_start=edge, scheduled_seconds=bucket.scheduled,
                in_adherence_seconds=bucket.kept,
                adherence=bucket.kept / bucket.scheduled if bucket.scheduled > 0 else None,
                out_of_adherence=dict(sorted(bucket.out.items()))))
    return figures


class _Bucket:
    def __init__(self) -> None:
        self.scheduled = 0.0
        self.kept = 0.0
        self.out: dict[str, float] = {}


def _spread(buckets: list[_Bucket], bounds: Sequence[float], lo: float, hi: float, planned: str, actual: str) -> None:
    """Add [lo, hi) of (planned, actual) to the buckets it overlaps, split at their edges."""
    for index, bucket in enumerate(buckets):
        a, b = max(lo, bounds[index]), min(hi, bounds[index + 1])
        if b <= a:
            continue
        seconds = b - a
        kept = in_adherence(planned, actual)
        if planned != OFF:
            bucket.scheduled += seconds
            if kept:
                bucket.kept += seconds
        if not kept:
            key = f"{planned}/{actual}"
            bucket.out[key] = bucket.out.get(key, 0.0) + seconds


class AdherenceMonitor:
    """Live adherence of every scheduled agent: `on_state` as states change, `tick` for alerts."""

    PLAN_SPAN = 2 * 86400.0  # plan this far either side of now, and plan again when past it

    def __init__(self, config: Config) -> None:
        self.config = config
        self.grace = config.adherence_grace
        self.states: dict[str, str] = {agent: LOGGED_OUT for agent in config.schedules}
        self.out_since: dict[str, float] = {}  # agents out of adherence, since when
        self.alerted: set[str] = set()
        self._plans: dict[str, list[Planned]] = {}
        self._window = (0.0, 0.0)
        self._checked: float | None = None

    def planned(self, agent: str, now: float) -> str:
        self._plan_around(now)
        return activity_at(self._plans.get(agent, ()), now)

    def on_state(self, agent: str, state: str, reason: str, now: float) -> None:
        """The agent entered `state` at `now` (an AgentStateChanged's `new`)."""
        if agent not in self.states:
            return  # no schedule, nothing to adhere to
        self._catch_up(now)
        self.states[agent] = state
        self._judge(agent, now)

    def tick(self, now: float) -> list[AdherenceAlert]:
        """Alerts due at `now`, each agent at most once per stretch out of adherence."""
        self._catch_up(now)
        alerts = []
        for agent in sorted(self.out_since):
            since = self.out_since[agent]
            if agent not in self.alerted and now - since >= self.grace:
                self.alerted.add(agent)
                alerts.append(AdherenceAlert(at=now, agent=agent, planned=self.planned(agent, now),
                                             actual=self.states[agent], since=since, seconds=now - since))
        return alerts

    def next_check(self, now: float) -> float | None:
        """When `tick` may next have something to say: a grace running out or the plan changing."""
        self._plan_around(now)
        moments = [since + self.grace for agent, since in self.out_since.items() if agent not in self.alerted]
        for plan in self._plans.values():
            moments += [piece.start for piece in plan if piece.start > now][:1]
        return min(moments) if moments else None

    def _catch_up(self, now: float) -> None:
        """Judge every agent at each plan change since the last look, so `out_since` is exact."""
        if self._checked is not None and now > self._checked:
            self._plan_around(now)
            changes = sorted({piece.start for plan in self._plans.values() for piece in plan
                              if self._checked < piece.start <= now})
            for moment in changes:
                for agent in self.states:
                    self._judge(agent, moment)
        self._checked = now if self._checked is None else max(self._checked, now)
        for agent in self.states:
            self._judge(agent, now)

    def _judge(self, agent: str, now: float) -> None:
        if in_adherence(self.planned(agent, now), self.states[agent]):
            self.out_since.pop(agent, None)
            self.alerted.discard(agent)
        elif agent not in self.out_since:
            self.out_since[agent] = now

    def _plan_around(self, now: float) -> None:
        low, high = self._window
        if low + self.PLAN_SPAN / 2 <= now <= high - self.PLAN_SPAN / 2:
            return
        self._window = (now - self.PLAN_SPAN, now + self.PLAN_SPAN)
        self._plans = planned_activity(self.config.schedules, self.config.timezone, *self._window)
