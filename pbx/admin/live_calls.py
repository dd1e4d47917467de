"""Live calls over REST: list them, hang up, transfer, click to call, recording control.

Actions run on the call layer's own paths, and the SIP they produce is sent at once:
- hang up: a caller waiting in a queue leaves it first (outcome "exited", the offers ringing
  for them cancelled: `AcdService.hang_up`); any other call ends as the system's hang-up
  (`CallManager.end_call`: BYE or CANCEL to every phone still on it; a scenario is stopped first).
- transfer to an extension: a connected call is a blind transfer as the agent's REFER does it
  (`BridgeController.transfer`: the caller rings the target and the agent's phone is released
  when it answers); a call in a scenario leaves it as the scenario's own `transfer` would.
  Transfer to a number the inbound routes send to a queue or a scenario: the PBX takes the
  caller's side itself (its own media on the caller's leg), releases the agent's phone and
  runs what the number routes to, as for a call it placed (`Pbx.connect_answered`). A caller
  waiting in a queue leaves it (outcome "exited") for any of these.
- click to call: the agent's (or an extension's) phone rings first; when it answers, the PBX
  connects it to `to` as `api.originate` does (`OriginateController`, `Pbx.connect_answered`).

The agent role sees and acts on the calls its agent is on only: a call ringing for the agent
or connected to them, or one whose caller or legs are the agent's extension (a click to call).

What this does not do: monitoring (monitor_api.py), recordings of ended calls (the recording
plugin), attended transfer (a phone's REFER with Replaces).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from pbx.acd.controllers import WaitingCall
from pbx.calls.bridge import BridgeController
from pbx.calls.call import Call, CallState
from pbx.calls.originate import OriginateController
from pbx.calls.own_media import media_on_answer
from pbx.calls.recordings import NoSuchCall, RecordingConflict
from pbx.calls.signals import Cause, Hangup, Party
from pbx.ivr.controller import IvrController
from pbx.media.relay import EndpointClosed
from sdk.admin import (
    AGENTS, READERS, SUPERVISORS, Answer, ApiFailure, ApiRequest, Endpoint, bad_input, conflict, endpoint, not_found,
)
from sdk.events import CallTransferred

from .context import AdminContext
from .views import (
    CallAction, CallCreated, CallsQuery, CallView, LegView, OriginateRequest, RecordingRequest, RecordingView,
    TransferRequest,
)

__all__ = ["call_endpoints"]

TAGS = ("live",)
Placements = dict[str, tuple[str | None, str | None]]


class LiveCalls:
    """The call layer as the endpoints use it: finding calls, who may touch them, carrying out actions."""

    def __init__(self, context: AdminContext, execute: Callable[[list[Any]], None]) -> None:
        self.context = context
        self.execute = execute

    # Reading -------------------------------------------------------------------------------------

    def manager(self) -> Any:
        if self.context.calls is None:
            raise not_found("calls are not available on this PBX")
        return self.context.calls

    def live(self, call_id: str) -> Call:
        call = self.manager().calls.get(call_id)
        if call is None:
            raise not_found(f"no live call {call_id!r}", "call_id")
        return call

    def placements(self) -> Placements:
        service = self.context.queues
        return service.placements() if service is not None else {}

    def view(self, call: Call, placements: Placements, now: float) -> CallView:
        queue, agent = placements.get(call.id, (None, None))
        recordings = self.context.recordings
        recording = recordings.status(call.id)["state"] if recordings is not None else "off"
        controller = call.controller
        return CallView(
            id=call.id, caller=call.caller.number, caller_name=call.caller.name, callee=call.callee,
            state=call.state.value, direction="outbound" if call.id in self.manager().placed else "inbound",
            started_at=call.started_at, answered_at=call.answered_at,
            duration_seconds=round(now - call.started_at, 3), queue=queue, agent=agent, on_hold_by=call.on_hold_by,
            ivr=controller.position if isinstance(controller, IvrController) else None,
            disposition=call.disposition, recording=None if recording == "off" else recording,
            legs=[LegView(leg.id, leg.role, leg.party.number, leg.state.value) for leg in call.legs])

    def involves(self, call: Call, agent_name: str | None, placements: Placements) -> bool:
        """Whether the agent is on this call: ringing for it, connected to it, or their phone is a party."""
        service = self.context.queues
        agent = service.acd.agents.get(agent_name) if service is not None and agent_name else None
        if agent is None:
            return False
        if agent.call_id == call.id or placements.get(call.id, (None, None))[1] == agent.name:
            return True
        return agent.extension == call.caller.number or any(leg.party.number == agent.extension for leg in call.legs)

    def allowed(self, request: ApiRequest, call: Call) -> None:
        principal = request.principal
        if principal.role == "agent" and not self.involves(call, principal.agent, self.placements()):
            raise ApiFailure(403, "forbidden", f"an agent's token acts only on the calls its agent "
                             f"({principal.agent}) is on", "call_id")

    # Acting --------------------------------------------------------------------------------------

    def hang_up(self, call: Call, now: float) -> list[Any]:
        if self.context.app is not None:
            return self.context.app.hang_up(call, now)  # the queue and the scenario let go of it first
        return self.manager().end_call(call, Cause.NORMAL, 200, "system", now)

    def transfer(self, call: Call, to: str, now: float) -> list[Any]:
        app = self.context.app
        if app is None:
            raise not_found("transfers are not available on this PBX")
        problem = app.cannot_connect(to)
        if problem is not None:
            raise bad_input(f"cannot transfer to {to!r}: {problem}", "body.to")
        destination = app.routes.match(to)
        extension = to if destination is None else destination.name if destination.kind == "extension" else None
        controller = call.controller
        service = self.context.queues
        waiting = service.waiting_call(call.id) if service is not None else None
        if waiting is not None:
            return self._from_queue(service, waiting, to, now)
        if isinstance(controller, BridgeController) and call.state is CallState.ANSWERED:
            if extension is not None:
                try:
                    return controller.transfer(call, extension, now)
                except ValueError as error:
                    raise conflict(str(error), "call_id") from None
            return self._hand_over(call, to, now)
        if isinstance(controller, IvrController) and not controller.interpreter.finished:
            if extension is None:
                raise conflict(f"call {call.id} is in a scenario: it can be transferred to an extension, not to "
                               f"{to!r} (a queue or a scenario: the scenario decides where it goes)", "body.to")
            return controller.transfer(extension, now)
        raise conflict(f"call {call.id} is {call.state.value}: only a connected call, a caller waiting in a queue "
                       f"or a call in a scenario can be transferred", "call_id")

    def _from_queue(self, service: Any, waiting: WaitingCall, to: str, now: float) -> list[Any]:
        """A waiting caller goes to `to`: out of the queue, then as a call the PBX answered."""
        if waiting.session is None:
            raise conflict(f"call {waiting.call.id} has no media of the PBX's to carry on with", "call_id")
        actions = service.take_out(waiting, now)
        session, waiting.session = waiting.session, None
        self.context.app.media_clock.remove(session)  # connect_answered adds it again, once
        return actions + self.context.app.connect_answered(waiting.call, waiting.leg, session, to, now)

    def _hand_over(self, call: Call, to: str, now: float) -> list[Any]:
        """A connected call to a routed number: the PBX answers for the agent from now on."""
        caller = call.caller_leg
        others = [leg for leg in call.live_legs() if leg is not caller]
        # Our audio in the first G.711 codec of the caller's own offer (media_on_answer's choice).
        session = media_on_answer(caller, secrets.randbits(32), now)
        if session is None or not others:
            raise conflict(f"call {call.id} has no G.711 audio the PBX could carry on with", "call_id")
        manager = self.manager()
        manager.relay.unlink(caller.media)
        actions: list[Any] = []
        for leg in others:
            actions += leg.send(Hangup(Cause.TRANSFERRED), now)
        call.on_hold_by = None
        # Before the call runs what `to` routes to: the agent's wrap-up starts, then the queue sees them.
        actions.append(manager.publish(CallTransferred(at=now, call_id=call.id, kind="blind",
                                                       transferor=others[0].party.number,
                                                       transferee=caller.party.number, target=to)))
        return actions + self.context.app.connect_answered(call, caller, session, to, now)

    def originate(self, request: ApiRequest, body: OriginateRequest, now: float) -> Call:
        app, manager = self.context.app, self.manager()
        if app is None:
            raise not_found("placing calls is not available on this PBX")
        number, field = self._first_phone(request, body)
        problem = app.cannot_connect(body.to)
        if problem is not None:
            raise bad_input(f"cannot connect to {body.to!r}: {problem}", "body.to")
        controller = OriginateController(manager, body.to, lambda: secrets.randbits(32), app.connect_answered)
        call, actions = manager.originate_call(number, Party(body.caller_id or body.to, None), body.to, controller, now)
        if call is None:
            raise conflict(f"cannot ring {number!r}: no phone is registered there (or no RTP ports are left)", field)
        self.execute(actions)
        return call

    def _first_phone(self, request: ApiRequest, body: OriginateRequest) -> tuple[str, str]:
        """The number whose phone rings first, and the body field that named it."""
        principal, service = request.principal, self.context.queues
        if body.agent is not None and body.extension is not None:
            raise bad_input("name the agent or the extension whose phone rings first, not both", "body.extension")
        agent_name = body.agent
        if principal.role == "agent":
            if body.extension is not None or (agent_name is not None and agent_name != principal.agent):
                raise ApiFailure(403, "forbidden", f"an agent's token places calls from its own agent "
                                 f"({principal.agent}) only", "body.agent" if body.agent else "body.extension")
            agent_name = principal.agent
        if agent_name is not None:
            agent = service.acd.agents.get(agent_name) if service is not None else None
            if agent is None:
                raise not_found(f"no agent {agent_name!r}", "body.agent")
            return agent.extension, "body.agent"
        if body.extension is None:
            raise bad_input("name the agent or the extension whose phone rings first", "body.agent")
        if body.extension not in self.context.app.config.extensions:
            raise not_found(f"no extension {body.extension!r}", "body.extension")
        return body.extension, "body.extension"


def call_endpoints(context: AdminContext, execute: Callable[[list[Any]], None]) -> list[Endpoint]:
    calls = LiveCalls(context, execute)

    @endpoint("GET", "/api/calls", summary="Live calls (filter by state, queue, agent, caller)", roles=READERS | AGENTS,
              query=CallsQuery, response=list[CallView], agent_param="agent", tags=TAGS)
    async def list_calls(request: ApiRequest) -> list[CallView]:
        """Oldest first. An agent's token lists the calls its agent is on."""
        query: CallsQuery = request.query
        now, placements = context.clock(), calls.placements()
        rows = sorted(calls.manager().calls.values(), key=lambda call: (call.started_at, call.id))
        if request.principal.role == "agent":
            rows = [call for call in rows if calls.involves(call, request.principal.agent, placements)]
        views = [calls.view(call, placements, now) for call in rows]
        views = [view for view in views
                 if (query.state is None or view.state == query.state)
                 and (query.queue is None or view.queue == query.queue)
                 and (query.agent is None or view.agent == query.agent)
                 and (query.caller is None or view.caller == query.caller)]
        return views[query.offset:query.offset + query.limit]

    @endpoint("GET", "/api/calls/{call_id}", summary="One live call", roles=READERS | AGENTS, response=CallView,
              tags=TAGS)
    async def one_call(request: ApiRequest) -> CallView:
        call = calls.live(request.path["call_id"])
        calls.allowed(request, call)
        return calls.view(call, calls.placements(), context.clock())

    @endpoint("POST", "/api/calls/{call_id}/hangup", summary="Hang up a live call", roles=SUPERVISORS | AGENTS,
              response=CallAction, status=202, tags=TAGS)
    async def hang_up(request: ApiRequest) -> Answer:
        """Every phone on the call gets its BYE (or CANCEL while ringing) now; CallEnded follows with
        `hangup_by` "system". A caller waiting in a queue leaves it with the outcome "exited"."""
        call = calls.live(request.path["call_id"])
        request.audit(f"call {call.id}", caller=call.caller.number, callee=call.callee)
        calls.allowed(request, call)
        calls.execute(calls.hang_up(call, context.clock()))
        return Answer(CallAction(call.id, "hangup"), 202)

    @endpoint("POST", "/api/calls/{call_id}/transfer", summary="Send the caller to an extension, a queue or a scenario",
              roles=SUPERVISORS | AGENTS, body=TransferRequest, response=CallAction, status=202, tags=TAGS)
    async def transfer(request: ApiRequest) -> Answer:
        """A blind transfer of the caller. To an extension: it rings while the caller stays with the
        agent, whose phone is released when it answers (CallTransferred). To a number routed to a
        queue or a scenario: the agent's phone is released at once and the caller goes there."""
        call = calls.live(request.path["call_id"])
        to = request.body.to
        request.audit(f"call {call.id}", caller=call.caller.number, to=to)
        calls.allowed(request, call)
        calls.execute(calls.transfer(call, to, context.clock()))
        return Answer(CallAction(call.id, "transfer", to), 202)

    @endpoint("POST", "/api/calls", summary="Click to call: ring a phone, then connect it to a number",
              roles=SUPERVISORS | AGENTS, body=OriginateRequest, response=CallCreated, status=201, tags=TAGS)
    async def originate(request: ApiRequest) -> Answer:
        """The agent's (or the extension's) phone rings, showing `caller_id` (default: `to`). When it
        answers, the PBX calls `to` and connects the two (ringback meanwhile). An agent's token places
        calls from its own agent's phone only."""
        body: OriginateRequest = request.body
        request.audit(f"call to {body.to}", **{name: value for name, value in
                                              (("agent", body.agent), ("extension", body.extension)) if value})
        call = calls.originate(request, body, context.clock())
        request.audit(f"call {call.id}", to=body.to)
        return Answer(CallCreated(call.id), 201)

    @endpoint("GET", "/api/calls/{call_id}/recording", summary="Whether a live call is being recorded",
              roles=READERS | AGENTS, response=RecordingView, tags=TAGS)
    async def recording(request: ApiRequest) -> RecordingView:
        call = calls.live(request.path["call_id"])
        calls.allowed(request, call)
        return _recording_view(_recordings(context).status(call.id))

    @endpoint("POST", "/api/calls/{call_id}/recording", summary="Start, stop, pause or resume a call's recording",
              roles=SUPERVISORS, body=RecordingRequest, response=RecordingView, tags=TAGS)
    async def control_recording(request: ApiRequest) -> RecordingView:
        """409 when the recording's state does not allow it (resume while not paused, start twice,
        a call not answered yet)."""
        body: RecordingRequest = request.body
        call_id = request.path["call_id"]
        request.audit(f"call {call_id}", recording=body.action, **({"layout": body.layout} if body.layout else {}))
        recordings = _recordings(context)
        try:
            return _recording_view(recordings.control(call_id, body.action, body.layout))
        except NoSuchCall as error:
            raise not_found(str(error), "call_id") from None
        except (RecordingConflict, EndpointClosed, ValueError) as error:
            raise conflict(str(error), "body.action") from None

    return [list_calls, one_call, hang_up, transfer, originate, recording, control_recording]


def _recordings(context: AdminContext) -> Any:
    if context.recordings is None:
        raise not_found("recording is not available on this PBX")
    return context.recordings


def _recording_view(status: dict[str, Any]) -> RecordingView:
    return RecordingView(call_id=status["call_id"], state=status["state"], path=status.get("path"),
                         layout=status.get("layout"), seconds=status.get("seconds"),
                         paused_seconds=status.get("paused_seconds"), failed=status.get("failed"))
