"""The call records in the PBX database: `RecordStore` writes and reads the rows of records.py
in the tables of schema.py; `RecordWriter` takes rows from the event side without blocking it
and writes them in batches, one transaction each.

Journeys, queue visits and agent segments are upserts keyed by their primary key (a journey
is written again when its wrap-up ends: the last write wins, within a batch too); the two logs
are append-only. Lists are JSON text and bools 0/1 in the database, decoded back on reading.
This module holds no figures: report.py computes them from what it reads here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import msgspec

from sdk import Database

from .records import AgentCall, AgentLogEntry, Journey, QueueCall, QueueLogEntry
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


class RecordStore:
    """The kpi_ tables of one PBX database (SQLite or PostgreSQL, through sdk.Database)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def setup(self) -> int:
        """Bring the tables up to date (safe when several nodes start at once); returns the version."""
        return await self.database.migrate("kpi", MIGRATIONS)

    async def write(self, rows: Sequence[Row]) -> int:
        """Write a batch of rows of any of the five types in one transaction; returns the rows sent."""
        by_type: dict[type, list[Row]] = {}
        for row in rows:
            if type(row) not in _TABLES:
                raise TypeError(f"not a kpi record row: {type(row).__name__}")
            by_type.setdefault(type(row), []).append(row)
        batches = [(_TABLES[row_type].write_sql, _TABLES[row_type].parameters(typed))
                   for row_type, typed in by_type.items()]
        if not batches:
            return 0
        transaction = getattr(self.database, "transaction", None)
        if transaction is not None:
            return await transaction(batches)
        # A Database without `transaction` (an older or third-party one): one transaction per table.
        return sum([await self.database.execute_many(sql, parameters) for sql, parameters in batches])

    # Reading --------------------------------------------------------------------------------------

    async def _select(self, row_type: type, where: str, parameters: Sequence[Any], order: str,
                      limit: int | None = None) -> list[Any]:
        table = _TABLES[row_type]
        sql = f"{table.select_sql} WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            parameters = (*parameters, limit)
        return [table.decode(record) for record in await self.database.fetch_all(sql, parameters)]

    async def journey(self, journey_id: str) -> Journey | None:
        found = await self._select(Journey, "journey_id = ?", (journey_id,), "journey_id")
        return found[0] if found else None

    async def journeys(self, start: float, end: float, limit: int | None = None) -> list[Journey]:
        """Journeys started in [start, end), oldest first."""
        return await self._select(Journey, "started_at >= ? AND started_at < ?", (start, end),
                                  "started_at, journey_id", limit)

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
