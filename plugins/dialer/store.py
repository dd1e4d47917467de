"""The dialer's tables in the PBX database (sdk.Database: SQLite or PostgreSQL), with migrations.

- `dialer_campaigns`: each campaign's spec (JSON), its state (running, paused, stopped) and
  where it came from (config or api);
- `dialer_leads`: each lead (JSON) with the columns selection needs: its status, priority and
  `due_at`, the earliest time any rule lets it be dialled (so the next leads are one query);
- `dialer_dnc`: do-not-call numbers, global (scope "*") or per campaign;
- `dialer_attempts`: the attempt log, one row per call placed; reports and the abandonment
  windows are computed from it.

SQL only: what the rows mean is rules.py's and live.py's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from sdk import Database

from .config import NO_REDIAL_AFTER_ABANDON, CampaignSpec
from .leads import Lead

GLOBAL = "*"

MIGRATIONS = [
    """
    CREATE TABLE dialer_campaigns (
        id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE dialer_leads (
        campaign TEXT NOT NULL, id TEXT NOT NULL, phone TEXT NOT NULL, status TEXT NOT NULL,
        priority INTEGER NOT NULL, due_at REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (campaign, id));
    CREATE INDEX dialer_leads_due ON dialer_leads (campaign, status, due_at);
    CREATE TABLE dialer_dnc (scope TEXT NOT NULL, number TEXT NOT NULL, added_at REAL NOT NULL,
        PRIMARY KEY (scope, number));
    CREATE TABLE dialer_attempts (
        call_id TEXT PRIMARY KEY, campaign TEXT NOT NULL, lead TEXT NOT NULL, phone TEXT NOT NULL,
        started_at REAL NOT NULL, answered_at REAL, ended_at REAL, outcome TEXT, agent TEXT, disposition TEXT,
        abandoned INTEGER NOT NULL DEFAULT 0, amd TEXT, talk_seconds REAL);
    CREATE INDEX dialer_attempts_campaign ON dialer_attempts (campaign, started_at);
    """,
]


class Attempt(msgspec.Struct, kw_only=True):
    """One call the dialer placed, and what became of it."""

    call_id: str
    campaign: str
    lead: str
    phone: str
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None  # contact | busy | no-answer | machine | abandoned | failed | hung-up
    agent: str | None = None
    disposition: str | None = None
    abandoned: bool = False
    amd: str | None = None  # the detector's answer, when it listened
    talk_seconds: float | None = None


_ATTEMPT_COLUMNS = list(Attempt.__struct_fields__)


def due_at(lead: Lead) -> float:
    """The earliest time the lead's own rules let it be dialled."""
    times = [lead.next_at or 0.0, lead.callback_at or 0.0]
    if lead.abandoned_at is not None:
        times.append(lead.abandoned_at + NO_REDIAL_AFTER_ABANDON)
    return max(times)


class DialerStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def migrate(self) -> int:
        return await self.database.migrate("dialer", MIGRATIONS)

    # Campaigns ------------------------------------------------------------------------------------

    async def save_campaign(self, spec: CampaignSpec, state: str, source: str, now: float) -> None:
        await self.database.execute(
            "INSERT INTO dialer_campaigns VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET spec = excluded.spec, "
            "state = excluded.state, source = excluded.source, updated_at = excluded.updated_at",
            (spec.id, msgspec.json.encode(spec).decode(), state, source, now))

    async def campaigns(self) -> list[tuple[CampaignSpec, str, str]]:
        """(spec, state, source) of every campaign."""
        rows = await self.database.fetch_all("SELECT * FROM dialer_campaigns ORDER BY id")
        return [(msgspec.json.decode(row["spec"], type=CampaignSpec), row["state"], row["source"]) for row in rows]

    # Leads ----------------------------------------------------------------------------------------

    @staticmethod
    def _lead_row(lead: Lead, due: float | None = None) -> tuple:
        return (lead.campaign, lead.id, lead.phone, lead.status, lead.priority,
                due_at(lead) if due is None else due, msgspec.json.encode(lead).decode())

    async def add_leads(self, leads: Sequence[Lead]) -> int:
        """Insert new leads; one whose id the campaign already has is left as it is. Returns how many were new."""
        if not leads:
            return 0
        before = await self.count_leads(leads[0].campaign)
        await self.database.execute_many("INSERT INTO dialer_leads VALUES (?, ?, ?, ?, ?, ?, ?) "
                                         "ON CONFLICT(campaign, id) DO NOTHING", [self._lead_row(lead) for lead in leads])
        return await self.count_leads(leads[0].campaign) - before

    async def save_lead(self, lead: Lead, *, due: float | None = None) -> None:
        """Write the lead; `due` overrides the due time its rules give (a closed calling window)."""
        await self.database.execute(
            "INSERT INTO dialer_leads VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(campaign, id) DO UPDATE SET "
            "phone = excluded.phone, status = excluded.status, priority = excluded.priority, "
            "due_at = excluded.due_at, data = excluded.data", self._lead_row(lead, due))

    async def lead(self, campaign: str, lead_id: str) -> Lead | None:
        row = await self.database.fetch_one("SELECT data FROM dialer_leads WHERE campaign = ? AND id = ?",
                                            (campaign, lead_id))
        return None if row is None else msgspec.json.decode(row["data"], type=Lead)

    async def due_leads(self, campaign: str, now: float, limit: int) -> list[Lead]:
        """Pending leads whose own rules allow a dial now, the most urgent first."""
        rows = await self.database.fetch_all(
            "SELECT data FROM dialer_leads WHERE campaign = ? AND status = 'pending' AND due_at <= ? "
            "ORDER BY priority DESC, due_at, id LIMIT ?", (campaign, now, limit))
        return [msgspec.json.decode(row["data"], type=Lead) for row in rows]

    async def leads_in(self, campaign: str, status: str) -> list[Lead]:
        rows = await self.database.fetch_all("SELECT data FROM dialer_leads WHERE campaign = ? AND status = ?",
                                             (campaign, status))
        return [msgspec.json.decode(row["data"], type=Lead) for row in rows]

    async def count_leads(self, campaign: str) -> int:
        row = await self.database.fetch_one("SELECT COUNT(*) AS n FROM dialer_leads WHERE campaign = ?", (campaign,))
        return int(row["n"]) if row else 0

    async def lead_counts(self, campaign: str) -> dict[str, int]:
        rows = await self.database.fetch_all(
            "SELECT status, COUNT(*) AS n FROM dialer_leads WHERE campaign = ? GROUP BY status", (campaign,))
        return {row["status"]: int(row["n"]) for row in rows}

    # Do not call ----------------------------------------------------------------------------------

    async def add_dnc(self, numbers: Iterable[str], scope: str, now: float) -> int:
        rows = [(scope, number, now) for number in dict.fromkeys(numbers)]
        if not rows:
            return 0
        return await self.database.execute_many(
            "INSERT INTO dialer_dnc VALUES (?, ?, ?) ON CONFLICT(scope, number) DO NOTHING", rows)

    async def remove_dnc(self, number: str, scope: str) -> bool:
        return await self.database.execute("DELETE FROM dialer_dnc WHERE scope = ? AND number = ?",
                                           (scope, number)) > 0

    async def dnc_scope(self, number: str, campaign: str) -> str | None:
        """"global" or "campaign" when `number` may not be called for `campaign`, else None."""
        rows = await self.database.fetch_all("SELECT scope FROM dialer_dnc WHERE number = ? AND scope IN (?, ?)",
                                             (number, GLOBAL, campaign))
        scopes = {row["scope"] for row in rows}
        return "global" if GLOBAL in scopes else "campaign" if scopes else None

    async def dnc_numbers(self, scope: str) -> list[str]:
        rows = await self.database.fetch_all("SELECT number FROM dialer_dnc WHERE scope = ? ORDER BY number", (scope,))
        return [row["number"] for row in rows]

    # Attempts -------------------------------------------------------------------------------------

    async def save_attempt(self, attempt: Attempt) -> None:
        values = [getattr(attempt, name) for name in _ATTEMPT_COLUMNS]
        values[_ATTEMPT_COLUMNS.index("abandoned")] = 1 if attempt.abandoned else 0
        # The disposition comes from its own event (set_disposition), whenever it comes: kept.
        updates = ", ".join(f"{name} = excluded.{name}" if name != "disposition" else
                            "disposition = COALESCE(excluded.disposition, dialer_attempts.disposition)"
                            for name in _ATTEMPT_COLUMNS if name != "call_id")
        await self.database.execute(
            f"INSERT INTO dialer_attempts ({', '.join(_ATTEMPT_COLUMNS)}) VALUES ({', '.join('?' for _ in values)}) "
            f"ON CONFLICT(call_id) DO UPDATE SET {updates}", values)

    async def set_disposition(self, call_id: str, value: str) -> bool:
        return await self.database.execute("UPDATE dialer_attempts SET disposition = ? WHERE call_id = ?",
                                           (value, call_id)) > 0

    async def attempts(self, campaign: str | None, since: float, until: float) -> list[Attempt]:
        where = "started_at >= ? AND started_at < ?"
        parameters: list = [since, until]
        if campaign is not None:
            where += " AND campaign = ?"
            parameters.append(campaign)
        rows = await self.database.fetch_all(f"SELECT * FROM dialer_attempts WHERE {where} ORDER BY started_at",
                                             parameters)
        return [Attempt(**{**row, "abandoned": bool(row["abandoned"])}) for row in rows]
