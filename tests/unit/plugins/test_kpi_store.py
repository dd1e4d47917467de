"""plugins/kpi/store.py on both backends (the `database` fixture: SQLite and a real PostgreSQL):
every row type round-trips, upserts update, logs append, a batch is one transaction and the last
row of a key wins, 10,000 journeys at once; the journeys' neighbours and the rollups follow the
writes and a change of settings; the writer batches, flushes on close and keeps rows through a
failing database."""

from __future__ import annotations

import asyncio
import logging

import pytest

from plugins.kpi.config import Config, ServiceTarget
from plugins.kpi.records import AgentCall, AgentLogEntry, Journey, QueueCall, QueueLogEntry
from plugins.kpi.report import Report
from plugins.kpi.store import RecordStore, RecordWriter

T = 1_800_000_000.25  # an epoch with a fraction: DOUBLE PRECISION keeps it exactly


def journey(number: int = 1, **changes) -> Journey:
    fields = dict(journey_id=f"call-{number}", node="pbx1", call_ids=[f"call-{number}", f"cb-{number}"],
                  direction="inbound", state="complete", outcome="answered", caller="+33123456789",
                  caller_name="Ann", callee="100", started_at=T + number, answered_at=T + number + 1.5,
                  ended_at=T + number + 90.0, route="scenario:support", scenario="support",
                  ivr_path=["start", "menu", "queue"], ivr_exit="queue", ivr_exit_node="queue", queue="sales",
                  joined_at=T + number + 10.0, wait_seconds=12.5, agent="alice", agents=["alice", "bob"],
                  connected_at=T + number + 22.5, talk_seconds=60.0, hold_seconds=5.0, wrapup_seconds=30.0,
                  transfers=1, callbacks=1, hangup_by="caller", cause="normal", status=200, disposition="sale",
                  csat=5, nps=9, ces=2, recording="rec/call-1.wav", mos=4.3, cost=0.12)
    return Journey(**(fields | changes))


def fields_of(row) -> dict:
    return {name: getattr(row, name) for name in row.__struct_fields__}


QUEUE_CALL = QueueCall(journey_id="call-1", queue="sales", joined_at=T + 10.0, left_at=T + 22.5, outcome="answered",
                       wait_seconds=12.5, agent="alice", priority=2, position=3, callback=True)
AGENT_CALL = AgentCall(journey_id="call-1", agent="alice", queue="sales", connected_at=T + 22.5, ended_at=T + 82.5,
                       talk_seconds=55.0, hold_seconds=5.0, wrapup_seconds=30.0, transferred=False)
QUEUE_LOG = QueueLogEntry(at=T + 10.0, node="pbx1", journey_id="call-1", call_id="call-1", queue="sales",
                          agent=None, event="ENTERQUEUE", detail='{"position": 3}')
AGENT_LOG = AgentLogEntry(at=T + 22.5, node="pbx1", agent="alice", old="available", new="offered",
                          reason="call", since=T)


@pytest.fixture
async def store(database):
    store = RecordStore(database)
    assert await store.setup() == 1
    return store


async def test_every_row_type_round_trips(store):
    bare = journey(2, caller_name=None, answered_at=None, ended_at=None, ivr_path=[], agents=[], csat=None,
                   mos=None, cost=None, status=None)
    await store.write([journey(1), bare, QUEUE_CALL, AGENT_CALL, QUEUE_LOG, AGENT_LOG])
    assert await store.journey("call-1") == journey(1)
    assert await store.journey("call-2") == bare
    assert await store.journey("call-3") is None
    assert await store.queue_calls(T, T + 100) == [QUEUE_CALL]
    assert await store.agent_calls(T, T + 100) == [AGENT_CALL]
    assert await store.queue_log(T, T + 100) == [QUEUE_LOG]
    assert await store.agent_log(T, T + 100) == [AGENT_LOG]


async def test_journeys_are_read_by_start_time_half_open_and_limited(store):
    await store.write([journey(number) for number in (3, 1, 2, 4)])
    assert [j.journey_id for j in await store.journeys(T + 1, T + 4)] == ["call-1", "call-2", "call-3"]
    assert [j.journey_id for j in await store.journeys(T + 1, T + 10, limit=2)] == ["call-1", "call-2"]
    assert await store.journeys(T + 10, T + 20) == []


async def test_upserts_update_every_column_and_logs_append(store):
    pending = journey(1, state="callback-pending", outcome="abandoned", ended_at=None, agents=[], wrapup_seconds=0.0)
    await store.write([pending, QUEUE_CALL, AGENT_CALL, QUEUE_LOG, AGENT_LOG])
    done = journey(1)
    requeued = QueueCall(**(fields_of(QUEUE_CALL) | {"outcome": "abandoned", "agent": None, "callback": False}))
    wrapped = AgentCall(**(fields_of(AGENT_CALL) | {"wrapup_seconds": 45.0, "transferred": True}))
    await store.write([done, requeued, wrapped, QUEUE_LOG, AGENT_LOG])
    assert await store.journeys(T, T + 100) == [done]
    assert await store.queue_calls(T, T + 100) == [requeued]
    assert await store.agent_calls(T, T + 100) == [wrapped]
    assert await store.queue_log(T, T + 100) == [QUEUE_LOG, QUEUE_LOG]
    assert await store.agent_log(T, T + 100) == [AGENT_LOG, AGENT_LOG]


async def test_the_last_row_of_a_key_in_one_batch_wins(store):
    await store.write([journey(1, outcome="abandoned"), journey(2), journey(1, outcome="answered", csat=1)])
    assert [(j.journey_id, j.outcome, j.csat) for j in await store.journeys(T, T + 100)] == [
        ("call-1", "answered", 1), ("call-2", "answered", 5)]


async def test_a_batch_is_one_transaction(store):
    await store.write([journey(1)])
    # The log row is valid; the queue visit breaks NOT NULL: neither is written, the journey is kept.
    broken = QueueCall(**(fields_of(QUEUE_CALL) | {"outcome": None}))
    with pytest.raises(Exception, match="(?i)not.null"):
        await store.write([journey(1, outcome="abandoned"), QUEUE_LOG, broken])
    assert (await store.journey("call-1")).outcome == "answered"
    assert await store.queue_log(T, T + 100) == []


async def test_a_row_of_another_type_is_our_mistake(store):
    with pytest.raises(TypeError, match="not a kpi record row: dict"):
        await store.write([{"journey_id": "call-1"}])


async def test_ten_thousand_journeys_in_one_batch(store):
    rows = [journey(number) for number in range(10_000)]
    assert await store.write(rows) == 10_000
    assert await store.journeys(T, T + 20_000) == rows


# The writer -------------------------------------------------------------------------------------------


async def test_the_writer_batches_submissions_off_the_event_path(store):
    writer = RecordWriter(store, batch_seconds=0.01)
    writer.submit([journey(1), QUEUE_LOG])
    writer.submit([journey(2)])
    assert writer.pending == 3  # submit only appends
    for _ in range(200):
        if writer.pending == 0 and len(await store.journeys(T, T + 100)) == 2:
            break
        await asyncio.sleep(0.01)
    assert [j.journey_id for j in await store.journeys(T, T + 100)] == ["call-1", "call-2"]
    assert await store.queue_log(T, T + 100) == [QUEUE_LOG]
    await writer.close()


async def test_the_writer_flushes_everything_on_close(store):
    writer = RecordWriter(store, batch_seconds=60.0)  # the timer would never fire in this test
    writer.submit([journey(number) for number in range(1, 101)])
    writer.submit([AGENT_LOG])
    await writer.close()
    assert writer.pending == 0
    assert len(await store.journeys(T, T + 1000)) == 100
    assert await store.agent_log(T, T + 100) == [AGENT_LOG]
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit([journey(1)])


async def test_the_writer_writes_at_once_past_max_rows(store):
    writer = RecordWriter(store, batch_seconds=60.0, max_rows=50)
    writer.submit([journey(number) for number in range(1, 51)])
    for _ in range(200):
        if writer.pending == 0:
            break
        await asyncio.sleep(0.01)
    assert writer.pending == 0
    assert len(await store.journeys(T, T + 1000)) == 50
    await writer.close()


class FlakyStore:
    """A RecordStore whose first `failures` writes fail, as a database that is down for a while."""

    def __init__(self, store: RecordStore, failures: int) -> None:
        self.store = store
        self.failures = failures
        self.attempts: list[int] = []

    async def write(self, rows):
        self.attempts.append(len(rows))
        if len(self.attempts) <= self.failures:
            raise ConnectionError("database unreachable")
        return await self.store.write(rows)


async def test_a_failed_write_is_retried_without_losing_or_reordering_rows(store, caplog):
    flaky = FlakyStore(store, failures=2)
    writer = RecordWriter(flaky, batch_seconds=0.005, retry_seconds=0.01)
    writer.submit([journey(1, outcome="abandoned"), QUEUE_LOG])
    with caplog.at_level(logging.WARNING, logger="pbx.plugins.kpi"):
        for _ in range(100):
            if len(flaky.attempts) >= 1:
                break
            await asyncio.sleep(0.005)
        writer.submit([journey(1, outcome="answered"), journey(2)])  # newer rows while the database is down
        for _ in range(300):
            if writer.pending == 0:
                break
            await asyncio.sleep(0.01)
    await writer.close()
    assert writer.failures == 2 and flaky.attempts[-1] == 4  # the last attempt carried every row
    assert [(j.journey_id, j.outcome) for j in await store.journeys(T, T + 100)] == [
        ("call-1", "answered"), ("call-2", "answered")]  # the newer row of call-1 won
    assert await store.queue_log(T, T + 100) == [QUEUE_LOG]
    assert "event=kpi-write-failed" in caplog.text and "database unreachable" in caplog.text


async def test_close_raises_when_the_database_still_refuses_and_keeps_the_rows(store):
    writer = RecordWriter(FlakyStore(store, failures=100), batch_seconds=60.0)
    writer.submit([journey(1)])
    with pytest.raises(ConnectionError):
        await writer.close()
    assert writer.pending == 1


# What the store keeps for the report: neighbours and rollups (plugins/kpi/rollups.py) ---------------------


async def neighbours(store) -> dict:
    rows = await store.database.fetch_all("SELECT journey_id, previous_started_at, next_started_at FROM kpi_journeys")
    return {row["journey_id"]: (row["previous_started_at"], row["next_started_at"]) for row in rows}


async def test_each_journey_knows_its_callers_previous_and_next_journey_whatever_the_order(store):
    # call-5 first, then call-1 and call-9 in one batch, then call-3 between, then another caller's
    await store.write([journey(5)])
    await store.write([journey(9), journey(1)])
    await store.write([journey(3), journey(7, caller="+33999")])
    await store.write([journey(3, outcome="abandoned")])  # an update moves nothing
    assert await neighbours(store) == {
        "call-1": (None, T + 3), "call-3": (T + 1, T + 5), "call-5": (T + 3, T + 9), "call-9": (T + 5, None),
        "call-7": (None, None)}
    before = await neighbours(store)
    await store.rebuild()
    assert await neighbours(store) == before


async def test_repeats_and_fcr_follow_new_neighbours(database):
    store = RecordStore(database)
    await store.setup()
    report = Report(database, Config())
    day = 1_800_000_000 // 86400 * 86400  # a UTC midnight: whole slots
    first = journey(1, started_at=day + 3600.0)
    await store.write([first])
    [figures] = await report.contacts(day, day + 86400)
    assert (figures.journeys, figures.repeats, figures.fcr) == (1, 0, 1.0)
    await store.write([journey(2, started_at=day + 7200.0)])  # an hour later: a repeat, and `first` not resolved
    [figures] = await report.contacts(day, day + 86400)
    assert (figures.journeys, figures.repeats, figures.fcr) == (2, 1, 0.5)
    raw = Report(database, Config(), rollups=False)
    assert await raw.contacts(day, day + 86400) == [figures]


async def test_queue_rollups_follow_rewritten_visits_and_a_shorter_wait(database):
    store = RecordStore(database)
    await store.setup()
    report, raw = Report(database, Config()), Report(database, Config(), rollups=False)
    day = 1_800_000_000 // 86400 * 86400
    waiting = QueueCall(**(fields_of(QUEUE_CALL) | {"joined_at": day + 60.0, "outcome": "waiting", "left_at": None}))
    await store.write([waiting])
    assert await report.queues(day, day + 86400) == []
    answered = QueueCall(**(fields_of(waiting) | {"outcome": "answered", "wait_seconds": 40.0,
                                                  "handle_seconds": 100.0}))
    other = QueueCall(**(fields_of(answered) | {"journey_id": "call-2", "wait_seconds": 10.0, "handle_seconds": 50.0}))
    await store.write([answered, other])
    [figures] = await report.queues(day, day + 86400)
    assert (figures.offered, figures.answered_within, figures.longest_wait, figures.aht) == (2, 1, 40.0, 75.0)
    await store.write([QueueCall(**(fields_of(answered) | {"wait_seconds": 5.0, "transferred": True}))])
    [figures] = await report.queues(day, day + 86400)
    assert (figures.offered, figures.answered_within, figures.longest_wait, figures.transfer_rate) == (2, 2, 10.0, 0.5)
    assert await raw.queues(day, day + 86400) == [figures]


async def test_setup_rebuilds_the_rollups_when_the_settings_change(database):
    store = RecordStore(database)
    await store.setup()
    day = 1_800_000_000 // 86400 * 86400
    visit = QueueCall(**(fields_of(QUEUE_CALL) | {"joined_at": day + 60.0, "wait_seconds": 25.0}))
    await store.write([visit])
    strict, lenient = Config(), Config(service_level=ServiceTarget(seconds=30))
    assert (await Report(database, strict).queues(day, day + 86400))[0].answered_within == 0
    # Built with the 20 s target: a report with another one reads the raw tables, and agrees with them.
    assert not await Report(database, lenient)._rollups_ready()
    assert (await Report(database, lenient).queues(day, day + 86400))[0].answered_within == 1
    await RecordStore(database, lenient).setup()
    assert await Report(database, lenient)._rollups_ready()
    assert (await Report(database, lenient).queues(day, day + 86400))[0].answered_within == 1
