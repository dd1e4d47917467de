"""Reading what people ask for: times and limits from the command line and the admin API.

Pure: text in, a number out, or `BadInput` naming the field at fault, which the admin API
turns into a 400 naming it and the command line into exit 2. Times are seconds since the epoch
or ISO 8601 (`2026-03-01`, `2026-03-01T09:00:00+01:00`; a time without a zone is UTC).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

MAX_LIMIT = 1000


class BadInput(ValueError):
    """The request is wrong: `field` names what to fix."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_time(text: str, field: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):  # float() also reads "nan" and "inf"
            raise BadInput(f"{field}: {text!r} is not a time", field)
        return seconds
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
