"""Who may call out, and where: each extension's `outbound:` list of route and class names.

An extension with no `outbound` list may not call out at all (toll-fraud protection is the
default); `outbound_classes` names groups of routes ("national: [local, mobile]") so many
extensions share one policy. Pure: names in, a verdict out.
"""

from __future__ import annotations

import msgspec


class Verdict(msgspec.Struct, frozen=True):
    allowed: bool
    reason: str = ""


class Permissions:
    def __init__(self, allowed: dict[str, list[str]], classes: dict[str, list[str]]) -> None:
        self._routes: dict[str, frozenset[str]] = {}
        for extension, entries in allowed.items():
            routes: set[str] = set()
            for entry in entries:
                routes.update(classes.get(entry, [entry]))
            self._routes[extension] = frozenset(routes)

    def routes_of(self, extension: str) -> frozenset[str]:
        return self._routes.get(extension, frozenset())

    def check(self, extension: str | None, route: str) -> Verdict:
        if extension is None:
            return Verdict(False, "calls out need an authenticated extension")
        if route in self.routes_of(extension):
            return Verdict(True)
        if not self.routes_of(extension):
            return Verdict(False, f"extension {extension} may not call out")
        return Verdict(False, f"extension {extension} may not use outbound route {route}")
