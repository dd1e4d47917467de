"""The call records and KPIs on the admin API, served by the PBX under /api/plugins/kpi:

    GET /journeys?from=&to=&caller=&agent=&queue=&outcome=&...&limit=&offset=&format=
                                           a journey search, a page at a time, or a CSV/XLSX file
    GET /journeys/{journey_id}             one journey (a callback's call ids included)
    GET /report/{kind}?from=&to=&interval=&format=json|csv|xlsx
        kind: queues | agents | contacts | ivr | availability | staffing | adherence (one endpoint
        each, with its own filters and row type: queries.py, figures.py)
    GET /report/intervals?interval=15min|hour&queue=     the day's charts (charts.py)
    GET /report/ivr-paths?scenario=&limit=               the most frequent IVR paths (search.py)
    GET /live                                            the sliding window's queue figures now

Every endpoint reads (READERS: admin, supervisor, read-only). Query strings are decoded into
the Structs of queries.py by the admin API, which answers a bad one with a 400 naming the
field; the time range and the limits on work (intervals in a range, a forecast's traffic) are
checked here, with the same 400. Files (CSV, XLSX) come from export.py, with the plugin's time
zone for their times and an attachment file name.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import msgspec

from sdk.admin import READERS, ApiRequest, Endpoint, bad_input, endpoint, not_found

from . import planning
from .charts import IntervalPoint, interval_points
from .export import FILE_TYPES, export
from .figures import (
    AdherenceFigures,
    AgentFigures,
    Availability,
    ContactFigures,
    IvrDropOff,
    QueueFigures,
    StaffingFigures,
)
from .live import LiveQueue
from .queries import (
    MAX_ROWS,
    AgentReportQuery,
    ContactReportQuery,
    IntervalQuery,
    IvrPathQuery,
    IvrReportQuery,
    JourneyQuery,
    QueueReportQuery,
    ReportQuery,
    StaffingQuery,
    time_range,
)
from .records import Journey
from .search import IvrPath, JourneyFilter, conditions, ivr_paths

if TYPE_CHECKING:
    from .collector import KpiCollector

__all__ = ["JourneyPage", "endpoints"]

PAGE = 100  # journeys in a JSON page unless `limit` says otherwise
MAX_ERLANGS = {"c": 5000.0, "a": 200.0}  # a forecast's traffic per interval (Erlang A is the slower)
MAX_STAFFING_INTERVALS = 200  # a week of hours, two days of quarters: Erlang runs once per interval
TAGS = ("reports",)


class JourneyPage(msgspec.Struct, kw_only=True):
    """One page of a journey search: how many journeys match in all, this page of them, oldest
    first, and the offset of the next page (None on the last)."""

    total: int
    offset: int
    limit: int
    next_offset: int | None
    journeys: list[Journey]


def endpoints(collector: KpiCollector) -> list[Endpoint]:
    """The kpi plugin's endpoints over `collector` (its store, report, live window and config)."""
    zone = collector.config.timezone
    report = collector.report

    def span(query: Any, interval: str | None = None) -> tuple[float, float]:
        return time_range(query.start, query.end, zone, collector.api.now(), interval)

    async def answer(rows: list[Any], row_type: type, file_format: str, kind: str, start: float,
                     end: float) -> Any:
        """The rows as JSON (encoded by the admin API), or as a CSV or XLSX attachment."""
        if file_format == "json":
            return rows
        return await export(rows, row_type, file_format, zone, f"kpi-{kind}-{_days(start, end, zone)}", kind)

    @endpoint("GET", "/journeys", summary="Search call journeys", roles=READERS, query=JourneyQuery,
              response=JourneyPage, extra_content_types=FILE_TYPES, tags=TAGS)
    async def journeys(request: ApiRequest) -> Any:
        """Journeys (one per customer contact) started in the range that meet every filter given,
        oldest first. JSON answers a page (`limit`, 100 by default, from `offset`) with the total
        and the next page's offset; `format=csv` or `xlsx` downloads the journeys of the page
        asked for (by default every match, up to 100,000)."""
        query: JourneyQuery = request.query
        start, end = span(query)
        found = JourneyFilter(start=start, end=end, caller=query.caller, agent=query.agent, queue=query.queue,
                              outcome=query.outcome, state=query.state, scenario=query.scenario,
                              direction=query.direction, disposition=query.disposition, min_wait=query.min_wait,
                              ivr=query.ivr)
        limit = query.limit or (PAGE if query.format == "json" else MAX_ROWS)
        where, parameters = conditions(found)
        total, rows = await collector.store.search_journeys(where, parameters, limit=limit, offset=query.offset)
        if query.format != "json":
            return await answer(rows, Journey, query.format, "journeys", start, end)
        following = query.offset + len(rows)
        return JourneyPage(total=total, offset=query.offset, limit=limit, journeys=rows,
                           next_offset=following if following < total else None)

    @endpoint("GET", "/journeys/{journey_id}", summary="One call journey", roles=READERS, response=Journey,
              tags=TAGS)
    async def journey(request: ApiRequest) -> Journey:
        """A journey by its id (the id of the call that started it; a callback's calls are in it)."""
        journey_id = request.path["journey_id"]
        found = await collector.store.journey(journey_id)
        if found is None:
            raise not_found(f"no journey {journey_id!r}", "journey_id")
        return found

    @endpoint("GET", "/report/queues", summary="Queue report", roles=READERS, query=QueueReportQuery,
              response=list[QueueFigures], extra_content_types=FILE_TYPES, tags=TAGS)
    async def queues(request: ApiRequest) -> Any:
        """Per queue and interval: offered, answered, abandoned, service level, ASA, AHT, ...
        (docs/kpi.md "Queues")."""
        query: QueueReportQuery = request.query
        start, end = span(query, query.interval)
        rows = await report.queues(start, end, query.interval, queue=query.queue)
        return await answer(rows, QueueFigures, query.format, "queues", start, end)

    @endpoint("GET", "/report/agents", summary="Agent report", roles=READERS, query=AgentReportQuery,
              response=list[AgentFigures], extra_content_types=FILE_TYPES, tags=TAGS)
    async def agents(request: ApiRequest) -> Any:
        """Per agent and interval: time logged in, staffed, busy and paused (by reason), occupancy,
        calls answered, AHT (docs/kpi.md "Agents")."""
        query: AgentReportQuery = request.query
        start, end = span(query, query.interval)
        rows = await report.agents(start, end, query.interval, agent=query.agent)
        return await answer(rows, AgentFigures, query.format, "agents", start, end)

    @endpoint("GET", "/report/contacts", summary="Contact report", roles=READERS, query=ContactReportQuery,
              response=list[ContactFigures], extra_content_types=FILE_TYPES, tags=TAGS)
    async def contacts(request: ApiRequest) -> Any:
        """Per interval, for the whole PBX (scope ""), a queue (scope: its name) or a scenario
        (scope "scenario:<name>"): journeys, repeats, FCR, CSAT, NPS, containment, cost."""
        query: ContactReportQuery = request.query
        start, end = span(query, query.interval)
        rows = await report.contacts(start, end, query.interval, by_queue=query.queue is not None,
                                     by_scenario=query.scenario is not None)
        if query.scenario not in (None, "all"):
            rows = [row for row in rows if row.scope == f"scenario:{query.scenario}"]
        elif query.queue is not None and query.scenario is None:
            rows = [row for row in rows if row.scope == query.queue]
        return await answer(rows, ContactFigures, query.format, "contacts", start, end)

    @endpoint("GET", "/report/ivr", summary="IVR drop-off by node", roles=READERS, query=IvrReportQuery,
              response=list[IvrDropOff], extra_content_types=FILE_TYPES, tags=TAGS)
    async def ivr(request: ApiRequest) -> Any:
        """Journeys whose caller hung up in a scenario before reaching a queue, by the last node
        they entered, per scenario and interval."""
        query: IvrReportQuery = request.query
        start, end = span(query, query.interval)
        rows = await report.ivr_dropoff(start, end, query.interval)
        if query.scenario is not None:
            rows = [row for row in rows if row.scenario == query.scenario]
        return await answer(rows, IvrDropOff, query.format, "ivr", start, end)

    @endpoint("GET", "/report/ivr-paths", summary="Most frequent IVR paths", roles=READERS, query=IvrPathQuery,
              response=list[IvrPath], extra_content_types=FILE_TYPES, tags=TAGS)
    async def paths(request: ApiRequest) -> Any:
        """The paths through the IVR (the nodes entered, in order) taken most often by the journeys
        started in the range: how many took each, their share of the journeys that ran a scenario,
        and how many of them hung up before an agent answered."""
        query: IvrPathQuery = request.query
        start, end = span(query)
        rows = await ivr_paths(report.database, start, end, scenario=query.scenario, limit=query.limit)
        return await answer(rows, IvrPath, query.format, "ivr-paths", start, end)

    @endpoint("GET", "/report/availability", summary="Availability report", roles=READERS, query=ReportQuery,
              response=list[Availability], extra_content_types=FILE_TYPES, tags=TAGS)
    async def availability(request: ApiRequest) -> Any:
        """Per interval: the time at least one agent was staffed, and its share of the interval."""
        query: ReportQuery = request.query
        start, end = span(query, query.interval)
        rows = await report.availability(start, end, query.interval)
        return await answer(rows, Availability, query.format, "availability", start, end)

    @endpoint("GET", "/report/staffing", summary="Staffing (Erlang C or A)", roles=READERS, query=StaffingQuery,
              response=list[StaffingFigures], extra_content_types=FILE_TYPES, tags=TAGS)
    async def staffing(request: ApiRequest) -> Any:
        """Per interval: the agents needed to meet the service-level goal, by Erlang C or Erlang A,
        for the volume and AHT the queues saw, or for a forecast (`calls` per interval at `aht`)."""
        query: StaffingQuery = request.query
        start, end = span(query, query.interval)
        if query.model == "a" and query.patience is None:
            raise bad_input("Erlang A needs the callers' mean patience in seconds", "patience")
        bounds = report.buckets(start, end, query.interval).bounds
        if len(bounds) - 1 > MAX_STAFFING_INTERVALS:
            raise bad_input(f"staffing is computed for at most {MAX_STAFFING_INTERVALS} intervals: ask for a "
                            f"shorter range or a longer interval", "interval")
        if query.calls is not None and query.aht is not None:
            shortest = min(high - low for low, high in zip(bounds, bounds[1:]))
            traffic = query.calls * query.aht / shortest
            if traffic > MAX_ERLANGS[query.model]:
                raise bad_input(f"a forecast of {traffic:.0f} Erlangs in one interval is more than this report "
                                f"sizes ({MAX_ERLANGS[query.model]:.0f} for Erlang {query.model.upper()})", "calls")
        try:
            rows = await planning.staffing(report, start, end, query.interval, queue=query.queue, model=query.model,
                                           patience=query.patience, calls=query.calls, aht=query.aht)
        except ValueError as error:  # erlang.py: no number of agents reaches the goal
            raise bad_input(str(error), "calls" if query.calls is not None else "interval") from None
        return await answer(rows, StaffingFigures, query.format, "staffing", start, end)

    @endpoint("GET", "/report/adherence", summary="Schedule adherence", roles=READERS, query=AgentReportQuery,
              response=list[AdherenceFigures], extra_content_types=FILE_TYPES, tags=TAGS)
    async def adherence(request: ApiRequest) -> Any:
        """Per scheduled agent and interval: the time their state matched the schedule, and where
        it did not, by "planned/actual"."""
        query: AgentReportQuery = request.query
        start, end = span(query, query.interval)
        rows = await planning.adherence(report.database, report.config, start, end, query.interval,
                                        agent=query.agent)
        return await answer(rows, AdherenceFigures, query.format, "adherence", start, end)

    @endpoint("GET", "/report/intervals", summary="The day per interval, for charts", roles=READERS,
              query=IntervalQuery, response=list[IntervalPoint], extra_content_types=FILE_TYPES, tags=TAGS)
    async def intervals(request: ApiRequest) -> Any:
        """Offered, answered, abandoned, ASA and service level per quarter of an hour (or hour) of
        the range, today by default in the plugin's time zone: every interval is there, with zeros
        when it had no calls, for every queue together or the one named."""
        query: IntervalQuery = request.query
        start, end = span(query, query.interval)
        figures = await report.queues(start, end, query.interval, queue=query.queue)
        rows = interval_points(figures, report.buckets(start, end, query.interval))
        return await answer(rows, IntervalPoint, query.format, "intervals", start, end)

    @endpoint("GET", "/live", summary="Queue figures over the sliding window", roles=READERS,
              response=list[LiveQueue], tags=TAGS)
    async def live(request: ApiRequest) -> list[LiveQueue]:
        """Each queue's figures over the last `window` seconds, its callers waiting and the longest
        current wait (the live window that feeds the alerts and /metrics)."""
        return collector.live.figures(collector.api.now())

    return [journeys, journey, queues, agents, contacts, ivr, paths, availability, staffing, adherence, intervals,
            live]


def _days(start: float, end: float, zone: str) -> str:
    """The range's local days for a file name: "2026-12-06", or "2026-12-01-to-2026-12-07"."""
    local = ZoneInfo(zone)
    first = datetime.fromtimestamp(start, local).date()
    last = datetime.fromtimestamp(max(start, end - 1), local).date()  # `end` itself is not in the range
    return first.isoformat() if first == last else f"{first.isoformat()}-to-{last.isoformat()}"
