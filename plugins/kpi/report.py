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

What is counted:
- queue visits that are over: a visit still `waiting` (its journey is "callback-pending")
  counts once its callback ends, in the bucket it joined in. `callback-failed` and any exit
  other than answer, abandon, timeout and overflow count as `left`.
- journeys in state "complete" (a callback-pending journey counts when its callback ends); any
  journey, whatever its state, is a neighbour for repeats and FCR. Neighbours are found with an
  EXISTS on (caller, started_at) (its index): "before" is strictly earlier, "after" strictly
  later, and both within `repeat_window` inclusive; two journeys of one caller started at the
  very same instant are not each other's repeat.
- a visit's AHT and transfer come from the agent segment of that queue connected between its
  join and its end (`left_at`): one per answered visit.
"""

from __future__ import annotations

from typing import Any

from sdk import Database

from .config import Config
from .figures import AgentFigures, Availability, ContactFigures, IvrDropOff, QueueFigures
from .intervals import Buckets
from .report_agents import agent_figures, availability_figures

__all__ = ["Report", "rate"]

EXITS = ("answered", "abandoned", "timed-out", "overflowed")


def rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def _number(value: float) -> str:
    """A configured number as SQL text: floats from our own config, never caller input."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


class Report:
    def __init__(self, database: Database, config: Config | None = None) -> None:
        self.database = database
        self.config = config or Config()

    def buckets(self, start: float, end: float, bucket: str | None) -> Buckets:
        return Buckets(start, end, bucket, self.config.timezone)

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
        target, target_parameters = self._target_sql("q.queue")
        only = " AND q.queue = ?" if queue is not None else ""
        chosen = [start, end] + ([queue] if queue is not None else [])
        # One pass: each answered visit meets its own agent segment (the queue's, connected
        # between the join and the visit's end); a visit has at most one.
        visits = await self.database.fetch_all(f"""
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
                SUM(COALESCE(handle, 0)) AS handle, SUM(COALESCE(transferred, 0)) AS transferred
            FROM (SELECT {buckets.index_sql('q.joined_at')} AS bucket, q.queue AS queue, q.outcome AS outcome,
                         q.wait_seconds AS wait,
                         CASE WHEN q.wait_seconds <= {target} THEN 1 ELSE 0 END AS within,
                         a.talk_seconds + a.hold_seconds + a.wrapup_seconds AS handle,
                         a.transferred AS transferred
                  FROM kpi_queue_calls q
                  LEFT JOIN kpi_agent_calls a ON q.outcome = 'answered' AND a.journey_id = q.journey_id
                       AND a.queue = q.queue AND a.connected_at >= q.joined_at
                       AND (q.left_at IS NULL OR a.connected_at <= q.left_at)
                  WHERE q.joined_at >= ? AND q.joined_at < ? AND q.outcome <> 'waiting'{only}) v
            GROUP BY bucket, queue""", target_parameters + chosen)
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
                aht=rate(row["handle"], answered), transfer_rate=rate(row["transferred"], answered)))
        return figures

    # Agents ---------------------------------------------------------------------------------------

    async def agents(self, start: float, end: float, bucket: str | None = None,
                     agent: str | None = None) -> list[AgentFigures]:
        return await agent_figures(self.database, self.buckets(start, end, bucket), agent)

    async def availability(self, start: float, end: float, bucket: str | None = None) -> list[Availability]:
        return await availability_figures(self.database, self.buckets(start, end, bucket))

    # Contacts -------------------------------------------------------------------------------------

    async def contacts(self, start: float, end: float, bucket: str | None = None,
                       by_queue: bool = False) -> list[ContactFigures]:
        buckets = self.buckets(start, end, bucket)
        window = _number(self.config.repeat_window)
        scope = "j.queue" if by_queue else "''"
        by_queue_only = " AND j.queue IS NOT NULL" if by_queue else ""
        rows = await self.database.fetch_all(f"""
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
                mos_mean=rate(row["mos_sum"] or 0.0, row["mos_count"]),
                poor_quality_share=rate(row["poor_quality"], row["mos_count"]),
                ivr_journeys=row["ivr_journeys"], ivr_contained=row["ivr_contained"],
                containment=rate(row["ivr_contained"], row["ivr_journeys"]),
                cost_total=cost_total, cost_per_call=rate(cost_total, journeys)))
        return figures

    async def ivr_dropoff(self, start: float, end: float, bucket: str | None = None) -> list[IvrDropOff]:
        buckets = self.buckets(start, end, bucket)
        rows = await self.database.fetch_all(f"""
            SELECT bucket, scenario, node, COUNT(*) AS dropped
            FROM (SELECT {buckets.index_sql('started_at')} AS bucket, COALESCE(scenario, '') AS scenario,
                         COALESCE(ivr_exit_node, '') AS node
                  FROM kpi_journeys
                  WHERE started_at >= ? AND started_at < ? AND state = 'complete'
                        AND ivr_exit = 'caller_hangup') v
            GROUP BY bucket, scenario, node""", (start, end))
        return [IvrDropOff(scenario=row["scenario"], node=row["node"], interval_start=buckets.bounds[row["bucket"]],
                           dropped=row["dropped"])
                for row in sorted(rows, key=lambda row: (row["scenario"], row["bucket"], -row["dropped"], row["node"]))]
