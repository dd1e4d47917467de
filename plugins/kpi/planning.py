"""Staffing and adherence as reports (docs/kpi.md "Staffing" and "Schedules and adherence").

- `staffing(...)`: the agents each interval needed, by Erlang C or Erlang A (erlang.py), for the
  volume and AHT the queues saw in it (what the day asked for), or for a forecast given as a
  number of calls and an AHT per interval (a what-if).
- `adherence(...)`: planned activity from the schedules (schedules.py) against the agent log,
  per agent and interval (adherence.py).
"""

from __future__ import annotations

import msgspec

from sdk import Database

from .adherence import adherence as adherence_figures
from .config import Config, ServiceTarget
from .erlang import staffing as erlang_staffing
from .figures import AdherenceFigures, StaffingFigures
from .records import AgentLogEntry
from .report import Report
from .schedules import bucket_bounds, planned_activity

__all__ = ["adherence", "staffing"]


async def staffing(report: Report, start: float, end: float, bucket: str | None, *, queue: str | None = None,
                   model: str = "c", patience: float | None = None, calls: float | None = None,
                   aht: float | None = None) -> list[StaffingFigures]:
    """Per interval: the agents needed to meet the queue's (or the default) service-level goal."""
    config: Config = report.config
    target: ServiceTarget = config.target(queue) if queue else config.service_level
    bounds = bucket_bounds(start, end, bucket, config.timezone)
    offered: dict[float, int] = {}
    answered: dict[float, int] = {}
    handled: dict[float, float] = {}  # handle seconds of the answered calls
    if calls is None or aht is None:
        for row in await report.queues(start, end, bucket, queue=queue):
            at = row.interval_start
            offered[at] = offered.get(at, 0) + row.offered
            answered[at] = answered.get(at, 0) + row.answered
            handled[at] = handled.get(at, 0.0) + (row.aht or 0.0) * row.answered
    figures: list[StaffingFigures] = []
    # A forecast asks the same question of every interval of one length: Erlang A takes a tenth
    # of a second per hundred Erlangs, so each distinct question is answered once.
    answers: dict[tuple[float, float, float], StaffingFigures] = {}
    for lo, hi in zip(bounds, bounds[1:]):
        volume = float(calls if calls is not None else offered.get(lo, 0))
        handle = float(aht if aht is not None else handled.get(lo, 0.0) / answered[lo] if answered.get(lo) else 0.0)
        if volume <= 0 or handle <= 0:
            figures.append(StaffingFigures(interval_start=lo, calls=volume, aht=handle, traffic_erlangs=0.0, agents=0,
                                           service_level=1.0, asa=0.0, occupancy=0.0,
                                           abandonment=0.0 if model == "a" else None))
            continue
        question = (volume, handle, hi - lo)
        if question not in answers:
            [answers[question]] = erlang_staffing([(lo, volume)], handle, hi - lo, target, model=model,
                                                  patience=patience)
        figures.append(msgspec.structs.replace(answers[question], interval_start=lo))
    return figures


async def adherence(database: Database, config: Config, start: float, end: float, bucket: str | None,
                    agent: str | None = None) -> list[AdherenceFigures]:
    """Per scheduled agent and interval: planned against the agent log."""
    schedules = {name: shifts for name, shifts in config.schedules.items() if agent is None or name == agent}
    plans = planned_activity(schedules, config.timezone, start, end)
    rows = await database.fetch_all(
        "SELECT * FROM kpi_agent_log a WHERE (at >= ? AND since < ?) OR at = "
        "(SELECT MAX(at) FROM kpi_agent_log b WHERE b.agent = a.agent AND b.at < ?) ORDER BY at, agent",
        (start, end, start))
    entries = [AgentLogEntry(**{name: row[name] for name in AgentLogEntry.__struct_fields__}) for row in rows
               if row["agent"] in schedules]
    return adherence_figures(plans, entries, bucket_bounds(start, end, bucket, config.timezone))
