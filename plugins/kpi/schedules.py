"""Agent schedules as planned activity, and local-time buckets (docs/kpi.md "Schedules").

    plan = planned_activity(config.schedules, "Europe/Paris", start, end)
    plan["alice"]  # [Planned(start, end, "off"), Planned(..., "working"), Planned(..., "break:lunch"), ...]

A shift (`config.Shift`) is local wall-clock time in the configured zone on each of its weekdays;
an end at or before its start is on the next day (a night shift), and so is a break that starts
before the shift's start. Each agent's plan covers [start, end) without gaps: `working`,
`break:<reason>` (breaks win over work) or `off`. Local times are turned into instants by zoneinfo,
so a day of 23 or 25 hours gets its shifts right: a shift is as long as the clock on the wall says
(09:00 to 17:00 is 8 hours on a DST day too; 22:00 to 06:00 over the change is 7 or 9 hours).
A wall time that does not exist (02:30 on the spring change) is read with the offset before the
change, as `datetime` does with fold=0.

`bucket_bounds` cuts a range into 15-minute, hour or day buckets of local time (a day is
midnight to midnight local time). This module is pure: no clock, nothing but arithmetic on
the times it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from .config import Shift

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUCKETS = {"15min": 900, "hour": 3600, "day": 86400}

OFF = "off"
WORKING = "working"


class Planned(msgspec.Struct, frozen=True):
    """[start, end) of one planned activity: "working", "break:<reason>" or "off"."""

    start: float
    end: float
    activity: str


def parse_clock(text: str) -> time:
    """ "HH:MM" (24 h) to a time; a malformed value is a config error naming it."""
    hours, _, minutes = text.partition(":")
    try:
        parsed = time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"bad time of day {text!r}: expected HH:MM, 00:00 to 23:59") from None
    return parsed


def _instant(day: date, clock: time, zone: ZoneInfo) -> float:
    return datetime.combine(day, clock, tzinfo=zone).timestamp()


def shift_spans(shift: Shift, day: date, zone: ZoneInfo) -> tuple[tuple[float, float], list[tuple[float, float, str]]]:
    """The shift starting on local `day`: its (start, end) and its breaks' (start, end, reason)."""
    begins, ends = parse_clock(shift.start), parse_clock(shift.end)
    start = _instant(day, begins, zone)
    end = _instant(day + timedelta(days=1 if ends <= begins else 0), ends, zone)
    breaks = []
    for pause in shift.breaks:
        pause_begins, pause_ends = parse_clock(pause.start), parse_clock(pause.end)
        pause_day = day + timedelta(days=1 if pause_begins < begins else 0)
        pause_start = _instant(pause_day, pause_begins, zone)
        pause_end = _instant(pause_day + timedelta(days=1 if pause_ends <= pause_begins else 0), pause_ends, zone)
        breaks.append((max(pause_start, start), min(pause_end, end), pause.reason))
    return (start, end), breaks


def planned_activity(schedules: Mapping[str, Sequence[Shift]], timezone: str, start: float,
                     end: float) -> dict[str, list[Planned]]:
    """Each scheduled agent's plan over [start, end): contiguous Planned pieces, merged when alike."""
    zone = ZoneInfo(timezone)
    first = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)  # yesterday's night shift
    last = datetime.fromtimestamp(end, zone).date()
    plans: dict[str, list[Planned]] = {}
    for agent, shifts in schedules.items():
        work: list[tuple[float, float]] = []
        breaks: list[tuple[float, float, str]] = []
        day = first
        while day <= last:
            weekday = WEEKDAYS[day.weekday()]
            for shift in shifts:
                if weekday in shift.days:
                    span, pauses = shift_spans(shift, day, zone)
                    work.append(span)
                    breaks.extend(pauses)
            day += timedelta(days=1)
        plans[agent] = _paint(start, end, work, breaks)
    return plans


def _paint(start: float, end: float, work: list[tuple[float, float]],
           breaks: list[tuple[float, float, str]]) -> list[Planned]:
    """Lay work, then breaks over it, on an `off` background; cut to [start, end)."""
    cuts = {start, end}
    for a, b in work:
        cuts.update((a, b))
    for a, b, _ in breaks:
        cuts.update((a, b))
    points = sorted(t for t in cuts if start <= t <= end)
    pieces: list[Planned] = []
    for a, b in zip(points, points[1:]):
        if b <= a:
            continue
        middle = (a + b) / 2
        activity = OFF
        if any(x <= middle < y for x, y in work):
            activity = WORKING
        for x, y, reason in breaks:  # a break counts only within a shift
            if x <= middle < y and activity != OFF:
                activity = f"break:{reason}"
        if pieces and pieces[-1].activity == activity:
            pieces[-1] = Planned(pieces[-1].start, b, activity)
        else:
            pieces.append(Planned(a, b, activity))
    return pieces


def activity_at(plan: Sequence[Planned], at: float) -> str:
    for piece in plan:
        if piece.start <= at < piece.end:
            return piece.activity
    return OFF


def bucket_bounds(start: float, end: float, bucket: str | None, timezone: str) -> list[float]:
    """Bucket edges covering [start, end): start, every local 15 min / hour / midnight inside, end.

    With no bucket, the range is one bucket. The first and last buckets are cut at the range."""
    if bucket is None:
        return [start, end]
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}: use one of {', '.join(BUCKETS)}")
    zone = ZoneInfo(timezone)
    edges = [start]
    if bucket == "day":
        day = datetime.fromtimestamp(start, zone).date() + timedelta(days=1)
        while (edge := _instant(day, time(0), zone)) < end:
            edges.append(edge)
            day += timedelta(days=1)
    else:
        # Daylight saving moves clocks by whole hours (everywhere but Lord Howe Island), so
        # stepping in absolute time from the first local edge stays on local edges, and the
        # 25-hour day keeps its repeated hour as two buckets.
        step = BUCKETS[bucket]
        local = datetime.fromtimestamp(start, zone)
        offset = local.utcoffset().total_seconds()  # type: ignore[union-attr]
        edge = (start + offset) // step * step - offset + step
        while edge < end:
            edges.append(edge)
            edge += step
    edges.append(end)
    return edges
