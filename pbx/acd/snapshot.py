"""A frozen picture of the ACD for the admin API and plugins: waiting callers with position and wait,
agents with state. The types are the SDK's (sdk.types), so plugins read the same picture.

Built on demand from the live `Acd` (O(agents + callers)); encodes to JSON with msgspec as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdk.types import AcdSnapshot, AgentSnapshot, CallerSnapshot, QueueSnapshot

if TYPE_CHECKING:
    from .dispatcher import Acd


def _callback_state(entry) -> str | None:
    if not entry.is_callback:
        return None
    if entry.is_dialing:
        return "dialing"
    return "waiting" if entry.is_virtual else "on-line"


def take_snapshot(acd: Acd, now: float) -> AcdSnapshot:
    queues = []
    for queue in acd.queues.values():
        estimate = acd.wait_estimate(queue.name, now)
        callers = [
            CallerSnapshot(call_id=entry.call_id, caller_number=entry.caller_number, position=position,
                           wait_seconds=now - entry.arrived_at, priority=entry.priority,
                           offered_to=sorted(entry.offers), callback=_callback_state(entry),
                           estimated_wait=estimate.for_position(position))
            for position, entry in enumerate(queue.waiting, start=1)
        ]
        queues.append(QueueSnapshot(name=queue.name, strategy=queue.settings.strategy, callers=callers,
                                    handle_seconds=queue.handle_time.seconds,
                                    available_agents=len(acd.available[queue.name]),
                                    staffed_agents=estimate.staffing))
    agents = [
        AgentSnapshot(name=agent.name, extension=agent.extension, state=agent.state.value,
                      seconds_in_state=now - agent.state_since, pause_reason=agent.pause_reason,
                      call_id=agent.call_id, queue=agent.queue, queues=sorted(agent.memberships),
                      calls_taken=agent.calls_taken, talk_seconds=agent.talk_seconds,
                      pending="logout" if agent.pending_logout is not None
                      else "pause" if agent.pending_pause is not None else None)
        for agent in acd.agents.values()
    ]
    return AcdSnapshot(at=now, queues=queues, agents=agents)
