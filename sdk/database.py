"""The PBX database as plugins see it: SQL with versioned migrations, and a key-value store.

`Database` is the interface, with two backends: `SqliteDatabase`, the embedded default (one
file, WAL, every statement on one worker thread so the event loop never waits for the disk),
and `PostgresDatabase` (asyncpg), which several PBX nodes may share. `open_database(target)`
picks one from a URL or a path. SQL is written once, with `?` placeholders, in the subset both
dialects share (`INSERT ... ON CONFLICT ... DO UPDATE SET x = excluded.x`, DOUBLE PRECISION,
no auto-increment); the PostgreSQL backend translates the placeholders to `$1..$n`.

A plugin keeps its tables under its own name prefix and brings them up to date with
`migrate(plugin, steps)`: step N runs once, in order, in a transaction, and the version reached
is remembered per plugin in `schema_versions`. This module does not map errors: a constraint
violation is sqlite3.IntegrityError on one backend, asyncpg's UniqueViolationError on the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import json
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Database", "KeyValueStore", "PostgresDatabase", "SqliteDatabase", "open_database",
           "postgres_placeholders"]

# One statement and its rows, for `Database.transaction`.
Batch = tuple[str, Sequence[Sequence[Any]]]


class Database(Protocol):
    # What `open_database` takes to open the same database again, from another process (a
    # plugin's writer process): the SQLite file's path or the PostgreSQL URL.
    target: str

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement for each row, all in one transaction (none applied if one fails)."""

    async def transaction(self, batches: Sequence[Batch]) -> int:
        """Several `execute_many` in one transaction: all of them or none."""

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def fetch_one(self, sql: str, parameters: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    async def migrate(self, owner: str, steps: Sequence[str]) -> int:
        """Apply the steps `owner` has not had yet (each a script of statements); returns the version."""

    def run_sync(self, function, *arguments) -> Any:
        """For command-line tools with no event loop: `run_sync(database.fetch_all, sql)`."""

    def close(self) -> None: ...


def open_database(target: str | Path) -> Database:
    """`postgresql://user@host/db` (or `postgres://`): PostgreSQL; anything else: a SQLite file."""
    if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(target)
    return SqliteDatabase(target)


def _statements(script: str) -> list[str]:
    # A migration step is a script; both backends split it the same naive way (no ";" in literals).
    return [statement for statement in (part.strip() for part in script.split(";")) if statement]


def _run_in_private_loop(coroutine) -> Any:
    """Await `coroutine` in a new event loop on a thread of its own (the caller may be in a loop)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pbx-db-sync") as runner:
        return runner.submit(asyncio.run, coroutine).result()


def _switch_to_wal(connection: sqlite3.Connection, patience: float = 5.0) -> None:
    """WAL mode, waiting for another connection that holds the file (a second node starting at the
    same moment): SQLite answers "locked" at once there instead of calling the busy handler."""
    deadline = time.monotonic() + patience
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class _OffTheLoop:
    """The Database methods, each carried out by the backend's `_run` away from the caller's
    event loop (SQLite: its worker thread; PostgreSQL: its pool's own loop)."""

    async def _run(self, function, *arguments) -> Any:
        raise NotImplementedError

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        return await self._run(self._execute, sql, parameters)  # type: ignore[attr-defined]

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return await self._run(self._transaction, [(sql, rows)])  # type: ignore[attr-defined]

    async def transaction(self, batches: Sequence[Batch]) -> int:
        return await self._run(self._transaction, batches)  # type: ignore[attr-defined]

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await self._run(self._fetch_all, sql, parameters)  # type: ignore[attr-defined]

    async def fetch_one(self, sql: str, parameters: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.fetch_all(sql, parameters)
        return rows[0] if rows else None

    async def migrate(self, owner: str, steps: Sequence[str]) -> int:
        return await self._run(self._migrate, owner, steps)  # type: ignore[attr-defined]


class SqliteDatabase(_OffTheLoop):
    """SQLite in WAL mode behind one worker thread. `path` ":memory:" keeps it in memory (tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.target = self.path  # what open_database takes to open this database again (another process)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pbx-db")
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA busy_timeout=5000")
            _switch_to_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, safe against corruption
            connection.execute("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER)")
            self._connection = connection
        return self._connection

    async def _run(self, function, *arguments) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *arguments)

    def run_sync(self, function, *arguments) -> Any:
        """For command-line tools with no event loop. An async function (this database's own
        methods) is awaited in a private loop; a plain one runs on the worker thread."""
        if inspect.iscoroutinefunction(function):
            return _run_in_private_loop(function(*arguments))
        return self._worker.submit(function, *arguments).result()

    # The worker thread's side ---------------------------------------------------------------------

    def _execute(self, sql: str, parameters: Sequence[Any]) -> int:
        with self._lock:
            return self._connect().execute(sql, tuple(parameters)).rowcount

    def _transaction(self, batches: Sequence[Batch]) -> int:
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN")
            try:
                count = sum(connection.executemany(sql, [tuple(row) for row in rows]).rowcount
                            for sql, rows in batches if rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return count

    def _fetch_all(self, sql: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._connect().execute(sql, tuple(parameters)).fetchall()]

    def _migrate(self, owner: str, steps: Sequence[str]) -> int:
        with self._lock:
            connection = self._connect()
            while True:
                # IMMEDIATE takes the write lock before reading the version: another process
                # migrating the same file waits (busy_timeout), then sees the step done.
                connection.execute("BEGIN IMMEDIATE")
                try:
                    row = connection.execute("SELECT version FROM schema_versions WHERE owner = ?", (owner,)).fetchone()
                    version = row[0] if row else 0
                    if version >= len(steps):
                        connection.execute("COMMIT")
                        return version
                    for statement in _statements(steps[version]):
                        connection.execute(statement)
                    connection.execute("INSERT INTO schema_versions VALUES (?, ?) ON CONFLICT(owner) "
                                       "DO UPDATE SET version = excluded.version", (owner, version + 1))
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")

    def close(self) -> None:
        def close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        if self._connection is not None:
            self._worker.submit(close).result()
        self._worker.shutdown(wait=True)


# PostgreSQL -----------------------------------------------------------------------------------------

# A string literal, a quoted identifier or a comment is copied as it is; a `?` outside them is a
# placeholder. (Dollar-quoted and E'' strings are not recognised: our SQL does not use them.)
_SQL_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.DOTALL)


@functools.lru_cache(maxsize=1024)
def postgres_placeholders(sql: str) -> str:
    """`?` placeholders (SQLite's, the ones we write) as PostgreSQL's `$1..$n`."""
    numbers = iter(range(1, sql.count("?") + 1))
    return _SQL_TOKENS.sub(lambda match: f"${next(numbers)}" if match.group() == "?" else match.group(), sql)


def _rows_changed(status: str) -> int:
    # asyncpg returns the command tag: "INSERT 0 5", "UPDATE 3", "DELETE 1", "CREATE TABLE".
    count = status.rpartition(" ")[2]
    return int(count) if count.isdigit() else 0


# pg_advisory_xact_lock key serialising migrations across every node sharing the database: the
# second node to start waits for the first one's step, then finds it done.
_MIGRATION_LOCK = int.from_bytes(b"pbx-migr", "big")


_SQLITE_SPELLINGS = [
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.IGNORECASE), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),  # PostgreSQL's REAL is 4 bytes: epoch times lose ~100 s
]


def postgres_ddl(statement: str) -> str:
    """A migration statement with SQLite's spellings of an auto-numbered key and a float column
    (written by plugins before PostgreSQL was there) in PostgreSQL's."""
    for pattern, spelling in _SQLITE_SPELLINGS:
        statement = pattern.sub(spelling, statement)
    return statement


class PostgresDatabase(_OffTheLoop):
    """PostgreSQL through an asyncpg pool, for nodes that share one database.

    The pool lives in an event loop of its own on a worker thread, created on first use (as
    SqliteDatabase's worker thread): a pool is bound to the loop that made it, and this way one
    object serves the PBX's loop, `asyncio.run` calls of command-line tools one after another,
    `run_sync` without a loop, and a plain `close()`; encoding a large batch does not run on the
    caller's loop either. Each call costs one hop between threads (tens of microseconds).

    Parameters go to asyncpg as they are, which types them by the column: pass `str` for TEXT
    (asyncpg does not turn an int into text as SQLite does); ints are accepted for DOUBLE
    PRECISION and bools for INTEGER. `execute_many` returns the number of rows sent (asyncpg
    reports no count for it).
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.target = url  # what open_database takes to open this database again (another process)
        self._pool_options = {"min_size": min_size, "max_size": max_size}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: Any = None  # asyncpg.Pool, made in the worker loop
        self._pool_starting: asyncio.Future | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def _worker_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._closed:
                raise RuntimeError(f"database {self._safe_url()} is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name="pbx-db-postgres", daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def _safe_url(self) -> str:
        return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", self.url)  # no password in messages

    async def _get_pool(self) -> Any:
        # In the worker loop. A failed start is forgotten, so the next call tries again.
        if self._pool is None:
            if self._pool_starting is None:
                import asyncpg  # only PostgreSQL users need it installed

                self._pool_starting = asyncio.ensure_future(asyncpg.create_pool(self.url, **self._pool_options))
            starting = self._pool_starting
            try:
                self._pool = await asyncio.shield(starting)
            except BaseException:
                if self._pool_starting is starting and starting.done():
                    self._pool_starting = None
                raise
        return self._pool

    def _submit(self, function, *arguments) -> concurrent.futures.Future:
        loop = self._worker_loop()

        async def call() -> Any:
            result = function(await self._get_pool(), *arguments)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(call(), loop)

    async def _run(self, function, *arguments) -> Any:
        return await asyncio.wrap_future(self._submit(function, *arguments))

    def run_sync(self, function, *arguments) -> Any:
        """For command-line tools with no event loop: an async function (this database's own
        methods) is awaited in the worker loop; a plain one is called here."""
        if not inspect.iscoroutinefunction(function):
            return function(*arguments)
        loop = self._worker_loop()
        return asyncio.run_coroutine_threadsafe(function(*arguments), loop).result()

    # The worker loop's side -----------------------------------------------------------------------

    @staticmethod
    async def _execute(pool, sql: str, parameters: Sequence[Any]) -> int:
        return _rows_changed(await pool.execute(postgres_placeholders(sql), *parameters))

    @staticmethod
    async def _transaction(pool, batches: Sequence[Batch]) -> int:
        batches = [(sql, rows) for sql, rows in batches if rows]
        async with pool.acquire() as connection:
            if len(batches) == 1:  # asyncpg's executemany is atomic on its own (one Sync)
                sql, rows = batches[0]
                await connection.executemany(postgres_placeholders(sql), rows)
            elif batches:
                async with connection.transaction():
                    for sql, rows in batches:
                        await connection.executemany(postgres_placeholders(sql), rows)
        return sum(len(rows) for _, rows in batches)

    @staticmethod
    async def _fetch_all(pool, sql: str, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(record) for record in await pool.fetch(postgres_placeholders(sql), *parameters)]

    @staticmethod
    async def _migrate(pool, owner: str, steps: Sequence[str]) -> int:
        async with pool.acquire() as connection:
            while True:
                async with connection.transaction():
                    await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
                    await connection.execute("CREATE TABLE IF NOT EXISTS schema_versions "
                                             "(owner TEXT PRIMARY KEY, version INTEGER)")
                    version = await connection.fetchval("SELECT version FROM schema_versions WHERE owner = $1",
                                                        owner) or 0
                    if version >= len(steps):
                        return version
                    for statement in _statements(steps[version]):
                        await connection.execute(postgres_ddl(statement))
                    await connection.execute("INSERT INTO schema_versions VALUES ($1, $2) ON CONFLICT (owner) "
                                             "DO UPDATE SET version = excluded.version", owner, version + 1)

    def close(self) -> None:
        """Close the pool (waiting for its connections to finish) and stop the worker loop."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None:
            return

        async def close_pool() -> None:
            if self._pool_starting is not None and self._pool is None:
                try:
                    self._pool = await self._pool_starting
                except Exception:
                    pass
            if self._pool is not None:
                try:
                    await asyncio.wait_for(self._pool.close(), timeout=10)
                except TimeoutError:  # a query still running: cut its connection
                    self._pool.terminate()

        try:
            asyncio.run_coroutine_threadsafe(close_pool(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()


_KV_SCHEMA = ["CREATE TABLE plugin_kv (plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
              "PRIMARY KEY (plugin, key))"]


class KeyValueStore:
    """One plugin's keys and values (JSON) in the PBX database."""

    def __init__(self, database: Database, plugin: str) -> None:
        self.database = database
        self.plugin = plugin
        self._ready = False

    async def _ensure(self) -> None:
        if not self._ready:
            await self.database.migrate("plugin_kv", _KV_SCHEMA)
            self._ready = True

    async def get(self, key: str, default: Any = None) -> Any:
        await self._ensure()
        row = await self.database.fetch_one("SELECT value FROM plugin_kv WHERE plugin = ? AND key = ?",
                                            (self.plugin, key))
        return json.loads(row["value"]) if row else default

    async def set(self, key: str, value: Any) -> None:
        await self._ensure()
        await self.database.execute("INSERT INTO plugin_kv VALUES (?, ?, ?) ON CONFLICT(plugin, key) "
                                    "DO UPDATE SET value = excluded.value", (self.plugin, key, json.dumps(value)))

    async def delete(self, key: str) -> bool:
        await self._ensure()
        return await self.database.execute("DELETE FROM plugin_kv WHERE plugin = ? AND key = ?",
                                           (self.plugin, key)) > 0

    async def keys(self, prefix: str = "") -> list[str]:
        await self._ensure()
        rows = await self.database.fetch_all(
            "SELECT key FROM plugin_kv WHERE plugin = ? AND key >= ? AND key < ? ORDER BY key",
            (self.plugin, prefix, prefix + "\U0010ffff"))
        return [row["key"] for row in rows]
