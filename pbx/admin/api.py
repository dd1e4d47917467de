"""Admin API routes: status, registrations, calls, and recording control of a live call (JSON).

Read-only views over the running services; later issues add the event
stream, reports and the wallboard. Errors are JSON bodies with a 4xx.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from aiohttp import web

from pbx.calls.recordings import NoSuchCall, RecordingConflict
from pbx.media.relay import EndpointClosed
from pbx.sip.registrar import Registrar
from sdk.types import Metric

from . import metrics
from .stream import EventJournal

STATUS = web.AppKey("status", Callable[[], dict[str, Any]])
REGISTRAR = web.AppKey("registrar", Registrar)
CLOCK = web.AppKey("clock", Callable[[], float])
CALLS = web.AppKey("calls", Any)
RECORDINGS = web.AppKey("recordings", Any)
RELOAD = web.AppKey("reload_scenarios", Any)
QUEUES = web.AppKey("queues", Any)
PLUGIN_METRICS = web.AppKey("plugin_metrics", Any)


def make_admin_app(*, status: Callable[[], dict[str, Any]], registrar: Registrar, clock: Callable[[], float],
                   calls: Any = None, recordings: Any = None,
                   reload_scenarios: Callable[[], Any] | None = None, queues: Any = None,
                   plugin_metrics: Callable[[], Awaitable[list[Metric]]] | None = None,
                   events: EventJournal | None = None) -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    app[STATUS] = status
    app[REGISTRAR] = registrar
    app[CLOCK] = clock
    app[CALLS] = calls
    app[RECORDINGS] = recordings
    app[RELOAD] = reload_scenarios
    app[QUEUES] = queues
    app[PLUGIN_METRICS] = plugin_metrics
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/registrations", _registrations)
    app.router.add_get("/api/calls", _calls)
    app.router.add_get("/api/calls/{call_id}/recording", _recording_status)
    app.router.add_post("/api/calls/{call_id}/recording", _recording_control)
    app.router.add_post("/api/scenarios/reload", _reload_scenarios)
    app.router.add_get("/api/queues", _queues)
    app.router.add_get("/metrics", _metrics)
    if events is not None:
        app.router.add_get("/api/events", events.serve)
    return app


async def _metrics(request: web.Request) -> web.Response:
    """Prometheus: the PBX's own figures and the plugins' (pbx/admin/metrics.py)."""
    acd = request.app[QUEUES]
    figures = metrics.core_metrics(request.app[STATUS](), acd.snapshot(request.app[CLOCK]()) if acd else None)
    if request.app[PLUGIN_METRICS] is not None:
        figures += await request.app[PLUGIN_METRICS]()
    return web.Response(text=metrics.render(figures), headers={"Content-Type": metrics.CONTENT_TYPE})


async def _queues(request: web.Request) -> web.Response:
    """The live ACD snapshot: each queue's waiting callers (position, wait), each agent's state."""
    acd = request.app[QUEUES]
    if acd is None:
        return _error(404, "no queues are configured")
    return web.json_response(msgspec.to_builtins(acd.snapshot(request.app[CLOCK]())))


async def _reload_scenarios(request: web.Request) -> web.Response:
    """Read the scenario directory again, as SIGHUP does: {"ok", "loaded", "refused": {name: why}, ...}."""
    reload = request.app[RELOAD]
    if reload is None:
        return _error(404, "scenarios are not available")
    report = reload()
    return web.json_response({"ok": report.ok, **msgspec.to_builtins(report)})


class RecordingRequest(msgspec.Struct, forbid_unknown_fields=True):
    action: Literal["start", "stop", "pause", "resume"]
    layout: Literal["stereo", "mixed"] | None = None


async def _recording_status(request: web.Request) -> web.Response:
    recordings = request.app[RECORDINGS]
    call_id = request.match_info["call_id"]
    if recordings is None or call_id not in request.app[CALLS].calls:
        return _error(404, f"no live call {call_id!r}")
    return web.json_response(recordings.status(call_id))


async def _recording_control(request: web.Request) -> web.Response:
    """POST {"action": "start" | "stop" | "pause" | "resume", "layout": "stereo" | "mixed"}."""
    recordings = request.app[RECORDINGS]
    if recordings is None:
        return _error(404, "recording is not available")
    try:
        body = msgspec.json.decode(await request.read(), type=RecordingRequest)
    except msgspec.DecodeError as error:
        return _error(400, f"bad request body: {error}")
    call_id = request.match_info["call_id"]
    try:
        result = recordings.control(call_id, body.action, body.layout)
    except NoSuchCall as error:
        return _error(404, str(error))
    except (RecordingConflict, EndpointClosed, ValueError) as error:  # the call's state does not allow it
        return _error(409, str(error))
    return web.json_response(result)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


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
            "ivr": getattr(call.controller, "position", None),  # "Support line:main, attempt 2"
            "disposition": call.disposition,
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
