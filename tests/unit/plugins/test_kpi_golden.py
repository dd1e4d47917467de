"""The golden test: a simulated day through the plugin's path (JourneyFold -> RecordStore on a real
SQLite file -> Report) gives every figure of docs/kpi.md exactly as computed again from the raw
events by an independent calculator (kpi_expected.py, written from the definitions alone)."""

import asyncio
import importlib.util
import math
import random
import sys
from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from plugins.kpi.config import Config, Rate, ServiceTarget
from plugins.kpi.erlang import staffing
from plugins.kpi.journey import JourneyFold
from plugins.kpi.rates import RateTable
from plugins.kpi.report import Report
from plugins.kpi.schedules import bucket_bounds
from plugins.kpi.simulator import simulate_day
from plugins.kpi.store import RecordStore
from sdk.database import SqliteDatabase
from sdk.events import AgentStateChanged, CallbackScheduled, CallStarted, CallTransferred, QueueAbandoned


def _load_calculator():
    """tests/unit/plugins is not a package: load the calculator module from its file."""
    path = Path(__file__).with_name("kpi_expected.py")
    spec = importlib.util.spec_from_file_location("kpi_expected", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kpi_expected", module)
    spec.loader.exec_module(module)
    return module


expected = _load_calculator()

ZONE = "Europe/Paris"
DAY = datetime.fromisoformat("2025-06-03T00:00+02:00").timestamp()
END = datetime.fromisoformat("2025-06-04T00:00+02:00").timestamp()
CONFIG = Config(
    timezone=ZONE, service_level=ServiceTarget(seconds=20, goal=0.8), targets={"sales": ServiceTarget(seconds=30, goal=0.9)},
    rates=[Rate(prefix="+3361", per_minute=0.02, setup=0.01, increment=60), Rate(prefix="33", per_minute=0.05)],
)


@pytest.fixture(scope="module")
def day_events():
    return simulate_day(random.Random(20250603), DAY)


@pytest.fixture(scope="module")
def report(day_events, tmp_path_factory):
    """The plugin's path: fold every event, store the rows in SQLite, report from the tables."""
    database = SqliteDatabase(tmp_path_factory.mktemp("kpi") / "pbx.sqlite")
    loop = asyncio.new_event_loop()
    prices = RateTable(CONFIG.rates)
    # Each call priced as it ends, on the number the fold bills (the collector does the same).
    fold = JourneyFold(CONFIG.node, price=lambda direction, number, seconds: prices.cost(direction, number, number,
                                                                                        seconds))
    rows = [row for event in day_events for row in fold.handle(event)]

    async def store():
        records = RecordStore(database, CONFIG)
        await records.setup()
        # In the writer's batches (rows as the fold made them, a few hundred at a time), so that
        # the rollups are kept by deltas as in the PBX, journeys meeting their neighbours late.
        for index in range(0, len(rows), 300):
            await records.write(rows[index:index + 300])

    loop.run_until_complete(store())
    yield Report(database, CONFIG), loop
    database.close()
    loop.close()


@pytest.fixture(scope="module")
def calculated(day_events):
    return expected.expected_records(day_events)


def same(got, want, where):
    """Counts exactly, floats to 1e-9 relative, None as None, dicts key by key."""
    if isinstance(want, dict):
        assert set(got) == set(want), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            same(got[key], want[key], f"{where}[{key}]")
    elif want is None or got is None:
        assert got == want, f"{where}: {got!r} != {want!r}"
    elif isinstance(want, float) or isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {got!r} != {want!r}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def compare(rows, want, key_of, where):
    got = {key_of(row): row for row in rows}
    assert set(got) == set(want), f"{where}: rows {sorted(set(got) ^ set(want))[:10]} on one side only"
    for key, fields in want.items():
        for name, value in fields.items():
            same(getattr(got[key], name), value, f"{where} {key} {name}")


BUCKETINGS = [("day", None), ("hour", "hour")]


def test_the_simulated_day_is_rich_enough(day_events):
    calls = [e for e in day_events if isinstance(e, CallStarted)]
    assert 2000 < len(calls) < 4000
    assert all(a.at <= b.at for a, b in zip(day_events, day_events[1:]))
    kinds = {type(e).__name__ for e in day_events}
    for kind in ("QueueTimedOut", "QueueOverflowed", "QueueLeft", "CallbackCompleted", "AgentNoAnswer", "CallHeld",
                 "CallTransferred", "CallDisposition", "IvrNoInput", "CallRinging"):
        assert kind in kinds, kind
    assert any(isinstance(e, QueueAbandoned) and e.wait_seconds < 5 for e in day_events)
    assert any(isinstance(e, CallStarted) and e.linked_id for e in day_events)
    assert any(isinstance(e, CallbackScheduled) for e in day_events)
    assert any(isinstance(e, CallTransferred) for e in day_events)


def test_the_simulator_is_deterministic_and_follows_the_agent_machine(day_events):
    again = simulate_day(random.Random(20250603), DAY)
    assert again == day_events
    from plugins.kpi.simulator import TRANSITIONS
    allowed = {(old, new) for (old, _), new in TRANSITIONS.items()}
    states = {}
    for event in day_events:
        if isinstance(event, AgentStateChanged):
            assert (event.old, event.new) in allowed
            assert states.get(event.agent, "logged-out") == event.old
            states[event.agent] = event.new


@pytest.mark.parametrize(("name", "bucket"), BUCKETINGS)
def test_queue_figures(report, calculated, name, bucket):
    reporter, loop = report
    journeys, _ = calculated
    bounds = bucket_bounds(DAY, END, bucket, ZONE)
    rows = loop.run_until_complete(reporter.queues(DAY, END, bucket))
    want = {}
    for queue in ("sales", "support"):
        target = CONFIG.target(queue)
        part = expected.queue_figures(journeys, bounds, target.seconds, target.goal, CONFIG.short_abandon)
        want.update({key: value for key, value in part.items() if key[0] == queue})
    compare(rows, want, lambda row: (row.queue, row.interval_start), f"queues/{name}")


@pytest.mark.parametrize(("name", "bucket"), BUCKETINGS)
def test_agent_figures(report, calculated, name, bucket):
    reporter, loop = report
    journeys, intervals = calculated
    bounds = bucket_bounds(DAY, END, bucket, ZONE)
    rows = loop.run_until_complete(reporter.agents(DAY, END, bucket))
    want = expected.agent_figures(journeys, intervals, bounds)
    got = {(row.agent, row.interval_start): row for row in rows}
    # A bucket where an agent has nothing may be left out by the report.
    for key in set(want) - set(got):
        assert want[key]["logged_in_seconds"] == 0 and want[key]["answered"] == 0, key
        del want[key]
    compare(rows, want, lambda row: (row.agent, row.interval_start), f"agents/{name}")


@pytest.mark.parametrize(("name", "bucket"), BUCKETINGS)
def test_availability(report, calculated, name, bucket):
    reporter, loop = report
    _, intervals = calculated
    bounds = bucket_bounds(DAY, END, bucket, ZONE)
    rows = loop.run_until_complete(reporter.availability(DAY, END, bucket))
    compare(rows, expected.availability(intervals, bounds), lambda row: row.interval_start, f"availability/{name}")


def contact_rows(report, calculated, bucket, by):
    reporter, loop = report
    journeys, _ = calculated
    bounds = bucket_bounds(DAY, END, bucket, ZONE)
    scopes = {"by_queue": by == "queue", "by_scenario": by == "scenario"}
    rows = loop.run_until_complete(reporter.contacts(DAY, END, bucket, **scopes))
    want = expected.contact_figures(journeys, bounds, CONFIG.repeat_window, CONFIG.rates, **scopes)
    return rows, want


@pytest.mark.parametrize(("name", "bucket"), BUCKETINGS)
@pytest.mark.parametrize("by", ["pbx", "queue", "scenario"])
def test_contact_figures(report, calculated, name, bucket, by):
    rows, want = contact_rows(report, calculated, bucket, by)
    compare(rows, want, lambda row: (row.scope, row.interval_start), f"contacts/{name}/{by}")


@pytest.mark.parametrize(("name", "bucket"), BUCKETINGS)
def test_ivr_dropoff(report, calculated, name, bucket):
    reporter, loop = report
    journeys, _ = calculated
    bounds = bucket_bounds(DAY, END, bucket, ZONE)
    rows = loop.run_until_complete(reporter.ivr_dropoff(DAY, END, bucket))
    got = {(row.scenario, row.node, row.interval_start): row.dropped for row in rows}
    assert got == expected.dropoff(journeys, bounds)


def test_staffing_for_the_day_volume(calculated):
    journeys, _ = calculated
    bounds = bucket_bounds(DAY, END, "hour", ZONE)
    want = expected.queue_figures(journeys, bounds, 20.0, 0.8, CONFIG.short_abandon)
    volume = {start: 0 for start in bounds[:-1]}
    handled = [f["aht"] * f["answered"] for f in want.values() if f["aht"] is not None]
    aht = sum(handled) / sum(f["answered"] for f in want.values())
    for (_, start), figures in want.items():
        volume[start] += figures["offered"]
    forecast = sorted(volume.items())
    for model, patience in (("c", None), ("a", 150.0)):
        rows = staffing(forecast, aht, 3600, CONFIG.service_level, model=model, patience=patience)
        by_volume = sorted(rows, key=lambda row: row.calls)
        assert all(a.agents <= b.agents for a, b in zip(by_volume, by_volume[1:]))
        assert all(row.service_level >= 0.8 for row in rows)
        assert max(row.agents for row in rows) > 5


# The rollups (plugins/kpi/rollups.py) against the raw tables, on the same simulated day ----------------

REPORTS = ("queues", "agents", "contacts", "ivr_dropoff", "availability")


def as_fields(rows):
    return [msgspec.structs.asdict(row) for row in rows]


@pytest.mark.parametrize("bucket", [None, "hour", "15min"])
def test_the_rollups_give_the_figures_of_the_raw_tables(report, bucket):
    reporter, loop = report
    raw = Report(reporter.database, CONFIG, rollups=False)
    assert loop.run_until_complete(reporter._use_slots(reporter.buckets(DAY, END, bucket)))
    for name in REPORTS:
        got = loop.run_until_complete(getattr(reporter, name)(DAY, END, bucket))
        want = loop.run_until_complete(getattr(raw, name)(DAY, END, bucket))
        assert len(got) == len(want) > 0, name
        for index, (row, expected_row) in enumerate(zip(as_fields(got), as_fields(want))):
            same(row, expected_row, f"{name}/{bucket}[{index}]")
    for scope in ({"by_queue": True}, {"by_scenario": True}):
        got = loop.run_until_complete(reporter.contacts(DAY, END, bucket, **scope))
        want = loop.run_until_complete(raw.contacts(DAY, END, bucket, **scope))
        assert got
        for index, (row, expected_row) in enumerate(zip(as_fields(got), as_fields(want), strict=True)):
            same(row, expected_row, f"contacts {scope}/{bucket}[{index}]")


ROLLUP_TABLES = {"kpi_queue_slots": 2, "kpi_agent_slots": 2, "kpi_agent_pause_slots": 3, "kpi_contact_slots": 2,
                 "kpi_ivr_slots": 3, "kpi_staffed_changes": 4}  # table: columns of its key


def test_a_rebuild_from_the_raw_tables_gives_the_rollups_the_writes_kept(report):
    reporter, loop = report
    database = reporter.database

    async def snapshot():
        tables = {}
        for table, key in ROLLUP_TABLES.items():
            rows = await database.fetch_all(f"SELECT * FROM {table}")
            tables[table] = {tuple(list(row.values())[:key]): row for row in rows}
        tables["neighbours"] = {row["journey_id"]: row for row in await database.fetch_all(
            "SELECT journey_id, previous_started_at, next_started_at FROM kpi_journeys")}
        return tables

    kept = loop.run_until_complete(snapshot())
    loop.run_until_complete(RecordStore(database, CONFIG).rebuild())
    rebuilt = loop.run_until_complete(snapshot())
    for table, rows in kept.items():
        # A slot row a delta brought back to zero stays; a rebuild makes no such row.
        if table in ROLLUP_TABLES:
            sums = {key: [value for name, value in list(row.items())[ROLLUP_TABLES[table]:] if name != "longest_wait"]
                    for key, row in rows.items()}
            rows = {key: row for key, row in rows.items() if not sums[key] or any(sums[key])}
        assert set(rows) == set(rebuilt[table]), table
        for key, row in rows.items():
            same(row, rebuilt[table][key], f"{table} {key}")
