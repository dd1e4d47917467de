"""Agent figures and service availability from the agent state log (docs/kpi.md "Agent figures").

Each kpi_agent_log row is the interval [since, at) the agent spent in state `old`. An interval
that crosses bucket boundaries is split at them: SQL groups the intervals by agent, state,
pause reason and the buckets of their two ends, summing their lengths and their ends' offsets
from the range start, and the split is finished here from those sums (a bucket between the two
ends is covered whole). The pause reason is the reason of the change that entered the pause:
the row that ended in `paused` at the paused interval's `since`.

Only intervals that have ended count (the log row is written on the change): an agent's
current state is not in the log yet. For availability, though, a staffed stretch still open at
the last change in the range runs to the end of the range.

With `slots` (report.py: a range on 15-minute boundaries, rollups ready) the same sums come
from kpi_agent_slots and kpi_agent_pause_slots, already split at slot boundaries. Either way an
agent has a row in a bucket when it was logged in there or answered a call there.
With `changes`, availability sweeps kpi_staffed_changes (the log rows crossing the staffed line)
instead of the log: an agent is staffed at the range's start when its last change at or before
it entered a staffed state (the raw way asks the agent's first log row after the start, so an
agent staffed all along with no change since does not count there; it does here).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sdk import Database

from .figures import AgentFigures, Availability
from .intervals import Buckets
from .rollups import SLOT

__all__ = ["BUSY", "STAFFED", "agent_figures", "availability_figures"]

STAFFED = ("available", "offered", "on-call", "wrap-up")
BUSY = ("offered", "on-call", "wrap-up")
LOGGED_OUT = "logged-out"
PAUSED = "paused"


def _real(value: float) -> str:
    """A time as an SQL double literal (SQLite would otherwise keep an integer literal integer)."""
    return f"CAST({float(value)!r} AS DOUBLE PRECISION)"


def _rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def split(buckets: Buckets, first: int, last: int, count: int, seconds: float, since_offset: float,
          until_offset: float) -> list[tuple[int, float]]:
    """[(bucket, seconds)] of `count` intervals that all start in bucket `first` and end in
    `last`, given the sum of their lengths and of their ends' offsets from the range start."""
    if first == last:
        return [(first, seconds)]
    bounds, origin, n = buckets.bounds, buckets.start, len(buckets)
    pieces = [(first, count * (bounds[first + 1] - origin) - since_offset)]
    pieces += [(j, count * (bounds[j + 1] - bounds[j])) for j in range(first + 1, min(last, n))]
    if last < n:
        pieces.append((last, until_offset - count * (bounds[last] - origin)))
    return pieces


async def _state_seconds(database: Database, buckets: Buckets, agent: str | None) -> list[dict[str, Any]]:
    start, end = _real(buckets.start), _real(buckets.end)
    only = " AND l.agent = ?" if agent is not None else ""
    return await database.fetch_all(f"""
        SELECT agent, state, reason, first_bucket, last_bucket, COUNT(*) AS count,
               SUM(upto - since) AS seconds, SUM(since - {start}) AS since_offset,
               SUM(upto - {start}) AS until_offset
        FROM (SELECT agent, state, reason, since, upto, {buckets.index_sql('since')} AS first_bucket,
                     {buckets.index_sql('upto')} AS last_bucket
              FROM (SELECT l.agent AS agent, l.old AS state,
                           CASE WHEN l.old = '{PAUSED}' THEN COALESCE(
                               (SELECT MAX(e.reason) FROM kpi_agent_log e
                                WHERE e.agent = l.agent AND e.at = l.since AND e.new = '{PAUSED}'), '')
                           ELSE '' END AS reason,
                           CASE WHEN l.since < {start} THEN {start} ELSE l.since END AS since,
                           CASE WHEN l.at > {end} THEN {end} ELSE l.at END AS upto
                    FROM kpi_agent_log l
                    WHERE l.at > ? AND l.since < ?{only}) c) v
        GROUP BY agent, state, reason, first_bucket, last_bucket""",
        [buckets.start, buckets.end] + ([agent] if agent is not None else []))


async def _segments(database: Database, buckets: Buckets, agent: str | None) -> list[dict[str, Any]]:
    only = " AND agent = ?" if agent is not None else ""
    return await database.fetch_all(f"""
        SELECT agent, bucket, COUNT(*) AS answered, SUM(talk_seconds) AS talk, SUM(hold_seconds) AS hold,
               SUM(wrapup_seconds) AS wrapup
        FROM (SELECT {buckets.index_sql('connected_at')} AS bucket, agent, talk_seconds, hold_seconds,
                     wrapup_seconds
              FROM kpi_agent_calls WHERE connected_at >= ? AND connected_at < ?{only}) v
        GROUP BY agent, bucket""", [buckets.start, buckets.end] + ([agent] if agent is not None else []))


class _Tally:
    __slots__ = ("logged_in", "staffed", "busy", "paused", "pauses", "answered", "talk", "hold", "wrapup")

    def __init__(self) -> None:
        self.logged_in = self.staffed = self.busy = self.paused = 0.0
        self.pauses: dict[str, float] = defaultdict(float)
        self.answered = 0
        self.talk = self.hold = self.wrapup = 0.0

    def add(self, state: str, reason: str, seconds: float) -> None:
        if state == LOGGED_OUT:
            return
        self.logged_in += seconds
        if state == PAUSED:
            self.paused += seconds
            self.pauses[reason] += seconds
            return
        self.staffed += seconds
        if state in BUSY:
            self.busy += seconds


async def _slot_tallies(database: Database, buckets: Buckets, agent: str | None) -> dict[tuple[str, int], _Tally]:
    only = " AND agent = ?" if agent is not None else ""
    parameters = [int(buckets.start) // SLOT, int(buckets.end) // SLOT] + ([agent] if agent is not None else [])
    bucket = buckets.index_sql(f"slot * {SLOT}")
    tallies: dict[tuple[str, int], _Tally] = defaultdict(_Tally)
    for row in await database.fetch_all(f"""
            SELECT agent, bucket, SUM(answered) AS answered, SUM(logged_in) AS logged_in, SUM(staffed) AS staffed,
                   SUM(busy) AS busy, SUM(paused) AS paused, SUM(talk) AS talk, SUM(hold) AS hold,
                   SUM(wrapup) AS wrapup
            FROM (SELECT {bucket} AS bucket, s.* FROM kpi_agent_slots s WHERE slot >= ? AND slot < ?{only}) v
            GROUP BY agent, bucket""", parameters):
        tally = tallies[(row["agent"], row["bucket"])]
        tally.answered = int(row["answered"])
        tally.logged_in, tally.staffed = float(row["logged_in"]), float(row["staffed"])
        tally.busy, tally.paused = float(row["busy"]), float(row["paused"])
        tally.talk, tally.hold, tally.wrapup = float(row["talk"]), float(row["hold"]), float(row["wrapup"])
    for row in await database.fetch_all(f"""
            SELECT agent, bucket, reason, SUM(seconds) AS seconds
            FROM (SELECT {bucket} AS bucket, s.* FROM kpi_agent_pause_slots s WHERE slot >= ? AND slot < ?{only}) v
            GROUP BY agent, bucket, reason""", parameters):
        if row["seconds"]:
            tallies[(row["agent"], row["bucket"])].pauses[row["reason"]] += float(row["seconds"])
    return tallies


async def _raw_tallies(database: Database, buckets: Buckets, agent: str | None) -> dict[tuple[str, int], _Tally]:
    tallies: dict[tuple[str, int], _Tally] = defaultdict(_Tally)
    for row in await _state_seconds(database, buckets, agent):
        for bucket, seconds in split(buckets, row["first_bucket"], row["last_bucket"], row["count"],
                                     float(row["seconds"]), float(row["since_offset"]), float(row["until_offset"])):
            if seconds > 0:
                tallies[(row["agent"], bucket)].add(row["state"], row["reason"], seconds)
    for row in await _segments(database, buckets, agent):
        tally = tallies[(row["agent"], row["bucket"])]
        tally.answered = int(row["answered"])
        tally.talk, tally.hold, tally.wrapup = float(row["talk"]), float(row["hold"]), float(row["wrapup"])
    return tallies


async def agent_figures(database: Database, buckets: Buckets, agent: str | None = None, *,
                        slots: bool = False) -> list[AgentFigures]:
    tallies = await (_slot_tallies if slots else _raw_tallies)(database, buckets, agent)
    figures = []
    for (name, bucket), tally in sorted(tallies.items()):
        if not (tally.logged_in > 0 or tally.answered):
            continue  # nothing of this agent in the bucket (logged out, or only a zero-length change)
        handle = tally.talk + tally.hold + tally.wrapup
        figures.append(AgentFigures(
            agent=name, interval_start=buckets.bounds[bucket], logged_in_seconds=tally.logged_in,
            staffed_seconds=tally.staffed, busy_seconds=tally.busy, paused_seconds=tally.paused,
            pause_by_reason=dict(sorted(tally.pauses.items())),
            pause_share={reason: seconds / tally.logged_in for reason, seconds in sorted(tally.pauses.items())
                         if tally.logged_in},
            occupancy=_rate(tally.busy, tally.staffed), utilization=_rate(tally.busy, tally.logged_in),
            answered=tally.answered, calls_per_hour=_rate(tally.answered * 3600.0, tally.logged_in),
            talk_seconds=tally.talk, hold_seconds=tally.hold, wrapup_seconds=tally.wrapup,
            aht=_rate(handle, tally.answered)))
    return figures


async def _staffed_from_changes(database: Database, buckets: Buckets) -> list[tuple[float, float]]:
    """As _staffed_stretches, from kpi_staffed_changes."""
    start, end = buckets.start, buckets.end
    last = await database.fetch_all("""
        SELECT c.agent AS agent, c.at AS at, c.since AS since, c.staffed AS staffed
        FROM kpi_staffed_changes c
        JOIN (SELECT agent, MAX(at) AS at FROM kpi_staffed_changes WHERE at <= ? GROUP BY agent) l
             ON l.agent = c.agent AND l.at = c.at""", (start,))
    staffed_from: dict[str, float | None] = {}
    for row in sorted(last, key=lambda row: (row["agent"], row["at"], row["since"], row["staffed"])):
        staffed_from[row["agent"]] = start if row["staffed"] else None
    changes = await database.fetch_all("""
        SELECT agent, at, staffed FROM kpi_staffed_changes WHERE at > ? AND at < ?
        ORDER BY agent, at, since, staffed""", (start, end))
    return _sweep(staffed_from, [(row["agent"], row["at"], bool(row["staffed"])) for row in changes], end)


def _sweep(staffed_from: dict[str, float | None], changes: list[tuple[str, float, bool]],
           end: float) -> list[tuple[float, float]]:
    """Stretches from each agent's state at the start and its changes across the staffed line."""
    stretches = []
    for agent, at, staffed in changes:
        began = staffed_from.get(agent)
        if staffed:
            if began is None:
                staffed_from[agent] = at
        elif began is not None:
            stretches.append((began, at))
            staffed_from[agent] = None
    stretches += [(began, end) for began in staffed_from.values() if began is not None]
    return stretches


async def _staffed_stretches(database: Database, buckets: Buckets) -> list[tuple[float, float]]:
    """Every agent's stretches of staffed time within the range, clipped to it."""
    start, end = buckets.start, buckets.end
    first_rows = await database.fetch_all("""
        SELECT l.agent AS agent, l.old AS old, l.since AS since
        FROM kpi_agent_log l
        JOIN (SELECT agent, MIN(at) AS first_at FROM kpi_agent_log WHERE at > ? GROUP BY agent) f
             ON f.agent = l.agent AND l.at = f.first_at""", (start,))
    staffed_from: dict[str, float | None] = {}
    for row in first_rows:
        if row["since"] <= start and row["old"] in STAFFED:
            staffed_from[row["agent"]] = start
        else:
            staffed_from.setdefault(row["agent"], None)
    changes = await database.fetch_all(f"""
        SELECT agent, at, new FROM kpi_agent_log
        WHERE at > ? AND at < ?
              AND (CASE WHEN old IN {_in(STAFFED)} THEN 1 ELSE 0 END)
                  <> (CASE WHEN new IN {_in(STAFFED)} THEN 1 ELSE 0 END)
        ORDER BY agent, at""", (start, end))
    return _sweep(staffed_from, [(row["agent"], row["at"], row["new"] in STAFFED) for row in changes], end)


async def availability_figures(database: Database, buckets: Buckets, *, changes: bool = False) -> list[Availability]:
    stretches = await (_staffed_from_changes if changes else _staffed_stretches)(database, buckets)
    merged: list[list[float]] = []
    for began, ended in sorted(stretches):
        if merged and began <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], ended)
        else:
            merged.append([began, ended])
    covered = [0.0] * len(buckets)
    for began, ended in merged:
        for i in range(buckets.index(began), len(buckets)):
            low, high = buckets.span(i)
            if low >= ended:
                break
            covered[i] += min(high, ended) - max(low, began)
    figures = []
    for i, seconds in enumerate(covered):
        low, high = buckets.span(i)
        figures.append(Availability(interval_start=low, seconds=high - low, staffed_seconds=seconds,
                                    availability=_rate(seconds, high - low)))
    return figures
