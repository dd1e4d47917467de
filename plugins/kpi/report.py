"""The historical KPI report over the call-record tables (docs/kpi.md is the contract).

`Report(database, config)` answers, for a range [start, end) cut into buckets (intervals.py):

- `queues(...)`: QueueFigures per queue and bucket of the caller's join (kpi_queue_calls, with
  the agent segments of each answered visit from kpi_agent_calls for AHT and transfers);
- `agents(...)`, `availability(...)`: from the agent state log (report_agents.py);
- `contacts(...)`: ContactFigures per bucket of the journey's start, for the whole PBX or per
  queue (repeats and FCR look `repeat_window` before and after the range for neighbours);
- `ivr_dropoff(...)`: journeys whose caller hung up in a scenario, by the last node entered.

Every figure is summed in SQL (GROUP BY over a bucket number computed by arithmetic, so the
same statements run on SQLite and PostgreSQL); only the rates are divided here, and a rate
whose denominator is zero is None.

Two ways to the same figures: when the range starts and ends on a 15-minute boundary (whole
local days, hours and quarters always do) and the rollups were computed with this config
(rollups.py, kept by the store), the sums come from the slot rollups, a few thousand rows for a
month; otherwise from the raw tables as below. Both are tested against each other.

What is counted:
- queue visits that are over: a visit still `waiting` (its journey is "callback-pending")
  counts once its callback ends, in the bucket it joined in. `callback-failed` and any exit
  other than answer, abandon, timeout and overflow count as `left`.
- journeys in state "complete" (a callback-pending journey counts when its callback ends); any
  journey, whatever its state, is a neighbour for repeats and FCR. Neighbours are found with an
  EXISTS on (caller, started_at) (its index): "before" is strictly earlier, "after" strictly
  later, and both within `repeat_window` inclusive; two journeys of one caller started at the
  very same instant are not each other's repeat.
- a visit's AHT and transfer are its `handle_seconds` and `transferred`, which the fold copies
  from the agent segment that answered it (the segment of that queue connected between its
  join and its end, `left_at`).
- an IVR drop-off is a complete journey whose caller hung up in the IVR (`ivr_exit`
  "caller_hangup") and that never reached a queue, by the last node it entered.
"""

from __future__ import annotations

from typing import Any

from sdk import Database

from .config import Config
from .figures import AgentFigures, Availability, ContactFigures, IvrDropOff, QueueFigures
from .intervals import Buckets
from .report_agents import agent_figures, availability_figures
from .rollups import SCENARIO_SCOPE, SLOT, Settings

__all__ = ["Report", "rate"]

EXITS = ("answered", "abandoned", "timed-out", "overflowed")


def rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def _number(value: float) -> str:
    """A configured number as SQL text: floats from our own config, never caller input."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _slots(buckets: Buckets) -> str:
    """The bucket number of a slot row (its start, an exact multiple of 900, is integer arithmetic)."""
    return buckets.index_sql(f"slot * {SLOT}")


class Report:
    """`rollups=False` always reads the raw tables (tests compare both ways)."""

    def __init__(self, database: Database, config: Config | None = None, *, rollups: bool = True) -> None:
        self.database = database
        self.config = config or Config()
        self.rollups = rollups
        self._settings = Settings.of(self.config).text()

    def buckets(self, start: float, end: float, bucket: str | None) -> Buckets:
        return Buckets(start, end, bucket, self.config.timezone)

    async def _rollups_ready(self) -> bool:
        """The rollups exist and were computed with this report's settings."""
        if not self.rollups:
            return False
        stored = await self.database.fetch_one("SELECT value FROM kpi_rollup_settings WHERE name = 'settings'")
        return stored is not None and stored["value"] == self._settings

    async def _use_slots(self, buckets: Buckets) -> bool:
        """Every bucket is a union of whole slots, and the rollups can be read."""
        return all(float(bound) % SLOT == 0 for bound in buckets.bounds) and await self._rollups_ready()

    # Queues -------------------------------------------------------------------------------------

    def _target_sql(self, column: str) -> tuple[str, list[Any]]:
        """The queue's service-level target in seconds, per row (`targets` per queue)."""
        default = _number(self.config.service_level.seconds)
        if not self.config.targets:
            return default, []
        cases = " ".join(f"WHEN ? THEN {_number(target.seconds)}" for target in self.config.targets.values())
        return f"CASE {column} {cases} ELSE {default} END", list(self.config.targets)

    async def queues(self, start: float, end: float, bucket: str | None = None,
                     queue: str | None = None) -> list[QueueFigures]:
        buckets = self.buckets(start, end, bucket)
        if await self._use_slots(buckets):
            visits = await self.database.fetch_all(f"""
                SELECT bucket, queue, SUM(offered) AS offered, SUM(answered) AS answered, SUM(abandoned) AS abandoned,
                    SUM(short_abandoned) AS short_abandoned, SUM(timed_out) AS timed_out,
                    SUM(overflowed) AS overflowed, SUM(answered_within) AS answered_within,
                    SUM(abandoned_within) AS abandoned_within, SUM(answered_wait) AS answered_wait,
                    SUM(total_wait) AS total_wait, MAX(longest_wait) AS longest_wait, SUM(handle) AS handle,
                    SUM(transferred) AS transferred
                FROM (SELECT {_slots(buckets)} AS bucket, s.* FROM kpi_queue_slots s
                      WHERE slot >= ? AND slot < ?{" AND queue = ?" if queue is not None else ""}) v
                GROUP BY bucket, queue HAVING SUM(offered) > 0""",
                [int(start) // SLOT, int(end) // SLOT] + ([queue] if queue is not None else []))
        else:
            visits = await self._raw_queues(buckets, start, end, queue)
        return self._queue_figures(buckets, visits)

    async def _raw_queues(self, buckets: Buckets, start: float, end: float, queue: str | None) -> list[dict]:
        target, target_parameters = self._target_sql("q.queue")
        only = " AND q.queue = ?" if queue is not None else ""
        chosen = [start, end] + ([queue] if queue is not None else [])
        return await self.database.fetch_all(f"""
            SELECT bucket, queue, COUNT(*) AS offered,
                SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered,
                SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
                SUM(CASE WHEN outcome = 'abandoned' AND wait < {_number(self.config.short_abandon)}
                         THEN 1 ELSE 0 END) AS short_abandoned,
                SUM(CASE WHEN outcome = 'timed-out' THEN 1 ELSE 0 END) AS timed_out,
                SUM(CASE WHEN outcome = 'overflowed' THEN 1 ELSE 0 END) AS overflowed,
                SUM(CASE WHEN outcome = 'answered' THEN within ELSE 0 END) AS answered_within,
                SUM(CASE WHEN outcome = 'abandoned' THEN within ELSE 0 END) AS abandoned_within,
                SUM(CASE WHEN outcome = 'answered' THEN wait ELSE 0 END) AS answered_wait,
                SUM(wait) AS total_wait, MAX(wait) AS longest_wait,
                SUM(CASE WHEN outcome = 'answered' THEN handle ELSE 0 END) AS handle,
                SUM(CASE WHEN outcome = 'answered' AND transferred <> 0 THEN 1 ELSE 0 END) AS transferred
            FROM (SELECT {buckets.index_sql('q.joined_at')} AS bucket, q.queue AS queue, q.outcome AS outcome,
                         q.wait_seconds AS wait,
                         CASE WHEN q.wait_seconds <= {target} THEN 1 ELSE 0 END AS within,
                         q.handle_seconds AS handle, q.transferred AS transferred
                  FROM kpi_queue_calls q
                  WHERE q.joined_at >= ? AND q.joined_at < ? AND q.outcome <> 'waiting'{only}) v
            GROUP BY bucket, queue""", target_parameters + chosen)

    def _queue_figures(self, buckets: Buckets, visits: list[dict]) -> list[QueueFigures]:
        figures = []
        for row in sorted(visits, key=lambda row: (row["queue"], row["bucket"])):
            target_of = self.config.target(row["queue"])
            offered, answered = row["offered"], row["answered"]
            abandoned, short = row["abandoned"], row["short_abandoned"]
            within, abandoned_within = row["answered_within"], row["abandoned_within"]
            figures.append(QueueFigures(
                queue=row["queue"], interval_start=buckets.bounds[row["bucket"]],
                offered=offered, answered=answered, abandoned=abandoned, short_abandoned=short,
                timed_out=row["timed_out"], overflowed=row["overflowed"],
                left=offered - answered - abandoned - row["timed_out"] - row["overflowed"],
                answered_within=within, abandoned_within=abandoned_within,
                target_seconds=float(target_of.seconds), goal=float(target_of.goal),
                sl=rate(within, offered), sl_answered=rate(within, answered),
                sl_no_short=rate(within, offered - short),
                sl_abandons=rate(within + abandoned_within, offered),
                asa=rate(row["answered_wait"], answered), avg_wait=rate(row["total_wait"], offered),
                longest_wait=None if row["longest_wait"] is None else float(row["longest_wait"]),
                abandon_rate=rate(abandoned, offered),
                abandon_rate_no_short=rate(abandoned - short, offered - short),
                aht=rate(float(row["handle"]), answered), transfer_rate=rate(row["transferred"], answered)))
        return figures

    # Agents ---------------------------------------------------------------------------------------

    async def agents(self, start: float, end: float, bucket: str | None = None,
                     agent: str | None = None) -> list[AgentFigures]:
        buckets = self.buckets(start, end, bucket)
        return await agent_figures(self.database, buckets, agent, slots=await self._use_slots(buckets))

    async def availability(self, start: float, end: float, bucket: str | None = None) -> list[Availability]:
        # The staffed changes serve any range; they are there once the rollups are.
        return await availability_figures(self.database, self.buckets(start, end, bucket),
                                          changes=await self._rollups_ready())

    # Contacts -------------------------------------------------------------------------------------

    async def contacts(self, start: float, end: float, bucket: str | None = None, by_queue: bool = False,
                       by_scenario: bool = False) -> list[ContactFigures]:
        """The whole PBX (scope ""), or per queue (scope: its name), or per scenario
        ("scenario:<name>")."""
        buckets = self.buckets(start, end, bucket)
        if by_scenario:
            scopes = f"scope LIKE '{SCENARIO_SCOPE}%'"
        elif by_queue:
            scopes = f"scope <> '' AND scope NOT LIKE '{SCENARIO_SCOPE}%'"
        else:
            scopes = "scope = ''"
        if await self._use_slots(buckets):
            rows = await self.database.fetch_all(f"""
                SELECT bucket, scope, SUM(journeys) AS journeys, SUM(answered) AS answered, SUM(repeats) AS repeats,
                    SUM(resolved) AS resolved, SUM(blocked) AS blocked, SUM(csat_count) AS csat_count,
                    SUM(csat_sum) AS csat_sum, SUM(csat_satisfied) AS csat_satisfied, SUM(nps_count) AS nps_count,
                    SUM(promoters) AS promoters, SUM(detractors) AS detractors, SUM(ces_count) AS ces_count,
                    SUM(ces_sum) AS ces_sum, SUM(mos_count) AS mos_count, SUM(mos_sum) AS mos_sum,
                    SUM(poor_quality) AS poor_quality, SUM(ivr_journeys) AS ivr_journeys,
                    SUM(ivr_contained) AS ivr_contained, SUM(cost_total) AS cost_total
                FROM (SELECT {_slots(buckets)} AS bucket, s.* FROM kpi_contact_slots s
                      WHERE slot >= ? AND slot < ? AND {scopes}) v
                GROUP BY bucket, scope HAVING SUM(journeys) > 0""", (int(start) // SLOT, int(end) // SLOT))
        else:
            rows = await self._raw_contacts(buckets, start, end, by_queue, by_scenario)
        return self._contact_figures(buckets, rows)

    async def _raw_contacts(self, buckets: Buckets, start: float, end: float, by_queue: bool,
                            by_scenario: bool = False) -> list[dict]:
        window = _number(self.config.repeat_window)
        if by_scenario:
            scope, by_queue_only = f"'{SCENARIO_SCOPE}' || j.scenario", " AND j.scenario IS NOT NULL"
        elif by_queue:
            scope, by_queue_only = "j.queue", " AND j.queue IS NOT NULL"
        else:
            scope, by_queue_only = "''", ""
        return await self.database.fetch_all(f"""
            SELECT bucket, scope, COUNT(*) AS journeys,
                SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered,
                SUM(is_repeat) AS repeats, SUM(resolved) AS resolved,
                SUM(CASE WHEN outcome = 'blocked' THEN 1 ELSE 0 END) AS blocked,
                COUNT(csat) AS csat_count, SUM(csat) AS csat_sum,
                SUM(CASE WHEN csat >= 4 THEN 1 ELSE 0 END) AS csat_satisfied,
                COUNT(nps) AS nps_count, SUM(CASE WHEN nps >= 9 THEN 1 ELSE 0 END) AS promoters,
                SUM(CASE WHEN nps <= 6 THEN 1 ELSE 0 END) AS detractors,
                COUNT(ces) AS ces_count, SUM(ces) AS ces_sum,
                COUNT(mos) AS mos_count, SUM(mos) AS mos_sum,
                SUM(CASE WHEN mos < 3.6 THEN 1 ELSE 0 END) AS poor_quality,
                SUM(CASE WHEN scenario IS NOT NULL THEN 1 ELSE 0 END) AS ivr_journeys,
                SUM(CASE WHEN scenario IS NOT NULL AND outcome = 'ivr' THEN 1 ELSE 0 END) AS ivr_contained,
                SUM(COALESCE(cost, 0)) AS cost_total
            FROM (SELECT {buckets.index_sql('j.started_at')} AS bucket, {scope} AS scope, j.outcome AS outcome,
                         j.csat AS csat, j.nps AS nps, j.ces AS ces, j.mos AS mos, j.scenario AS scenario,
                         j.cost AS cost,
                         CASE WHEN EXISTS (SELECT 1 FROM kpi_journeys p WHERE p.caller = j.caller
                                           AND p.started_at >= j.started_at - {window}
                                           AND p.started_at < j.started_at) THEN 1 ELSE 0 END AS is_repeat,
                         CASE WHEN j.outcome = 'answered' AND NOT EXISTS (
                                  SELECT 1 FROM kpi_journeys n WHERE n.caller = j.caller
                                  AND n.started_at > j.started_at AND n.started_at <= j.started_at + {window})
                              THEN 1 ELSE 0 END AS resolved
                  FROM kpi_journeys j
                  WHERE j.started_at >= ? AND j.started_at < ? AND j.state = 'complete'{by_queue_only}) v
            GROUP BY bucket, scope""",
            (start, end))

    def _contact_figures(self, buckets: Buckets, rows: list[dict]) -> list[ContactFigures]:
        figures = []
        for row in sorted(rows, key=lambda row: (row["scope"], row["bucket"])):
            journeys, answered = row["journeys"], row["answered"]
            cost_total = float(row["cost_total"] or 0.0)
            figures.append(ContactFigures(
                scope=row["scope"], interval_start=buckets.bounds[row["bucket"]], journeys=journeys,
                answered=answered, repeats=row["repeats"], repeat_rate=rate(row["repeats"], journeys),
                fcr=rate(row["resolved"], answered), blocked=row["blocked"],
                blocked_rate=rate(row["blocked"], journeys),
                csat_mean=rate(row["csat_sum"] or 0, row["csat_count"]),
                csat_satisfied=rate(row["csat_satisfied"], row["csat_count"]),
                nps=rate(row["promoters"] - row["detractors"], row["nps_count"]),
                ces_mean=rate(row["ces_sum"] or 0, row["ces_count"]),
                mos_mean=rate(float(row["mos_sum"] or 0.0), row["mos_count"]),
                poor_quality_share=rate(row["poor_quality"], row["mos_count"]),
                ivr_journeys=row["ivr_journeys"], ivr_contained=row["ivr_contained"],
                containment=rate(row["ivr_contained"], row["ivr_journeys"]),
                cost_total=cost_total, cost_per_call=rate(cost_total, journeys)))
        return figures

    async def ivr_dropoff(self, start: float, end: float, bucket: str | None = None) -> list[IvrDropOff]:
        buckets = self.buckets(start, end, bucket)
        if await self._use_slots(buckets):
            rows = await self.database.fetch_all(f"""
                SELECT bucket, scenario, node, SUM(dropped) AS dropped
                FROM (SELECT {_slots(buckets)} AS bucket, s.* FROM kpi_ivr_slots s WHERE slot >= ? AND slot < ?) v
                GROUP BY bucket, scenario, node HAVING SUM(dropped) > 0""", (int(start) // SLOT, int(end) // SLOT))
        else:
            rows = await self.database.fetch_all(f"""
                SELECT bucket, scenario, node, COUNT(*) AS dropped
                FROM (SELECT {buckets.index_sql('started_at')} AS bucket, COALESCE(scenario, '') AS scenario,
                             COALESCE(ivr_exit_node, '') AS node
                      FROM kpi_journeys
                      WHERE started_at >= ? AND started_at < ? AND state = 'complete'
                            AND ivr_exit = 'caller_hangup' AND queue IS NULL) v
                GROUP BY bucket, scenario, node""", (start, end))
        return [IvrDropOff(scenario=row["scenario"], node=row["node"], interval_start=buckets.bounds[row["bucket"]],
                           dropped=row["dropped"])
                for row in sorted(rows, key=lambda row: (row["scenario"], row["bucket"], -row["dropped"], row["node"]))]
