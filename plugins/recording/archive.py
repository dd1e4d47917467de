"""What people and the retention sweep do with recordings: list, view, download, hold, release,
delete, sweep; each leaves an entry in the audit log.

Shared by the admin API (admin.py), the command line (cli.py) and the live plugin (the sweep).
Deleting a recording removes its file and its index row; its audit entry stays. A recording
under legal hold is never deleted, by the sweep or on request (GDPR Art. 17(3)(e): erasure does
not apply to data needed for legal claims); release it first. A recording still being written
cannot be deleted either.

`now` is always a parameter; `publish` (absent on the command line, where no PBX runs) carries
RecordingDeleted to the bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from sdk.events import Event, RecordingDeleted

from .fold import RecordingRow
from .index import AuditEntry, AuditLog, RecordingIndex, Search


class RecordingNotFound(LookupError):
    """No recording of that call in the index (never was, or deleted)."""


class RecordingRefused(Exception):
    """The action does not fit the recording: under legal hold, still recording, file gone."""


class RecordingArchive:
    def __init__(self, index: RecordingIndex, audit: AuditLog, *, log: logging.Logger,
                 publish: Callable[[Event], None] | None = None) -> None:
        self.index = index
        self.audit = audit
        self.log = log
        self.publish = publish

    async def _audit(self, now: float, actor: str, action: str, call_id: str | None = None, *,
                     reason: str | None = None, detail: str = "") -> None:
        await self.audit.write(AuditEntry(at=now, actor=actor, action=action, call_id=call_id, reason=reason,
                                          detail=detail))

    async def _existing(self, call_id: str) -> RecordingRow:
        row = await self.index.get(call_id)
        if row is None:
            raise RecordingNotFound(f"no recording of call {call_id!r}")
        return row

    # Reading -----------------------------------------------------------------------------------

    async def search(self, search: Search, *, actor: str, now: float) -> list[RecordingRow]:
        rows = await self.index.search(search)
        asked = " ".join(f"{name}={value}" for name in Search.__struct_fields__
                         if (value := getattr(search, name)) is not None and name != "limit")
        await self._audit(now, actor, "list", search.call_id, detail=f"{asked} count={len(rows)}".strip())
        return rows

    async def show(self, call_id: str, *, actor: str, now: float) -> RecordingRow:
        row = await self._existing(call_id)
        await self._audit(now, actor, "view", call_id)
        return row

    async def audio(self, call_id: str, *, actor: str, now: float) -> Path:
        """The WAV file to hand out (the download is audited before it starts)."""
        row = await self._existing(call_id)
        if row.state == "recording":
            raise RecordingRefused(f"call {call_id} is still being recorded")
        path = Path(row.path)
        if not await asyncio.to_thread(path.is_file):
            raise RecordingRefused(f"the file of call {call_id} is missing from the disk ({path})")
        await self._audit(now, actor, "download", call_id, detail=str(path))
        return path

    async def audit_entries(self, **filters: object) -> list[AuditEntry]:
        return await self.audit.read(**filters)  # type: ignore[arg-type]

    # Changing ----------------------------------------------------------------------------------

    async def hold(self, call_id: str, hold: bool, *, actor: str, now: float) -> RecordingRow:
        """Put the recording under legal hold (kept past its retention) or release it."""
        await self._existing(call_id)
        await self.index.set_hold(call_id, hold)
        await self._audit(now, actor, "hold" if hold else "release", call_id)
        self.log.info("event=recording_%s call_id=%s actor=%s", "held" if hold else "released", call_id, actor)
        return await self._existing(call_id)

    async def delete(self, call_id: str, *, actor: str, now: float, reason: str = "request") -> RecordingRow:
        """Erase the file and the index row (a GDPR request, or the retention sweep)."""
        row = await self._existing(call_id)
        refusal = None
        if row.legal_hold:
            refusal = f"the recording of call {call_id} is under legal hold: release it first"
        elif row.state == "recording":
            refusal = f"call {call_id} is still being recorded: stop the recording first"
        if refusal is not None:
            await self._audit(now, actor, "delete-refused", call_id, reason=reason, detail=refusal)
            raise RecordingRefused(refusal)
        path = Path(row.path)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as error:
            await self._audit(now, actor, "delete-failed", call_id, reason=reason, detail=f"{path}: {error}")
            self.log.warning("event=recording_not_deleted call_id=%s path=%s reason=%r", call_id, path, str(error))
            raise RecordingRefused(f"cannot delete {path}: {error}") from None
        await self.index.remove(call_id)
        await self._audit(now, actor, "delete", call_id, reason=reason, detail=str(path))
        self.log.info("event=recording_deleted call_id=%s reason=%s actor=%s", call_id, reason, actor)
        if self.publish is not None:
            self.publish(RecordingDeleted(at=now, call_id=call_id, path=str(path), reason=reason))
        return row

    async def sweep(self, now: float, *, actor: str = "retention") -> list[RecordingRow]:
        """Delete every recording past its retention that is not under legal hold."""
        deleted = []
        for row in await self.index.due(now):
            try:
                deleted.append(await self.delete(row.call_id, actor=actor, now=now, reason="retention"))
            except (RecordingNotFound, RecordingRefused):
                continue  # held or deleted meanwhile, or the disk refused (audited): the next sweep tries again
        return deleted
