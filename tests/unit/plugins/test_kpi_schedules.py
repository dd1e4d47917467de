"""Schedules, local buckets and adherence, in exact seconds (Europe/Paris, DST days included)."""

from datetime import datetime

import pytest

from plugins.kpi.adherence import AdherenceMonitor, adherence, actual_states
from plugins.kpi.config import Break, Config, Shift
from plugins.kpi.records import AgentLogEntry
from plugins.kpi.schedules import Planned, bucket_bounds, planned_activity

PARIS = "Europe/Paris"


def at(text: str) -> float:
    """An instant written with its UTC offset, e.g. "2025-03-31T09:00+02:00"."""
    return datetime.fromisoformat(text).timestamp()


DAY_SHIFT = Shift(days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00",
                  breaks=[Break(start="12:00", end="12:30", reason="lunch")])
NIGHT_SHIFT = Shift(days=["sat"], start="22:00", end="06:00", breaks=[Break(start="01:00", end="01:30", reason="meal")])


def test_a_weekday_shift_with_lunch():
    plan = planned_activity({"alice": [DAY_SHIFT]}, PARIS, at("2025-06-02T00:00+02:00"), at("2025-06-03T00:00+02:00"))
    assert plan["alice"] == [
        Planned(at("2025-06-02T00:00+02:00"), at("2025-06-02T09:00+02:00"), "off"),
        Planned(at("2025-06-02T09:00+02:00"), at("2025-06-02T12:00+02:00"), "working"),
        Planned(at("2025-06-02T12:00+02:00"), at("2025-06-02T12:30+02:00"), "break:lunch"),
        Planned(at("2025-06-02T12:30+02:00"), at("2025-06-02T17:00+02:00"), "working"),
        Planned(at("2025-06-02T17:00+02:00"), at("2025-06-03T00:00+02:00"), "off"),
    ]


def test_a_night_shift_over_the_spring_change_is_seven_hours():
    # Saturday 29 March 2025 22:00 CET to Sunday 06:00 CEST: the clocks skip 02:00-03:00.
    plan = planned_activity({"bob": [NIGHT_SHIFT]}, PARIS, at("2025-03-29T12:00+01:00"), at("2025-03-30T12:00+02:00"))
    pieces = plan["bob"]
    assert [p.activity for p in pieces] == ["off", "working", "break:meal", "working", "off"]
    assert pieces[1].start == at("2025-03-29T22:00+01:00")
    assert pieces[2].start == at("2025-03-30T01:00+01:00")
    assert pieces[3].end == at("2025-03-30T06:00+02:00")
    assert sum(p.end - p.start for p in pieces if p.activity != "off") == 7 * 3600


def test_the_night_shift_of_the_day_before_the_range_counts():
    plan = planned_activity({"bob": [NIGHT_SHIFT]}, PARIS, at("2025-03-30T00:00+01:00"), at("2025-03-30T12:00+02:00"))
    assert plan["bob"][0] == Planned(at("2025-03-30T00:00+01:00"), at("2025-03-30T01:00+01:00"), "working")


def test_a_day_shift_on_the_autumn_change_keeps_its_wall_clock_hours():
    sunday = Shift(days=["sun"], start="01:00", end="09:00")
    plan = planned_activity({"carol": [sunday]}, PARIS, at("2025-10-26T00:00+02:00"), at("2025-10-27T00:00+01:00"))
    working = [p for p in plan["carol"] if p.activity == "working"]
    assert working == [Planned(at("2025-10-26T01:00+02:00"), at("2025-10-26T09:00+01:00"), "working")]
    assert working[0].end - working[0].start == 9 * 3600  # 01:00 to 09:00 on a 25-hour day


def test_local_buckets_on_dst_days():
    days = bucket_bounds(at("2025-10-25T00:00+02:00"), at("2025-10-28T00:00+01:00"), "day", PARIS)
    assert [b - a for a, b in zip(days, days[1:])] == [86400, 90000, 86400]
    hours = bucket_bounds(at("2025-03-30T00:00+01:00"), at("2025-03-30T05:00+02:00"), "hour", PARIS)
    assert len(hours) - 1 == 4  # 00, 01, 03, 04: 02:00 does not exist that night
    quarters = bucket_bounds(at("2025-06-02T09:05+02:00"), at("2025-06-02T10:00+02:00"), "15min", PARIS)
    assert quarters == [at("2025-06-02T09:05+02:00"), at("2025-06-02T09:15+02:00"), at("2025-06-02T09:30+02:00"),
                        at("2025-06-02T09:45+02:00"), at("2025-06-02T10:00+02:00")]
    assert bucket_bounds(1.0, 2.0, None, PARIS) == [1.0, 2.0]
    with pytest.raises(ValueError, match="unknown bucket"):
        bucket_bounds(1.0, 2.0, "week", PARIS)


def log(agent: str, rows: list[tuple[str, str, str, str]], reason: str = "") -> list[AgentLogEntry]:
    """Rows from (since, at, old, new)."""
    return [AgentLogEntry(at=at(b), node="pbx1", agent=agent, old=old, new=new, reason=reason, since=at(a))
            for a, b, old, new in rows]


def test_adherence_in_exact_seconds():
    day = (at("2025-06-02T00:00+02:00"), at("2025-06-03T00:00+02:00"))
    plan = planned_activity({"alice": [DAY_SHIFT]}, PARIS, *day)
    rows = log("alice", [
        ("2025-06-02T00:00+02:00", "2025-06-02T09:04+02:00", "logged-out", "available"),  # 4 min late
        ("2025-06-02T09:04+02:00", "2025-06-02T10:00+02:00", "available", "on-call"),
        ("2025-06-02T10:00+02:00", "2025-06-02T10:10+02:00", "on-call", "wrap-up"),
        ("2025-06-02T10:10+02:00", "2025-06-02T10:11+02:00", "wrap-up", "paused"),
        ("2025-06-02T10:11+02:00", "2025-06-02T12:05+02:00", "paused", "available"),  # early lunch from 10:11
        ("2025-06-02T12:05+02:00", "2025-06-02T12:15+02:00", "available", "paused"),  # back in the break
        ("2025-06-02T12:15+02:00", "2025-06-02T12:40+02:00", "paused", "available"),  # 10 min late
        ("2025-06-02T12:40+02:00", "2025-06-02T17:20+02:00", "available", "logged-out"),  # 20 min overtime
    ])
    [whole] = adherence(plan, rows, list(day))
    assert whole.scheduled_seconds == 8 * 3600
    out = {"working/logged-out": 240.0, "working/paused": 6540.0 + 600.0, "break:lunch/available": 600.0,
           "off/available": 1200.0}
    assert whole.out_of_adherence == out
    assert whole.in_adherence_seconds == 8 * 3600 - 240 - 6540 - 600 - 600
    assert whole.adherence == pytest.approx(whole.in_adherence_seconds / (8 * 3600), rel=1e-15)
    hourly = adherence(plan, rows, bucket_bounds(*day, "hour", PARIS))
    assert len(hourly) == 24
    nine = next(f for f in hourly if f.interval_start == at("2025-06-02T09:00+02:00"))
    assert (nine.scheduled_seconds, nine.in_adherence_seconds, nine.out_of_adherence) == \
        (3600.0, 3360.0, {"working/logged-out": 240.0})
    night = hourly[0]
    assert (night.scheduled_seconds, night.adherence, night.out_of_adherence) == (0.0, None, {})
    # Split at bucket edges, the buckets add up to the whole.
    assert sum(f.in_adherence_seconds for f in hourly) == whole.in_adherence_seconds


def test_an_agent_with_no_log_is_logged_out_all_along():
    day = (at("2025-03-29T12:00+01:00"), at("2025-03-30T12:00+02:00"))
    plan = planned_activity({"bob": [NIGHT_SHIFT]}, PARIS, *day)
    [figures] = adherence(plan, [], list(day))
    assert figures.scheduled_seconds == 7 * 3600
    assert figures.adherence == 0.0
    assert figures.out_of_adherence == {"working/logged-out": 6.5 * 3600, "break:meal/logged-out": 1800.0}


def test_actual_states_fill_gaps_and_continue_the_last_state():
    rows = log("dave", [("2025-06-02T10:00+02:00", "2025-06-02T11:00+02:00", "available", "paused")])
    states = actual_states(rows, at("2025-06-02T09:00+02:00"), at("2025-06-02T12:00+02:00"))
    assert states["dave"] == [(at("2025-06-02T09:00+02:00"), at("2025-06-02T10:00+02:00"), "logged-out"),
                              (at("2025-06-02T10:00+02:00"), at("2025-06-02T11:00+02:00"), "available"),
                              (at("2025-06-02T11:00+02:00"), at("2025-06-02T12:00+02:00"), "paused")]


def test_the_monitor_alerts_once_after_the_grace_and_again_after_coming_back():
    config = Config(timezone=PARIS, schedules={"alice": [DAY_SHIFT]}, adherence_grace=300.0)
    monitor = AdherenceMonitor(config)
    start = at("2025-06-02T08:50+02:00")
    monitor.on_state("alice", "logged-out", "", start)
    assert monitor.tick(start) == []
    nine = at("2025-06-02T09:00+02:00")
    assert monitor.next_check(start) == nine  # the shift starts
    assert monitor.tick(nine + 299) == []
    [alert] = monitor.tick(nine + 300)
    assert (alert.agent, alert.planned, alert.actual, alert.since, alert.seconds) == \
        ("alice", "working", "logged-out", nine, 300.0)
    assert monitor.tick(nine + 900) == []  # once per stretch
    monitor.on_state("alice", "available", "login", nine + 1000)
    monitor.on_state("alice", "paused", "coffee", nine + 2000)
    assert monitor.next_check(nine + 2000) == nine + 2300
    [again] = monitor.tick(nine + 2400)
    assert (again.planned, again.actual, again.since, again.seconds) == ("working", "paused", nine + 2000, 400.0)
    # Paused through lunch: in adherence at 12:00 exactly, out again at 12:30.
    noon = at("2025-06-02T12:00+02:00")
    assert monitor.tick(noon + 600) == []
    [late] = monitor.tick(noon + 1800 + 301)
    assert (late.planned, late.actual, late.since) == ("working", "paused", noon + 1800)


def test_the_monitor_ignores_agents_without_a_schedule():
    monitor = AdherenceMonitor(Config(timezone=PARIS, schedules={"alice": [DAY_SHIFT]}))
    monitor.on_state("zed", "available", "login", at("2025-06-02T03:00+02:00"))
    assert monitor.tick(at("2025-06-02T04:00+02:00")) == []
