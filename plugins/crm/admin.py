"""The CRM plugin's admin routes, served under /api/plugins/crm/ on the admin port.

    GET /contacts/{number}   the contact store's entry (404 when there is none)
    GET /lookup/{number}     who a call from that number would be found to be: the same
                             connectors in the same order as a call (cached answers included)

Read only: contacts are written by `pbx crm import`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from .service import CrmService

__all__ = ["routes"]


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), status=status, content_type="application/json")


def routes(service: CrmService) -> list[Any]:
    async def contact(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        if not service.config.contacts.enabled:
            return _json({"error": "the contact store is off (plugins.crm.config.contacts.enabled: false)"}, 404)
        found = await service.contacts.get(number)
        if found is None:
            return _json({"error": f"no contact with number {number}"}, 404)
        return _json(found)

    async def lookup(request: web.Request) -> web.Response:
        number = request.match_info["number"]
        found = await service.find(number, request.query.get("callee", ""))
        if found is None:
            return _json({"error": f"{number} is not known to {[c.name for c in service.connectors]}"}, 404)
        return _json(found)

    return [web.get("/contacts/{number}", contact), web.get("/lookup/{number}", lookup)]
