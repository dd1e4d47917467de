"""The CRM plugin's working parts for one PBX (or one CLI run), wired from its config.

`CrmService` asks the connectors in the configured order (the first that knows the caller wins),
keeps the calls it looked up (calls.CallTracker) and posts call results back to the CRM. The
hooks in `plugins/crm/__init__.py` only translate between the PBX and this object; the CLI uses
it without a live PBX (no events then, only `find`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from sdk import CallerInfo, CallInfo, Database
from sdk.events import Event, ScreenPop

from .breaker import CircuitBreaker
from .calls import CallResult, CallTracker
from .config import BreakerConfig, Config, fill
from .connectors import CONNECTORS, Connector, Needs, auth_headers
from .contacts import ContactStore
from .http import CrmHttp

__all__ = ["CrmService"]


class CrmService:
    def __init__(self, config: Config, *, database: Database, log: logging.Logger,
                 clock: Callable[[], float]) -> None:
        self.config = config
        self.log = log
        self.clock = clock
        breaker = config.rest.breaker if config.rest is not None else BreakerConfig()
        self.http = CrmHttp(CircuitBreaker(breaker.failures, breaker.open_seconds), log, clock)
        self.contacts = ContactStore(database)
        needs = Needs(config=config, contacts=self.contacts, http=self.http, log=log, clock=clock)
        self.connectors: list[Connector] = []
        for name in dict.fromkeys(config.order):
            connector = CONNECTORS[name](needs)
            if connector is not None:
                self.connectors.append(connector)
        writeback = config.writeback
        self.tracker = CallTracker(screen_pop=config.screen_pop, write_back=writeback is not None,
                                   only_identified=writeback.only_identified if writeback else False)
        self.written_back = 0

    async def start(self) -> None:
        if self.config.contacts.enabled:
            await self.contacts.ready()
        names = ",".join(connector.name for connector in self.connectors) or "-"
        self.log.info("event=crm_ready connectors=%s writeback=%s screen_pop=%s", names,
                      self.config.writeback is not None, self.config.screen_pop)

    async def close(self) -> None:
        await self.http.close()

    # Lookups -------------------------------------------------------------------------------------

    async def find(self, caller: str, callee: str = "") -> CallerInfo | None:
        """The first connector's answer that is not None (unknown or failed: the next is asked)."""
        for connector in self.connectors:
            found = await connector.find(caller, callee)
            if found is not None:
                return found
        return None

    async def lookup(self, call: CallInfo) -> CallerInfo | None:
        """Who is calling on `call`; the call is remembered (for the screen pop and the writeback)
        from before the first connector is asked, so a lookup cut off by the PBX still counts."""
        self.tracker.looked_up(call, None)
        found = await self.find(call.caller, call.callee)
        self.tracker.looked_up(call, found)
        return found

    # Events --------------------------------------------------------------------------------------

    def on_event(self, event: Event) -> tuple[list[ScreenPop], list[CallResult]]:
        """The screen pops to publish and the call results to post for this event."""
        outputs = self.tracker.on_event(event)
        return ([output for output in outputs if isinstance(output, ScreenPop)],
                [output for output in outputs if isinstance(output, CallResult)])

    async def write_back(self, result: CallResult) -> bool:
        """POST `result` to the writeback URL; False (logged, counted by the breaker) on failure."""
        writeback = self.config.writeback
        if writeback is None:
            return False
        url = fill(writeback.url, call_id=result.call_id, caller=result.caller, callee=result.callee,
                   customer_id=result.customer_id)
        auth = writeback.auth or (self.config.rest.auth if self.config.rest is not None else None)
        taken = await self.http.post_json(url, auth_headers(auth), msgspec.json.encode(result), writeback.timeout)
        if taken:
            self.written_back += 1
        return taken
