"""The call records in the PBX database: `RecordStore` writes and reads the rows of records.py
in the tables of schema.py; `RecordWriter` takes rows from the event side without blocking it
and writes them in batches, one transaction each.

Journeys, queue visits and agent segments are upserts keyed by their primary key (a journey
is written again when its wrap-up ends: the last write wins, within a batch too); the two logs
are append-only. Lists are JSON text and bools 0/1 in the database, decoded back on reading.

In the same transaction as the rows, `write` keeps what the report reads instead of scanning
them (rollups.py has the rules):
- each new journey's neighbours, `previous_started_at` and `next_started_at` (the same caller's
  latest earlier and earliest later journey, any state), and its neighbours' own (found with
  one indexed lookup per new journey, batched; journeys of the batch are each other's too);
- the rollups, by deltas: the stored versions of the batch's journeys, visits and segments are
  read first (one SELECT ... IN per table, in chunks), their parts taken away and the new ones
  added; journeys whose neighbours change are counted again; log rows only add.
The reads happen before the transaction: one writer per journey (the node that folded it; the
RecordWriter writes one batch at a time) is what keeps them true. Two nodes inserting journeys
of one caller at the same moment may miss each other as neighbours.
`setup` rebuilds every rollup from the raw tables when the config they were made with differs.
This module holds no figures: report.py computes them from what it reads here.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import msgspec

from sdk import Database

from .config import Config
from .records import AgentCall, AgentLogEntry, Journey, QueueCall, QueueLogEntry
from .rollups import (
    PAUSED,
    STAFFED_CHANGES,
    Deltas,
    Settings,
    agent_call_part,
    agent_log_parts,
    journey_parts,
    queue_call_part,
    rebuild_statements,
    staffed_change,
)
from .schema import MIGRATIONS

__all__ = ["RecordStore", "RecordWriter", "Row"]

Row = Journey | QueueCall | AgentCall | QueueLogEntry | AgentLogEntry


class _Table:
    """How one row type maps to its table: the SQL, and row <-> parameters."""

    def __init__(self, row_type: type, table: str, key: tuple[str, ...] = ()) -> None:
        self.row_type = row_type
        self.table = table
        self.key = key  # the primary key; () for an append-only log
        fields = msgspec.structs.fields(row_type)
        self.columns = [field.name for field in fields]
        self._lists = [index for index, field in enumerate(fields) if _is_list(field.type)]
        self._bools = [index for index, field in enumerate(fields) if field.type is bool]
        self._key_indexes = [self.columns.index(name) for name in key]
        insert = (f"INSERT INTO {table} ({', '.join(self.columns)}) "
                  f"VALUES ({', '.join('?' for _ in self.columns)})")
        if key:
            updates = ", ".join(f"{name} = excluded.{name}" for name in self.columns if name not in key)
            insert += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        self.write_sql = insert
        self.select_sql = f"SELECT {', '.join(self.columns)} FROM {table}"

    def parameters(self, rows: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows as statement parameters; for an upserted table the last row of a key wins
        (PostgreSQL refuses a batch that updates one row twice, SQLite would keep the last)."""
        encoded = []
        for row in rows:
            values = list(msgspec.structs.astuple(row))
            for index in self._lists:
                values[index] = msgspec.json.encode(values[index]).decode()
            for index in self._bools:
                values[index] = int(values[index])
            encoded.append(tuple(values))
        if not self.key:
            return encoded
        return list({tuple(values[index] for index in self._key_indexes): values for values in encoded}.values())

    def decode(self, record: dict[str, Any]) -> Any:
        values = list(record.values())
        for index in self._lists:
            values[index] = msgspec.json.decode(values[index])
        for index in self._bools:
            values[index] = bool(values[index])
        return self.row_type(**dict(zip(self.columns, values)))


def _is_list(annotation: Any) -> bool:
    return getattr(annotation, "__origin__", None) is list


_TABLES: dict[type, _Table] = {
    Journey: _Table(Journey, "kpi_journeys", ("journey_id",)),
    QueueCall: _Table(QueueCall, "kpi_queue_calls", ("journey_id", "queue", "joined_at")),
    AgentCall: _Table(AgentCall, "kpi_agent_calls", ("journey_id", "agent", "connected_at")),
    QueueLogEntry: _Table(QueueLogEntry, "kpi_queue_log"),
    AgentLogEntry: _Table(AgentLogEntry, "kpi_agent_log"),
}


# What the rollups need of each stored row (rollups.py's parts read these names).
JOURNEY_FACTS = ("journey_id", "caller", "started_at", "state", "outcome", "queue", "scenario", "ivr_exit",
                 "ivr_exit_node", "csat", "nps", "ces", "mos", "cost", "previous_started_at", "next_started_at")
VISIT_FACTS = ("journey_id", "queue", "joined_at", "outcome", "wait_seconds", "handle_seconds", "transferred")
SEGMENT_FACTS = ("journey_id", "agent", "connected_at", "talk_seconds", "hold_seconds", "wrapup_seconds")
CHUNK = 500  # keys per SELECT ... IN (...): well under both backends' limit on parameters
_NEIGHBOURS = ("previous_started_at", "next_started_at")
_JOURNEYS = _TABLES[Journey]
# The journey upsert also sets a new journey's neighbours; a conflict leaves them as they are.
_JOURNEY_WRITE = _JOURNEYS.write_sql.replace(
    f"({', '.join(_JOURNEYS.columns)}) VALUES ({', '.join('?' for _ in _JOURNEYS.columns)})",
    f"({', '.join((*_JOURNEYS.columns, *_NEIGHBOURS))}) "
    f"VALUES ({', '.join('?' for _ in range(len(_JOURNEYS.columns) + len(_NEIGHBOURS)))})")
_SETTINGS_WRITE = ("INSERT INTO kpi_rollup_settings (name, value) VALUES ('settings', ?) "
                   "ON CONFLICT (name) DO UPDATE SET value = excluded.value")


def _facts(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name, None) for name in names}


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[index:index + CHUNK] for index in range(0, len(items), CHUNK)]


def _pairs(count: int) -> str:
    """VALUES rows of (text, double): both dialects name their columns column1, column2."""
    return ", ".join("(CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION))" for _ in range(count))


def _latest(table: _Table, rows: list[Any]) -> dict[tuple[Any, ...], Any]:
    return {tuple(getattr(row, name) for name in table.key): row for row in rows}


def _high(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _low(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


class RecordStore:
    """The kpi_ tables of one PBX database (SQLite or PostgreSQL, through sdk.Database).

    `config` gives the settings the rollups are computed with (the plugin's config: the report
    reads the rollups only when they were made with its own settings, else the raw tables)."""

    def __init__(self, database: Database, config: Config | None = None) -> None:
        self.database = database
        self.settings = Settings.of(config or Config())

    async def setup(self) -> int:
        """Bring the tables up to date (safe when several nodes start at once), and the rollups
        when they were computed with other settings; returns the version."""
        version = await self.database.migrate("kpi", MIGRATIONS)
        stored = await self.database.fetch_one("SELECT value FROM kpi_rollup_settings WHERE name = 'settings'")
        if stored is None or stored["value"] != self.settings.text():
            await self.rebuild()
        return version

    async def rebuild(self) -> None:
        """Every rollup (and the journeys' neighbours) again from the raw tables, in one transaction.
        Writers should be stopped meanwhile: a row written during it may be counted twice or not."""
        batches = [(sql, [()]) for sql in rebuild_statements(self.settings)]
        await self._run([*batches, (_SETTINGS_WRITE, [(self.settings.text(),)])])

    async def write(self, rows: Sequence[Row]) -> int:
        """Write a batch of rows of any of the five types, and their rollups, in one transaction;
        returns the rows sent."""
        by_type: dict[type, list[Row]] = {}
        for row in rows:
            if type(row) not in _TABLES:
                raise TypeError(f"not a kpi record row: {type(row).__name__}")
            by_type.setdefault(type(row), []).append(row)
        if not by_type:
            return 0
        deltas = Deltas()
        batches: list[tuple[str, list[tuple[Any, ...]]]] = []
        if Journey in by_type:
            batches += await self._journeys(_latest(_JOURNEYS, by_type[Journey]), deltas)
        if QueueCall in by_type:
            batches += await self._visits(_latest(_TABLES[QueueCall], by_type[QueueCall]), deltas)
        if AgentCall in by_type:
            batches += await self._segments(_latest(_TABLES[AgentCall], by_type[AgentCall]), deltas)
        if QueueLogEntry in by_type:
            log = _TABLES[QueueLogEntry]
            batches.append((log.write_sql, log.parameters(by_type[QueueLogEntry])))
        if AgentLogEntry in by_type:
            batches += await self._agent_log(by_type[AgentLogEntry], deltas)
        written = {_TABLES[row_type].write_sql for row_type in by_type} | {_JOURNEY_WRITE}
        sent = sum(len(parameters) for sql, parameters in batches if sql in written)
        await self._run(batches + deltas.statements())
        return sent

    async def _run(self, batches: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        transaction = getattr(self.database, "transaction", None)
        if transaction is not None:
            await transaction(batches)
            return
        # A Database without `transaction` (an older or third-party one): one transaction per statement.
        for sql, parameters in batches:
            await self.database.execute_many(sql, parameters)

    async def _fetch_in(self, sql: str, keys: list[Any]) -> list[dict[str, Any]]:
        """`sql` with `{marks}` for the keys, run in chunks."""
        found: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(keys))):
            found += await self.database.fetch_all(sql.format(marks=", ".join("?" for _ in chunk)), chunk)
        return found

    async def _journeys(self, journeys: dict[tuple[Any, ...], Journey], deltas: Deltas) -> list[Any]:
        facts = ", ".join(JOURNEY_FACTS)
        stored = {row["journey_id"]: row for row in await self._fetch_in(
            f"SELECT {facts} FROM kpi_journeys WHERE journey_id IN ({{marks}})", [key[0] for key in journeys])}
        new = [journey for journey in journeys.values() if journey.journey_id not in stored]
        # The stored neighbours of each new journey, then those neighbours' rows.
        around: dict[tuple[str, float], tuple[float | None, float | None]] = {}
        for chunk in _chunks(sorted({(journey.caller, journey.started_at) for journey in new})):
            for row in await self.database.fetch_all(f"""
                    SELECT v.column1 AS caller, v.column2 AS started_at,
                           (SELECT MAX(p.started_at) FROM kpi_journeys p
                            WHERE p.caller = v.column1 AND p.started_at < v.column2) AS previous,
                           (SELECT MIN(n.started_at) FROM kpi_journeys n
                            WHERE n.caller = v.column1 AND n.started_at > v.column2) AS following
                    FROM (VALUES {_pairs(len(chunk))}) v""", [value for pair in chunk for value in pair]):
                around[(row["caller"], row["started_at"])] = (row["previous"], row["following"])
        points = sorted({(caller, at) for (caller, _), pair in around.items() for at in pair if at is not None})
        affected = {}
        for chunk in _chunks(points):
            for row in await self.database.fetch_all(f"""
                    SELECT {', '.join(f"j.{name}" for name in JOURNEY_FACTS)}
                    FROM kpi_journeys j JOIN (VALUES {_pairs(len(chunk))}) v
                         ON j.caller = v.column1 AND j.started_at = v.column2""",
                    [value for pair in chunk for value in pair]):
                affected[row["journey_id"]] = row
        affected.update(stored)
        # The batch's new journeys are each other's neighbours too.
        fresh: dict[str, list[float]] = defaultdict(list)
        for journey in new:
            fresh[journey.caller].append(journey.started_at)
        for starts in fresh.values():
            starts.sort()

        def earlier(caller: str, at: float) -> float | None:
            starts = fresh.get(caller, [])
            index = bisect.bisect_left(starts, at)
            return starts[index - 1] if index else None

        def later(caller: str, at: float) -> float | None:
            starts = fresh.get(caller, [])
            index = bisect.bisect_right(starts, at)
            return starts[index] if index < len(starts) else None

        by_id = {key[0]: journey for key, journey in journeys.items()}
        moved = []
        for journey_id, old in affected.items():
            row = _facts(by_id[journey_id], JOURNEY_FACTS) if journey_id in by_id else dict(old)
            row["previous_started_at"] = _high(old["previous_started_at"], earlier(old["caller"], old["started_at"]))
            row["next_started_at"] = _low(old["next_started_at"], later(old["caller"], old["started_at"]))
            deltas.add(journey_parts(old, self.settings), -1)
            deltas.add(journey_parts(row, self.settings))
            if (row["previous_started_at"], row["next_started_at"]) != (old["previous_started_at"],
                                                                      old["next_started_at"]):
                moved.append((row["previous_started_at"], row["next_started_at"], journey_id))
        parameters = []
        for journey, values in zip(journeys.values(), _JOURNEYS.parameters(list(journeys.values()))):
            neighbours: tuple[float | None, float | None] = (None, None)
            if journey.journey_id not in stored:
                previous, following = around.get((journey.caller, journey.started_at), (None, None))
                neighbours = (_high(previous, earlier(journey.caller, journey.started_at)),
                              _low(following, later(journey.caller, journey.started_at)))
                row = _facts(journey, JOURNEY_FACTS) | dict(zip(_NEIGHBOURS, neighbours))
                deltas.add(journey_parts(row, self.settings))
            parameters.append((*values, *neighbours))
        batches: list[Any] = [(_JOURNEY_WRITE, parameters)]
        if moved:
            batches.append(("UPDATE kpi_journeys SET previous_started_at = ?, next_started_at = ? "
                            "WHERE journey_id = ?", sorted(moved, key=lambda update: update[2])))
        return batches

    async def _visits(self, visits: dict[tuple[Any, ...], QueueCall], deltas: Deltas) -> list[Any]:
        stored = {(row["journey_id"], row["queue"], row["joined_at"]): row for row in await self._fetch_in(
            f"SELECT {', '.join(VISIT_FACTS)} FROM kpi_queue_calls WHERE journey_id IN ({{marks}})",
            [key[0] for key in visits])}
        for key, visit in visits.items():
            deltas.visit(queue_call_part(stored.get(key), self.settings),
                         queue_call_part(_facts(visit, VISIT_FACTS), self.settings))
        table = _TABLES[QueueCall]
        return [(table.write_sql, table.parameters(list(visits.values())))]

    async def _segments(self, segments: dict[tuple[Any, ...], AgentCall], deltas: Deltas) -> list[Any]:
        stored = {(row["journey_id"], row["agent"], row["connected_at"]): row for row in await self._fetch_in(
            f"SELECT {', '.join(SEGMENT_FACTS)} FROM kpi_agent_calls WHERE journey_id IN ({{marks}})",
            [key[0] for key in segments])}
        for key, segment in segments.items():
            deltas.add([part for part in [agent_call_part(stored.get(key))] if part], -1)
            deltas.add([part for part in [agent_call_part(_facts(segment, SEGMENT_FACTS))] if part])
        table = _TABLES[AgentCall]
        return [(table.write_sql, table.parameters(list(segments.values())))]

    async def _agent_log(self, entries: list[AgentLogEntry], deltas: Deltas) -> list[Any]:
        # A pause's reason is the reason of the change that entered it (report_agents.py): the
        # greatest of those at its start, in this batch or written before.
        reasons: dict[tuple[str, float], str] = {}
        pauses = sorted({(entry.agent, entry.since) for entry in entries if entry.old == PAUSED})
        for chunk in _chunks(pauses):
            for row in await self.database.fetch_all(f"""
                    SELECT e.agent AS agent, e.at AS at, MAX(e.reason) AS reason
                    FROM kpi_agent_log e JOIN (VALUES {_pairs(len(chunk))}) v
                         ON e.agent = v.column1 AND e.at = v.column2
                    WHERE e.new = '{PAUSED}' GROUP BY e.agent, e.at""", [value for pair in chunk for value in pair]):
                reasons[(row["agent"], row["at"])] = row["reason"]
        starts = set(pauses)
        for entry in entries:
            if entry.new == PAUSED and (entry.agent, entry.at) in starts:
                known = reasons.get((entry.agent, entry.at))
                reasons[(entry.agent, entry.at)] = entry.reason if known is None else max(known, entry.reason)
        changes = []
        for entry in entries:
            reason = reasons.get((entry.agent, entry.since), "") if entry.old == PAUSED else ""
            deltas.add(agent_log_parts(entry.agent, entry.old, entry.since, entry.at, reason))
            staffed = staffed_change(entry.old, entry.new)
            if staffed is not None:
                changes.append((entry.agent, entry.at, entry.since, staffed))
        table = _TABLES[AgentLogEntry]
        batches = [(table.write_sql, table.parameters(entries))]
        if changes:
            batches.append((STAFFED_CHANGES, sorted(set(changes))))
        return batches

    # Reading --------------------------------------------------------------------------------------

    async def _select(self, row_type: type, where: str, parameters: Sequence[Any], order: str,
                      limit: int | None = None, offset: int = 0) -> list[Any]:
        table = _TABLES[row_type]
        sql = f"{table.select_sql} WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            parameters = (*parameters, limit, offset)
        return [table.decode(record) for record in await self.database.fetch_all(sql, parameters)]

    async def journey(self, journey_id: str) -> Journey | None:
        found = await self._select(Journey, "journey_id = ?", (journey_id,), "journey_id")
        return found[0] if found else None

    async def journeys(self, start: float, end: float, limit: int | None = None) -> list[Journey]:
        """Journeys started in [start, end), oldest first."""
        return await self._select(Journey, "started_at >= ? AND started_at < ?", (start, end),
                                  "started_at, journey_id", limit)

    async def search_journeys(self, where: str, parameters: Sequence[Any], *, limit: int,
                              offset: int = 0) -> tuple[int, list[Journey]]:
        """How many journeys meet `where` (an SQL condition with `?` parameters, built by
        search.py from typed filters), and a page of them, oldest first."""
        counted = await self.database.fetch_one(f"SELECT COUNT(*) AS total FROM kpi_journeys WHERE {where}",
                                                parameters)
        page = await self._select(Journey, where, parameters, "started_at, journey_id", limit, offset)
        return int(counted["total"]) if counted else 0, page

    async def queue_calls(self, start: float, end: float) -> list[QueueCall]:
        """Queue visits joined in [start, end), oldest first."""
        return await self._select(QueueCall, "joined_at >= ? AND joined_at < ?", (start, end),
                                  "joined_at, journey_id, queue")

    async def agent_calls(self, start: float, end: float) -> list[AgentCall]:
        """Agent segments connected in [start, end), oldest first."""
        return await self._select(AgentCall, "connected_at >= ? AND connected_at < ?", (start, end),
                                  "connected_at, journey_id, agent")

    async def queue_log(self, start: float, end: float) -> list[QueueLogEntry]:
        """Queue events at [start, end), in time order (the log has no sequence number: events at
        the same instant come by journey, then event name)."""
        return await self._select(QueueLogEntry, "at >= ? AND at < ?", (start, end), "at, journey_id, event")

    async def agent_log(self, start: float, end: float) -> list[AgentLogEntry]:
        """Agent state changes at [start, end), in order."""
        return await self._select(AgentLogEntry, "at >= ? AND at < ?", (start, end), "at, agent")


class RecordWriter:
    """Gathers rows from the event side and writes them in batches, off its path.

    `submit` only appends to a buffer (it never waits, never raises for the database). A
    background task writes the buffer `batch_seconds` after its first row, or at once past
    `max_rows`. A failed write keeps its rows, in order before the newer ones, and is retried
    after `retry_seconds`, doubling to `max_retry_seconds`, logging each failure: rows are
    written at least once (a write that failed after its commit is written again: upserts do
    not mind, a log row would appear twice).
    """

    def __init__(self, store: RecordStore, *, batch_seconds: float = 0.02, max_rows: int = 5000,
                 retry_seconds: float = 0.5, max_retry_seconds: float = 30.0,
                 log: logging.Logger | None = None) -> None:
        self.store = store
        self.batch_seconds = batch_seconds
        self.max_rows = max_rows
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.log = log or logging.getLogger("pbx.plugins.kpi")
        self._buffer: list[Row] = []
        self._wake = asyncio.Event()  # rows arrived, the buffer is full, or closing
        self._writing = asyncio.Lock()  # one write at a time: an older batch never lands after a newer one
        self._task: asyncio.Task | None = None
        self._closing = False
        self.failures = 0  # write attempts that failed, for the plugin's metrics

    @property
    def pending(self) -> int:
        """Rows submitted and not yet written."""
        return len(self._buffer)

    def submit(self, rows: Sequence[Row]) -> None:
        if self._closing:
            raise RuntimeError("the record writer is closed")
        self._buffer.extend(rows)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kpi-record-writer")
        self._wake.set()

    async def flush(self) -> None:
        """Write every row submitted so far; a database error is raised, the rows kept."""
        async with self._writing:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                await self.store.write(batch)
            except BaseException:
                self._buffer[:0] = batch
                raise

    async def close(self) -> None:
        """Stop the background task and write what is left (raising if the database refuses)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        delay = self.retry_seconds
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if not self._buffer:
                continue
            if len(self._buffer) < self.max_rows and not self._closing:
                await self._gather()
            try:
                await self.flush()
            except Exception as error:
                self.failures += 1
                self.log.warning("event=kpi-write-failed rows=%d retry_in=%.1f error=%r",
                                 len(self._buffer), delay, error)
                await self._pause(delay)
                delay = min(delay * 2, self.max_retry_seconds)
                self._wake.set()
            else:
                delay = self.retry_seconds

    async def _gather(self) -> None:
        # Wait up to batch_seconds for more rows, less if the buffer fills or we are closing.
        try:
            async with asyncio.timeout(self.batch_seconds):
                while len(self._buffer) < self.max_rows and not self._closing:
                    await self._wake.wait()
                    self._wake.clear()
        except TimeoutError:
            pass

    async def _pause(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                while not self._closing:
                    await self._wake.wait()
                    self._wake.clear()
        except TimeoutError:
            pass
