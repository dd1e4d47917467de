"""The historical KPI report (plugins/kpi/report.py) on hand-made rows with exact expected figures,
on SQLite and PostgreSQL (the `database` fixture of tests/conftest.py), each read both ways: from
the rollups the store keeps, and from the raw tables (`way`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from plugins.kpi.config import Config, Rate, ServiceTarget
from plugins.kpi.figures import AgentFigures, Availability, ContactFigures, IvrDropOff, QueueFigures
from plugins.kpi.intervals import Buckets, parse_interval
from plugins.kpi.rates import RateTable
from plugins.kpi.records import AgentCall, AgentLogEntry, Journey, QueueCall
from plugins.kpi.report import Report
from plugins.kpi.store import RecordStore

PARIS = ZoneInfo("Europe/Paris")
CONFIG = Config(timezone="Europe/Paris", targets={"sales": ServiceTarget(seconds=30, goal=0.9)})


def at(day: int, hour: int, minute: int = 0, second: float = 0, month: int = 6) -> float:
    whole = int(second)
    return datetime(2024, month, day, hour, minute, whole, tzinfo=PARIS).timestamp() + (second - whole)


def visit(journey: str, queue: str, joined: float, outcome: str, wait: float, agent: str | None = None,
          handle: float = 0.0, transferred: bool = False) -> QueueCall:
    left = None if outcome == "waiting" else joined + wait
    return QueueCall(journey_id=journey, queue=queue, joined_at=joined, left_at=left, outcome=outcome,
                     wait_seconds=wait, agent=agent, priority=0, position=1, callback=False, handle_seconds=handle,
                     transferred=transferred)


def segment(journey: str, agent: str, queue: str | None, connected: float, talk: float, hold: float = 0.0,
            wrapup: float = 0.0, transferred: bool = False) -> AgentCall:
    return AgentCall(journey_id=journey, agent=agent, queue=queue, connected_at=connected,
                     ended_at=connected + talk + hold, talk_seconds=talk, hold_seconds=hold, wrapup_seconds=wrapup,
                     transferred=transferred)


def change(agent: str, since: float, until: float, old: str, new: str, reason: str = "") -> AgentLogEntry:
    return AgentLogEntry(at=until, node="pbx1", agent=agent, old=old, new=new, reason=reason, since=since)


def journey(journey_id: str, caller: str, started: float, outcome: str, **fields) -> Journey:
    return Journey(journey_id=journey_id, node="pbx1", call_ids=[journey_id], direction="inbound",
                   state=fields.pop("state", "complete"), outcome=outcome, caller=caller, caller_name=None,
                   callee="100", started_at=started, ended_at=started + 60, **fields)


@pytest.fixture(params=["rollups", "raw"])
def way(request) -> str:
    return request.param


async def report_over(database, rows, way: str, config: Config = CONFIG) -> Report:
    store = RecordStore(database, config)
    await store.setup()
    await store.write(rows)
    return Report(database, config, rollups=way == "rollups")


def close(value: float | None) -> float | None:
    return None if value is None else pytest.approx(value, abs=1e-9)


# Queues -------------------------------------------------------------------------------------------

QUEUE_ROWS = [
    visit("j1", "support", at(3, 10, 1), "answered", 10, "alice", handle=150),
    segment("j1", "alice", "support", at(3, 10, 1, 10), talk=100, hold=20, wrapup=30),
    visit("j2", "support", at(3, 10, 2), "answered", 25, "bob", handle=210, transferred=True),
    segment("j2", "bob", "support", at(3, 10, 2, 25), talk=200, wrapup=10, transferred=True),
    segment("j2", "carol", None, at(3, 10, 6), talk=70),  # the transferred part: not the queue's
    visit("j3", "support", at(3, 10, 3), "abandoned", 3),  # short, within
    visit("j4", "support", at(3, 10, 4), "abandoned", 40),
    visit("j5", "support", at(3, 10, 5), "timed-out", 300),
    visit("j6", "support", at(3, 10, 6), "overflowed", 60),
    visit("j7", "support", at(3, 10, 7), "callback-failed", 500),
    visit("j8", "support", at(3, 10, 8), "waiting", 0),  # callback pending: not counted yet
    visit("j9", "support", at(3, 10, 59, 59.5), "answered", 20, "alice", handle=50),  # exactly at the target
    segment("j9", "alice", "support", at(3, 10, 59, 59.5) + 20, talk=50),
    visit("j10", "support", at(3, 11, 0), "answered", 5, "alice", handle=60),  # the next hour, on its boundary
    segment("j10", "alice", "support", at(3, 11, 0, 5), talk=40, hold=5, wrapup=15),
    visit("j11", "sales", at(3, 10, 30), "answered", 30, "dave", handle=60),  # within sales' own 30 s target
    segment("j11", "dave", "sales", at(3, 10, 30, 30), talk=60),
    visit("j12", "support", at(3, 9, 59, 59.9), "answered", 1, "alice"),  # before the range
    visit("j13", "support", at(3, 12, 0), "answered", 1, "alice"),  # at the range's end: outside
]


async def test_queue_figures_every_field(database, way):
    report = await report_over(database, QUEUE_ROWS, way)
    figures = await report.queues(at(3, 10), at(3, 12), "hour")
    assert [(f.queue, f.interval_start) for f in figures] == [
        ("sales", at(3, 10)), ("support", at(3, 10)), ("support", at(3, 11))]
    support = figures[1]
    assert support == QueueFigures(
        queue="support", interval_start=at(3, 10), offered=8, answered=3, abandoned=2, short_abandoned=1,
        timed_out=1, overflowed=1, left=1, answered_within=2, abandoned_within=1, target_seconds=20.0, goal=0.8,
        sl=close(2 / 8), sl_answered=close(2 / 3), sl_no_short=close(2 / 7), sl_abandons=close(3 / 8),
        asa=close(55 / 3), avg_wait=close((10 + 25 + 3 + 40 + 300 + 60 + 500 + 20) / 8), longest_wait=500.0,
        abandon_rate=close(2 / 8), abandon_rate_no_short=close(1 / 7), aht=close((150 + 210 + 50) / 3),
        transfer_rate=close(1 / 3))
    assert figures[2] == QueueFigures(
        queue="support", interval_start=at(3, 11), offered=1, answered=1, abandoned=0, short_abandoned=0,
        timed_out=0, overflowed=0, left=0, answered_within=1, abandoned_within=0, target_seconds=20.0, goal=0.8,
        sl=1.0, sl_answered=1.0, sl_no_short=1.0, sl_abandons=1.0, asa=5.0, avg_wait=5.0, longest_wait=5.0,
        abandon_rate=0.0, abandon_rate_no_short=0.0, aht=60.0, transfer_rate=0.0)
    sales = figures[0]
    assert (sales.target_seconds, sales.goal, sales.answered_within, sales.sl, sales.aht) == (30.0, 0.9, 1, 1.0, 60.0)


async def test_queue_filter_whole_range_and_empty_rates(database, way):
    rows = [visit("a", "q", at(3, 10), "abandoned", 2), visit("b", "other", at(3, 10), "answered", 1)]
    report = await report_over(database, rows, way)
    [figures] = await report.queues(at(3, 0), at(4, 0), queue="q")
    assert figures.interval_start == at(3, 0)
    assert (figures.offered, figures.answered, figures.short_abandoned) == (1, 0, 1)
    # every answered-based rate, and the ones without short abandons, have a zero denominator
    assert (figures.sl_answered, figures.asa, figures.aht, figures.transfer_rate) == (None, None, None, None)
    assert (figures.sl_no_short, figures.abandon_rate_no_short) == (None, None)
    assert (figures.sl, figures.sl_abandons, figures.abandon_rate) == (0.0, 1.0, 1.0)
    assert await report.queues(at(5, 0), at(6, 0)) == []


async def test_a_dst_day_is_23_hours_and_buckets_by_local_midnight(database, way):
    rows = [visit("a", "q", at(31, 0, 30, month=3), "answered", 1),
            visit("b", "q", at(31, 23, 30, month=3), "answered", 1),  # +02:00 by then: same local day
            visit("c", "q", at(1, 0, 10, month=4), "answered", 1),
            visit("d", "q", at(30, 23, 59, 59.75, month=3), "answered", 1)]
    report = await report_over(database, rows, way)
    figures = await report.queues(at(30, 0, month=3), at(2, 0, month=4), "day")
    assert [(f.interval_start, f.offered) for f in figures] == [
        (at(30, 0, month=3), 1), (at(31, 0, month=3), 2), (at(1, 0, month=4), 1)]
    availability = await report.availability(at(30, 0, month=3), at(2, 0, month=4), "day")
    assert [a.seconds for a in availability] == [86400.0, 82800.0, 86400.0]
    hours = await report.queues(at(31, 0, month=3), at(1, 0, month=4), "hour")
    assert len(Buckets(at(31, 0, month=3), at(1, 0, month=4), "hour", PARIS)) == 23
    assert [f.interval_start for f in hours] == [at(31, 0, month=3), at(31, 23, month=3)]


def test_buckets_autumn_has_25_hours_and_sql_index_matches_python():
    buckets = Buckets(at(27, 0, month=10), at(28, 0, month=10), "hour", PARIS)
    assert len(buckets) == 25
    assert buckets.span(2)[1] - buckets.span(2)[0] == 3600  # the first 02:00 hour
    assert buckets.label(3) == "2024-10-27T02:00:00+01:00"  # and the second
    assert Buckets(at(27, 0, 7, month=10), at(27, 1, month=10), "15min", PARIS).bounds[:2] == [
        at(27, 0, 7, month=10), at(27, 0, 15, month=10)]
    assert parse_interval("none") is None
    with pytest.raises(ValueError, match="unknown interval"):
        parse_interval("week")


# Agents -------------------------------------------------------------------------------------------

AGENT_ROWS = [
    change("alice", at(2, 20), at(3, 9, 50), "logged-out", "available", "login"),
    change("alice", at(3, 9, 50), at(3, 9, 55), "available", "offered", "offer"),
    change("alice", at(3, 9, 55), at(3, 9, 56), "offered", "on-call", "answer"),
    change("alice", at(3, 9, 56), at(3, 10, 20), "on-call", "wrap-up", "hang-up"),  # split at 10:00
    change("alice", at(3, 10, 20), at(3, 10, 25), "wrap-up", "paused", "lunch"),
    change("alice", at(3, 10, 25), at(3, 10, 55), "paused", "paused", "training"),
    change("alice", at(3, 10, 55), at(3, 11, 10), "paused", "available", "unpause"),  # split at 11:00
    change("alice", at(3, 11, 10), at(3, 11, 30), "available", "logged-out", "logout"),
    change("bob", at(3, 8), at(3, 10, 30), "logged-out", "available", "login"),
    change("bob", at(3, 10, 30), at(3, 11, 30), "available", "logged-out", "logout"),
    segment("j1", "alice", "support", at(3, 9, 56), talk=1440, hold=60, wrapup=300),
]


async def test_agent_figures_split_at_bucket_boundaries(database, way):
    report = await report_over(database, AGENT_ROWS, way)
    figures = await report.agents(at(3, 9), at(3, 12), "hour", agent="alice")
    assert figures == [
        AgentFigures(agent="alice", interval_start=at(3, 9), logged_in_seconds=600.0, staffed_seconds=600.0,
                     busy_seconds=300.0, paused_seconds=0.0, pause_by_reason={}, pause_share={}, occupancy=0.5,
                     utilization=0.5, answered=1, calls_per_hour=6.0, talk_seconds=1440.0, hold_seconds=60.0,
                     wrapup_seconds=300.0, aht=1800.0),
        AgentFigures(agent="alice", interval_start=at(3, 10), logged_in_seconds=3600.0, staffed_seconds=1500.0,
                     busy_seconds=1500.0, paused_seconds=2100.0, pause_by_reason={"lunch": 1800.0, "training": 300.0},
                     pause_share={"lunch": 0.5, "training": close(300 / 3600)}, occupancy=1.0,
                     utilization=close(1500 / 3600), answered=0, calls_per_hour=0.0, talk_seconds=0.0,
                     hold_seconds=0.0, wrapup_seconds=0.0, aht=None),
        AgentFigures(agent="alice", interval_start=at(3, 11), logged_in_seconds=1800.0, staffed_seconds=1200.0,
                     busy_seconds=0.0, paused_seconds=600.0, pause_by_reason={"training": 600.0},
                     pause_share={"training": close(600 / 1800)}, occupancy=0.0, utilization=0.0, answered=0,
                     calls_per_hour=0.0, talk_seconds=0.0, hold_seconds=0.0, wrapup_seconds=0.0, aht=None),
    ]
    whole = await report.agents(at(3, 9), at(3, 12))
    assert [(f.agent, f.logged_in_seconds, f.staffed_seconds) for f in whole] == [
        ("alice", 6000.0, 3300.0), ("bob", 3600.0, 3600.0)]
    # a range starting inside an interval counts only its part
    [part] = await report.agents(at(3, 10, 10), at(3, 10, 22), agent="alice")
    assert (part.busy_seconds, part.logged_in_seconds) == (720.0, 720.0)


async def test_availability_is_time_with_one_staffed_agent(database, way):
    report = await report_over(database, AGENT_ROWS, way)
    assert await report.availability(at(3, 9), at(3, 12), "hour") == [
        Availability(interval_start=at(3, 9), seconds=3600.0, staffed_seconds=600.0, availability=close(1 / 6)),
        Availability(interval_start=at(3, 10), seconds=3600.0, staffed_seconds=3300.0,
                     availability=close(3300 / 3600)),
        Availability(interval_start=at(3, 11), seconds=3600.0, staffed_seconds=1800.0, availability=0.5),
    ]
    # starting while alice is on a call: staffed from the range's start
    [inside] = await report.availability(at(3, 10), at(3, 11))
    assert inside.staffed_seconds == 25 * 60 + 30 * 60


# Contacts, IVR, cost ------------------------------------------------------------------------------

CONTACT_ROWS = [
    journey("a0", "+33100", at(2, 12), "answered"),  # the day before: makes a1 a repeat
    journey("a1", "+33100", at(3, 10), "answered", queue="support", csat=5, nps=10, ces=2, mos=4.2, cost=0.5),
    journey("a2", "+33100", at(4, 9), "answered"),  # within 24 h after a1: a1 not resolved first time
    journey("b0", "+33200", at(2, 10, 59), "answered"),  # 24 h 1 min before b1: not a repeat
    journey("b1", "+33200", at(3, 11), "answered", queue="sales", csat=3, nps=6, ces=4, mos=3.5, cost=0.25),
    journey("c1", "+33300", at(3, 12), "blocked", hangup_by="system", status=503),
    journey("d1", "+33400", at(3, 13), "ivr", scenario="main", ivr_exit="caller_hangup", ivr_exit_node="menu",
            nps=9),
    journey("e1", "+33500", at(3, 14), "abandoned", queue="support", scenario="main", ivr_exit="queue",
            ivr_exit_node="to-queue"),
    journey("f1", "+33600", at(3, 15), "abandoned", state="callback-pending", queue="support"),
]


async def test_contact_figures_every_field(database, way):
    report = await report_over(database, CONTACT_ROWS, way)
    [pbx] = await report.contacts(at(3, 0), at(4, 0))
    assert pbx == ContactFigures(
        scope="", interval_start=at(3, 0), journeys=5, answered=2, repeats=1, repeat_rate=0.2, fcr=0.5, blocked=1,
        blocked_rate=0.2, csat_mean=4.0, csat_satisfied=0.5, nps=close(1 / 3), ces_mean=3.0, mos_mean=close(3.85),
        poor_quality_share=0.5, ivr_journeys=2, ivr_contained=1, containment=0.5, cost_total=0.75,
        cost_per_call=0.15)
    by_queue = await report.contacts(at(3, 0), at(4, 0), "day", by_queue=True)
    assert [(c.scope, c.journeys, c.answered, c.repeats, c.fcr, c.csat_mean) for c in by_queue] == [
        ("sales", 1, 1, 0, 1.0, 3.0), ("support", 2, 1, 1, 0.0, 5.0)]


async def test_ivr_dropoff_by_last_node(database, way):
    rows = CONTACT_ROWS + [
        journey("g1", "+33700", at(3, 16), "ivr", scenario="main", ivr_exit="caller_hangup", ivr_exit_node="menu"),
        journey("g2", "+33800", at(3, 17), "ivr", scenario="main", ivr_exit="caller_hangup", ivr_exit_node="pin"),
        journey("g3", "+33900", at(3, 17), "ivr", scenario="main", ivr_exit="finished", ivr_exit_node="bye")]
    report = await report_over(database, rows, way)
    assert await report.ivr_dropoff(at(3, 0), at(4, 0), "day") == [
        IvrDropOff(scenario="main", node="menu", interval_start=at(3, 0), dropped=2),
        IvrDropOff(scenario="main", node="pin", interval_start=at(3, 0), dropped=1)]


def test_cost_longest_prefix_and_increments():
    table = RateTable([Rate(prefix="33", per_minute=0.02, setup=0.01, increment=60),
                       Rate(prefix="336", per_minute=0.10, increment=1),
                       Rate(prefix="1", per_minute=0.5, direction="inbound")])
    assert table.cost("outbound", "100", "+33123", 61) == pytest.approx(0.01 + 0.02 * 2)  # two started minutes
    assert table.cost("outbound", "100", "33123", 60) == pytest.approx(0.01 + 0.02)
    assert table.cost("outbound", "100", "+33612", 61) == pytest.approx(0.10 * 61 / 60)  # the longer prefix
    assert table.cost("inbound", "+1555", "100", 30) == pytest.approx(0.25)  # inbound bills the caller
    assert table.cost("outbound", "100", "+1555", 30) is None  # that rate is inbound only
    assert table.cost("outbound", "100", "+49", 30) is None
