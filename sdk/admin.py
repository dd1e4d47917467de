"""Admin API endpoints as the PBX and plugins declare them.

An `Endpoint` is an async handler plus what the admin API needs to serve it safely and to
document it: the roles allowed, the msgspec types of its query string, body and answer, and the
path or query parameter naming an agent (the agent role may only name its own). The PBX mounts
every endpoint behind one gate (pbx/admin/gate.py): it checks the token and the role, decodes
the query and the body into their types (a bad one is a 400 naming the field), audits every
change (who, what, when), and encodes the handler's answer. The OpenAPI 3.1 document at
/api/openapi.json is generated from the same types, so it cannot drift from the handlers.

    @endpoint("POST", "/agents/{agent}/pause", summary="Pause an agent", roles=SUPERVISORS | AGENTS,
              body=PauseRequest, response=AgentView, agent_param="agent")
    async def pause(request: ApiRequest) -> AgentView:
        ...

A handler returns a msgspec-encodable value (sent as JSON with the endpoint's `status`, 200 unless
declared otherwise)
or any aiohttp `StreamResponse` (CSV, a file, a WebSocket). It raises `ApiFailure` (or
`bad_input`, `not_found`, `conflict`) for a 4xx: the body is always an `ApiError`
{"code", "message", "field"}.

Plugins return endpoints from `pbx_admin_routes`; their paths are served under
`/api/plugins/<plugin name>`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

__all__ = [
    "ADMINS", "AGENTS", "EVERYONE", "READERS", "ROLES", "SUPERVISORS", "Answer", "ApiError", "ApiFailure",
    "ApiRequest", "Endpoint", "Principal", "Role", "bad_input", "conflict", "endpoint", "not_found",
]

Role = Literal["admin", "supervisor", "agent", "read-only"]
ROLES: tuple[Role, ...] = ("admin", "supervisor", "agent", "read-only")
ADMINS = frozenset({"admin"})
SUPERVISORS = frozenset({"admin", "supervisor"})  # may change what agents and calls do
READERS = frozenset({"admin", "supervisor", "read-only"})  # may read everything, change nothing
AGENTS = frozenset({"agent"})  # each sees and changes only its own agent (Endpoint.agent_param)
EVERYONE = frozenset(ROLES)


class ApiError(msgspec.Struct, frozen=True):
    """Every 4xx and 5xx body of the admin API."""

    code: str  # "bad_request", "unauthorized", "forbidden", "not_found", "conflict", ...
    message: str  # for a person: what was wrong and, where obvious, what to do
    field: str | None = None  # the query, path or body field at fault ("limit", "body.reason")


class ApiFailure(Exception):
    """Raised by a handler: the gate answers `status` with an ApiError."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = ApiError(code, message, field)


def bad_input(message: str, field: str | None = None) -> ApiFailure:
    return ApiFailure(400, "bad_request", message, field)


def not_found(message: str, field: str | None = None) -> ApiFailure:
    return ApiFailure(404, "not_found", message, field)


def conflict(message: str, field: str | None = None) -> ApiFailure:
    """The request is right but the thing's state does not allow it now (409)."""
    return ApiFailure(409, "conflict", message, field)


class Principal(msgspec.Struct, frozen=True):
    """Who is asking: the token's name and role, and for the agent role the agent it is."""

    name: str
    role: Role
    agent: str | None = None


class Answer(msgspec.Struct, frozen=True):
    """A JSON answer with its status: declare the same one on the endpoint (`status=202`) so the
    OpenAPI document lists it."""

    value: Any
    status: int = 200


class ApiRequest:
    """What a handler is given: the aiohttp request, who is asking, the decoded query and body,
    and `audit` to add details to the audit record of this change."""

    def __init__(self, request: Any, principal: Principal, query: Any = None, body: Any = None) -> None:
        self.request = request
        self.principal = principal
        self.query = query
        self.body = body
        self.audit_target: str | None = None
        self.audit_detail: dict[str, Any] = {}

    @property
    def path(self) -> dict[str, str]:
        return dict(self.request.match_info)

    def audit(self, target: str | None = None, **detail: Any) -> None:
        """Name what this change was about ("agent 1001", "call abc") and add details to its audit
        record; the gate writes the record (who, action, when, answer status) after the handler."""
        if target is not None:
            self.audit_target = target
        self.audit_detail.update(detail)


Handler = Callable[[ApiRequest], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str  # "GET", "POST", "PUT", "DELETE"
    path: str  # aiohttp syntax, which OpenAPI shares: "/agents/{agent}/pause"
    handler: Handler
    summary: str
    roles: frozenset[str]
    query: type | None = None  # a msgspec Struct of the query string's fields
    body: type | None = None  # a msgspec Struct (or other type) of the JSON body
    response: Any = None  # the answer's type, for the document; None for "no JSON body"
    content_type: str = "application/json"  # what a 200 carries: "text/csv", "audio/wav", "websocket"
    agent_param: str | None = None  # the path or query field naming an agent (the agent role: its own only)
    tags: tuple[str, ...] = ()
    description: str = ""
    extra_content_types: tuple[str, ...] = field(default=())  # other answers on ?format= (CSV, XLSX)
    status: int = 200  # the success status (201 Created, 202 Accepted): the document lists it

    @property
    def changes(self) -> bool:
        """Changes are audited; reads are not."""
        return self.method not in ("GET", "HEAD")


def endpoint(method: str, path: str, *, summary: str, roles: frozenset[str], query: type | None = None,
             body: type | None = None, response: Any = None, content_type: str = "application/json",
             agent_param: str | None = None, tags: tuple[str, ...] = (),
             extra_content_types: tuple[str, ...] = (), status: int = 200) -> Callable[[Handler], Endpoint]:
    """Declare an endpoint around its handler (the handler's docstring is its description)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}: use {ROLES}")

    def declare(handler: Handler) -> Endpoint:
        return Endpoint(method.upper(), path, handler, summary, frozenset(roles), query, body, response,
                        content_type, agent_param, tags, inspect.cleandoc(handler.__doc__ or ""), extra_content_types,
                        status)

    return declare
