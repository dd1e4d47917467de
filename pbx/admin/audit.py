"""The audit log of the admin API: who changed what, when, and what the PBX answered.

The gate (gate.py) records every request that changes something, after its handler ran,
whatever the answer (a refused change is audited too: 4xx included). Supervisor monitoring
started from a phone's feature code is recorded from its bus event. Records go to the PBX
database in order through one task (a kill -9 loses at most the last few milliseconds), and the
last MEMORY records stay in memory for GET /api/audit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

import msgspec

from sdk.database import Database

__all__ = ["AuditLog", "AuditRecord"]

log = logging.getLogger("pbx.admin.audit")
MEMORY = 10_000

MIGRATIONS = [
    """
    CREATE TABLE pbx_audit (
        at DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        status INTEGER NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX pbx_audit_at ON pbx_audit (at)
    """,
]


class AuditRecord(msgspec.Struct, frozen=True):
    """One change: who (the token's name and role), what (the action and its target), when."""

    at: float
    actor: str
    role: str
    action: str  # "POST /api/agents/{agent}/pause", "monitor whisper" (from a feature code)
    target: str | None
    status: int  # what the PBX answered
    detail: dict[str, Any] = {}


class AuditLog:
    def __init__(self, database: Database | None = None) -> None:
        self.database = database
        self.records: deque[AuditRecord] = deque(maxlen=MEMORY)
        self._writes: asyncio.Queue[AuditRecord | None] | None = None
        self._writer: asyncio.Task | None = None

    async def setup(self) -> None:
        if self.database is None:
            return
        await self.database.migrate("pbx_audit", MIGRATIONS)
        self._writes = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write(), name="pbx-audit")

    def record(self, record: AuditRecord) -> None:
        self.records.append(record)
        log.info("event=audit actor=%s role=%s action=%r target=%r status=%d", record.actor, record.role,
                 record.action, record.target, record.status)
        if self._writes is not None:
            self._writes.put_nowait(record)

    async def search(self, *, actor: str | None = None, since: float | None = None, limit: int = 100) -> list[AuditRecord]:
        """Newest first: from the database when there is one (every node's), else from memory."""
        if self.database is None:
            rows = [r for r in reversed(self.records)
                    if (actor is None or r.actor == actor) and (since is None or r.at >= since)]
            return rows[:limit]
        await self.flush()
        clauses, parameters = [], []
        if actor is not None:
            clauses.append("actor = ?")
            parameters.append(actor)
        if since is not None:
            clauses.append("at >= ?")
            parameters.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.database.fetch_all(f"SELECT * FROM pbx_audit {where} ORDER BY at DESC LIMIT ?",
                                             (*parameters, limit))
        return [AuditRecord(row["at"], row["actor"], row["role"], row["action"], row["target"], row["status"],
                            json.loads(row["detail"])) for row in rows]

    async def flush(self) -> None:
        if self._writes is not None:
            await self._writes.join()

    async def close(self) -> None:
        if self._writes is not None and self._writer is not None:
            self._writes.put_nowait(None)
            await self._writer
            self._writes = None

    async def _write(self) -> None:
        assert self._writes is not None and self.database is not None
        while True:
            record = await self._writes.get()
            try:
                if record is None:
                    return
                await self.database.execute(
                    "INSERT INTO pbx_audit VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record.at, record.actor, record.role, record.action, record.target, record.status,
                     json.dumps(record.detail, default=str)))
            except Exception as error:  # the database is away: the record stays in memory and in the log
                log.error("event=audit_write_failed reason=%r", str(error))
            finally:
                self._writes.task_done()
