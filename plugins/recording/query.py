"""Reading what people ask for: list filters and times from a query string or the command line.

Pure: text in, a Search (or AuditQuery) out, or `BadInput` naming the field at fault, which the
admin API turns into a 400 `{"error": ..., "field": ...}` and the command line into exit 2.
Times are seconds since the epoch or ISO 8601 (`2026-03-01`, `2026-03-01T09:00:00+01:00`; a
time without a zone is UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

import msgspec

from .index import Search

MAX_LIMIT = 1000
ACTOR_LIMIT = 100


class BadInput(ValueError):
    """The request is wrong: `field` names what to fix."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str | None = None
    action: str | None = None
    since: float | None = None
    limit: int = 100


def parse_time(text: str, field: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{field}: {text!r} is neither seconds since the epoch nor an ISO 8601 time", field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def parse_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        raise BadInput(f"limit: {text!r} is not a whole number", "limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit: {limit} is not between 1 and {MAX_LIMIT}", "limit")
    return limit


def _fields(query: Mapping[str, str], allowed: tuple[str, ...]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, text in query.items():
        if name not in allowed:
            raise BadInput(f"unknown parameter {name!r}: expected one of {', '.join(allowed)}", name)
        if not text:
            raise BadInput(f"{name} is empty", name)
        if name in ("since", "until"):
            values[name] = parse_time(text, name)
        elif name == "limit":
            values[name] = parse_limit(text)
        else:
            values[name] = text
    return values


def search_from(query: Mapping[str, str]) -> Search:
    """`?call_id=&queue=&agent=&since=&until=&limit=`: unknown names and bad values refused."""
    search = Search(**_fields(query, ("call_id", "queue", "agent", "since", "until", "limit")))  # type: ignore[arg-type]
    if search.since is not None and search.until is not None and search.until <= search.since:
        raise BadInput("until must be later than since", "until")
    return search


def audit_query_from(query: Mapping[str, str]) -> AuditQuery:
    return AuditQuery(**_fields(query, ("call_id", "action", "since", "limit")))  # type: ignore[arg-type]


def actor_from(header: str | None) -> str:
    """Who is asking (the admin API's `X-Actor` header, "anonymous" without one)."""
    if header is None:
        return "anonymous"
    actor = header.strip()
    if not actor or len(actor) > ACTOR_LIMIT or not actor.isprintable():
        raise BadInput(f"X-Actor must be 1 to {ACTOR_LIMIT} printable characters", "X-Actor")
    return actor
