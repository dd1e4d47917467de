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
CALLS = web.AppKey("calls", Any)


def make_admin_app(*, status: Callable[[], dict[str, Any]], registrar: Registrar, clock: Callable[[], float],
                   calls: Any = None) -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    app[STATUS] = status
    app[REGISTRAR] = registrar
    app[CLOCK] = clock
    app[CALLS] = calls
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/registrations", _registrations)
    app.router.add_get("/api/calls", _calls)
    return app


async def _calls(request: web.Request) -> web.Response:
    manager = request.app[CALLS]
    now = request.app[CLOCK]()
    rows = [
        {
            "id": call.id,
            "caller": call.caller.number,
            "callee": call.callee,
            "state": call.state.value,
            "started_at": call.started_at,
            "answered_at": call.answered_at,
            "duration": round(now - call.started_at, 3),
            "on_hold_by": call.on_hold_by,
            "legs": [{"id": leg.id, "role": leg.role, "party": leg.party.number, "state": leg.state.value}
                     for leg in call.legs],
        }
        for call in (manager.calls.values() if manager is not None else [])
    ]
    return web.json_response(rows)


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
