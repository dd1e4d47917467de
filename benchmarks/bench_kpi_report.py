"""How long the KPI report takes over a month of a busy contact centre.

    python benchmarks/bench_kpi_report.py [--journeys 1000000] [--days 30] [--file var/bench-kpi.sqlite]
                                          [--postgres postgresql://user@host/db | auto] [--keep] [--writer 10000]

Fills a SQLite file (and, with --postgres, that database) with synthetic but plausible rows,
seeded: `--journeys` journeys over `--days` days with a daily curve, 85% reaching one of four
queues (80% of those answered by one of 120 agents, the rest abandoned, timed out or
overflowed), their agent segments, and each agent's state log (log-in, offer, call, wrap-up,
pauses, log-out). The bulk load bypasses the store, so the rollups are then rebuilt from the raw
tables (the path a config change takes at RecordStore.setup: timed and printed). Then it times
every report over the whole range by day, from the rollups and (with --raw) from the raw tables,
and prints seconds per report and rows per second. Target: under 1 s each.

`--writer N` also times what the store's writes cost: RecordStore.write of N journeys with their
visits, segments and agent log rows (the first N of the generated month, in batches of 500
journeys as the record writer would send them) into an empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugins.kpi.config import Config  # noqa: E402
from plugins.kpi.records import AgentCall, AgentLogEntry, Journey, QueueCall  # noqa: E402
from plugins.kpi.report import Report  # noqa: E402
from plugins.kpi.schema import MIGRATIONS  # noqa: E402
from plugins.kpi.store import RecordStore  # noqa: E402
from sdk.database import Database, PostgresDatabase, SqliteDatabase  # noqa: E402

ZONE = "Europe/Paris"
QUEUES = ["sales", "support", "billing", "vip"]
AGENTS = [f"agent{n:03d}" for n in range(120)]
JOURNEY_COLUMNS = ("journey_id, node, call_ids, direction, state, outcome, caller, callee, started_at, answered_at, "
                   "ended_at, scenario, ivr_path, ivr_exit, ivr_exit_node, queue, joined_at, wait_seconds, agent, "
                   "agents, connected_at, talk_seconds, hold_seconds, wrapup_seconds, transfers, callbacks, csat, "
                   "nps, mos, cost")


def generate(journeys: int, days: int, start: float, seed: int = 12):
    """(journeys, queue calls, agent calls, agent log) rows as tuples in column order."""
    rng = random.Random(seed)
    # calls arrive between 08:00 and 20:00 local, most around 10:00 and 15:00
    starts = sorted(start + rng.randrange(days) * 86400 + 3600 * min(19.99, max(8.0, rng.choice((10.5, 15.0))
                                                                                 + rng.gauss(0, 2.2)))
                    for _ in range(journeys))
    free_at = {agent: 0.0 for agent in AGENTS}
    journey_rows, visit_rows, segment_rows, calls_of = [], [], [], {agent: [] for agent in AGENTS}
    for number, started in enumerate(starts):
        journey_id = f"j{number:08d}"
        caller = f"+3361{rng.randrange(400_000):06d}"
        queue = rng.choice(QUEUES) if rng.random() < 0.85 else None
        outcome, wait, agent, connected, talk, hold, wrapup = "ivr", None, None, None, 0.0, 0.0, 0.0
        scenario = "main" if rng.random() < 0.7 else None
        joined = started + rng.uniform(5, 40)
        if queue is not None:
            wait = rng.expovariate(1 / 25)
            roll = rng.random()
            if roll < 0.8:
                agent = min(AGENTS, key=lambda name: max(free_at[name], joined) + rng.random())
                connected = max(free_at[agent], joined + wait)
                wait = connected - joined
                talk, hold, wrapup = rng.expovariate(1 / 240), rng.choice((0.0, 0.0, rng.uniform(5, 60))), 20.0
                transferred = 1 if rng.random() < 0.05 else 0
                free_at[agent] = connected + talk + hold + wrapup
                calls_of[agent].append((connected, talk + hold, wrapup))
                outcome = "answered"
            else:
                outcome = rng.choice(("abandoned", "abandoned", "abandoned", "timed-out", "overflowed"))
        ended = (connected + talk + hold) if connected else joined + (wait or 0.0) + 5
        journey_rows.append((journey_id, "pbx1", f'["{journey_id}"]', "inbound", "complete", outcome, caller, "100",
                             started, connected or (started if scenario else None), ended, scenario,
                             '["welcome","menu"]' if scenario else "[]",
                             "queue" if queue else ("caller_hangup" if rng.random() < 0.5 else "finished"),
                             "menu" if scenario else None, queue, joined if queue else None, wait, agent,
                             f'["{agent}"]' if agent else "[]", connected, talk, hold, wrapup, 0, 0,
                             rng.randint(1, 5) if rng.random() < 0.2 else None,
                             rng.randint(0, 10) if rng.random() < 0.1 else None,
                             round(rng.uniform(3.0, 4.4), 2), round(talk / 60 * 0.02, 4)))
        if queue is not None:
            answered = agent is not None
            visit_rows.append((journey_id, queue, joined, joined + wait, outcome, wait, agent, 0, 1, 0,
                               talk + hold + wrapup if answered else 0.0, transferred if answered else 0))
        if agent is not None:
            segment_rows.append((journey_id, agent, queue, connected, connected + talk + hold, talk, hold, wrapup,
                                 transferred))
    log_rows = []
    for agent, calls in calls_of.items():
        state, since = "logged-out", start - 3600
        day_of = None

        def move(new: str, when: float, reason: str = "") -> None:
            nonlocal state, since
            log_rows.append((when, "pbx1", agent, state, new, reason, since))
            state, since = new, when

        for connected, busy, wrapup in calls:
            day = int((connected - start) // 86400)
            if day != day_of:
                if state != "logged-out":
                    move("logged-out", max(since, start + day_of * 86400 + 20.5 * 3600), "logout")
                move("available", max(since, min(connected - 60, start + day * 86400 + 7.5 * 3600)), "login")
                day_of = day
            if rng.random() < 0.03 and connected - since > 900:
                move("paused", since + 60, rng.choice(("lunch", "training", "break")))
                move("available", since + 600, "unpause")
            move("offered", max(since, connected - 8), "offer")
            move("on-call", connected, "answer")
            move("wrap-up", connected + busy, "hang-up")
            move("available", connected + busy + wrapup, "wrap-up-ended")
        if state != "logged-out":
            move("logged-out", since + 60, "logout")
    return journey_rows, visit_rows, segment_rows, log_rows


def fill_sqlite(path: Path, rows) -> None:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER)")
    for number, script in enumerate(MIGRATIONS, start=1):
        connection.executescript(script)
        connection.execute("INSERT OR REPLACE INTO schema_versions VALUES ('kpi', ?)", (number,))
    _insert(lambda sql, data: connection.executemany(sql, data), rows)
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def _insert(insert_many, rows) -> None:
    journeys, visits, segments, log = rows
    marks = lambda count: ", ".join("?" * count)  # noqa: E731
    insert_many(f"INSERT INTO kpi_journeys ({JOURNEY_COLUMNS}) VALUES ({marks(30)})", journeys)
    insert_many(f"INSERT INTO kpi_queue_calls VALUES ({marks(12)})", visits)
    insert_many(f"INSERT INTO kpi_agent_calls VALUES ({marks(9)})", segments)
    insert_many(f"INSERT INTO kpi_agent_log VALUES ({marks(7)})", log)


async def fill_postgres(database: PostgresDatabase, rows) -> None:
    for table in ("kpi_journeys", "kpi_queue_calls", "kpi_agent_calls", "kpi_queue_log", "kpi_agent_log",
                  "kpi_queue_slots", "kpi_agent_slots", "kpi_agent_pause_slots", "kpi_contact_slots", "kpi_ivr_slots",
                  "kpi_staffed_changes", "kpi_rollup_settings"):
        await database.execute(f"DROP TABLE IF EXISTS {table}")
    await database.execute("DELETE FROM schema_versions WHERE owner = 'kpi'") if await database.fetch_one(
        "SELECT 1 AS x FROM information_schema.tables WHERE table_name = 'schema_versions'") else None
    await database.migrate("kpi", MIGRATIONS)
    journeys, visits, segments, log = rows
    columns = {"kpi_journeys": [name.strip() for name in JOURNEY_COLUMNS.split(",")]}

    async def copy(pool, table, records):
        async with pool.acquire() as connection:
            await connection.copy_records_to_table(table, records=records, columns=columns.get(table))

    for table, records in (("kpi_journeys", journeys), ("kpi_queue_calls", visits),
                           ("kpi_agent_calls", segments), ("kpi_agent_log", log)):
        await database._run(copy, table, records)  # COPY: the fast bulk path of asyncpg
    await database.execute("ANALYZE")


async def rebuild(database: Database) -> None:
    """The bulk load went around the store: compute the rollups from the raw tables."""
    began = time.perf_counter()
    await RecordStore(database, Config(timezone=ZONE)).rebuild()
    print(f"  rollups rebuilt from the raw tables in {time.perf_counter() - began:.1f} s")


async def time_reports(database: Database, start: float, end: float, sizes: dict[str, int],
                       rollups: bool = True) -> None:
    report = Report(database, Config(timezone=ZONE), rollups=rollups)
    print(f"  {'from the rollups' if rollups else 'from the raw tables'}:")
    for name, method, rows in (("queues", report.queues, sizes["visits"]), ("agents", report.agents, sizes["log"]),
                               ("contacts", report.contacts, sizes["journeys"]),
                               ("availability", report.availability, sizes["log"]),
                               ("ivr_dropoff", report.ivr_dropoff, sizes["journeys"])):
        await method(start, end, "day")  # warm the cache: the second run is what a user sees
        began = time.perf_counter()
        figures = await method(start, end, "day")
        seconds = time.perf_counter() - began
        verdict = "ok" if seconds < 1.0 else "SLOW"
        print(f"    {name:<13} {seconds:7.3f} s  {rows / seconds:>12,.0f} rows/s  {len(figures):>5} figure rows  "
              f"{verdict}")


def records(rows, journeys: int) -> list[list]:
    """The first `journeys` generated journeys as record rows with their visits, segments and the
    agent log rows up to the last one's start, in batches of 500 journeys."""
    journey_rows, visit_rows, segment_rows, log_rows = rows
    names = [name.strip() for name in JOURNEY_COLUMNS.split(",")]
    chosen = journey_rows[:journeys]
    until = chosen[-1][8]
    visits = {row[0]: row for row in visit_rows}
    segments = {row[0]: row for row in segment_rows}
    log = sorted((row for row in log_rows if row[0] <= until), key=lambda row: row[0])
    batches, logged = [], 0
    for first in range(0, len(chosen), 500):
        batch = []
        for values in chosen[first:first + 500]:
            fields = dict(zip(names, values))
            fields["call_ids"], fields["ivr_path"], fields["agents"] = (
                msgspec_json(fields["call_ids"]), msgspec_json(fields["ivr_path"]), msgspec_json(fields["agents"]))
            batch.append(Journey(caller_name=None, **fields))
            if fields["journey_id"] in visits:
                v = visits[fields["journey_id"]]
                batch.append(QueueCall(journey_id=v[0], queue=v[1], joined_at=v[2], left_at=v[3], outcome=v[4],
                                       wait_seconds=v[5], agent=v[6], priority=v[7], position=v[8],
                                       callback=bool(v[9]), handle_seconds=v[10], transferred=bool(v[11])))
            if fields["journey_id"] in segments:
                a = segments[fields["journey_id"]]
                batch.append(AgentCall(journey_id=a[0], agent=a[1], queue=a[2], connected_at=a[3], ended_at=a[4],
                                       talk_seconds=a[5], hold_seconds=a[6], wrapup_seconds=a[7],
                                       transferred=bool(a[8])))
        last = chosen[min(first + 500, len(chosen)) - 1][8]
        while logged < len(log) and log[logged][0] <= last:
            at, node, agent, old, new, reason, since = log[logged]
            batch.append(AgentLogEntry(at=at, node=node, agent=agent, old=old, new=new, reason=reason, since=since))
            logged += 1
        batches.append(batch)
    return batches


def msgspec_json(text: str) -> list:
    import json

    return json.loads(text)


async def time_writer(database: Database, batches: list[list]) -> None:
    store = RecordStore(database, Config(timezone=ZONE))
    await store.setup()
    began = time.perf_counter()
    for batch in batches:
        await store.write(batch)
    seconds = time.perf_counter() - began
    count = sum(len(batch) for batch in batches)
    journeys = sum(1 for batch in batches for row in batch if isinstance(row, Journey))
    print(f"  RecordStore.write: {journeys:,} journeys ({count:,} rows, {len(batches)} batches) in {seconds:.2f} s, "
          f"{seconds / journeys * 1e3:.3f} ms per journey")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--file", type=Path, default=Path("var/bench-kpi.sqlite"))
    parser.add_argument("--postgres", help="also run on this PostgreSQL database (its kpi_ tables are replaced); "
                        "'auto' starts a throwaway server (initdb in a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="reuse --file if it exists (skip the fill)")
    parser.add_argument("--raw", action="store_true", help="also time the reports from the raw tables")
    parser.add_argument("--writer", type=int, default=0, help="also time RecordStore.write of this many journeys")
    args = parser.parse_args()
    start = datetime(2024, 3, 1, tzinfo=ZoneInfo(ZONE)).timestamp()
    end = datetime(2024, 3, 1 + args.days, tzinfo=ZoneInfo(ZONE)).timestamp() if args.days <= 30 else \
        start + args.days * 86400
    rows = None
    if not (args.keep and args.file.exists()) or args.postgres or args.writer:
        began = time.perf_counter()
        rows = generate(args.journeys, args.days, start)
        print(f"generated {[len(part) for part in rows]} rows in {time.perf_counter() - began:.1f} s")
    filled = not (args.keep and args.file.exists())
    if filled:
        began = time.perf_counter()
        fill_sqlite(args.file, rows)
        print(f"filled {args.file} in {time.perf_counter() - began:.1f} s")
    database = SqliteDatabase(args.file)
    await database.migrate("kpi", MIGRATIONS)  # a migration added since the file was made
    if filled:
        await rebuild(database)
    sizes = {}
    for name, table in (("journeys", "kpi_journeys"), ("visits", "kpi_queue_calls"), ("segments", "kpi_agent_calls"),
                        ("log", "kpi_agent_log")):
        sizes[name] = (await database.fetch_one(f"SELECT COUNT(*) AS n FROM {table}"))["n"]
    print(f"rows: {sizes}")
    print(f"SQLite {args.file}, {args.days} days by day:")
    await time_reports(database, start, end, sizes)
    if args.raw:
        await time_reports(database, start, end, sizes, rollups=False)
    database.close()
    if args.postgres:
        postgres = PostgresDatabase(args.postgres)
        began = time.perf_counter()
        await fill_postgres(postgres, rows)
        print(f"filled PostgreSQL in {time.perf_counter() - began:.1f} s")
        print(f"PostgreSQL, {args.days} days by day:")
        await rebuild(postgres)
        await time_reports(postgres, start, end, sizes)
        if args.raw:
            await time_reports(postgres, start, end, sizes, rollups=False)
        postgres.close()
    if args.writer:
        batches = records(rows, args.writer)
        print("writer, SQLite (a new file):")
        path = args.file.with_name(args.file.stem + "-writer.sqlite")
        path.unlink(missing_ok=True)
        writer_database = SqliteDatabase(path)
        await time_writer(writer_database, batches)
        writer_database.close()
        if args.postgres:
            print("writer, PostgreSQL (its kpi_ tables replaced):")
            postgres = PostgresDatabase(args.postgres)
            await fill_postgres(postgres, ([], [], [], []))
            await time_writer(postgres, batches)
            postgres.close()


if __name__ == "__main__":
    if "--postgres" in sys.argv and sys.argv[sys.argv.index("--postgres") + 1:][:1] == ["auto"]:
        from tests.pg_server import postgres_server

        with postgres_server() as url:
            sys.argv[sys.argv.index("auto")] = url
            asyncio.run(main())
    else:
        asyncio.run(main())
