"""The one gate every admin endpoint is served through.

For each request: who is asking (the bearer token, or `access_token` in the query for a
WebSocket or an <audio> element, which cannot send headers), whether their role may use this
endpoint (401 without a known token, 403 with the wrong role, 403 when an agent names another
agent), the query string and the body decoded into the endpoint's msgspec types (a 400 naming
the field), the handler, and its answer encoded. A request that changes something is audited
after its handler, whatever it answered. Every error body is an sdk.admin.ApiError, and a
handler that fails unexpectedly answers 500 with one, logged with its traceback: the PBX goes on.

What is public (no token): the OpenAPI document, its docs page, and the static pages (their
data comes from the API, with the token the page is given).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from aiohttp import web

from sdk.admin import Answer, ApiError, ApiFailure, ApiRequest, Endpoint, Principal

from .audit import AuditLog, AuditRecord
from .tokens import Tokens

__all__ = ["Gate", "error_response"]

log = logging.getLogger("pbx.admin")
_encoder = msgspec.json.Encoder()
_FIELD = re.compile(r"at `\$\.([^`\[]+)")  # msgspec: "Expected `int`, got `str` - at `$.limit`"
_MISSING = re.compile(r"missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"unknown field `([^`]+)`")
TOKEN_PARAMETER = "access_token"


def error_response(status: int, error: ApiError) -> web.Response:
    return web.Response(body=_encoder.encode(error), status=status, content_type="application/json")


def _field_of(error: msgspec.ValidationError, where: str) -> str:
    message = str(error)
    for pattern in (_FIELD, _MISSING, _UNKNOWN):
        found = pattern.search(message)
        if found:
            return f"{where}.{found.group(1)}" if where == "body" else found.group(1)
    return where


class Gate:
    def __init__(self, tokens: Tokens, audit: AuditLog, clock: Callable[[], float]) -> None:
        self.tokens = tokens
        self.audit = audit
        self.clock = clock
        self.served: list[tuple[str, Endpoint]] = []  # (path prefix, endpoint): what the document lists

    def mount(self, app: web.Application, endpoints: Iterable[Endpoint], prefix: str = "") -> None:
        for endpoint in endpoints:
            app.router.add_route(endpoint.method, prefix + endpoint.path, self._serving(endpoint, prefix))
            self.served.append((prefix, endpoint))

    async def principal(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise ApiFailure(401, "unauthorized", "use `Authorization: Bearer <token>`", "Authorization")
        secret = secret.strip() or request.query.get(TOKEN_PARAMETER, "")
        if not secret:
            raise ApiFailure(401, "unauthorized",
                             "this needs an API token: `Authorization: Bearer <token>` (create one with "
                             "`pbx token create NAME --role ROLE`)", "Authorization")
        principal = await self.tokens.principal(secret)
        if principal is None:
            raise ApiFailure(401, "unauthorized", "unknown or revoked API token", "Authorization")
        return principal

    def _serving(self, endpoint: Endpoint, prefix: str):
        action = f"{endpoint.method} {prefix}{endpoint.path}"

        async def serve(request: web.Request) -> web.StreamResponse:
            principal: Principal | None = None
            api_request: ApiRequest | None = None
            status = 500
            try:
                principal = await self.principal(request)
                _allow(endpoint, principal, request)
                api_request = ApiRequest(request, principal, _query(endpoint, request), await _body(endpoint, request))
                answer = await endpoint.handler(api_request)
                response = _response(endpoint, answer)
                status = response.status
                return response
            except ApiFailure as failure:
                status = failure.status
                return error_response(failure.status, failure.error)
            except web.HTTPException as error:  # aiohttp's own (a WebSocket handshake refused, ...)
                status = error.status
                if error.status < 400:
                    raise
                return error_response(error.status, ApiError(_code(error.status), error.reason or "refused"))
            except Exception:
                log.exception("event=admin_handler_failed action=%r", action)
                return error_response(500, ApiError("internal", "the PBX failed to answer this request; it is logged"))
            finally:
                if endpoint.changes and principal is not None:
                    self.audit.record(AuditRecord(
                        self.clock(), principal.name, principal.role, action,
                        api_request.audit_target if api_request and api_request.audit_target else request.path,
                        status, api_request.audit_detail if api_request else {}))

        serve.__name__ = endpoint.handler.__name__
        return serve


def _allow(endpoint: Endpoint, principal: Principal, request: web.Request) -> None:
    if principal.role not in endpoint.roles:
        raise ApiFailure(403, "forbidden", f"the {principal.role} role may not use {endpoint.method} {endpoint.path} "
                         f"(it needs one of: {', '.join(sorted(endpoint.roles))})")
    if principal.role == "agent" and endpoint.agent_param is not None:
        named = request.match_info.get(endpoint.agent_param) or request.query.get(endpoint.agent_param)
        if named is not None and named != principal.agent:
            raise ApiFailure(403, "forbidden", f"an agent's token acts only on its own agent ({principal.agent})",
                             endpoint.agent_param)


def _query(endpoint: Endpoint, request: web.Request) -> Any:
    if endpoint.query is None:
        return None
    values: dict[str, Any] = {}
    for name, value in request.query.items():
        if name != TOKEN_PARAMETER and name not in values:
            values[name] = value
    try:
        return msgspec.convert(values, type=endpoint.query, strict=False)
    except msgspec.ValidationError as error:
        raise ApiFailure(400, "bad_request", f"query: {error}", _field_of(error, "query")) from None


async def _body(endpoint: Endpoint, request: web.Request) -> Any:
    if endpoint.body is None:
        return None
    data = await request.read()
    if not data.strip():
        raise ApiFailure(400, "bad_request", "this needs a JSON body (see the operation's requestBody)", "body")
    try:
        return msgspec.json.decode(data, type=endpoint.body)
    except msgspec.ValidationError as error:
        raise ApiFailure(400, "bad_request", f"body: {error}", _field_of(error, "body")) from None
    except msgspec.DecodeError as error:
        raise ApiFailure(400, "bad_request", f"the body is not JSON: {error}", "body") from None


def _response(endpoint: Endpoint, answer: Any) -> web.StreamResponse:
    if isinstance(answer, web.StreamResponse):
        return answer
    status = endpoint.status
    if isinstance(answer, Answer):
        answer, status = answer.value, answer.status
    return web.Response(body=_encoder.encode(answer), status=status, content_type="application/json")


def _code(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            409: "conflict", 413: "too_large", 415: "unsupported_media_type"}.get(status, "error")
