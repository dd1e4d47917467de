"""Outbound routes: which trunks a dialled number goes out on, rewritten how, shown as whom.

Routes are tried in config order; the first whose pattern fits the dialled number wins (the
same Asterisk-style patterns as the inbound routes: "_00X." is 00 then one digit then one or
more characters). The number is rewritten (`strip` leading characters, then `prepend`), and
the route's trunks are offered in order, skipping those whose channels are all in use.

Channels are counted by the legs each trunk carries, in both directions; a leg is released
when it ends (legs are asked, not told: no bookkeeping to forget). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from pbx.calls.inbound import compile_match

from .config import OutboundRouteConfig, TrunkConfig


class Placement(msgspec.Struct, frozen=True):
    """One way out for a dialled number: the route that matched, the number as the trunk gets
    it, and the caller id it carries."""

    route: str
    trunk: str
    dialled: str
    number: str
    caller_id: str | None


class OutboundRoutes:
    def __init__(self, routes: list[OutboundRouteConfig], trunks: dict[str, TrunkConfig]) -> None:
        self._routes: list[tuple[re.Pattern[str], OutboundRouteConfig]] = [
            (compile_match(route.match), route) for route in routes
        ]
        self.trunks = trunks

    def __len__(self) -> int:
        return len(self._routes)

    def match(self, number: str) -> OutboundRouteConfig | None:
        for pattern, route in self._routes:
            if pattern.match(number):
                return route
        return None

    def placements(self, route: OutboundRouteConfig, number: str) -> list[Placement]:
        """Every trunk of `route` in order, with the rewritten number and caller id for each."""
        rewritten = route.prepend + number[route.strip:]
        return [Placement(route.name, trunk, number, rewritten, route.caller_id or self.trunks[trunk].caller_id)
                for trunk in route.trunks]


class Channels:
    """Calls in progress per trunk, against each trunk's `channels` limit."""

    def __init__(self, limits: dict[str, int | None]) -> None:
        self.limits = limits
        self._legs: dict[str, list[Any]] = {name: [] for name in limits}

    def in_use(self, trunk: str) -> int:
        live = [leg for leg in self._legs.get(trunk, []) if not leg.is_ended]
        self._legs[trunk] = live
        return len(live)

    def is_full(self, trunk: str) -> bool:
        limit = self.limits.get(trunk)
        return limit is not None and self.in_use(trunk) >= limit

    def take(self, trunk: str, leg: Any) -> None:
        self._legs.setdefault(trunk, []).append(leg)

    def usage(self) -> dict[str, int]:
        return {trunk: self.in_use(trunk) for trunk in self.limits}

    def first_free(self, placements: Iterable[Placement]) -> Placement | None:
        return next((placement for placement in placements if not self.is_full(placement.trunk)), None)
