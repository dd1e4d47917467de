"""Finding journeys, and the IVR paths callers take, in the call records.

- `JourneyFilter` is what a supervisor narrows a journey search by (time range, caller, agent,
  queue, outcome, state, scenario, direction, disposition, least wait, a text in the IVR path);
  `conditions(filter)` turns it into one SQL condition over kpi_journeys with `?` parameters,
  every value a parameter (never SQL text), the same statement on SQLite and PostgreSQL.
  Texts that match part of a column (`caller`, `ivr`) are `LIKE` patterns with `%`, `_` and the
  escape character escaped, compared in lower case (SQLite's LIKE ignores ASCII case,
  PostgreSQL's does not: lowering both sides gives one answer).
- `ivr_paths(...)`: the most frequent IVR paths (the nodes a journey entered, in order) of the
  journeys started in a range, each with its count, its share of the journeys that ran a
  scenario, and how many of them were abandoned: the caller hung up before reaching an agent,
  in the IVR (a drop-off, report.py's definition) or waiting in a queue (outcome "abandoned").

What this module does not do: read query strings (admin.py) or compute queue figures (report.py).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec

from sdk import Database

from .report import rate

__all__ = ["OUTCOMES", "IvrPath", "JourneyFilter", "Outcome", "conditions", "ivr_paths"]

# docs/kpi.md "Journeys": how a contact ended
Outcome = Literal["answered", "abandoned", "timed-out", "overflowed", "callback-failed", "ivr", "blocked", "unanswered"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
_ABANDONED = ("(outcome = 'abandoned' OR (ivr_exit = 'caller_hangup' AND queue IS NULL))")


class JourneyFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Journeys started in [start, end) that meet every other field given (None: any)."""

    start: float
    end: float
    caller: str | None = None  # a part of the caller's number
    agent: str | None = None  # an agent who took part (any of the journey's agents)
    queue: str | None = None  # the last queue it reached
    outcome: str | None = None
    state: str | None = None
    scenario: str | None = None
    direction: str | None = None
    disposition: str | None = None
    min_wait: float | None = None  # waited at least this long in a queue, in seconds
    ivr: str | None = None  # a text found in the IVR path (a node's name, or part of one)


def _like_part(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, in lower case (escape character: backslash)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def conditions(found: JourneyFilter) -> tuple[str, list[Any]]:
    """The SQL condition and its parameters."""
    parts, parameters = ["started_at >= ?", "started_at < ?"], [found.start, found.end]
    for column in ("queue", "outcome", "state", "scenario", "direction", "disposition"):
        value = getattr(found, column)
        if value is not None:
            parts.append(f"{column} = ?")
            parameters.append(value)
    if found.caller is not None:
        parts.append("LOWER(caller) LIKE ? ESCAPE '\\'")
        parameters.append(_like_part(found.caller))
    if found.agent is not None:
        # `agents` is the JSON list of every agent who took part: ["alice","bob"]
        parts.append("(agent = ? OR LOWER(agents) LIKE ? ESCAPE '\\')")
        parameters += [found.agent, _like_part(msgspec.json.encode(found.agent).decode())]
    if found.min_wait is not None:
        parts.append("wait_seconds >= ?")
        parameters.append(found.min_wait)
    if found.ivr is not None:
        parts.append("LOWER(ivr_path) LIKE ? ESCAPE '\\'")
        parameters.append(_like_part(found.ivr))
    return " AND ".join(parts), parameters


class IvrPath(msgspec.Struct, frozen=True, kw_only=True):
    """One way through a scenario: the nodes entered, in order, and how often callers took it."""

    scenario: str
    path: list[str]
    journeys: int
    share: float  # of the journeys that ran a scenario (this one, when the report asks for one)
    abandoned: int  # hung up before an agent answered: in the IVR or waiting in a queue
    abandoned_share: float  # abandoned / journeys


async def ivr_paths(database: Database, start: float, end: float, *, scenario: str | None = None,
                    limit: int = 20) -> list[IvrPath]:
    """The `limit` most frequent paths of the complete journeys started in [start, end) that ran
    a scenario, most frequent first (ties by scenario, then path)."""
    where = "started_at >= ? AND started_at < ? AND state = 'complete' AND scenario IS NOT NULL"
    parameters: list[Any] = [start, end]
    if scenario is not None:
        where += " AND scenario = ?"
        parameters.append(scenario)
    counted = await database.fetch_one(f"SELECT COUNT(*) AS total FROM kpi_journeys WHERE {where}", parameters)
    total = int(counted["total"]) if counted else 0
    rows = await database.fetch_all(f"""
        SELECT scenario, ivr_path, COUNT(*) AS journeys,
               SUM(CASE WHEN {_ABANDONED} THEN 1 ELSE 0 END) AS abandoned
        FROM kpi_journeys WHERE {where}
        GROUP BY scenario, ivr_path
        ORDER BY COUNT(*) DESC, scenario, ivr_path
        LIMIT ?""", [*parameters, limit])
    return [IvrPath(scenario=row["scenario"], path=msgspec.json.decode(row["ivr_path"], type=list[str]),
                    journeys=int(row["journeys"]), share=rate(row["journeys"], total) or 0.0,
                    abandoned=int(row["abandoned"]), abandoned_share=rate(row["abandoned"], row["journeys"]) or 0.0)
            for row in rows]
