"""Supervisor monitoring over the admin API: listen to, whisper in, or barge into a live call.

POST /api/calls/{call_id}/monitor rings the supervisor's phone and attaches it to the call when
it answers (201 with the monitor, state "ringing"); PATCH (or POST) /api/monitors/{monitor_id}
switches the mode of a live monitor; DELETE stops it and hangs the supervisor's phone up;
GET /api/monitors lists them, the stopped ones for five minutes. Supervisors and admins only;
each change is audited with the call, the agent, the supervisor and the mode.

The work is pbx.calls.supervision's; this module only translates HTTP to it and back.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from pbx.calls.supervision import MonitorRefused
from sdk.admin import SUPERVISORS, Answer, ApiFailure, ApiRequest, Endpoint, bad_input, endpoint, not_found

from .context import AdminContext

__all__ = ["ModeChange", "MonitorRequest", "MonitorView", "MonitorsQuery", "monitor_endpoints"]

MonitorMode = Literal["listen", "whisper", "barge"]
_STATUS_OF_KIND = {"bad_request": 400, "not_found": 404, "forbidden": 403, "conflict": 409}


class MonitorRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Start monitoring: the PBX rings `supervisor` and, when they answer, they hear the call
    ("listen"), also speak to the agent only ("whisper"), or join a three-way call ("barge")."""

    mode: MonitorMode
    supervisor: str  # the supervisor's extension, whose phone rings


class ModeChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Switch a live monitor to another mode."""

    mode: MonitorMode


class MonitorsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which monitors: of one call, of one supervisor, in one state."""

    call_id: str | None = None
    supervisor: str | None = None
    state: Literal["ringing", "active", "stopped"] | None = None


class MonitorView(msgspec.Struct, frozen=True):
    """A supervisor on a call: who, which call and agent, how, and since when."""

    monitor_id: str
    call_id: str  # the monitored call
    agent: str  # the agent's name, or their extension when they are no queue agent
    supervisor: str  # the supervisor's extension
    mode: MonitorMode
    state: Literal["ringing", "active", "stopped"]  # ringing: the supervisor's phone has not answered yet
    source: Literal["phone", "api"]  # how it was started: a feature code dialled on the phone, or the API
    created_at: float
    started_at: float | None  # when the supervisor's phone answered
    seconds: float  # how long it has been (or was) active
    supervisor_call_id: str | None  # the call of the supervisor's own phone


def monitor_endpoints(context: AdminContext) -> list[Endpoint]:
    def monitors():
        if context.monitors is None:
            raise not_found("supervisor monitoring is not running on this PBX")
        return context.monitors

    def view(monitor) -> MonitorView:
        return MonitorView(monitor.id, monitor.call.id, monitor.agent_name, monitor.supervisor, monitor.mode,
                           monitor.state, monitor.source, monitor.created_at, monitor.started_at,
                           monitor.seconds(context.clock()),
                           monitor.supervisor_call.id if monitor.supervisor_call is not None else None)

    def refused(error: MonitorRefused) -> ApiFailure:
        where = error.field if error.field in ("call_id", "monitor_id", None) else f"body.{error.field}"
        return ApiFailure(_STATUS_OF_KIND.get(error.kind, 409), error.kind, str(error), where)

    @endpoint("POST", "/api/calls/{call_id}/monitor", summary="Monitor a live call from a supervisor's phone",
              roles=SUPERVISORS, body=MonitorRequest, response=MonitorView, status=201, tags=("monitoring",))
    async def start(request: ApiRequest) -> Answer:
        """Rings the supervisor's phone; when it answers it is attached to the call in the mode asked.
        404 for a call that is not live, 400 for a supervisor that is no extension, 409 when the call is
        not connected between two phones, is already monitored, or the supervisor's phone is not
        registered."""
        call_id, body = request.path["call_id"], request.body
        request.audit(f"call {call_id}", call=call_id, supervisor=body.supervisor, mode=body.mode)
        if not body.supervisor:
            raise bad_input("supervisor must name an extension", "body.supervisor")
        try:
            monitor = monitors().call_supervisor(call_id, body.supervisor, body.mode, context.clock())
        except MonitorRefused as error:
            raise refused(error) from None
        request.audit(agent=monitor.agent_name, monitor=monitor.id)
        return Answer(view(monitor), 201)

    @endpoint("GET", "/api/monitors", summary="Supervisors on calls now (and those stopped lately)",
              roles=SUPERVISORS, query=MonitorsQuery, response=list[MonitorView], tags=("monitoring",))
    async def listing(request: ApiRequest) -> list[MonitorView]:
        query: MonitorsQuery = request.query
        return [view(monitor) for monitor in monitors().monitors.values()
                if (query.call_id is None or monitor.call.id == query.call_id)
                and (query.supervisor is None or monitor.supervisor == query.supervisor)
                and (query.state is None or monitor.state == query.state)]

    @endpoint("GET", "/api/monitors/{monitor_id}", summary="One monitor", roles=SUPERVISORS,
              response=MonitorView, tags=("monitoring",))
    async def one(request: ApiRequest) -> MonitorView:
        monitor = monitors().monitors.get(request.path["monitor_id"])
        if monitor is None:
            raise not_found(f"no monitor {request.path['monitor_id']!r}", "monitor_id")
        return view(monitor)

    async def switch(request: ApiRequest) -> MonitorView:
        """Switches a live monitor (ringing or active) to another mode; 409 once it has stopped."""
        service = monitors()
        monitor_id, mode = request.path["monitor_id"], request.body.mode
        known = service.monitors.get(monitor_id)
        if known is not None:  # audited with its call even when refused (a stopped monitor)
            request.audit(f"call {known.call.id}", call=known.call.id, agent=known.agent_name,
                          supervisor=known.supervisor, mode=mode, previous=known.mode, monitor=monitor_id)
        try:
            monitor = service.live(monitor_id)
            service.execute(service.switch(monitor_id, mode, "api", context.clock()))
        except MonitorRefused as error:
            raise refused(error) from None
        return view(monitor)

    switch_by_patch = endpoint("PATCH", "/api/monitors/{monitor_id}", summary="Switch a monitor's mode",
                               roles=SUPERVISORS, body=ModeChange, response=MonitorView, tags=("monitoring",))(switch)
    switch_by_post = endpoint("POST", "/api/monitors/{monitor_id}", summary="Switch a monitor's mode (as PATCH)",
                              roles=SUPERVISORS, body=ModeChange, response=MonitorView, tags=("monitoring",))(switch)

    @endpoint("DELETE", "/api/monitors/{monitor_id}", summary="Stop monitoring and hang up the supervisor",
              roles=SUPERVISORS, response=MonitorView, tags=("monitoring",))
    async def stop(request: ApiRequest) -> MonitorView:
        """Stops a ringing or active monitor; the supervisor's phone is hung up. 409 once stopped."""
        service = monitors()
        monitor_id = request.path["monitor_id"]
        known = service.monitors.get(monitor_id)
        if known is not None:
            request.audit(f"call {known.call.id}", call=known.call.id, agent=known.agent_name,
                          supervisor=known.supervisor, mode=known.mode, monitor=monitor_id)
        try:
            monitor = service.live(monitor_id)
        except MonitorRefused as error:
            raise refused(error) from None
        service.execute(service.stop(monitor_id, "api", context.clock()))
        return view(monitor)

    return [start, listing, one, switch_by_patch, switch_by_post, stop]
