"""The records and KPIs on the admin API, mounted by the PBX under /api/plugins/kpi:

    GET /journeys?from=&to=&limit=                         journeys started in the range, oldest first
    GET /journeys/{journey_id}                             one journey (a callback's call ids included)
    GET /report/{kind}?from=&to=&interval=&queue=&agent=&format=json|csv
        kind: queues | agents | contacts | ivr | availability | staffing | adherence
        contacts: queue=Q per queue, scenario=S (or all) per scenario
        staffing also takes model=c|a, patience=, calls=, aht= (a forecast instead of what was seen)
    GET /live                                              the sliding window's queue figures now

`from` and `to` are seconds since the epoch or local dates/times in the plugin's time zone
("2026-12-06", "2026-12-06T09:00"); the default is today. Bad input is a 400 with
{"error": ..., "field": ...}; an unknown journey a 404.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from . import planning

if TYPE_CHECKING:
    from .collector import KpiCollector

INTERVALS = ("15min", "hour", "day")
MAX_JOURNEYS = 100_000  # one answer's rows; page with from/to beyond that
KINDS = ("queues", "agents", "contacts", "ivr", "availability", "staffing", "adherence")


class BadInput(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), status=status, content_type="application/json")


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    return _json({"error": message, "field": field}, status)


def parse_time(text: str, zone: str, field: str) -> float:
    """Epoch seconds, or a local ISO date / date-time in `zone`."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(field, f"{field} must be seconds since the epoch or an ISO date, not {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.timestamp()


def time_range(query: Any, zone: str, now: float) -> tuple[float, float]:
    today = datetime.fromtimestamp(now, ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = parse_time(query["from"], zone, "from") if "from" in query else today.timestamp()
    end = parse_time(query["to"], zone, "to") if "to" in query else (today + timedelta(days=1)).timestamp()
    if end <= start:
        raise BadInput("to", "to must be after from")
    return start, end


def as_csv(rows: list[Any]) -> str:
    """One line per figure row; dict fields (pause by reason) as JSON text."""
    out = io.StringIO()
    if not rows:
        return ""
    records = [msgspec.to_builtins(row) for row in rows]
    writer = csv.DictWriter(out, fieldnames=list(records[0]))
    writer.writeheader()
    for record in records:
        writer.writerow({key: msgspec.json.encode(value).decode() if isinstance(value, (dict, list)) else value
                         for key, value in record.items()})
    return out.getvalue()


def _number(query: Any, name: str) -> float | None:
    if name not in query:
        return None
    try:
        value = float(query[name])
    except ValueError:
        raise BadInput(name, f"{name} must be a number, not {query[name]!r}") from None
    if value <= 0:
        raise BadInput(name, f"{name} must be more than 0")
    return value


async def run_report(collector: KpiCollector, kind: str, start: float, end: float, interval: str | None,
                     queue: str | None = None, agent: str | None = None, query: Any = None) -> list[Any]:
    report = collector.report
    query = query or {}
    if kind == "staffing":
        model = query.get("model", "c")
        if model not in ("c", "a"):
            raise BadInput("model", "model must be c (Erlang C) or a (Erlang A)")
        patience = _number(query, "patience")
        if model == "a" and patience is None:
            raise BadInput("patience", "Erlang A needs the callers' mean patience in seconds")
        return await planning.staffing(report, start, end, interval, queue=queue, model=model, patience=patience,
                                       calls=_number(query, "calls"), aht=_number(query, "aht"))
    if kind == "adherence":
        return await planning.adherence(report.database, report.config, start, end, interval, agent=agent)
    if kind == "queues":
        return await report.queues(start, end, interval, queue=queue)
    if kind == "agents":
        return await report.agents(start, end, interval, agent=agent)
    if kind == "contacts":
        scenario = query.get("scenario")
        rows = await report.contacts(start, end, interval, by_queue=queue is not None,
                                     by_scenario=scenario is not None)
        if scenario not in (None, "all"):
            rows = [row for row in rows if row.scope == f"scenario:{scenario}"]
        return rows
    if kind == "ivr":
        return await report.ivr_dropoff(start, end, interval)
    if kind == "availability":
        return await report.availability(start, end, interval)
    raise BadInput("kind", f"unknown report {kind!r}: one of {', '.join(KINDS)}")


def routes(collector: KpiCollector) -> list[web.RouteDef]:
    zone = collector.config.timezone

    async def journeys(request: web.Request) -> web.Response:
        try:
            start, end = time_range(request.query, zone, collector.api.now())
            limit = int(request.query.get("limit", "1000"))
        except BadInput as error:
            return _error(400, str(error), error.field)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_JOURNEYS:
            return _error(400, f"limit must be a whole number from 1 to {MAX_JOURNEYS}", "limit")
        return _json(await collector.store.journeys(start, end, limit))

    async def journey(request: web.Request) -> web.Response:
        found = await collector.store.journey(request.match_info["journey_id"])
        if found is None:
            return _error(404, f"no journey {request.match_info['journey_id']!r}")
        return _json(found)

    async def report(request: web.Request) -> web.Response:
        query = request.query
        interval = query.get("interval") or None
        try:
            if interval is not None and interval not in INTERVALS:
                raise BadInput("interval", f"interval must be one of {', '.join(INTERVALS)}")
            start, end = time_range(query, zone, collector.api.now())
            rows = await run_report(collector, request.match_info["kind"], start, end, interval,
                                    queue=query.get("queue"), agent=query.get("agent"), query=query)
        except BadInput as error:
            return _error(400, str(error), error.field)
        if query.get("queue") and rows and hasattr(rows[0], "queue"):
            rows = [row for row in rows if row.queue == query["queue"]]
        if query.get("format") == "csv":
            return web.Response(text=as_csv(rows), content_type="text/csv")
        return _json(rows)

    async def live(request: web.Request) -> web.Response:
        return _json(collector.live.figures(collector.api.now()))

    return [web.get("/journeys", journeys), web.get("/journeys/{journey_id}", journey),
            web.get("/report/{kind}", report), web.get("/live", live)]
