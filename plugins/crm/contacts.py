"""The built-in contact store: callers the PBX knows without asking a CRM, in the PBX database.

One table, `crm_contacts`, brought up to date with `Database.migrate("crm", ...)`; a number is
the key (spaces, dashes, dots and brackets removed, so "+48 600-100-200" and "+48600100200" are
one contact). Filled by `pbx crm import FILE.csv` (csv_import.py) and the admin API, and read by
the `contacts` connector and the admin API. It does not talk to any CRM.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from sdk import CallerInfo, Database

from .mapping import caller_info

__all__ = ["Contact", "ContactStore", "normalize_number"]

MIGRATIONS = [
    ("CREATE TABLE crm_contacts (number TEXT PRIMARY KEY, customer_id TEXT, name TEXT, tier TEXT, language TEXT, "
     "vip INTEGER NOT NULL DEFAULT 0, preferred_agent TEXT, fields TEXT NOT NULL DEFAULT '{}')"),
]
_COLUMNS = ("number", "customer_id", "name", "tier", "language", "vip", "preferred_agent", "fields")
_SEPARATORS = re.compile(r"[\s\-.()]")


def normalize_number(number: str) -> str:
    return _SEPARATORS.sub("", number)


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    """One caller in the contact store; `fields` are the CSV's other columns."""

    number: str
    customer_id: str | None = None
    name: str | None = None
    tier: str | None = None
    language: str | None = None
    vip: bool = False
    preferred_agent: str | None = None
    fields: dict[str, str] = {}

    def caller_info(self, vip_priority: int) -> CallerInfo:
        return caller_info("contacts", customer_id=self.customer_id, name=self.name, tier=self.tier,
                           language=self.language, vip=self.vip, preferred_agent=self.preferred_agent,
                           fields=self.fields, vip_priority=vip_priority)

    def row(self) -> tuple[Any, ...]:
        return (normalize_number(self.number), self.customer_id, self.name, self.tier, self.language, int(self.vip),
                self.preferred_agent, msgspec.json.encode(self.fields).decode())


class ContactStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._ready = False

    async def ready(self) -> None:
        if not self._ready:
            await self.database.migrate("crm", MIGRATIONS)
            self._ready = True

    async def get(self, number: str) -> Contact | None:
        await self.ready()
        row = await self.database.fetch_one(f"SELECT {', '.join(_COLUMNS)} FROM crm_contacts WHERE number = ?",
                                            (normalize_number(number),))
        if row is None:
            return None
        return Contact(number=row["number"], customer_id=row["customer_id"], name=row["name"], tier=row["tier"],
                       language=row["language"], vip=bool(row["vip"]), preferred_agent=row["preferred_agent"],
                       fields=msgspec.json.decode(row["fields"] or "{}", type=dict[str, str]))

    async def put_many(self, contacts: Sequence[Contact]) -> int:
        """Add or replace these contacts (by number), all in one transaction; returns how many."""
        await self.ready()
        if not contacts:
            return 0
        placeholders = ", ".join("?" for _ in _COLUMNS)
        updates = ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS[1:])
        await self.database.execute_many(
            f"INSERT INTO crm_contacts ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
            f"ON CONFLICT(number) DO UPDATE SET {updates}", [contact.row() for contact in contacts])
        return len(contacts)

    async def delete(self, number: str) -> bool:
        """Forget the contact with this number; False when there was none."""
        await self.ready()
        removed = await self.database.execute("DELETE FROM crm_contacts WHERE number = ?", (normalize_number(number),))
        return removed > 0

    async def count(self) -> int:
        await self.ready()
        row = await self.database.fetch_one("SELECT COUNT(*) AS count FROM crm_contacts")
        return int(row["count"]) if row else 0
