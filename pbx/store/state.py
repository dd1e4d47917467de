"""Registrations and agent logins that survive a restart.

The registrar and the ACD stay pure and in memory. This adapter follows their events on the
bus and keeps a copy in the PBX database: every binding of the registrar (written when it is
added or refreshed, deleted when it is removed or expires) and every agent's last state with
its reason. `restore(now)`, awaited before SIP listens, hands back the bindings that have not
expired and logs the agents in again (paused with their reason when they were paused).

Writes go through one queue and one task, in the order the events happened, so a refresh
never lands before the add it refreshes, on SQLite or PostgreSQL. A kill -9 loses at most the
writes of the last few milliseconds: a phone re-registers within its expiry anyway, and an
agent whose login was lost logs in again with the feature code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sdk.database import Database
from sdk.events import (
    AgentStateChanged,
    Event,
    RegistrationAdded,
    RegistrationExpired,
    RegistrationRefreshed,
    RegistrationRemoved,
)

from ..sip.errors import SipError
from ..sip.registrar import Binding, Registrar
from ..sip.transaction import Peer
from ..sip.uri import NameAddress

log = logging.getLogger("pbx.store")

MIGRATIONS = [
    """
    CREATE TABLE pbx_registrations (
        aor TEXT NOT NULL,
        contact TEXT NOT NULL,
        extension TEXT NOT NULL,
        call_id TEXT NOT NULL,
        cseq INTEGER NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        registered_at DOUBLE PRECISION NOT NULL,
        transport TEXT NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        user_agent TEXT,
        PRIMARY KEY (aor, contact)
    );
    CREATE TABLE pbx_agent_states (
        agent TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        since DOUBLE PRECISION NOT NULL
    )
    """,
]

_UPSERT_BINDING = (
    "INSERT INTO pbx_registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (aor, contact) DO UPDATE SET "
    "extension = excluded.extension, call_id = excluded.call_id, cseq = excluded.cseq, "
    "expires_at = excluded.expires_at, registered_at = excluded.registered_at, transport = excluded.transport, "
    "host = excluded.host, port = excluded.port, user_agent = excluded.user_agent"
)
_DELETE_BINDING = "DELETE FROM pbx_registrations WHERE aor = ? AND contact = ?"
_UPSERT_AGENT = ("INSERT INTO pbx_agent_states VALUES (?, ?, ?, ?) ON CONFLICT (agent) DO UPDATE SET "
                 "state = excluded.state, reason = excluded.reason, since = excluded.since")

LOGGED_OUT = "logged-out"


class StateStore:
    def __init__(self, database: Database, registrar: Registrar) -> None:
        self.database = database
        self.registrar = registrar
        self._writes: asyncio.Queue[tuple[str, tuple[Any, ...]] | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    # Start-up -----------------------------------------------------------------------------------

    async def restore(self, now: float) -> dict[str, tuple[str, str]]:
        """Put the live bindings back into the registrar; returns each agent's kept
        (state, reason) for the ACD to log them in again."""
        await self.database.migrate("pbx_state", MIGRATIONS)
        await self.database.execute("DELETE FROM pbx_registrations WHERE expires_at <= ?", (float(now),))
        restored = 0
        for row in await self.database.fetch_all("SELECT * FROM pbx_registrations"):
            try:
                binding = _binding(row)
            except (SipError, ValueError, TypeError) as error:
                log.warning("event=registration_not_restored aor=%s contact=%r reason=%r",
                            row["aor"], row["contact"], str(error))
                continue
            restored += self.registrar.restore(binding, now)
        agents = {row["agent"]: (row["state"], row["reason"])
                  for row in await self.database.fetch_all("SELECT * FROM pbx_agent_states")}
        log.info("event=state_restored registrations=%d agents_logged_in=%d", restored,
                 sum(state != LOGGED_OUT for state, _ in agents.values()))
        self._task = asyncio.get_running_loop().create_task(self._write_in_order(), name="pbx-state-store")
        return agents

    # Following the bus --------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if isinstance(event, (RegistrationAdded, RegistrationRefreshed)):
            binding = next((b for b in self.registrar.lookup(event.extension, event.at)
                            if str(b.contact) == event.contact), None)
            if binding is not None:
                self._writes.put_nowait((_UPSERT_BINDING, binding_row(binding)))
        elif isinstance(event, (RegistrationRemoved, RegistrationExpired)):
            self._writes.put_nowait((_DELETE_BINDING, (event.aor, event.contact)))
        elif isinstance(event, AgentStateChanged):
            self._writes.put_nowait((_UPSERT_AGENT, (event.agent, event.new, event.reason, float(event.at))))

    async def _write_in_order(self) -> None:
        while (write := await self._writes.get()) is not None:
            sql, parameters = write
            try:
                await self.database.execute(sql, parameters)
            except Exception as error:  # the database is down: the PBX goes on, the state is in memory
                log.error("event=state_write_failed reason=%r", str(error))

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._writes.put_nowait(None)
            await self._task
            self._task = None


def binding_row(binding: Binding) -> tuple[Any, ...]:
    return (binding.aor, str(binding.contact), binding.extension, binding.call_id, binding.cseq,
            float(binding.expires_at), float(binding.registered_at), binding.source.transport, binding.source.host,
            binding.source.port, binding.user_agent)


def binding_from_row(values: tuple[Any, ...] | list[Any]) -> Binding:
    """The inverse of binding_row."""
    return _binding(dict(zip(_COLUMNS, values)))


_COLUMNS = ("aor", "contact", "extension", "call_id", "cseq", "expires_at", "registered_at", "transport", "host",
            "port", "user_agent")


def _binding(row: dict[str, Any]) -> Binding:
    return Binding(aor=row["aor"], extension=row["extension"], contact=NameAddress.parse(row["contact"]),
                   call_id=row["call_id"], cseq=int(row["cseq"]), expires_at=float(row["expires_at"]),
                   registered_at=float(row["registered_at"]),
                   source=Peer(row["transport"], row["host"], int(row["port"])), user_agent=row["user_agent"])

