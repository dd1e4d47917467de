"""Admin API routes: `GET /api/status` and `GET /api/registrations` (JSON).

Read-only views over the running services; later issues add the event
stream, reports and the wallboard. Errors are JSON bodies with a 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from pbx.sip.registrar import Registrar

STATUS = web.AppKey("status", Callable[[], dict[str, Any]])
REGISTRAR = web.AppKey("registrar", Registrar)
CLOCK = web.AppKey("clock", Callable[[], float])


def make_admin_app(*, status: Callable[[], dict[str, Any]], registrar: Registrar, clock: Callable[[], float]) -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    app[STATUS] = status
    app[REGISTRAR] = registrar
    app[CLOCK] = clock
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/registrations", _registrations)
    return app


@web.middleware
async def _json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return web.json_response({"error": error.reason, "path": request.path}, status=error.status)


async def _status(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATUS]())


async def _registrations(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    extension = request.query.get("extension")
    bindings = request.app[REGISTRAR].all_bindings(now)
    rows = [
        {
            "aor": binding.aor,
            "extension": binding.extension,
            "contact": str(binding.contact),
            "uri": str(binding.uri),
            "instance": binding.instance,
            "expires_in": binding.expires_in(now),
            "transport": binding.source.transport,
            "source": f"{binding.source.host}:{binding.source.port}",
            "user_agent": binding.user_agent,
            "params": binding.contact.params,
            "registered_at": binding.registered_at,
        }
        for binding in bindings
        if extension is None or binding.extension == extension
    ]
    return web.json_response(rows)
