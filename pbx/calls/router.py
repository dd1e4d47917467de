"""Routing: what a dialed number reaches.

Today: an extension's registered contacts (all of them ring, RFC 3261 16.6
parallel forking), 480 when it has none, 404 for unknown numbers. The IVR
and queue issues add scenario and queue routes keyed by number patterns.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pbx.sip.registrar import Binding, Registrar


class Route(msgspec.Struct, frozen=True):
    number: str
    contacts: list[Binding] = []
    status: int = 200  # a SIP status to refuse with when there is nothing to ring
    reason: str = ""
    # A way out through a trunk (pbx.trunks.Placement) instead of contacts: only the outbound
    # controller and click to call build such routes, once the caller may use them.
    trunk: Any = None

    @property
    def found(self) -> bool:
        return bool(self.contacts) or self.trunk is not None


class Router:
    def __init__(self, registrar: Registrar, extensions: set[str]) -> None:
        self.registrar = registrar
        self.extensions = extensions

    def route(self, number: str, now: float) -> Route:
        if number not in self.extensions:
            return Route(number, status=404, reason=f"no extension {number}")
        contacts = self.registrar.lookup(number, now)
        if not contacts:
            return Route(number, status=480, reason=f"extension {number} is not registered")
        return Route(number, contacts)
