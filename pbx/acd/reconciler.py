"""The reconciler: compare each agent's state with the calls the call layer really has, repair, report.

The wiring calls `acd.reconcile(active_agent_calls, now)` every few seconds with the
set of (agent, call_id) pairs the call layer sees: agent legs ringing or connected
for a queue caller. For each agent whose state is older than `acd.reconcile_grace`
(younger states may be commands and reports still in flight):

- offered, but no such call: the offer is withdrawn (CancelOffer, the caller goes on
  to the next agent); problem "offered-without-call".
- on a call, but no such call: the call is ended as if reported (wrap-up, counters);
  problem "on-call-without-call".
- a real call the ACD does not know, and the agent is available, paused, in wrap-up
  or offered another call: the agent goes on that call (a caller still waiting under
  that call id is taken as answered); problem "unknown-call". A logged-out agent
  with a real call is only reported: the table does not let a logged-out agent be on
  a call, and logging them in is a person's decision.

Each mismatch yields an AgentStateRepaired event, followed by the repairs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .agents import AgentEvent, AgentState
from .outputs import AgentStateRepaired, Outcome, Output

if TYPE_CHECKING:
    from .dispatcher import Acd

S, E = AgentState, AgentEvent


def reconcile(acd: Acd, active_agent_calls: set[tuple[str, str]], now: float) -> list[Output]:
    real: dict[str, set[str]] = {}
    for agent_name, call_id in active_agent_calls:
        real.setdefault(agent_name, set()).add(call_id)
    outputs: list[Output] = []
    for agent in list(acd.agents.values()):
        if now - agent.state_since < acd.reconcile_grace:
            continue
        calls = real.get(agent.name, set())
        if agent.state in (S.OFFERED, S.ON_CALL) and agent.call_id not in calls:
            call_id = agent.call_id or ""
            if agent.state is S.OFFERED:
                outputs.append(AgentStateRepaired(at=now, agent=agent.name, call_id=call_id,
                                                  problem="offered-without-call"))
                outputs += acd._withdraw(agent, acd.entries[call_id], "reconciled", now)
            else:
                outputs.append(AgentStateRepaired(at=now, agent=agent.name, call_id=call_id,
                                                  problem="on-call-without-call"))
                outputs += acd.call_ended(agent.name, call_id, now, reason="reconciled: no such call")
        unknown = sorted(calls - {agent.call_id})
        if not unknown or agent.state is S.ON_CALL:
            continue
        call_id = unknown[0]
        outputs.append(AgentStateRepaired(at=now, agent=agent.name, call_id=call_id, problem="unknown-call"))
        if agent.state is S.LOGGED_OUT:
            continue
        if agent.state is S.OFFERED:
            outputs += acd._withdraw(agent, acd.entries[agent.call_id or ""], "reconciled", now)
        acd.deadlines.cancel(("wrap-up", agent.name))
        outputs.append(acd._change(agent, E.CALL_FOUND, now, "reconciled: call found"))
        entry = acd.entries.get(call_id)
        agent.call_id, agent.answered_at = call_id, now
        agent.queue = entry.queue if entry is not None else None
        if entry is not None:
            outputs += acd._withdraw_all(entry, "answered-elsewhere", now)
            outputs += acd._remove(entry, Outcome.CALLBACK_ANSWERED if entry.is_callback else Outcome.ANSWERED)
    return outputs + acd._dispatch(now)
