"""What the kpi plugin's admin endpoints are asked: the query strings as typed Structs, and the
time range they name.

The admin API decodes each query string into one of these Structs (an unknown parameter or a
value of the wrong type is a 400 naming it, before a handler runs); their fields, with the
descriptions here, are the parameters of the OpenAPI document. `from` and `to` stay text until
`time_range` reads them: seconds since the epoch, or a local ISO date or date-time in the
plugin's time zone ("2026-12-06", "2026-12-06T09:00"; an offset, "+01:00", is honoured).

What this module does not do: run a report (report.py, search.py) or answer HTTP (admin.py).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import msgspec
from msgspec import Meta

from sdk.admin import bad_input

from .export import Format
from .search import Outcome

__all__ = [
    "AgentReportQuery", "ContactReportQuery", "IntervalQuery", "IvrPathQuery", "IvrReportQuery", "JourneyQuery",
    "QueueReportQuery", "ReportQuery", "StaffingQuery", "parse_time", "time_range",
]

MAX_ROWS = 100_000  # one answer's journeys; page with offset beyond that
MAX_BUCKETS = 10_000  # a report's intervals: 104 days of quarters, 416 of hours, 27 years of days
LAST_TIME = 221845392000.0  # 9000-01-01T00:00:00Z: far enough, and days after it still fit in a datetime
STEP_SECONDS = {"15min": 900, "hour": 3600, "day": 86400}

Time = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[0-9][0-9eE.:+\-TZ ]*$", description=(
    "seconds since the epoch, or a local ISO 8601 date or date-time in the plugin's time zone "
    "(2026-12-06, 2026-12-06T09:00); the default range is today"))]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                           description="a name as the PBX writes it (no control characters)")]
Interval = Annotated[Literal["15min", "hour", "day"], Meta(
    description="cut the range into local quarters of an hour, hours or days; none: one row for the range")]
FileFormat = Annotated[Format, Meta(description="json, or a file to download: csv or xlsx (typed cells)")]
Seconds = Annotated[float, Meta(gt=0, le=86400)]


class ReportQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The range of a report, how to cut it, and what to answer."""

    start: Time | None = msgspec.field(default=None, name="from")
    end: Time | None = msgspec.field(default=None, name="to")
    interval: Interval | None = None
    format: FileFormat = "json"


class QueueReportQuery(ReportQuery, forbid_unknown_fields=True, kw_only=True):
    """A queue report: every queue, or the one named."""

    queue: Name | None = None


class AgentReportQuery(ReportQuery, forbid_unknown_fields=True, kw_only=True):
    """An agent report: every agent, or the one named."""

    agent: Name | None = None


class ContactReportQuery(ReportQuery, forbid_unknown_fields=True, kw_only=True):
    """Contacts for the whole PBX, per queue (`queue`: that queue's row), or per scenario
    (`scenario`: that scenario's row, or `all` for every scenario's)."""

    queue: Name | None = None
    scenario: Name | None = None


class IvrReportQuery(ReportQuery, forbid_unknown_fields=True, kw_only=True):
    """IVR drop-off: every scenario, or the one named."""

    scenario: Name | None = None


class StaffingQuery(ReportQuery, forbid_unknown_fields=True, kw_only=True):
    """Staffing by Erlang C (model c) or Erlang A (model a, which needs the callers' patience), for
    the volume and AHT the queues saw, or for a forecast: `calls` per interval at `aht` seconds."""

    queue: Name | None = None
    model: Literal["c", "a"] = "c"
    patience: Annotated[Seconds, Meta(description="callers' mean patience in seconds (Erlang A)")] | None = None
    calls: Annotated[float, Meta(ge=0, le=100_000, description="forecast calls per interval")] | None = None
    aht: Annotated[Seconds, Meta(description="forecast average handle time in seconds")] | None = None


class IntervalQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The day's charts: offered, answered, abandoned, ASA and service level per quarter or hour
    of the range (today by default), every interval present, for every queue together or one."""

    start: Time | None = msgspec.field(default=None, name="from")
    end: Time | None = msgspec.field(default=None, name="to")
    interval: Literal["15min", "hour"] = "15min"
    queue: Name | None = None
    format: FileFormat = "json"


class IvrPathQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The most frequent paths through the IVR in the range (today by default)."""

    start: Time | None = msgspec.field(default=None, name="from")
    end: Time | None = msgspec.field(default=None, name="to")
    scenario: Name | None = None
    limit: Annotated[int, Meta(ge=1, le=1000, description="how many paths, most frequent first")] = 20
    format: FileFormat = "json"


class JourneyQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A journey search: journeys started in the range (today by default) that meet every filter
    given, oldest first, a page at a time."""

    start: Time | None = msgspec.field(default=None, name="from")
    end: Time | None = msgspec.field(default=None, name="to")
    caller: Annotated[Name, Meta(description="a part of the caller's number")] | None = None
    agent: Annotated[Name, Meta(description="an agent who took part in the journey")] | None = None
    queue: Annotated[Name, Meta(description="the last queue the journey reached")] | None = None
    outcome: Outcome | None = None
    state: Literal["complete", "callback-pending"] | None = None
    scenario: Name | None = None
    direction: Literal["inbound", "outbound"] | None = None
    disposition: Name | None = None
    min_wait: Annotated[float, Meta(ge=0, le=1e9, description="waited in a queue at least this many seconds")] \
        | None = None
    ivr: Annotated[Name, Meta(description="a text found in the IVR path: a node's name, or part of one")] \
        | None = None
    limit: Annotated[int, Meta(ge=1, le=MAX_ROWS, description=(
        "journeys in this page: 100 by default in JSON, every match (up to 100,000) in a file"))] | None = None
    offset: Annotated[int, Meta(ge=0, le=10**9, description="journeys to skip (the previous page's next_offset)")] = 0
    format: FileFormat = "json"


def parse_time(text: str, zone: str, field: str) -> float:
    """Seconds since the epoch, from epoch seconds or a local ISO date / date-time in `zone`."""
    try:
        moment = float(text)
    except ValueError:
        try:
            local = datetime.fromisoformat(text.strip())
            if local.tzinfo is None:
                local = local.replace(tzinfo=ZoneInfo(zone))
            moment = local.timestamp()
        except (ValueError, OverflowError, OSError):
            raise bad_input(f"{field} must be seconds since the epoch or an ISO date, not {text!r}", field) from None
    if not (math.isfinite(moment) and 0 <= moment <= LAST_TIME):
        raise bad_input(f"{field} must be a time between 1970 and the year 9000, not {text!r}", field)
    return moment


def _day_start(at: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(at, zone).replace(hour=0, minute=0, second=0, microsecond=0)


def _next_day(day: datetime, zone: ZoneInfo) -> float:
    following = (day + timedelta(days=1)).date()
    return datetime(following.year, following.month, following.day, tzinfo=zone).timestamp()


def time_range(start: str | None, end: str | None, zone: str, now: float,
               interval: str | None = None) -> tuple[float, float]:
    """[from, to): by default today (local midnight to midnight); `to` alone ends the range
    there, `from` alone runs to the end of today (or of its own day, when that is later).
    A range cut into more than MAX_BUCKETS intervals is refused (field `interval`)."""
    local = ZoneInfo(zone)
    first = parse_time(start, zone, "from") if start is not None else None
    last = parse_time(end, zone, "to") if end is not None else None
    if first is None:
        first = _day_start(last if last is not None else now, local).timestamp()
        if last is not None and first >= last:
            first = _day_start(last - 1, local).timestamp()
    if last is None:
        last = max(_next_day(_day_start(now, local), local), _next_day(_day_start(first, local), local))
    if last <= first:
        raise bad_input("to must be after from", "to")
    if interval is not None and (last - first) / STEP_SECONDS[interval] > MAX_BUCKETS:
        raise bad_input(f"{interval} intervals over this range are more than {MAX_BUCKETS}: ask for a shorter "
                        f"range or a longer interval", "interval")
    return first, last
