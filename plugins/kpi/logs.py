"""The kpi plugin's two append-only logs, as rows: the agent state log and the queue log.

- `AgentStates` turns each AgentStateChanged into an AgentLogEntry, the interval [since, at)
  the agent spent in `old`. `since` is the agent's previous change; for the first change the
  fold sees for an agent (the PBX or the plugin just started) it is `at`: a zero-length
  interval, since what came before is unknown. That loses nothing when `old` is "logged-out"
  (a new PBX starts every agent logged out); otherwise the time before the fold started is
  not counted. It remembers one time per agent, so it grows with the agents configured, not
  with the calls.
- `queue_entry` gives a queue event its Asterisk queue_log word and its figures as JSON;
  `segment_end_entry` writes the end of an agent's part (COMPLETECALLER, COMPLETEAGENT or
  TRANSFER), which no single ACD event states.

Neither decides anything about journeys (journey.py does) nor writes anything.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sdk.events import (
    AgentConnected,
    AgentNoAnswer,
    AgentStateChanged,
    CallbackCompleted,
    CallbackScheduled,
    Event,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    QueueOverflowed,
    QueueTimedOut,
)

from .records import AgentLogEntry, QueueLogEntry

# Asterisk's queue_log words, for the ACD events that have one (AgentOffered has none).
QUEUE_WORDS: dict[type[Event], str] = {
    QueueJoined: "ENTERQUEUE",
    AgentNoAnswer: "RINGNOANSWER",
    AgentConnected: "CONNECT",
    QueueAbandoned: "ABANDON",
    QueueTimedOut: "EXITWITHTIMEOUT",
    QueueOverflowed: "OVERFLOW",
    QueueLeft: "EXIT",
    CallbackScheduled: "CALLBACK",
    CallbackCompleted: "CALLBACKDONE",
}


class AgentStates:
    """Each agent's last state change, to date the intervals of the agent log."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.changed_at: dict[str, float] = {}  # agent -> when it entered its current state

    def change(self, event: AgentStateChanged) -> AgentLogEntry:
        since = self.changed_at.get(event.agent, event.at)
        self.changed_at[event.agent] = event.at
        return AgentLogEntry(at=event.at, node=self.node, agent=event.agent, old=event.old, new=event.new,
                             reason=event.reason, since=since)


def queue_entry(node: str, journey_id: str, event: Any) -> QueueLogEntry:
    """The queue log row of one of the QUEUE_WORDS events."""
    return QueueLogEntry(at=event.at, node=node, journey_id=journey_id, call_id=event.call_id, queue=event.queue,
                         agent=getattr(event, "agent", None), event=QUEUE_WORDS[type(event)],
                         detail=_json(_figures(event)))


def segment_end_entry(node: str, journey_id: str, call_id: str, queue: str, agent: str, at: float, word: str,
                      figures: dict[str, Any]) -> QueueLogEntry:
    return QueueLogEntry(at=at, node=node, journey_id=journey_id, call_id=call_id, queue=queue, agent=agent,
                         event=word, detail=_json(figures))


def _figures(event: Event) -> dict[str, Any]:
    match event:
        case QueueJoined():
            return {"position": event.position, "priority": event.priority, "caller": event.caller_number,
                    "resumed": event.resumed}
        case AgentNoAnswer():
            return {"reason": event.reason, "consecutive": event.consecutive}
        case AgentConnected():
            return {"wait": event.wait_seconds, "ring": event.ring_seconds}
        case QueueAbandoned():
            return {"position": event.position, "wait": event.wait_seconds}
        case QueueTimedOut():
            return {"wait": event.wait_seconds}
        case QueueOverflowed():
            return {"wait": event.wait_seconds, "target": f"{event.target.kind}:{event.target.name}"}
        case QueueLeft():
            return {"wait": event.wait_seconds, "reason": event.reason}
        case CallbackScheduled():
            return {"number": event.number, "position": event.position}
        case CallbackCompleted():
            return {"outcome": event.outcome, "attempts": event.attempts, "wait": event.wait_seconds}
    raise TypeError(f"{type(event).__name__} has no queue log word")  # our own misuse


def _json(figures: dict[str, Any]) -> str:
    return msgspec.json.encode(figures).decode()
