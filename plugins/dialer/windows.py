"""Calling windows in a lead's local time (zoneinfo, so daylight saving time is the zone's own).

A window is open at `now` for a lead when it is open in every one of the lead's time zones (a
lead whose zone was derived from a country spanning several has them all: leads.py). `opens_at`
finds when the windows next open: the intersection of unions of intervals opens at one of the
intervals' starts, so the candidates are the window starts, in each zone, over the next days.
Pure: `now` is a parameter (seconds since the epoch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from .config import DAYS, Window, parse_clock

HORIZON_DAYS = 8  # a week of windows, and a day for zones ahead of or behind UTC


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _open_in(windows: Sequence[Window], zone_name: str, now: float) -> bool:
    local = datetime.fromtimestamp(now, zone(zone_name))
    day = DAYS[local.weekday()]
    clock = local.time().replace(tzinfo=None)
    return any(day in window.days and parse_clock(window.start) <= clock < parse_clock(window.end)
               for window in windows)


def is_open(windows: Sequence[Window], zones: Sequence[str], now: float) -> bool:
    """May a lead in `zones` be called at `now`?"""
    return all(_open_in(windows, name, now) for name in zones)


def opens_at(windows: Sequence[Window], zones: Sequence[str], now: float) -> float | None:
    """When the windows next open for a lead in `zones` (`now` if they are open), or None if they
    do not within HORIZON_DAYS (windows whose zones never overlap)."""
    if is_open(windows, zones, now):
        return now
    candidates: set[float] = set()
    for name in zones:
        today = datetime.fromtimestamp(now, zone(name)).date()
        for offset in range(-1, HORIZON_DAYS + 1):
            date = today + timedelta(days=offset)
            for window in windows:
                if DAYS[date.weekday()] in window.days:
                    start = datetime.combine(date, parse_clock(window.start), tzinfo=zone(name)).timestamp()
                    if start > now:
                        candidates.add(start)
    for candidate in sorted(candidates):
        if is_open(windows, zones, candidate):
            return candidate
    return None


def local_time(zones: Sequence[str], now: float) -> str:
    """The lead's local time(s) at `now`, for explanations: "Mon 07:12 Europe/Warsaw"."""
    return ", ".join(datetime.fromtimestamp(now, zone(name)).strftime(f"%a %H:%M {name}") for name in zones)
