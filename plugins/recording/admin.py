"""The recordings on the admin API, served by the PBX under /api/plugins/recording:

    GET    /recordings?call_id=&queue=&agent=&since=&until=&limit=   the index, newest first
    GET    /recordings/{call_id}                                     one recording's row
    GET    /recordings/{call_id}/audio                               its WAV file (HTTP ranges)
    POST   /recordings/{call_id}/hold     {"hold": true | false}     legal hold on or off
    DELETE /recordings/{call_id}                                     erase it (GDPR request)
    GET    /audit?call_id=&action=&since=&limit=                     who listed, viewed, listened, held, deleted

Reads are for READERS (admin, supervisor, read-only), legal hold and deletion for ADMINS. Every
call but /audit leaves an entry in the plugin's own access audit under the name of the API
token that asked (the admin API's own audit log records the changes too; only this one records
who listened). The audio honours `Range: bytes=a-b` (RFC 9110 14.2: 206 with Content-Range,
416 when no byte of the range is in the file), as aiohttp's FileResponse does, so a browser's
<audio> element (with `?access_token=`) can seek. Bad input is a 400 naming the field; an
unknown recording is a 404, one under legal hold or still recording a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from aiohttp import web
from msgspec import Meta

from sdk.admin import ADMINS, READERS, ApiRequest, Endpoint, bad_input, conflict, endpoint, not_found

from .archive import RecordingArchive, RecordingNotFound, RecordingRefused
from .fold import RecordingRow
from .index import AuditEntry, Search
from .query import MAX_LIMIT, BadInput, parse_time

__all__ = ["AuditQuery", "DeletedRecording", "HoldRequest", "RecordingSearch", "endpoints"]

TAGS = ("recordings",)
Time = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[0-9][0-9eE.:+\-TZ ]*$", description=(
    "seconds since the epoch or ISO 8601 (2026-03-01, 2026-03-01T09:00:00+01:00; no zone: UTC)"))]
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Limit = Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="how many rows, newest first")]


class RecordingSearch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which recordings to list: every field given narrows the list; since/until bound the start."""

    call_id: Name | None = None
    queue: Name | None = None
    agent: Name | None = None
    since: Time | None = None
    until: Time | None = None
    limit: Limit = 100


class AuditQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Which access audit entries to list (newest first)."""

    call_id: Name | None = None
    action: Annotated[Name, Meta(description=(
        "list, view, download, hold, release, delete, delete-refused or delete-failed"))] | None = None
    since: Time | None = None
    limit: Limit = 100


class HoldRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Put a recording under legal hold (it is kept past its retention and cannot be deleted), or
    release it."""

    hold: bool


class DeletedRecording(msgspec.Struct, frozen=True, kw_only=True):
    """A recording erased on request: its call, the file removed, and why."""

    deleted: str  # the call id
    path: str
    reason: str


def _time(text: str | None, field: str) -> float | None:
    try:
        return None if text is None else parse_time(text, field)
    except BadInput as error:
        raise bad_input(str(error), error.field) from None


def endpoints(archive: RecordingArchive, now: Callable[[], float]) -> list[Endpoint]:
    """The endpoints over `archive`, reading the time from `now`."""

    async def existing(call_id: str, action: Any) -> Any:
        """Run an archive action, its refusals as the API's 404 and 409."""
        try:
            return await action
        except RecordingNotFound as error:
            raise not_found(str(error), "call_id") from None
        except RecordingRefused as error:
            raise conflict(str(error), "call_id") from None

    @endpoint("GET", "/recordings", summary="List recordings", roles=READERS, query=RecordingSearch,
              response=list[RecordingRow], tags=TAGS)
    async def search(request: ApiRequest) -> list[RecordingRow]:
        """The index of recordings, newest first, narrowed by call, queue, agent and start time."""
        query: RecordingSearch = request.query
        since, until = _time(query.since, "since"), _time(query.until, "until")
        if since is not None and until is not None and until <= since:
            raise bad_input("until must be later than since", "until")
        asked = Search(call_id=query.call_id, queue=query.queue, agent=query.agent, since=since, until=until,
                       limit=query.limit)
        return await archive.search(asked, actor=request.principal.name, now=now())

    @endpoint("GET", "/recordings/{call_id}", summary="One recording", roles=READERS, response=RecordingRow,
              tags=TAGS)
    async def show(request: ApiRequest) -> RecordingRow:
        """A recording's row: its file, policy, call, retention, legal hold and paused stretches."""
        call_id = request.path["call_id"]
        return await existing(call_id, archive.show(call_id, actor=request.principal.name, now=now()))

    @endpoint("GET", "/recordings/{call_id}/audio", summary="A recording's audio (WAV, HTTP ranges)",
              roles=READERS, content_type="audio/wav", tags=TAGS)
    async def audio(request: ApiRequest) -> web.StreamResponse:
        """The WAV file, whole or the byte range asked for (`Range: bytes=0-1023`, `bytes=-4096`):
        206 Partial Content with Content-Range, or 416 when the range is past the end. Who
        listened is in the access audit (GET /audit, action "download")."""
        call_id = request.path["call_id"]
        path = await existing(call_id, archive.audio(call_id, actor=request.principal.name, now=now()))
        return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                               "Content-Disposition": f'attachment; filename="{path.name}"'})

    @endpoint("POST", "/recordings/{call_id}/hold", summary="Put a recording under legal hold, or release it",
              roles=ADMINS, body=HoldRequest, response=RecordingRow, tags=TAGS)
    async def hold(request: ApiRequest) -> RecordingRow:
        """Legal hold keeps a recording past its retention and refuses its deletion until released."""
        call_id, body = request.path["call_id"], request.body
        request.audit(f"recording {call_id}", hold=body.hold)
        return await existing(call_id, archive.hold(call_id, body.hold, actor=request.principal.name, now=now()))

    @endpoint("DELETE", "/recordings/{call_id}", summary="Erase a recording (GDPR request)", roles=ADMINS,
              response=DeletedRecording, tags=TAGS)
    async def delete(request: ApiRequest) -> DeletedRecording:
        """Removes the file and the index row; the access audit keeps the proof. Refused (409)
        while the recording is under legal hold or still being written."""
        call_id = request.path["call_id"]
        request.audit(f"recording {call_id}", reason="request")
        row = await existing(call_id, archive.delete(call_id, actor=request.principal.name, now=now(),
                                                     reason="request"))
        return DeletedRecording(deleted=row.call_id, path=row.path, reason="request")

    @endpoint("GET", "/audit", summary="Who listed, viewed, listened to, held or deleted recordings",
              roles=READERS, query=AuditQuery, response=list[AuditEntry], tags=TAGS)
    async def audit(request: ApiRequest) -> list[AuditEntry]:
        """The access audit of the recordings, newest first."""
        query: AuditQuery = request.query
        return await archive.audit_entries(call_id=query.call_id, action=query.action,
                                           since=_time(query.since, "since"), limit=query.limit)

    return [search, show, audio, hold, delete, audit]
