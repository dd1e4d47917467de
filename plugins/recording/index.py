"""The recordings index and the access audit log, as tables in the PBX database (sdk.Database).

Three tables under the plugin's `recording_` prefix, brought up to date with
`database.migrate("recording", MIGRATIONS)`:

- `recording_index`: one row per recording (RecordingRow), keyed by call id (the recorder
  writes one file per call);
- `recording_pauses`: its silent stretches, as offsets into the file, with the reason;
- `recording_audit`: who listed, viewed, downloaded, held, released or deleted what, and when.
  Audit rows carry the call id, never the caller's number, so they can outlive the recording
  (a GDPR erasure removes the index row and keeps the proof that it was erased).

SQL only: deciding what to delete, and deleting files, is archive.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from sdk import Database

from .fold import Pause, RecordingRow

MIGRATIONS = [
    """
    CREATE TABLE recording_index (
        call_id TEXT PRIMARY KEY, path TEXT NOT NULL, policy TEXT NOT NULL, layout TEXT NOT NULL,
        state TEXT NOT NULL, started_at REAL NOT NULL, caller TEXT, callee TEXT, scenario TEXT, queue TEXT,
        agent TEXT, stopped_at REAL, seconds REAL, paused_seconds REAL, keep_until REAL,
        legal_hold INTEGER NOT NULL DEFAULT 0, consent TEXT);
    CREATE INDEX recording_index_started ON recording_index (started_at);
    CREATE INDEX recording_index_keep ON recording_index (keep_until);
    CREATE TABLE recording_pauses (
        call_id TEXT NOT NULL, position INTEGER NOT NULL, start_offset REAL NOT NULL, end_offset REAL,
        reason TEXT NOT NULL, PRIMARY KEY (call_id, position));
    CREATE TABLE recording_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        call_id TEXT, reason TEXT, detail TEXT NOT NULL DEFAULT '');
    CREATE INDEX recording_audit_call ON recording_audit (call_id);
    """,
]

# The row's own columns (pauses live in their own table); legal_hold is set only by `set_hold`.
_COLUMNS = [name for name in RecordingRow.__struct_fields__ if name not in ("pauses", "legal_hold")]
_UPDATED = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS if name != "call_id")
_UPSERT = (f"INSERT INTO recording_index ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)}) "
           f"ON CONFLICT(call_id) DO UPDATE SET {_UPDATED}")


class Search(msgspec.Struct, frozen=True, kw_only=True):
    """What to list: every given field narrows it; `since`/`until` bound `started_at`."""

    call_id: str | None = None
    queue: str | None = None
    agent: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One access to the recordings: who did what to which call's recording, and when."""

    at: float
    actor: str  # the API token's name of an admin request, "cli:<user>", or "retention"
    action: str  # list, view, download, hold, release, delete, delete-refused, delete-failed
    call_id: str | None = None
    reason: str | None = None  # for deletions: "retention" or "request"
    detail: str = ""
    id: int | None = None


class RecordingIndex:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def migrate(self) -> int:
        return await self.database.migrate("recording", MIGRATIONS)

    async def save(self, row: RecordingRow) -> None:
        """Insert or update the row and replace its pauses (its legal hold is left as it is)."""
        await self.database.execute(_UPSERT, [getattr(row, name) for name in _COLUMNS])
        await self.database.execute("DELETE FROM recording_pauses WHERE call_id = ?", (row.call_id,))
        if row.pauses:
            await self.database.execute_many(
                "INSERT INTO recording_pauses VALUES (?, ?, ?, ?, ?)",
                [(row.call_id, position, pause.start, pause.end, pause.reason)
                 for position, pause in enumerate(row.pauses)])

    async def get(self, call_id: str) -> RecordingRow | None:
        found = await self._rows("SELECT * FROM recording_index WHERE call_id = ?", [call_id])
        return found[0] if found else None

    async def search(self, search: Search) -> list[RecordingRow]:
        where, parameters = [], []
        for name in ("call_id", "queue", "agent"):
            value = getattr(search, name)
            if value is not None:
                where.append(f"{name} = ?")
                parameters.append(value)
        if search.since is not None:
            where.append("started_at >= ?")
            parameters.append(search.since)
        if search.until is not None:
            where.append("started_at < ?")
            parameters.append(search.until)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return await self._rows(f"SELECT * FROM recording_index {clause}ORDER BY started_at DESC, call_id LIMIT ?",
                                [*parameters, search.limit])

    async def due(self, now: float, limit: int = 500) -> list[RecordingRow]:
        """Finished recordings past their retention and not under legal hold, the oldest first
        (at most `limit`: a sweep's work stays bounded, the next one goes on)."""
        return await self._rows(
            "SELECT * FROM recording_index WHERE keep_until IS NOT NULL AND keep_until <= ? AND legal_hold = 0 "
            "AND state != 'recording' ORDER BY keep_until LIMIT ?", [now, limit])

    async def unfinished(self) -> list[RecordingRow]:
        return await self._rows("SELECT * FROM recording_index WHERE state = 'recording'", [])

    async def set_hold(self, call_id: str, hold: bool) -> bool:
        return await self.database.execute("UPDATE recording_index SET legal_hold = ? WHERE call_id = ?",
                                           (1 if hold else 0, call_id)) > 0

    async def remove(self, call_id: str) -> bool:
        await self.database.execute("DELETE FROM recording_pauses WHERE call_id = ?", (call_id,))
        return await self.database.execute("DELETE FROM recording_index WHERE call_id = ?", (call_id,)) > 0

    async def _rows(self, sql: str, parameters: Sequence[Any]) -> list[RecordingRow]:
        rows = await self.database.fetch_all(sql, parameters)
        if not rows:
            return []
        ids = [row["call_id"] for row in rows]
        pauses: dict[str, list[Pause]] = {}
        for pause in await self.database.fetch_all(
                f"SELECT * FROM recording_pauses WHERE call_id IN ({', '.join('?' for _ in ids)}) "
                "ORDER BY call_id, position", ids):
            pauses.setdefault(pause["call_id"], []).append(
                Pause(start=pause["start_offset"], end=pause["end_offset"], reason=pause["reason"]))
        return [RecordingRow(**{**row, "legal_hold": bool(row["legal_hold"]), "pauses": pauses.get(row["call_id"], [])})
                for row in rows]


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, entry: AuditEntry) -> None:
        await self.database.execute(
            "INSERT INTO recording_audit (at, actor, action, call_id, reason, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (entry.at, entry.actor, entry.action, entry.call_id, entry.reason, entry.detail))

    async def read(self, *, call_id: str | None = None, action: str | None = None, since: float | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        where, parameters = [], []
        for name, value in (("call_id", call_id), ("action", action)):
            if value is not None:
                where.append(f"{name} = ?")
                parameters.append(value)
        if since is not None:
            where.append("at >= ?")
            parameters.append(since)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self.database.fetch_all(f"SELECT * FROM recording_audit {clause}ORDER BY id DESC LIMIT ?",
                                             [*parameters, limit])
        return [AuditEntry(**row) for row in rows]
