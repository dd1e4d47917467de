"""The OpenAPI 3.1 document of the admin API, generated from the endpoints the gate serves.

Paths, methods, roles and summaries come from each sdk.admin.Endpoint; the schemas of query
parameters, bodies and answers from the same msgspec types the gate decodes and the handlers
return (msgspec.json.schema_components writes JSON Schema 2020-12, which OpenAPI 3.1 uses
as is). Every operation lists the errors the gate may answer, each an ApiError.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from sdk.admin import ApiError, Endpoint

__all__ = ["document"]

REF = "#/components/schemas/{name}"
_PATH_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERRORS = {
    "400": "Bad input: the field at fault is named",
    "401": "No API token, or an unknown one",
    "403": "The token's role may not do this",
    "404": "No such thing",
    "409": "The thing's state does not allow it now",
}
_FILE_TYPES = {"text/csv", "audio/wav", "application/octet-stream",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/html"}


def document(served: list[tuple[str, Endpoint]], *, title: str, version: str) -> dict[str, Any]:
    types: list[Any] = [ApiError]
    for _, endpoint in served:
        types += [t for t in (endpoint.query, endpoint.body, endpoint.response) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    by_type = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for prefix, endpoint in served:
        path = _PATH_PARAMETER.sub(r"{\1}", prefix + endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(prefix, endpoint, path, by_type, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "The PBX's admin API. Every operation needs an API token "
                                "(`pbx token create NAME --role ROLE`) sent as `Authorization: Bearer <token>`; "
                                "the roles allowed are listed on each operation."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "access_token": {"type": "apiKey", "in": "query", "name": "access_token",
                                 "description": "For WebSockets and <audio> elements, which cannot send headers"},
            },
        },
        "security": [{"bearer": []}, {"access_token": []}],
    }


def _operation(prefix: str, endpoint: Endpoint, path: str, by_type: dict[Any, Any],
               components: dict[str, Any]) -> dict[str, Any]:
    roles = ", ".join(sorted(endpoint.roles))
    operation: dict[str, Any] = {
        "operationId": f"{endpoint.method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
        "summary": endpoint.summary,
        "description": "\n\n".join(filter(None, [endpoint.description, f"Roles: {roles}."])),
        "tags": list(endpoint.tags) or [_tag(prefix, endpoint.path)],
        "x-roles": sorted(endpoint.roles),
        "parameters": _parameters(endpoint, path, by_type, components),
        "responses": {str(endpoint.status): _success(endpoint, by_type),
                      **{status: {"description": why, "content": {"application/json": {"schema": by_type[ApiError]}}}
                         for status, why in _ERRORS.items()}},
    }
    if endpoint.body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": by_type[endpoint.body]}}}
    return operation


def _tag(prefix: str, path: str) -> str:
    if prefix.startswith("/api/plugins/"):
        return prefix.rsplit("/", 1)[-1]
    parts = [part for part in path.split("/") if part and part != "api"]
    return parts[0] if parts else "api"


def _success(endpoint: Endpoint, by_type: dict[Any, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if endpoint.content_type == "websocket":
        return {"description": "A WebSocket (the GET is its handshake; see the description)"}
    if endpoint.content_type == "application/json":
        schema = by_type[endpoint.response] if endpoint.response is not None else {}
        content["application/json"] = {"schema": schema}
    else:
        content[endpoint.content_type] = {"schema": {"type": "string", "format": "binary"}}
    for extra in endpoint.extra_content_types:
        content[extra] = {"schema": {"type": "string", "format": "binary"}}
    return {"description": endpoint.summary, "content": content}


def _parameters(endpoint: Endpoint, path: str, by_type: dict[Any, Any], components: dict[str, Any]) -> list[dict]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                  for name in _PATH_PARAMETER.findall(path)]
    if endpoint.query is not None:
        schema = _resolve(by_type[endpoint.query], components)
        required = set(schema.get("required", ()))
        for name, field_schema in schema.get("properties", {}).items():
            parameter = {"name": name, "in": "query", "required": name in required, "schema": field_schema}
            if "description" in field_schema:
                parameter["description"] = field_schema["description"]
            parameters.append(parameter)
    return parameters


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    return components[reference.rsplit("/", 1)[-1]] if reference else schema
