"""The admin API application: every endpoint behind the gate, the document, the pages.

`make_admin_app` mounts the core endpoints (this module: status, registrations, the event
stream, metrics, the audit log, who-am-I), the live, monitoring and scenario endpoints (their
modules), and each plugin's endpoints under /api/plugins/<name>; then the OpenAPI document
(/api/openapi.json) and its docs page (/api/docs), generated from what was mounted.

A plugin may still return plain aiohttp route definitions: they are served for the admin role
only, and are missing from the document (sdk.admin Endpoints are the documented way).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

import msgspec
from aiohttp import web

from sdk.admin import ADMINS, EVERYONE, READERS, ApiError, ApiFailure, ApiRequest, Endpoint, bad_input, endpoint

from . import metrics
from .audit import AuditLog, AuditRecord
from .context import AdminContext
from .gate import Gate, error_response
from .live import live_endpoints
from .monitor_api import monitor_endpoints
from .openapi import document
from .pages import add_pages
from .scenarios_api import scenario_endpoints
from .security_api import security_endpoints
from .stream import BadFilter, parse_filter
from .tokens import Tokens

__all__ = ["make_admin_app"]

GATE = web.AppKey("gate", Gate)


class Me(msgspec.Struct, frozen=True):
    """Who this token is."""

    name: str
    role: str
    agent: str | None = None


class Registration(msgspec.Struct, frozen=True):
    """A phone's binding in the registrar (RFC 3261 10)."""

    aor: str
    extension: str
    contact: str
    uri: str
    instance: str | None
    expires_in: int
    transport: str
    source: str
    user_agent: str | None
    params: dict[str, str | None]
    registered_at: float


class RegistrationQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    extension: str | None = None


class EventsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which events: type names (comma-separated), and only those with this queue, agent or call."""

    types: str | None = None
    queue: str | None = None
    agent: str | None = None
    call_id: str | None = None
    last_event_id: int | None = None  # resume after this id (or the Last-Event-ID header)


class AuditQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    actor: str | None = None
    since: float | None = None
    limit: int = 100


def core_endpoints(context: AdminContext, audit: AuditLog) -> list[Endpoint]:
    @endpoint("GET", "/api/status", summary="The PBX's state: uptime, SIP, calls, registrations", roles=READERS,
              response=dict[str, Any])
    async def status(request: ApiRequest) -> dict[str, Any]:
        """Counts of this process, at the top level: `calls`, `legs`, `dialogs`, `transactions`,
        `rtp_ports` (RTP and RTCP ports in use), `call_timers`, `registrations`, `tcp_connections`,
        `events_published`, and the SIP endpoint's `received`, `malformed`, `dropped`,
        `sent_stateless`, `banned`, `refused` since it started; `trunks` when trunks are configured.

        With `pbx run --workers N` the top level is worker 0's alone (the admin API runs there),
        and `worker` says more: `index` and `of` (0 and N), `handed_on` and `handed_over` (SIP
        datagrams and registrations passed to and from the other workers), `workers` (one row per
        worker: `index`, `age_seconds` of its latest counts, `stale` when they are older than 5 s
        or never came, and the counts above but `registrations`, plus its `handed_on` and
        `handed_over`) and `all` (each count summed over every worker's latest row: the whole PBX;
        a stale worker's last counts are included). Registrations are shared, so the top-level
        `registrations` is already the PBX's."""
        return context.status()

    @endpoint("GET", "/api/me", summary="Who this token is", roles=EVERYONE, response=Me)
    async def me(request: ApiRequest) -> Me:
        return Me(request.principal.name, request.principal.role, request.principal.agent)

    @endpoint("GET", "/api/registrations", summary="The phones registered now", roles=READERS,
              query=RegistrationQuery, response=list[Registration])
    async def registrations(request: ApiRequest) -> list[Registration]:
        now = context.clock()
        wanted = request.query.extension
        return [Registration(binding.aor, binding.extension, str(binding.contact), str(binding.uri), binding.instance,
                             binding.expires_in(now), binding.source.transport,
                             f"{binding.source.host}:{binding.source.port}", binding.user_agent,
                             binding.contact.params, binding.registered_at)
                for binding in context.registrar.all_bindings(now) if wanted is None or binding.extension == wanted]

    @endpoint("GET", "/metrics", summary="Prometheus figures of the PBX and its plugins", roles=READERS,
              content_type="text/plain")
    async def prometheus(request: ApiRequest) -> web.Response:
        acd = context.queues.acd if context.queues is not None else None
        figures = metrics.core_metrics(context.status(), acd.snapshot(context.clock()) if acd else None)
        if context.plugin_metrics is not None:
            figures += await context.plugin_metrics()
        return web.Response(text=metrics.render(figures), headers={"Content-Type": metrics.CONTENT_TYPE})

    @endpoint("GET", "/api/audit", summary="The audit log: who changed what, when (newest first)", roles=ADMINS,
              query=AuditQuery, response=list[AuditRecord])
    async def audit_log(request: ApiRequest) -> list[AuditRecord]:
        query = request.query
        if not 1 <= query.limit <= 10_000:
            raise bad_input("limit must be between 1 and 10000", "limit")
        return await audit.search(actor=query.actor, since=query.since, limit=query.limit)

    found = [status, me, registrations, prometheus, audit_log]
    if context.events is not None:
        found.append(_events_endpoint(context))
    return found


def _events_endpoint(context: AdminContext) -> Endpoint:
    journal = context.events

    @endpoint("GET", "/api/events", summary="The live event stream (WebSocket)", roles=EVERYONE, query=EventsQuery,
              content_type="websocket", agent_param="agent")
    async def events(request: ApiRequest) -> web.StreamResponse:
        """A WebSocket of JSON frames {"id": N, "event": {"type": ..., ...}} in publication order. Filters
        combine with "and"; after a reconnect, `last_event_id` (or the Last-Event-ID header) replays what
        was missed first; a {"reset": true, "oldest_id": M} frame says when N is too old. An agent's token
        must filter on its own agent."""
        query: EventsQuery = request.query
        if request.principal.role == "agent" and query.agent is None:
            raise ApiFailure(403, "forbidden", f"an agent's token gets its own events: add agent={request.principal.agent}",
                             "agent")
        try:
            wanted = parse_filter(msgspec.to_builtins(query))
        except BadFilter as error:
            raise bad_input(str(error), error.field) from None
        last_id = query.last_event_id
        if last_id is None and "Last-Event-ID" in request.request.headers:
            try:
                last_id = int(request.request.headers["Last-Event-ID"])
            except ValueError:
                raise bad_input("Last-Event-ID must be a whole number", "Last-Event-ID") from None
        if not web.WebSocketResponse().can_prepare(request.request).ok:
            raise bad_input("this is a WebSocket: connect with `Upgrade: websocket`", "Upgrade")
        return await journal.serve(request.request, wanted, last_id)

    return events


def make_admin_app(context: AdminContext, *, tokens: Tokens, audit: AuditLog, endpoints: Iterable[Endpoint] = (),
                   plugin_endpoints: dict[str, list[Any]] | None = None, title: str = "PBX admin API",
                   version: str = "1") -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    gate = Gate(tokens, audit, context.clock)
    app[GATE] = gate
    gate.mount(app, [*core_endpoints(context, audit), *_module_endpoints(context), *endpoints])
    for plugin, routes in (plugin_endpoints or {}).items():
        prefix = f"/api/plugins/{plugin}"
        gate.mount(app, [route for route in routes if isinstance(route, Endpoint)], prefix)
        plain = [route for route in routes if not isinstance(route, Endpoint)]
        if plain:
            sub = web.Application(middlewares=[_admins_only(gate)])
            sub.add_routes(plain)
            app.add_subapp(prefix, sub)
    spec = document(gate.served, title=title, version=version)  # what was mounted, nothing else

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(spec)

    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/docs", _docs_page)
    add_pages(app)
    return app


def _module_endpoints(context: AdminContext) -> list[Endpoint]:
    """The endpoints of the PBX's own services (each answers 404 for a service not running)."""
    return [*live_endpoints(context), *monitor_endpoints(context), *scenario_endpoints(context),
            *security_endpoints(context)]


async def _docs_page(request: web.Request) -> web.Response:
    page = resources.files("pbx.admin").joinpath("docs.html").read_text()
    return web.Response(text=page, content_type="text/html")


def _admins_only(gate: Gate):
    @web.middleware
    async def check(request: web.Request, handler):
        try:
            principal = await gate.principal(request)
        except ApiFailure as failure:
            return error_response(failure.status, failure.error)
        if principal.role != "admin":
            return error_response(403, ApiError("forbidden", "this plugin route is for the admin role"))
        return await handler(request)

    return check


@web.middleware
async def _json_errors(request: web.Request, handler):
    """aiohttp's own refusals (no such path, wrong method) as ApiErrors too."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status, "error")
        response = error_response(error.status, ApiError(code, f"{error.reason}: {request.method} {request.path}"))
        if isinstance(error, web.HTTPMethodNotAllowed):  # RFC 9110 15.5.6: a 405 names the methods allowed
            response.headers["Allow"] = ", ".join(sorted(error.allowed_methods))
        return response
