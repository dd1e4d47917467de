"""The KPI rollups: per UTC 15-minute slot sums of the call records, kept by the store as it
writes the rows, so that a report over a month reads a few thousand slot rows, not a million.

A slot is floor(t / 900) of a time t. Every time zone offset and daylight saving shift in use
is a multiple of 15 minutes, so a local 15-minute, hour or day bucket is a union of slots, and
a report whose range starts and ends on slot boundaries sums slots (report.py); any other
range is computed from the raw tables, which stay the source of truth.

What each rollup sums, per slot (docs/kpi.md is the contract; the raw report computes the same):
- kpi_queue_slots (queue, slot of `joined_at`): the queue figures of the visits that are over
  (not `waiting`): counts, waits, the visit's `handle_seconds` and transfer; `longest_wait` is
  a maximum, raised by CASE (GREATEST is not in SQLite), and taken again from the visits when
  a visit's wait shrinks or goes (never by the fold, which closes a visit once).
- kpi_agent_slots (agent, slot): from the agent log, the logged-in, staffed, busy and paused
  seconds of each interval, split at slot boundaries; from the agent segments (by
  `connected_at`), the answered count and talk, hold and wrap-up.
  kpi_agent_pause_slots: the paused seconds per reason (the reason of the change that entered
  the pause, found in the batch or, before it, in the log).
- kpi_contact_slots (scope, slot of `started_at`): the contact figures of complete journeys,
  once with scope "" (the PBX), once with their queue and once with "scenario:<name>"; repeats and FCR from the journey's
  neighbours (`previous_started_at`, `next_started_at`).
- kpi_ivr_slots (scenario, node, slot): drop-offs, complete journeys whose caller hung up in
  the IVR before reaching a queue, by the last node entered.
- kpi_staffed_changes: the agent log rows that cross the staffed line (availability sweeps
  them; keyed so that a row written twice counts once).

They are kept by deltas: for each row written, its contribution as stored (read before the
write) is taken away and its new one added, `INSERT ... ON CONFLICT DO UPDATE SET x = x +
excluded.x`, in the transaction of the rows. The increments commute, so nodes sharing one
PostgreSQL stay right (a journey is written by one node). Keys are applied in sorted order,
so two writers lock slot rows in the same order.

The target T per queue, `short_abandon` and `repeat_window` are baked into the sums: the
settings they were computed with are kept in kpi_rollup_settings, the store rebuilds every
rollup from the raw tables when they differ from its config (`rebuild_statements`: one
INSERT ... SELECT ... GROUP BY per rollup), and the report reads the rollups only when they
match its own. Every node sharing a database must use the same kpi config.

This module holds the rules and the SQL; it does no I/O (store.py runs the statements).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import msgspec

from .config import Config

__all__ = ["SLOT", "Deltas", "Settings", "agent_call_part", "agent_log_parts", "journey_parts", "queue_call_part",
           "rebuild_statements", "slot_of", "slot_sql", "staffed_change"]

SLOT = 900  # seconds: 15 minutes
STAFFED = ("available", "offered", "on-call", "wrap-up")
BUSY = ("offered", "on-call", "wrap-up")
LOGGED_OUT = "logged-out"
PAUSED = "paused"
POOR_MOS = 3.6  # docs/kpi.md "contact quality"


def slot_of(at: float) -> int:
    """floor(at / 900), exact: the division may round up to the next integer just below a
    boundary, which the check against the exact product k * 900 corrects (as slot_sql)."""
    k = math.floor(at / SLOT)
    return k - 1 if k * SLOT > at else k


def slot_sql(column: str) -> str:
    """slot_of in SQL on both dialects (CAST truncates on SQLite, rounds on PostgreSQL: either way
    the result is floor or floor + 1, and the exact comparison takes the extra one away)."""
    k = f"CAST({column} / {SLOT}.0 AS BIGINT)"
    return f"({k} - CASE WHEN {k} * {SLOT} > {column} THEN 1 ELSE 0 END)"


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The config figures baked into the rollups."""

    service_level: float
    targets: dict[str, float]
    short_abandon: float
    repeat_window: float

    @classmethod
    def of(cls, config: Config) -> Settings:
        return cls(service_level=float(config.service_level.seconds),
                   targets={queue: float(target.seconds) for queue, target in sorted(config.targets.items())},
                   short_abandon=float(config.short_abandon), repeat_window=float(config.repeat_window))

    def target(self, queue: str) -> float:
        return self.targets.get(queue, self.service_level)

    def text(self) -> str:
        return msgspec.json.encode(self).decode()


# The rollup tables: key columns, then summed columns (integers first, then reals).
class _Rollup:
    def __init__(self, table: str, key: tuple[str, ...], counts: tuple[str, ...], sums: tuple[str, ...],
                 maximum: str | None = None) -> None:
        self.table, self.key, self.counts, self.sums, self.maximum = table, key, counts, sums, maximum
        self.values = counts + sums
        columns = key + self.values + ((maximum,) if maximum else ())
        updates = [f"{name} = {table}.{name} + excluded.{name}" for name in self.values]
        if maximum:
            updates.append(f"{maximum} = CASE WHEN excluded.{maximum} > {table}.{maximum} "
                           f"THEN excluded.{maximum} ELSE {table}.{maximum} END")
        self.upsert = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
                       f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}")


QUEUE = _Rollup("kpi_queue_slots", ("queue", "slot"),
                ("offered", "answered", "abandoned", "short_abandoned", "timed_out", "overflowed", "answered_within",
                 "abandoned_within", "transferred"),
                ("answered_wait", "total_wait", "handle"), maximum="longest_wait")
AGENT = _Rollup("kpi_agent_slots", ("agent", "slot"), ("answered",),
                ("logged_in", "staffed", "busy", "paused", "talk", "hold", "wrapup"))
PAUSE = _Rollup("kpi_agent_pause_slots", ("agent", "slot", "reason"), (), ("seconds",))
SCENARIO_SCOPE = "scenario:"  # a contact rollup's scope for a scenario's journeys (a queue's is its name)
CONTACT = _Rollup("kpi_contact_slots", ("scope", "slot"),
                  ("journeys", "answered", "repeats", "resolved", "blocked", "csat_count", "csat_sum", "csat_satisfied",
                   "nps_count", "promoters", "detractors", "ces_count", "ces_sum", "mos_count", "poor_quality",
                   "ivr_journeys", "ivr_contained"),
                  ("mos_sum", "cost_total"))
IVR = _Rollup("kpi_ivr_slots", ("scenario", "node", "slot"), ("dropped",), ())
ROLLUPS = (QUEUE, AGENT, PAUSE, CONTACT, IVR)
STAFFED_CHANGES = ("INSERT INTO kpi_staffed_changes (agent, at, since, staffed) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (agent, at, since, staffed) DO NOTHING")

# A part: (rollup, key, values in rollup.values order[, the maximum]).
Part = tuple[_Rollup, tuple[Any, ...], tuple[float, ...]]


# Contributions: what one stored row adds to the rollups (None: nothing) ---------------------------

def queue_call_part(row: dict[str, Any] | None, settings: Settings) -> tuple[Part, float] | None:
    """A visit (kpi_queue_calls columns): its queue slot part and its wait (for the maximum)."""
    if row is None or row["outcome"] == "waiting":
        return None
    outcome, wait = row["outcome"], float(row["wait_seconds"])
    answered, abandoned = outcome == "answered", outcome == "abandoned"
    within = wait <= settings.target(row["queue"])
    values = (1, int(answered), int(abandoned), int(abandoned and wait < settings.short_abandon),
              int(outcome == "timed-out"), int(outcome == "overflowed"), int(answered and within),
              int(abandoned and within), int(answered and bool(row["transferred"])),
              wait if answered else 0.0, wait, float(row["handle_seconds"]) if answered else 0.0)
    return (QUEUE, (row["queue"], slot_of(row["joined_at"])), values), wait


def agent_call_part(row: dict[str, Any] | None) -> Part | None:
    """An agent segment: one answered call and its talk, hold and wrap-up."""
    if row is None:
        return None
    return (AGENT, (row["agent"], slot_of(row["connected_at"])),
            (1, 0.0, 0.0, 0.0, 0.0, float(row["talk_seconds"]), float(row["hold_seconds"]),
             float(row["wrapup_seconds"])))


def agent_log_parts(agent: str, state: str, since: float, at: float, reason: str) -> list[Part]:
    """An agent log interval [since, at) in `state`, split at slot boundaries (logged out: nothing)."""
    if state == LOGGED_OUT or not at > since:
        return []
    parts: list[Part] = []
    for slot in range(slot_of(since), slot_of(at) + 1):
        low, high = slot * SLOT, (slot + 1) * SLOT
        seconds = (at if at < high else high) - (since if since > low else low)
        if not seconds > 0:
            continue
        paused = state == PAUSED
        staffed = 0.0 if paused else seconds
        parts.append((AGENT, (agent, slot), (0, seconds, staffed, seconds if state in BUSY else 0.0,
                                             seconds if paused else 0.0, 0.0, 0.0, 0.0)))
        if paused:
            parts.append((PAUSE, (agent, slot, reason), (seconds,)))
    return parts


def staffed_change(old: str, new: str) -> int | None:
    """1 when a change enters a staffed state from one that is not, 0 when it leaves, else None."""
    before, after = old in STAFFED, new in STAFFED
    return None if before == after else int(after)


def journey_parts(row: dict[str, Any] | None, settings: Settings) -> list[Part]:
    """A journey (kpi_journeys columns with its neighbours): its contact parts (the PBX's and its
    queue's) and its IVR drop-off; a journey counts once complete."""
    if row is None or row["state"] != "complete":
        return []
    slot, outcome, started = slot_of(row["started_at"]), row["outcome"], row["started_at"]
    window = settings.repeat_window
    previous, following = row["previous_started_at"], row["next_started_at"]
    answered = outcome == "answered"
    csat, nps, ces, mos, cost = row["csat"], row["nps"], row["ces"], row["mos"], row["cost"]
    values = (
        1, int(answered),
        int(previous is not None and previous >= started - window),  # report.py: p >= j - window, p < j
        int(answered and (following is None or following > started + window)),
        int(outcome == "blocked"),
        int(csat is not None), csat or 0, int(csat is not None and csat >= 4),
        int(nps is not None), int(nps is not None and nps >= 9), int(nps is not None and nps <= 6),
        int(ces is not None), ces or 0,
        int(mos is not None), int(mos is not None and mos < POOR_MOS),
        int(row["scenario"] is not None), int(row["scenario"] is not None and outcome == "ivr"),
        float(mos) if mos is not None else 0.0, float(cost) if cost is not None else 0.0)
    parts: list[Part] = [(CONTACT, ("", slot), values)]
    if row["queue"] is not None:
        parts.append((CONTACT, (row["queue"], slot), values))
    if row["scenario"] is not None:
        parts.append((CONTACT, (SCENARIO_SCOPE + row["scenario"], slot), values))
    if row["ivr_exit"] == "caller_hangup" and row["queue"] is None:
        parts.append((IVR, (row["scenario"] or "", row["ivr_exit_node"] or "", slot), (1,)))
    return parts


# Deltas -----------------------------------------------------------------------------------------------

class Deltas:
    """The increments of a batch: parts added and taken away, summed per rollup row."""

    def __init__(self) -> None:
        self._sums: dict[_Rollup, dict[tuple[Any, ...], list[float]]] = defaultdict(dict)
        self._longest: dict[tuple[Any, ...], float] = {}
        self.recount_longest: set[tuple[Any, ...]] = set()  # queue slots whose maximum must be taken again

    def add(self, parts: Iterable[Part], sign: int = 1) -> None:
        for rollup, key, values in parts:
            sums = self._sums[rollup].get(key)
            if sums is None:
                sums = self._sums[rollup][key] = [0] * len(rollup.counts) + [0.0] * len(rollup.sums)
            for index, value in enumerate(values):
                sums[index] += sign * value

    def visit(self, old: tuple[Part, float] | None, new: tuple[Part, float] | None) -> None:
        """A visit rewritten: its old part away, its new one in; the maximum grows, or is recounted."""
        if old is not None:
            self.add([old[0]], -1)
        if new is not None:
            self.add([new[0]])
            key = new[0][1]
            self._longest[key] = max(self._longest.get(key, 0.0), new[1])
        if old is not None and (new is None or new[1] < old[1]):
            self.recount_longest.add(old[0][1])

    def statements(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        batches = []
        for rollup in ROLLUPS:
            rows = []
            for key, sums in sorted(self._sums.get(rollup, {}).items()):
                longest = self._longest.get(key, 0.0) if rollup.maximum else None
                if not any(sums) and not longest:
                    continue
                rows.append((*key, *sums, *((longest,) if rollup.maximum else ())))
            if rows:
                batches.append((rollup.upsert, rows))
        if self.recount_longest:
            batches.append((f"""
                UPDATE kpi_queue_slots SET longest_wait = COALESCE(
                    (SELECT MAX(q.wait_seconds) FROM kpi_queue_calls q WHERE q.queue = ? AND q.joined_at >= ?
                     AND q.joined_at < ? AND q.outcome <> 'waiting'), 0)
                WHERE queue = ? AND slot = ?""",
                [(queue, float(slot * SLOT), float((slot + 1) * SLOT), queue, slot)
                 for queue, slot in sorted(self.recount_longest)]))
        return batches


# Rebuilding from the raw tables -------------------------------------------------------------------------

def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def _sums(rollup: _Rollup, expressions: dict[str, str]) -> str:
    return ", ".join(f"SUM({expressions[name]})" for name in rollup.values)


def rebuild_statements(settings: Settings) -> list[str]:
    """Every rollup and the journeys' neighbours again from the raw tables (the same rules as
    the parts above, in SQL), then the settings: run in one transaction."""
    targets = " ".join(f"WHEN '{queue.replace(chr(39), chr(39) * 2)}' THEN {_number(seconds)}"
                       for queue, seconds in settings.targets.items())
    target = f"CASE queue {targets} ELSE {_number(settings.service_level)} END" if targets \
        else _number(settings.service_level)
    window, short = _number(settings.repeat_window), _number(settings.short_abandon)
    answered = "outcome = 'answered'"
    queue_values = {
        "offered": "1", "answered": f"CASE WHEN {answered} THEN 1 ELSE 0 END",
        "abandoned": "CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END",
        "short_abandoned": f"CASE WHEN outcome = 'abandoned' AND wait_seconds < {short} THEN 1 ELSE 0 END",
        "timed_out": "CASE WHEN outcome = 'timed-out' THEN 1 ELSE 0 END",
        "overflowed": "CASE WHEN outcome = 'overflowed' THEN 1 ELSE 0 END",
        "answered_within": f"CASE WHEN {answered} AND wait_seconds <= {target} THEN 1 ELSE 0 END",
        "abandoned_within": f"CASE WHEN outcome = 'abandoned' AND wait_seconds <= {target} THEN 1 ELSE 0 END",
        "transferred": f"CASE WHEN {answered} AND transferred <> 0 THEN 1 ELSE 0 END",
        "answered_wait": f"CASE WHEN {answered} THEN wait_seconds ELSE 0 END", "total_wait": "wait_seconds",
        "handle": f"CASE WHEN {answered} THEN handle_seconds ELSE 0 END",
    }
    contact_values = {
        "journeys": "1", "answered": f"CASE WHEN {answered} THEN 1 ELSE 0 END",
        "repeats": f"CASE WHEN previous_started_at >= started_at - {window} THEN 1 ELSE 0 END",
        "resolved": f"CASE WHEN {answered} AND (next_started_at IS NULL OR next_started_at > started_at + {window}) "
                    "THEN 1 ELSE 0 END",
        "blocked": "CASE WHEN outcome = 'blocked' THEN 1 ELSE 0 END",
        "csat_count": "CASE WHEN csat IS NOT NULL THEN 1 ELSE 0 END", "csat_sum": "COALESCE(csat, 0)",
        "csat_satisfied": "CASE WHEN csat >= 4 THEN 1 ELSE 0 END",
        "nps_count": "CASE WHEN nps IS NOT NULL THEN 1 ELSE 0 END",
        "promoters": "CASE WHEN nps >= 9 THEN 1 ELSE 0 END", "detractors": "CASE WHEN nps <= 6 THEN 1 ELSE 0 END",
        "ces_count": "CASE WHEN ces IS NOT NULL THEN 1 ELSE 0 END", "ces_sum": "COALESCE(ces, 0)",
        "mos_count": "CASE WHEN mos IS NOT NULL THEN 1 ELSE 0 END",
        "poor_quality": f"CASE WHEN mos < {POOR_MOS} THEN 1 ELSE 0 END",
        "ivr_journeys": "CASE WHEN scenario IS NOT NULL THEN 1 ELSE 0 END",
        "ivr_contained": f"CASE WHEN scenario IS NOT NULL AND outcome = 'ivr' THEN 1 ELSE 0 END",
        "mos_sum": "COALESCE(mos, 0)", "cost_total": "COALESCE(cost, 0)",
    }
    low, high = f"slot * {SLOT}", f"(slot + 1) * {SLOT}"
    seconds = f"(CASE WHEN at < {high} THEN at ELSE {high} END - CASE WHEN since > {low} THEN since ELSE {low} END)"
    agent_values = {
        "answered": "0", "logged_in": seconds, "staffed": f"CASE WHEN state = '{PAUSED}' THEN 0 ELSE {seconds} END",
        "busy": f"CASE WHEN state IN {_in(BUSY)} THEN {seconds} ELSE 0 END",
        "paused": f"CASE WHEN state = '{PAUSED}' THEN {seconds} ELSE 0 END", "talk": "0", "hold": "0", "wrapup": "0",
    }
    # Each logged-in interval of the log, once per slot it touches (a recursion per interval).
    pieces = f"""
        WITH RECURSIVE pieces (agent, state, reason, since, at, slot, last_slot) AS (
            SELECT agent, old, CASE WHEN old = '{PAUSED}' THEN COALESCE(
                       (SELECT MAX(e.reason) FROM kpi_agent_log e
                        WHERE e.agent = l.agent AND e.at = l.since AND e.new = '{PAUSED}'), '') ELSE '' END,
                   since, at, {slot_sql('since')}, {slot_sql('at')}
            FROM kpi_agent_log l WHERE old <> '{LOGGED_OUT}' AND at > since
            UNION ALL
            SELECT agent, state, reason, since, at, slot + 1, last_slot FROM pieces WHERE slot < last_slot)"""
    journeys = f"SELECT *, {slot_sql('started_at')} AS slot FROM kpi_journeys WHERE state = 'complete'"
    return [
        *(f"DELETE FROM {rollup.table}" for rollup in ROLLUPS),
        "DELETE FROM kpi_staffed_changes",
        # the neighbours: strictly earlier / later journeys of the same caller (its index)
        """UPDATE kpi_journeys SET
               previous_started_at = (SELECT MAX(p.started_at) FROM kpi_journeys p
                                      WHERE p.caller = kpi_journeys.caller AND p.started_at < kpi_journeys.started_at),
               next_started_at = (SELECT MIN(n.started_at) FROM kpi_journeys n
                                  WHERE n.caller = kpi_journeys.caller AND n.started_at > kpi_journeys.started_at)""",
        f"""INSERT INTO kpi_queue_slots (queue, slot, {', '.join(QUEUE.values)}, longest_wait)
            SELECT queue, slot, {_sums(QUEUE, queue_values)}, MAX(wait_seconds)
            FROM (SELECT *, {slot_sql('joined_at')} AS slot FROM kpi_queue_calls WHERE outcome <> 'waiting') v
            GROUP BY queue, slot""",
        f"""INSERT INTO kpi_contact_slots (scope, slot, {', '.join(CONTACT.values)})
            SELECT scope, slot, {_sums(CONTACT, contact_values)}
            FROM (SELECT '' AS scope, j.* FROM ({journeys}) j
                  UNION ALL SELECT j.queue AS scope, j.* FROM ({journeys}) j WHERE j.queue IS NOT NULL
                  UNION ALL SELECT '{SCENARIO_SCOPE}' || j.scenario AS scope, j.* FROM ({journeys}) j
                            WHERE j.scenario IS NOT NULL) v
            GROUP BY scope, slot""",
        f"""INSERT INTO kpi_ivr_slots (scenario, node, slot, dropped)
            SELECT COALESCE(scenario, ''), COALESCE(ivr_exit_node, ''), slot, COUNT(*)
            FROM ({journeys} AND ivr_exit = 'caller_hangup' AND queue IS NULL) v
            GROUP BY COALESCE(scenario, ''), COALESCE(ivr_exit_node, ''), slot""",
        f"""{pieces}
            INSERT INTO kpi_agent_slots (agent, slot, {', '.join(AGENT.values)})
            SELECT agent, slot, {_sums(AGENT, agent_values)} FROM pieces WHERE {seconds} > 0 GROUP BY agent, slot""",
        f"""{pieces}
            INSERT INTO kpi_agent_pause_slots (agent, slot, reason, seconds)
            SELECT agent, slot, reason, SUM({seconds}) FROM pieces WHERE state = '{PAUSED}' AND {seconds} > 0
            GROUP BY agent, slot, reason""",
        # the segments, added to the agent slots the log made (or new ones)
        f"""INSERT INTO kpi_agent_slots (agent, slot, {', '.join(AGENT.values)})
            SELECT agent, slot, COUNT(*), 0, 0, 0, 0, SUM(talk_seconds), SUM(hold_seconds), SUM(wrapup_seconds)
            FROM (SELECT *, {slot_sql('connected_at')} AS slot FROM kpi_agent_calls) v WHERE true
            GROUP BY agent, slot
            ON CONFLICT (agent, slot) DO UPDATE SET answered = kpi_agent_slots.answered + excluded.answered,
                talk = kpi_agent_slots.talk + excluded.talk, hold = kpi_agent_slots.hold + excluded.hold,
                wrapup = kpi_agent_slots.wrapup + excluded.wrapup""",
        f"""INSERT INTO kpi_staffed_changes (agent, at, since, staffed)
            SELECT agent, at, since, CASE WHEN new IN {_in(STAFFED)} THEN 1 ELSE 0 END FROM kpi_agent_log
            WHERE (CASE WHEN old IN {_in(STAFFED)} THEN 1 ELSE 0 END)
                  <> (CASE WHEN new IN {_in(STAFFED)} THEN 1 ELSE 0 END)
            ON CONFLICT (agent, at, since, staffed) DO NOTHING""",
    ]
