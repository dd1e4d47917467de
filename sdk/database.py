"""The PBX database as plugins see it: SQL with versioned migrations, and a key-value store.

`Database` is the interface; `SqliteDatabase` is the embedded default (one file, WAL, every
statement on one worker thread so the event loop never waits for the disk). A plugin keeps its
tables under its own name prefix and brings them up to date with `migrate(plugin, steps)`:
step N runs once, in order, and the version reached is remembered per plugin.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol


class Database(Protocol):
    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int: ...

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def fetch_one(self, sql: str, parameters: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    async def migrate(self, owner: str, steps: Sequence[str]) -> int:
        """Apply the steps `owner` has not had yet (each a script of statements); returns the version."""


class SqliteDatabase:
    """SQLite in WAL mode behind one worker thread. `path` ":memory:" keeps it in memory (tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pbx-db")
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, safe against corruption
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER)")
            self._connection = connection
        return self._connection

    async def _run(self, function, *arguments) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *arguments)

    def run_sync(self, function, *arguments) -> Any:
        """For command-line tools with no event loop."""
        return self._worker.submit(function, *arguments).result()

    # The worker thread's side ---------------------------------------------------------------------

    def _execute(self, sql: str, parameters: Sequence[Any]) -> int:
        with self._lock:
            return self._connect().execute(sql, tuple(parameters)).rowcount

    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN")
            try:
                count = connection.executemany(sql, [tuple(row) for row in rows]).rowcount
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
            row = connection.execute("SELECT version FROM schema_versions WHERE owner = ?", (owner,)).fetchone()
            version = row[0] if row else 0
            for number, script in enumerate(steps[version:], start=version + 1):
                connection.execute("BEGIN")
                try:
                    for statement in (part.strip() for part in script.split(";")):
                        if statement:
                            connection.execute(statement)
                    connection.execute("INSERT INTO schema_versions VALUES (?, ?) ON CONFLICT(owner) "
                                       "DO UPDATE SET version = excluded.version", (owner, number))
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
                version = number
            return version

    # The event loop's side ------------------------------------------------------------------------

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> int:
        return await self._run(self._execute, sql, parameters)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return await self._run(self._execute_many, sql, rows)

    async def fetch_all(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await self._run(self._fetch_all, sql, parameters)

    async def fetch_one(self, sql: str, parameters: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.fetch_all(sql, parameters)
        return rows[0] if rows else None

    async def migrate(self, owner: str, steps: Sequence[str]) -> int:
        return await self._run(self._migrate, owner, steps)

    def close(self) -> None:
        def close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        if self._connection is not None:
            self._worker.submit(close).result()
        self._worker.shutdown(wait=True)


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
