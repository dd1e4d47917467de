"""Business hours: is a `Calendar` open at a given instant?

The instant is an aware datetime (the PBX clock, any zone); it is converted to the calendar's
own IANA zone with zoneinfo, so daylight-saving changes are handled by the tz database: a range
08:00-18:00 means 08:00-18:00 on the local wall clock, whatever the UTC offset that day.

Precedence for a local date, most specific first:
1. an override for that date (YYYY-MM-DD) replaces the day's hours (no ranges: closed all day);
2. a holiday on that date (YYYY-MM-DD) or every year on that day (MM-DD) closes the whole day;
3. otherwise the weekly hours of that weekday (several entries for one day add up).

A range is half-open, start <= time < end; "24:00" as an end means midnight at the end of
the day. Wall-clock times skipped by a spring-forward change simply never occur.

What this module does not do: check a calendar (the checker does: zone names, time syntax,
end after start), or read any clock.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ivr_dsl.ast import Calendar, TimeRange

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()


def zone_of(calendar: Calendar) -> ZoneInfo:
    """The calendar's zone; raises ValueError (not a zoneinfo internal) when it is unknown."""
    try:
        return ZoneInfo(calendar.timezone)
    except (ValueError, KeyError, OSError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"calendar {calendar.name!r}: unknown time zone {calendar.timezone!r}") from error


def seconds_of(clock: str) -> int:
    """Seconds since midnight of an "HH:MM" (or "HH:MM:SS") text; "24:00" is 86400."""
    parts = [int(part) for part in clock.split(":")]
    hours, minutes, seconds = (parts + [0, 0])[:3]
    return hours * 3600 + minutes * 60 + seconds


def ranges_on(calendar: Calendar, day: date) -> list[TimeRange]:
    """The opening ranges that apply on a local date, after overrides and holidays."""
    iso = day.isoformat()
    for override in calendar.overrides:
        if override.date == iso:
            return list(override.ranges)
    yearly = iso[5:]
    if any(holiday.date in (iso, yearly) for holiday in calendar.holidays):
        return []
    weekday = WEEKDAYS[day.weekday()]
    return [span for hours in calendar.weekly if weekday in hours.days for span in hours.ranges]


def local_time(calendar: Calendar, now: datetime) -> datetime:
    """`now` on the calendar's wall clock."""
    if now.tzinfo is None:
        raise ValueError("calendars need an aware datetime (one with a time zone)")
    return now.astimezone(zone_of(calendar))


def is_open(calendar: Calendar, now: datetime) -> bool:
    """True when `now` (aware) falls inside one of the day's opening ranges, in the calendar's zone."""
    local = local_time(calendar, now)
    moment = _seconds_since_midnight(local.time())
    return any(seconds_of(span.start) <= moment < seconds_of(span.end) for span in ranges_on(calendar, local.date()))


def _seconds_since_midnight(clock: time) -> float:
    return clock.hour * 3600 + clock.minute * 60 + clock.second + clock.microsecond / 1e6
