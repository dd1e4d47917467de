"""Where the CRM plugin looks callers up: small named connectors in a registry (STYLE rule 6).

A connector answers `find(caller, callee)` with an `sdk.CallerInfo`, or None for an unknown
caller or when it could not ask (failures are its own business: logged and counted, never
raised). The config's `order` names them; `register_connector` adds one.

- `contacts`: the PBX's own contact store (contacts.py), when `contacts.enabled`.
- `rest`: GET the `rest.url` template, map the JSON with `rest.fields`, cache answers for
  `rest.cache.ttl` seconds, behind the CRM's circuit breaker (http.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sdk import CallerInfo

from .cache import TtlCache
from .config import AuthHeader, Config, fill
from .contacts import ContactStore
from .http import CrmHttp
from .mapping import CrmAnswerError, caller_from_document

__all__ = ["CONNECTORS", "Connector", "ContactsConnector", "Needs", "RestConnector", "auth_headers",
           "register_connector"]


@dataclass(frozen=True)
class Needs:
    """What a connector may be built from: the plugin's config and the PBX's means."""

    config: Config
    contacts: ContactStore
    http: CrmHttp
    log: logging.Logger
    clock: Callable[[], float]


class Connector(Protocol):
    name: str

    async def find(self, caller: str, callee: str) -> CallerInfo | None: ...


ConnectorFactory = Callable[[Needs], "Connector | None"]  # None: not configured
CONNECTORS: dict[str, ConnectorFactory] = {}


def register_connector(name: str, factory: ConnectorFactory) -> None:
    CONNECTORS[name] = factory


def auth_headers(auth: AuthHeader | None) -> dict[str, str]:
    return {auth.header: auth.value} if auth is not None else {}


class ContactsConnector:
    name = "contacts"

    def __init__(self, store: ContactStore, vip_priority: int) -> None:
        self.store = store
        self.vip_priority = vip_priority

    @classmethod
    def build(cls, needs: Needs) -> ContactsConnector | None:
        if not needs.config.contacts.enabled:
            return None
        return cls(needs.contacts, needs.config.vip_priority)

    async def find(self, caller: str, callee: str) -> CallerInfo | None:
        contact = await self.store.get(caller)
        return contact.caller_info(self.vip_priority) if contact is not None else None


class RestConnector:
    name = "rest"

    def __init__(self, needs: Needs) -> None:
        rest = needs.config.rest
        assert rest is not None
        self.rest = rest
        self.http = needs.http
        self.log = needs.log
        self.clock = needs.clock
        self.vip_priority = needs.config.vip_priority
        self.headers = auth_headers(rest.auth)
        self.cache: TtlCache[CallerInfo | None] = TtlCache(rest.cache.ttl, rest.cache.size)

    @classmethod
    def build(cls, needs: Needs) -> RestConnector | None:
        return cls(needs) if needs.config.rest is not None else None

    async def find(self, caller: str, callee: str) -> CallerInfo | None:
        url = fill(self.rest.url, caller=caller, callee=callee)
        cached = self.cache.get(url, self.clock())
        if cached is not None:
            return cached.value
        reply = await self.http.get_json(url, self.headers, self.rest.timeout, purpose="lookup")
        if reply is None:
            return None  # failed or skipped: not cached, the next call asks again
        found: CallerInfo | None = None
        if reply.status != 404:
            try:
                found = caller_from_document(reply.document, self.rest.fields, source=self.name,
                                             vip_priority=self.vip_priority)
            except CrmAnswerError as error:
                self.log.warning("event=crm_answer_unreadable reason=%r detail='the caller is treated as unknown'",
                                 str(error))
        self.cache.put(url, found, self.clock())
        return found


register_connector("contacts", ContactsConnector.build)
register_connector("rest", RestConnector.build)
