"""The abandonment rate of a campaign over a rolling 24 hours and a rolling 30 days.

An abandoned call is one answered by a person that did not reach an agent within 2 s of the
answer (or of the greeting's end when answering-machine detection listens): FCC 47 CFR
64.1200(a)(7) measures it per campaign over 30 days, Ofcom's policy statement per 24 hours,
both as a share of live answers, with a 3 % ceiling. Calls that AMD took for a machine and hung
up on include some people (its false positives): each such call counts as `rate` of a live
answer and `rate` of an abandoned call, `rate` being the detector's measured false-positive
rate (config `amd_false_positive_rate`).

Counts are kept per minute, so 30 days are 43,200 buckets at most. Pure: times are parameters.
"""

from __future__ import annotations

import msgspec

DAY = 86400.0
MONTH = 30 * DAY
WINDOWS = (("24 h", DAY), ("30 d", MONTH))


class AbandonmentFigures(msgspec.Struct, frozen=True, kw_only=True):
    live_24h: float
    abandoned_24h: float
    rate_24h: float
    live_30d: float
    abandoned_30d: float
    rate_30d: float
    cap: float


class AbandonmentLedger:
    def __init__(self, cap: float) -> None:
        self.cap = cap
        self._minutes: dict[int, list[float]] = {}  # minute -> [live answers, abandoned]

    def record(self, at: float, *, live: float = 1.0, abandoned: float = 0.0) -> None:
        """A live answer (abandoned or not), or a fraction of one (AMD's false positives)."""
        bucket = self._minutes.setdefault(int(at // 60), [0.0, 0.0])
        bucket[0] += live
        bucket[1] += abandoned

    def _sums(self, now: float, span: float) -> tuple[float, float]:
        first = int((now - span) // 60) + 1
        live = abandoned = 0.0
        for minute, (minute_live, minute_abandoned) in self._minutes.items():
            if minute >= first:
                live += minute_live
                abandoned += minute_abandoned
        return live, abandoned

    def forget(self, now: float) -> None:
        """Drop minutes older than 30 days."""
        first = int((now - MONTH) // 60)
        for minute in [minute for minute in self._minutes if minute <= first]:
            del self._minutes[minute]

    def figures(self, now: float) -> AbandonmentFigures:
        live_day, abandoned_day = self._sums(now, DAY)
        live_month, abandoned_month = self._sums(now, MONTH)
        return AbandonmentFigures(
            live_24h=round(live_day, 3), abandoned_24h=round(abandoned_day, 3),
            rate_24h=round(abandoned_day / live_day, 5) if live_day else 0.0,
            live_30d=round(live_month, 3), abandoned_30d=round(abandoned_month, 3),
            rate_30d=round(abandoned_month / live_month, 5) if live_month else 0.0, cap=self.cap)

    def windows(self, now: float) -> list[tuple[float, float]]:
        """(live answers, abandoned calls) in the last 24 h and the last 30 days: the pacer's limits."""
        return [self._sums(now, span) for _, span in WINDOWS]

    def over_cap(self, now: float) -> str | None:
        """The window at or over the cap, said in words; None when both are under it."""
        for name, span in WINDOWS:
            live, abandoned = self._sums(now, span)
            if abandoned > 0 and abandoned >= self.cap * live:
                return (f"{abandoned:g} abandoned of {live:g} live answers in the last {name} "
                        f"({abandoned / live if live else 1:.1%})")
        return None
