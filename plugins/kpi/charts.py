"""The wallboard's charts of the day: one point per interval, every interval present.

`interval_points(figures, buckets)` folds the queue report's rows (report.py: one QueueFigures
per queue and interval that had calls) into one IntervalPoint per interval of the range, the
queues summed: intervals without calls are there with zeros (a chart needs its whole axis).
Summed across queues, the service level is the calls answered within their own queue's target
over the calls offered, and the ASA the answered calls' wait over the calls answered; a rate
whose denominator is zero is None, as in every report.

Pure: rows in, points out; no clock, no database.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from .figures import QueueFigures
from .intervals import Buckets
from .report import rate

__all__ = ["IntervalPoint", "interval_points"]


class IntervalPoint(msgspec.Struct, frozen=True, kw_only=True):
    """One interval of a chart: calls offered, answered and abandoned, the average speed of
    answer and the service level, for every queue together (or the one asked for)."""

    interval_start: float  # seconds since the epoch
    label: str  # the interval's local start, ISO 8601 with its offset: "2026-12-06T09:15:00+01:00"
    offered: int
    answered: int
    abandoned: int
    answered_within: int  # answered within the queue's service-level target
    asa: float | None  # seconds
    sl: float | None  # answered within the target / offered


def interval_points(figures: Sequence[QueueFigures], buckets: Buckets) -> list[IntervalPoint]:
    sums: dict[float, list[float]] = {start: [0, 0, 0, 0, 0.0] for start in buckets.starts}
    for row in figures:
        total = sums.get(row.interval_start)
        if total is None:
            continue  # not a bucket of this range (cannot happen with the report's own buckets)
        total[0] += row.offered
        total[1] += row.answered
        total[2] += row.abandoned
        total[3] += row.answered_within
        total[4] += (row.asa or 0.0) * row.answered
    return [IntervalPoint(interval_start=start, label=buckets.label(index), offered=int(offered),
                          answered=int(answered), abandoned=int(abandoned), answered_within=int(within),
                          asa=rate(waited, answered), sl=rate(within, offered))
            for index, (start, (offered, answered, abandoned, within, waited)) in enumerate(sums.items())]
