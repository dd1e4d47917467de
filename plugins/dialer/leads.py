"""Leads: who a campaign calls, read from CSV with a report of every bad line (file:line).

A lead file is CSV with a header line. `phone` is required; `id`, `time_zone`, `priority`,
`callback_at` and `callback_agent` are optional; every other column is a custom field, kept as
JSON with the lead and handed to the scenario and the screen pop. Phone numbers are E.164
(`+48 600-100-200` is taken as +48600100200; a number without `+` is refused: a country code
is needed to call out and to know the lead's time zone).

A lead's time zone is the `time_zone` column (an IANA name, "Europe/Warsaw") when given;
otherwise it is derived from the number's country code (timezones.py): the country's zone, or,
for a country spanning several zones, all of them - the lead may then be called only when the
calling window is open in every one (the strictest reading). Pure: text in, leads and errors out.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from .timezones import zones_for_number

RESERVED_COLUMNS = ("id", "phone", "time_zone", "priority", "callback_at", "callback_agent")
MAX_LEADS_PER_FILE = 1_000_000
_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # ITU-T E.164: at most 15 digits with the country code


class LeadProblem(ValueError):
    """A lead that cannot be taken: the message says why."""


class Lead(msgspec.Struct, kw_only=True):
    """One number to call for a campaign, and where it stands."""

    campaign: str
    id: str
    phone: str
    time_zones: list[str]
    zone_source: str  # "file" or "country code +48"
    fields: dict[str, str] = {}
    priority: int = 0
    status: str = "pending"  # pending | dialing | offered | done
    attempts: int = 0
    outcome_counts: dict[str, int] = {}
    last_outcome: str | None = None
    last_attempt_at: float | None = None
    next_at: float | None = None  # not before (a retry's delay)
    abandoned_at: float | None = None  # the last abandoned call to it: no redial for 72 h
    callback_at: float | None = None
    callback_agent: str | None = None
    created_at: float = 0.0


class LineError(msgspec.Struct, frozen=True):
    """A CSV line that was not taken, with where and why."""

    line: int
    message: str

    def where(self, source: str) -> str:
        return f"{source}:{self.line}: {self.message}"


class ImportResult(msgspec.Struct):
    leads: list[Lead]
    errors: list[LineError]


def normalise_phone(text: str) -> str:
    """A dialable E.164 number, or LeadProblem saying what is wrong with it."""
    number = _SEPARATORS.sub("", text.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if not number.startswith("+"):
        raise LeadProblem(f"phone {text!r} has no country code: write it in E.164 (+48600100200)")
    if not _E164.match(number):
        raise LeadProblem(f"phone {text!r} is not an E.164 number (+, country code, 7 to 15 digits)")
    return number


def lead_zones(phone: str, time_zone: str | None) -> tuple[list[str], str]:
    """The lead's time zones and where they come from."""
    if time_zone:
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LeadProblem(f"time_zone {time_zone!r} is not an IANA time zone (Europe/Warsaw, America/Chicago)") \
                from None
        return [time_zone], "file"
    found = zones_for_number(phone)
    if found is None:
        raise LeadProblem(f"no time_zone column and the country code of {phone} is not in the table: "
                          "add a time_zone column")
    code, zones = found
    return list(zones), f"country code +{code}"


def parse_when(text: str, zones: list[str]) -> float:
    """An ISO 8601 time; one without an offset is in the lead's (first) time zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LeadProblem(f"callback_at {text!r} is not ISO 8601 (2026-03-02T10:30, +01:00 optional)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zones[0]))
    return moment.timestamp()


def make_lead(campaign: str, row: dict[str, str], *, default_id: str, now: float) -> Lead:
    """One CSV row (or API body) as a Lead; LeadProblem says what is wrong."""
    phone = normalise_phone(row.get("phone") or "")
    zones, source = lead_zones(phone, (row.get("time_zone") or "").strip() or None)
    priority_text = (row.get("priority") or "").strip()
    try:
        priority = int(priority_text) if priority_text else 0
    except ValueError:
        raise LeadProblem(f"priority {priority_text!r} is not a whole number") from None
    callback_text = (row.get("callback_at") or "").strip()
    lead_id = (row.get("id") or "").strip() or default_id
    if len(lead_id) > 64 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", lead_id):
        raise LeadProblem(f"id {lead_id!r}: letters, digits, _ . : - only, 64 at most")
    fields = {key: value for key, value in row.items() if key not in RESERVED_COLUMNS and key and value is not None}
    return Lead(campaign=campaign, id=lead_id, phone=phone, time_zones=zones, zone_source=source, fields=fields,
                priority=priority, callback_at=parse_when(callback_text, zones) if callback_text else None,
                callback_agent=(row.get("callback_agent") or "").strip() or None, created_at=now)


def read_leads(campaign: str, text: str, *, now: float) -> ImportResult:
    """Every good line of a lead CSV as a Lead, every bad one as a LineError (1-based file lines).
    A duplicate id or phone in the file is an error on its second line."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in (reader.fieldnames or [])]
    if "phone" not in header:
        return ImportResult([], [LineError(1, f"the header has no `phone` column (found: {', '.join(header) or 'none'})")])
    reader.fieldnames = header
    leads: list[Lead] = []
    errors: list[LineError] = []
    ids: set[str] = set()
    phones: set[str] = set()
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(LineError(line, f"{len(header) + len(row[None])} values for {len(header)} columns"))
            continue
        if not any((value or "").strip() for value in row.values()):
            continue
        try:
            lead = make_lead(campaign, {key: (value or "").strip() for key, value in row.items()},
                             default_id=f"line-{line}", now=now)
        except LeadProblem as problem:
            errors.append(LineError(line, str(problem)))
            continue
        if lead.id in ids:
            errors.append(LineError(line, f"id {lead.id!r} appears twice in the file"))
            continue
        if lead.phone in phones:
            errors.append(LineError(line, f"phone {lead.phone} appears twice in the file"))
            continue
        if len(leads) >= MAX_LEADS_PER_FILE:
            errors.append(LineError(line, f"more than {MAX_LEADS_PER_FILE} leads in one file: split it"))
            break
        ids.add(lead.id)
        phones.add(lead.phone)
        leads.append(lead)
    return ImportResult(leads, errors)


def read_numbers(text: str) -> tuple[list[str], list[LineError]]:
    """A do-not-call CSV: the first column (or a `phone` column) of every line, header optional."""
    rows = list(csv.reader(io.StringIO(text)))
    numbers: list[str] = []
    errors: list[LineError] = []
    column = 0
    start = 0
    if rows and rows[0] and not any(ch.isdigit() for ch in rows[0][0]):
        header = [name.strip().lower() for name in rows[0]]
        column = header.index("phone") if "phone" in header else 0
        start = 1
    for index, row in enumerate(rows[start:], start=start + 1):
        if not row or not "".join(row).strip():
            continue
        try:
            numbers.append(normalise_phone(row[column] if column < len(row) else ""))
        except LeadProblem as problem:
            errors.append(LineError(index, str(problem)))
    return numbers, errors
