"""Live queues and agents over REST: who waits where, each agent's state, and changing it.

Reads are pictures of the pure ACD (`AcdService.acd`) taken when the request is answered.
Changes go through the ACD's own entry points, the ones the agents' feature codes use
(`login`, `logout`, `pause`, `unpause`), and their outputs through `AcdService.run`, so the
AgentStateChanged events, the state kept across restarts (pbx/store/state.py), the KPIs and
any call the change sets off (an offer to an agent who became available) follow as they do
for a feature code. A supervisor acting on an agent is a "force" in the audit log; the
agent's own token acts on its own agent only (the gate checks the path).

What this does not do: queue configuration (the config file is the source), reports (the KPI
plugin's endpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pbx.acd import AgentStateError
from pbx.acd.agents import Agent
from sdk.admin import AGENTS, READERS, SUPERVISORS, ApiRequest, Endpoint, conflict, endpoint, not_found

from .context import AdminContext
from .views import AgentsQuery, AgentView, LogoutRequest, PauseRequest, QueueAgent, QueueView, WaitingCaller

__all__ = ["agent_view", "queue_endpoints", "agent_endpoints"]

TAGS = ("live",)


def queue_view(context: AdminContext, name: str, now: float) -> QueueView:
    acd = context.queues.acd
    queue = acd.queues[name]
    estimate = acd.wait_estimate(name, now)
    live_calls = context.calls.calls if context.calls is not None else {}
    waiting = []
    for position, entry in enumerate(queue.waiting, start=1):
        call = live_calls.get(entry.call_id)
        waiting.append(WaitingCaller(
            call_id=entry.call_id, caller=entry.caller_number, caller_name=call.caller.name if call else None,
            position=position, wait_seconds=round(now - entry.arrived_at, 3), priority=entry.priority,
            ewt_seconds=_rounded(estimate.for_position(position)), skills=dict(entry.skills),
            ringing=sorted(entry.offers), callback=_callback_state(entry)))
    agents = [acd.agents[member] for member in queue.members]
    return QueueView(
        name=name, strategy=queue.settings.strategy, waiting=waiting,
        agents=[QueueAgent(agent=agent.name, state=agent.state.value, reason=agent.pause_reason,
                           seconds_in_state=round(now - agent.state_since, 3), call_id=agent.call_id,
                           penalty=agent.memberships[name].penalty) for agent in agents],
        staffed=estimate.staffing, available=len(acd.available[name]),
        longest_wait_seconds=max((caller.wait_seconds for caller in waiting), default=0.0),
        handle_seconds=round(estimate.handle_seconds, 3))


def agent_view(agent: Agent, now: float) -> AgentView:
    pending = "logout" if agent.pending_logout is not None else "pause" if agent.pending_pause is not None else None
    return AgentView(agent=agent.name, extension=agent.extension, state=agent.state.value, reason=agent.pause_reason,
                     since=agent.state_since, seconds_in_state=round(now - agent.state_since, 3),
                     queues=sorted(agent.memberships), call_id=agent.call_id, queue=agent.queue, pending=pending,
                     calls_taken=agent.calls_taken, in_use=bool(agent.direct_calls))


def _callback_state(entry: Any) -> str | None:
    if not entry.is_callback:
        return None
    if entry.is_dialing:
        return "dialing"
    return "waiting" if entry.is_virtual else "on-line"


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _service(context: AdminContext) -> Any:
    if context.queues is None:
        raise not_found("no queues are configured on this PBX")
    return context.queues


def _agent(context: AdminContext, name: str) -> Agent:
    agent = _service(context).acd.agents.get(name)
    if agent is None:
        raise not_found(f"no agent {name!r}", "agent")
    return agent


def queue_endpoints(context: AdminContext) -> list[Endpoint]:
    @endpoint("GET", "/api/queues", summary="Every queue now: waiting callers (position, wait, EWT) and agents",
              roles=READERS | AGENTS, response=list[QueueView], tags=TAGS)
    async def queues(request: ApiRequest) -> list[QueueView]:
        """Queues in the config's order. Callers are in service order (priority, then time in line);
        agents in the queue's member order, each with their state across all their queues."""
        service, now = _service(context), context.clock()
        return [queue_view(context, name, now) for name in service.acd.queues]

    @endpoint("GET", "/api/queues/{queue}", summary="One queue now", roles=READERS | AGENTS, response=QueueView,
              tags=TAGS)
    async def queue(request: ApiRequest) -> QueueView:
        name = request.path["queue"]
        if name not in _service(context).acd.queues:
            raise not_found(f"no queue {name!r}", "queue")
        return queue_view(context, name, context.clock())

    return [queues, queue]


def agent_endpoints(context: AdminContext, execute: Callable[[list[Any]], None]) -> list[Endpoint]:
    @endpoint("GET", "/api/agents", summary="Agents and their states (filter by queue, state)", roles=READERS | AGENTS,
              query=AgentsQuery, response=list[AgentView], tags=TAGS)
    async def agents(request: ApiRequest) -> list[AgentView]:
        """By name. An agent's token lists its own agent only."""
        query: AgentsQuery = request.query
        acd, now = _service(context).acd, context.clock()
        if query.queue is not None and query.queue not in acd.queues:
            raise not_found(f"no queue {query.queue!r}", "queue")
        rows = [acd.agents[name] for name in sorted(acd.agents)]
        if request.principal.role == "agent":
            rows = [agent for agent in rows if agent.name == request.principal.agent]
        rows = [agent for agent in rows
                if (query.queue is None or query.queue in agent.memberships)
                and (query.state is None or agent.state.value == query.state)]
        return [agent_view(agent, now) for agent in rows[query.offset:query.offset + query.limit]]

    @endpoint("GET", "/api/agents/{agent}", summary="One agent's state", roles=READERS | AGENTS, response=AgentView,
              agent_param="agent", tags=TAGS)
    async def one_agent(request: ApiRequest) -> AgentView:
        return agent_view(_agent(context, request.path["agent"]), context.clock())

    def change(action: str, summary: str, body: type | None, describe: str) -> Endpoint:
        async def act(request: ApiRequest) -> AgentView:
            agent = _agent(context, request.path["agent"])
            service, now, principal = context.queues, context.clock(), request.principal
            forced = principal.role != "agent"
            # The reason each AgentStateChanged carries (a pause's is its reason code, as reports
            # count paused time per code): how the change was made, and by whom when forced.
            how = f"forced by {principal.name}" if forced else "admin api"
            wanted = getattr(request.body, "reason", None)
            request.audit(f"agent {agent.name}", forced=forced, action=action, **({"reason": wanted} if wanted else {}))
            try:
                if action == "pause":
                    outputs = service.acd.pause(agent.name, wanted, now)
                elif action == "logout":
                    outputs = service.acd.logout(agent.name, now, reason=wanted or how)
                else:
                    outputs = getattr(service.acd, action)(agent.name, now, reason=how)
            except AgentStateError as error:
                raise conflict(str(error), "agent") from None
            execute(service.run(outputs, now))
            view = agent_view(agent, context.clock())
            request.audit(state=view.state, **({"pending": view.pending} if view.pending else {}))
            return view

        act.__doc__ = describe  # the endpoint's description in the document
        act.__name__ = action
        return endpoint("POST", f"/api/agents/{{agent}}/{action}", summary=summary, roles=SUPERVISORS | AGENTS,
                        body=body, response=AgentView, agent_param="agent", tags=TAGS)(act)

    return [
        agents, one_agent,
        change("login", "Log an agent in", None,
               "The agent becomes available in all their queues; logged in already: nothing changes."),
        change("logout", "Log an agent out", LogoutRequest,
               "Now, or when the wrap-up of the call they are on ends (`pending`: \"logout\"). A call ringing "
               "for them goes to the next agent."),
        change("pause", "Pause an agent with a reason", PauseRequest,
               "Now, or when the wrap-up of the call they are on ends (`pending`: \"pause\"); paused already: the "
               "reason changes. A call ringing for them goes to the next agent. 409 when logged out."),
        change("unpause", "Unpause an agent", None,
               "The agent becomes available (a pause asked for during a call is dropped). 409 when logged out."),
    ]
