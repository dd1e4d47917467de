"""The record writer process (plugins/kpi/writer_process.py) with a real child process and a real
database (SQLite and PostgreSQL): rows committed once each, across a writer process that dies,
and everything it read written when the PBX side vanishes."""

from __future__ import annotations

import asyncio
import signal

from plugins.kpi.config import Config
from plugins.kpi.records import AgentLogEntry, Journey
from plugins.kpi.store import RecordStore
from plugins.kpi.writer_process import ProcessRecordWriter

T = 1_800_000_000.0


def journey(number: int) -> Journey:
    return Journey(journey_id=f"j{number}", node="n1", call_ids=[f"j{number}"], direction="inbound",
                   state="complete", outcome="answered", caller=f"+3360000{number:04d}", caller_name=None,
                   callee="1001", started_at=T + number, answered_at=T + number + 1, ended_at=T + number + 30,
                   talk_seconds=29.0)


def changed(number: int) -> AgentLogEntry:
    return AgentLogEntry(at=T + number + 1, node="n1", agent="alice", old="available" if number % 2 else "on-call",
                         new="on-call" if number % 2 else "available", reason="test", since=T + number)


async def counts(database) -> tuple[int, int]:
    journeys = (await database.fetch_one("SELECT COUNT(*) AS n FROM kpi_journeys"))["n"]
    log = (await database.fetch_one("SELECT COUNT(*) AS n FROM kpi_agent_log"))["n"]
    return journeys, log


async def test_rows_are_committed_once_across_a_writer_process_that_dies(database):
    await RecordStore(database, Config()).setup()
    writer = ProcessRecordWriter(database.target, Config())
    for number in range(50):
        writer.submit([journey(number), changed(number)])
    await writer.flush()
    assert await counts(database) == (50, 50)
    writer._process.kill()  # the writer process dies; the next batch finds it gone
    await asyncio.sleep(0.1)
    for number in range(50, 120):
        writer.submit([journey(number), changed(number)])
        await asyncio.sleep(0.001)
    await writer.flush()
    await writer.close()
    assert await counts(database) == (120, 120)
    assert writer.failures == 1 and writer.pending == 0


async def test_what_the_writer_process_read_is_written_when_the_pbx_side_vanishes(database):
    await RecordStore(database, Config()).setup()
    writer = ProcessRecordWriter(database.target, Config())
    writer.submit([journey(0)])
    await writer.flush()  # the writer process is up
    process = writer._process
    process.send_signal(signal.SIGSTOP)  # it reads nothing more for now: the frames wait in the pipe
    for number in range(1, 30):
        writer.submit([journey(number)])
        writer._send()  # its own frame (they leave every 2 ms by themselves)
    writer._closing = True
    writer._acks.cancel()
    process.stdin.close()  # as when the PBX is killed: its end of the pipe closes
    await asyncio.sleep(0.05)
    process.send_signal(signal.SIGCONT)
    assert await asyncio.wait_for(process.wait(), 20) == 0
    assert await counts(database) == (30, 0)
