"""The admin API of the recordings, mounted by the PBX under /api/plugins/recording:

    GET    /recordings?call_id=&queue=&agent=&since=&until=&limit=   the index, newest first
    GET    /recordings/{call_id}                                     one recording's row
    GET    /recordings/{call_id}/audio                               its WAV file
    POST   /recordings/{call_id}/hold     {"hold": true | false}     legal hold on or off
    DELETE /recordings/{call_id}                                     erase it (GDPR request)
    GET    /audit?call_id=&action=&since=&limit=                     the access audit log

Every call but /audit is audited under the `X-Actor` header's name ("anonymous" without one,
until the admin API has tokens). Bad input is a 400 with `{"error": ..., "field": ...}`; an
unknown recording is a 404, one under legal hold or still recording a 409.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from .archive import RecordingArchive, RecordingNotFound, RecordingRefused
from .query import BadInput, actor_from, audit_query_from, search_from

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HoldRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    hold: bool


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(value), status=status, content_type="application/json")


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    return _json({"error": message, "field": field}, status)


def _answering_errors(handler: Handler) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadInput as error:
            return _error(400, str(error), error.field)
        except RecordingNotFound as error:
            return _error(404, str(error), "call_id")
        except RecordingRefused as error:
            return _error(409, str(error), "call_id")

    return answer


def _hold_body(data: bytes) -> HoldRequest:
    try:
        return msgspec.json.decode(data, type=HoldRequest)
    except msgspec.ValidationError as error:
        # "Expected `bool`, got `str` - at `$.hold`", "Object missing required field `hold`", ...
        message = str(error)
        found = re.search(r"at `\$\.([^`.\[]+)", message) or re.search(r"field `([^`]+)`", message)
        raise BadInput(f"body: {message}", found.group(1) if found else "body") from None
    except msgspec.DecodeError as error:
        raise BadInput(f"body is not JSON: {error}", "body") from None


def routes(archive: RecordingArchive, now: Callable[[], float]) -> list[web.RouteDef]:
    """The route definitions over `archive`, reading the time from `now`."""

    async def search(request: web.Request) -> web.Response:
        query = search_from(request.query)
        rows = await archive.search(query, actor=actor_from(request.headers.get("X-Actor")), now=now())
        return _json(rows)

    async def show(request: web.Request) -> web.Response:
        actor = actor_from(request.headers.get("X-Actor"))
        return _json(await archive.show(request.match_info["call_id"], actor=actor, now=now()))

    async def audio(request: web.Request) -> web.StreamResponse:
        actor = actor_from(request.headers.get("X-Actor"))
        path = await archive.audio(request.match_info["call_id"], actor=actor, now=now())
        return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                               "Content-Disposition": f'attachment; filename="{path.name}"'})

    async def hold(request: web.Request) -> web.Response:
        actor = actor_from(request.headers.get("X-Actor"))
        body = _hold_body(await request.read())
        return _json(await archive.hold(request.match_info["call_id"], body.hold, actor=actor, now=now()))

    async def delete(request: web.Request) -> web.Response:
        actor = actor_from(request.headers.get("X-Actor"))
        row = await archive.delete(request.match_info["call_id"], actor=actor, now=now(), reason="request")
        return _json({"deleted": row.call_id, "path": row.path, "reason": "request"})

    async def audit(request: web.Request) -> web.Response:
        query = audit_query_from(request.query)
        return _json(await archive.audit_entries(**msgspec.structs.asdict(query)))

    return [
        web.get("/recordings", _answering_errors(search)),
        web.get("/recordings/{call_id}", _answering_errors(show)),
        web.get("/recordings/{call_id}/audio", _answering_errors(audio)),
        web.post("/recordings/{call_id}/hold", _answering_errors(hold)),
        web.delete("/recordings/{call_id}", _answering_errors(delete)),
        web.get("/audit", _answering_errors(audit)),
    ]
