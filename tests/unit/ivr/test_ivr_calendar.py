"""Calendars: weekly hours in the calendar's zone, holidays, overrides, DST."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr_dsl.ast import Calendar, Holiday, Override, TimeRange, WeeklyHours
from ivr_dsl.calendar import is_open, ranges_on, seconds_of

WARSAW = ZoneInfo("Europe/Warsaw")

SUPPORT = Calendar(
    name="support",
    timezone="Europe/Warsaw",
    weekly=[
        WeeklyHours(["mon", "tue", "wed", "thu", "fri"], [TimeRange("08:00", "12:00"), TimeRange("13:00", "18:00")]),
        WeeklyHours(["sat"], [TimeRange("09:00", "13:00")]),
    ],
    holidays=[Holiday("2026-12-25", "Christmas"), Holiday("01-01", "New Year")],
    overrides=[Override("2026-12-24", [TimeRange("08:00", "14:00")]), Override("2026-12-31", [])],
)


def warsaw(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=WARSAW)


@pytest.mark.parametrize(("moment", "expected"), [
    (warsaw(2026, 11, 23, 7, 59), False),  # Monday, before opening
    (warsaw(2026, 11, 23, 8, 0), True),  # start is inclusive
    (warsaw(2026, 11, 23, 12, 0), False),  # lunch: end is exclusive
    (warsaw(2026, 11, 23, 12, 30), False),
    (warsaw(2026, 11, 23, 17, 59, 59), True),
    (warsaw(2026, 11, 23, 18, 0), False),
    (warsaw(2026, 11, 28, 10, 0), True),  # Saturday morning
    (warsaw(2026, 11, 28, 14, 0), False),
    (warsaw(2026, 11, 29, 10, 0), False),  # Sunday
])
def test_weekly_hours(moment, expected):
    assert is_open(SUPPORT, moment) is expected


def test_dated_holiday_closes_the_whole_day_but_only_that_year():
    assert not is_open(SUPPORT, warsaw(2026, 12, 25, 10))
    assert is_open(SUPPORT, warsaw(2025, 12, 25, 10))  # a Thursday in 2025, not a holiday then


def test_yearly_holiday_closes_every_year():
    assert not is_open(SUPPORT, warsaw(2027, 1, 1, 10))  # Friday
    assert not is_open(SUPPORT, warsaw(2029, 1, 1, 10))  # Monday


def test_override_replaces_the_days_hours():
    assert is_open(SUPPORT, warsaw(2026, 12, 24, 13, 30))  # no lunch break on Christmas Eve
    assert not is_open(SUPPORT, warsaw(2026, 12, 24, 14, 0))
    assert not is_open(SUPPORT, warsaw(2026, 12, 31, 10))  # closed all day


def test_override_wins_over_holiday():
    calendar = Calendar("c", "UTC", holidays=[Holiday("12-24")], overrides=[Override("2026-12-24", [TimeRange("09:00", "10:00")])])
    assert is_open(calendar, datetime(2026, 12, 24, 9, 30, tzinfo=UTC))
    assert not is_open(calendar, datetime(2027, 12, 24, 9, 30, tzinfo=UTC))


def test_instant_in_another_zone_is_converted_to_the_calendars():
    # 07:30 UTC is 08:30 in Warsaw in winter (UTC+1): open.
    assert is_open(SUPPORT, datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    # 06:30 UTC is 08:30 in summer (UTC+2): open; 06:30 UTC in winter is 07:30: closed.
    assert is_open(SUPPORT, datetime(2026, 7, 6, 6, 30, tzinfo=UTC))
    assert not is_open(SUPPORT, datetime(2026, 11, 23, 6, 30, tzinfo=UTC))


def test_wall_clock_hours_hold_across_daylight_saving_changes():
    # Europe/Warsaw springs forward on Sunday 2026-03-29 and falls back on 2026-10-25.
    always = Calendar("all", "Europe/Warsaw", weekly=[WeeklyHours(["mon", "sun"], [TimeRange("08:00", "18:00")])])
    assert is_open(always, datetime(2026, 3, 29, 6, 0, tzinfo=UTC))  # 08:00 CEST
    assert not is_open(always, datetime(2026, 3, 29, 5, 59, tzinfo=UTC))
    assert is_open(always, datetime(2026, 10, 25, 7, 0, tzinfo=UTC))  # 08:00 CET
    assert not is_open(always, datetime(2026, 10, 25, 6, 59, tzinfo=UTC))


def test_end_of_day_is_24_00():
    night = Calendar("n", "UTC", weekly=[WeeklyHours(["mon"], [TimeRange("20:00", "24:00")])])
    assert is_open(night, datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC))
    assert not is_open(night, datetime(2026, 11, 24, 0, 0, tzinfo=UTC))
    assert seconds_of("24:00") == 86400


def test_ranges_on_a_date():
    assert [span.start for span in ranges_on(SUPPORT, warsaw(2026, 11, 23).date())] == ["08:00", "13:00"]
    assert ranges_on(SUPPORT, warsaw(2026, 12, 25).date()) == []


def test_naive_instants_and_unknown_zones_are_refused():
    with pytest.raises(ValueError, match="aware"):
        is_open(SUPPORT, datetime(2026, 11, 23, 10))
    with pytest.raises(ValueError, match="unknown time zone"):
        is_open(Calendar("x", "Mars/Olympus"), datetime(2026, 11, 23, tzinfo=UTC))
