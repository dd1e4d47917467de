"""Report intervals: the bucket boundaries of a range in a time zone, and the SQL that buckets.

`Buckets(start, end, interval, zone)` lists the boundaries b[0] = start < b[1] < ... < b[n] = end
of the buckets covering [start, end): every instant inside the range at which the local clock
reads a multiple of 15 minutes ("15min"), a whole hour ("hour") or midnight ("day"); none for
the whole range (interval None). Daylight saving is honoured because the boundaries are
real instants found with zoneinfo: a local day around a change lasts 23 or 25 hours, the night
of the autumn change has 25 hourly buckets (the repeated hour twice), the spring one 23. The
first and last buckets are cut to the range when it does not start or end on a boundary.

`index_sql(column)` is an SQL expression giving the bucket number (0..n-1) of a time in the
range, using only arithmetic and CASE so that it runs unchanged, and gives the same answer, on
SQLite and PostgreSQL. The boundaries fall into a few runs of equal steps (one run per stretch
of the range without a change of step: an hourly grid is one run across a DST change, a daily
grid breaks into three at each change), and within a run the number is a floor division:

    i0 + floor((t - b[i0]) / step)

Floor is not spelled the same way in both dialects, and `CAST(x AS BIGINT)` truncates on
SQLite but rounds on PostgreSQL, so the expression takes k = CAST(...) and subtracts one when
k * step > t - b[i0] (then k was rounded up). `t - b[i0]` is exact in floating point (two
epoch times within a factor of two of each other: Sterbenz), and k * step is an exact
integer, so the comparison decides exactly and both databases agree with `index()` here.

It reads no clock and does no I/O.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

INTERVALS = ("15min", "hour", "day")
_STEP = {"15min": 900, "hour": 3600}
_SCAN = 1800  # seconds between offset probes: every zone's offset lasts longer than this


def parse_interval(name: str | None) -> str | None:
    """"15min", "hour", "day", or None/"none"/"" for the whole range; a ValueError otherwise."""
    if name in (None, "", "none"):
        return None
    if name not in INTERVALS:
        raise ValueError(f"unknown interval {name!r}: expected one of {', '.join(INTERVALS)} or none")
    return name


def _offset(zone: ZoneInfo, at: float) -> int:
    return int(datetime.fromtimestamp(at, zone).utcoffset().total_seconds())


def offset_periods(zone: ZoneInfo, start: float, end: float) -> list[tuple[float, float, int]]:
    """[(from, to, utc offset seconds)] covering [start, end): the offset is constant in each."""
    periods: list[tuple[float, float, int]] = []
    here, offset = start, _offset(zone, start)
    probe = start
    while probe < end:
        step_to = min(probe + _SCAN, end)
        if _offset(zone, step_to) != offset and step_to > probe:
            low, high = probe, step_to  # the change is in (low, high]: bisect to the second
            while high - low > 1e-3:
                middle = (low + high) / 2
                if _offset(zone, middle) == offset:
                    low = middle
                else:
                    high = middle
            change = float(round(high)) if _offset(zone, float(round(high))) != offset else high
            periods.append((here, change, offset))
            here, offset = change, _offset(zone, change)
        probe = step_to
        if probe >= end:
            break
    periods.append((here, end, offset))
    return periods


def _grid(zone: ZoneInfo, start: float, end: float, interval: str) -> list[float]:
    """The boundary instants strictly inside (start, end)."""
    points: list[float] = []
    if interval == "day":
        day = datetime.fromtimestamp(start, zone).date()
        while True:
            day += timedelta(days=1)
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
            if midnight >= end:
                return points
            if midnight > start:
                points.append(float(midnight))
    step = _STEP[interval]
    for low, high, offset in offset_periods(zone, start, end):
        # local time = t + offset; a boundary where it is a multiple of the step
        k = -(-(int(low) + offset) // step)
        while True:
            at = k * step - offset
            if at >= high:
                break
            if at > start and at >= low:
                points.append(float(at))
            k += 1
    return sorted(set(points))


class Buckets:
    """The buckets of [start, end) for `interval` ("15min", "hour", "day" or None) in `zone`."""

    def __init__(self, start: float, end: float, interval: str | None, zone: str | ZoneInfo = "UTC") -> None:
        if not end > start:
            raise ValueError(f"empty range: end {end} is not after start {start}")
        self.zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        self.interval = parse_interval(interval)
        self.start, self.end = float(start), float(end)
        inside = [] if self.interval is None else _grid(self.zone, self.start, self.end, self.interval)
        self.bounds: list[float] = [self.start, *inside, self.end]

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @property
    def starts(self) -> list[float]:
        return self.bounds[:-1]

    def span(self, i: int) -> tuple[float, float]:
        return self.bounds[i], self.bounds[i + 1]

    def index(self, at: float) -> int:
        """The bucket of an instant in [start, end) (the same answer as index_sql)."""
        return bisect.bisect_right(self.bounds, at) - 1

    def runs(self) -> list[tuple[int, int, float]]:
        """[(first bucket, bucket after the last, step)]: stretches of equal-length buckets."""
        found: list[tuple[int, int, float]] = []
        i, n = 0, len(self)
        while i < n:
            step = self.bounds[i + 1] - self.bounds[i]
            j = i + 1
            while j < n and self.bounds[j + 1] - self.bounds[j] == step:
                j += 1
            found.append((i, j, step))
            i = j
        return found

    def index_sql(self, column: str) -> str:
        """SQL for the bucket number of `column` (a time in [start, end); `end` gives n)."""
        parts = []
        for first, after, step in self.runs():
            base = _literal(self.bounds[first])
            if after - first == 1:
                parts.append((after, str(first)))
                continue
            size = _literal(step)
            quotient = f"CAST(({column} - {base}) / {size} AS BIGINT)"
            parts.append((after, f"({first} + {quotient} - CASE WHEN {quotient} * {size} > {column} - {base} "
                                 f"THEN 1 ELSE 0 END)"))
        if len(parts) == 1:
            return parts[0][1]
        cases = " ".join(f"WHEN {column} < {_literal(self.bounds[after])} THEN {sql}" for after, sql in parts[:-1])
        return f"(CASE {cases} ELSE {parts[-1][1]} END)"

    def label(self, i: int) -> str:
        """The bucket's start in local time, ISO 8601 with its offset."""
        return local_text(self.bounds[i], self.zone)


def _literal(value: float) -> str:
    """A number as SQL text: an integer when it is one (exact in both dialects), else repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def local_text(at: float, zone: ZoneInfo) -> str:
    moment = datetime.fromtimestamp(at, zone)
    return moment.isoformat(timespec="seconds") if moment.microsecond == 0 else moment.isoformat()


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)
