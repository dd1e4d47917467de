"""Call cost from the configured rate tables (docs/kpi.md "cost").

The number billed is the callee of an outbound call and the caller of an inbound one; the rate
whose prefix is the longest prefix of it (among those for that direction or "any") applies:
`setup` + `per_minute` x billed minutes, the talk time billed in steps of `increment` seconds,
each started step counted whole. A leading "+" is ignored on both sides, so "+33..." and "33"
match the same prefix. No matching rate: None (the cost is unknown, not free).
"""

from __future__ import annotations

import math

from .config import Rate

__all__ = ["RateTable"]


def _digits(number: str) -> str:
    return number[1:] if number.startswith("+") else number


class RateTable:
    def __init__(self, rates: list[Rate]) -> None:
        # longest prefix first; for equal prefixes a direction-specific rate beats "any"
        self.rates = sorted(rates, key=lambda rate: (-len(_digits(rate.prefix)), rate.direction == "any"))

    def find(self, direction: str, number: str) -> Rate | None:
        number = _digits(number)
        for rate in self.rates:
            if rate.direction in ("any", direction) and number.startswith(_digits(rate.prefix)):
                return rate
        return None

    def cost(self, direction: str, caller: str, callee: str, talk_seconds: float) -> float | None:
        rate = self.find(direction, callee if direction == "outbound" else caller)
        if rate is None:
            return None
        increment = max(1, rate.increment)
        billed = math.ceil(max(0.0, talk_seconds) / increment - 1e-9) * increment
        return rate.setup + rate.per_minute * billed / 60.0
