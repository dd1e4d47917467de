"""What the CRM plugin remembers of each call it looked up, folded from the bus.

Sans-IO: `looked_up(...)` and `on_event(event)` in, a list of outputs out:

- `ScreenPop` (an sdk event, to publish) when an agent is connected to a looked-up caller, with
  what the lookup found (or `found: false` for an unknown caller);
- `CallResult` (to POST to the CRM) when such a call ends: the dispositions the scenario set,
  the agent and queue that took it, the talk time.

A call is remembered from its lookup until its CallEnded; calls that were never looked up (the
PBX's own, feature codes) are ignored. At most `limit` calls are kept: should CallEnded never
come, the oldest is forgotten. This module neither publishes nor sends anything.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec

from sdk import CallerInfo, CallInfo
from sdk.events import AgentConnected, CallDisposition, CallEnded, Event, ScreenPop

from .mapping import screen_fields

__all__ = ["CallResult", "CallTracker"]


class CallResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the CRM is told when a call ends (the writeback's JSON body)."""

    call_id: str
    caller: str
    callee: str
    found: bool  # the caller was known at lookup
    customer_id: str | None
    source: str | None  # the connector that knew them
    dispositions: list[str]  # in the order the scenario set them
    agent: str | None  # the agent that took the call from a queue, if one did
    queue: str | None
    answered: bool
    talk_seconds: float  # from the PBX's answer (the IVR included) to the end
    agent_seconds: float  # from the agent's connection to the end
    wait_seconds: float | None  # in the queue before the agent
    cause: str
    hangup_by: str
    started_at: float
    ended_at: float


@dataclass
class _Call:
    call: CallInfo
    caller: CallerInfo | None
    dispositions: list[str] = field(default_factory=list)
    connected: AgentConnected | None = None


class CallTracker:
    def __init__(self, *, screen_pop: bool = True, write_back: bool = False, only_identified: bool = False,
                 limit: int = 10_000) -> None:
        self.screen_pop = screen_pop
        self.write_back = write_back
        self.only_identified = only_identified
        self.limit = limit
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self.forgotten = 0  # calls dropped for the limit (their CallEnded never came)

    def __len__(self) -> int:
        return len(self._calls)

    def caller(self, call_id: str) -> CallerInfo | None:
        known = self._calls.get(call_id)
        return known.caller if known is not None else None

    def looked_up(self, call: CallInfo, caller: CallerInfo | None) -> None:
        """The lookup for `call` is under way (caller None) or found `caller`."""
        known = self._calls.get(call.call_id)
        if known is not None:
            known.caller = caller or known.caller
            return
        self._calls[call.call_id] = _Call(call, caller)
        while len(self._calls) > self.limit:
            self._calls.popitem(last=False)
            self.forgotten += 1

    def on_event(self, event: Event) -> list[ScreenPop | CallResult]:
        known = self._calls.get(getattr(event, "call_id", None) or "")
        if known is None:
            return []
        if isinstance(event, CallDisposition):
            known.dispositions.append(event.value)
        elif isinstance(event, AgentConnected):
            known.connected = event
            if self.screen_pop:
                return [self._screen_pop(known, event)]
        elif isinstance(event, CallEnded):
            del self._calls[event.call_id]
            if self.write_back and (known.caller is not None or not self.only_identified):
                return [self._result(known, event)]
        return []

    @staticmethod
    def _screen_pop(known: _Call, connected: AgentConnected) -> ScreenPop:
        caller = known.caller
        return ScreenPop(at=connected.at, call_id=connected.call_id, agent=connected.agent, queue=connected.queue,
                         caller=known.call.caller, customer_id=caller.customer_id if caller else None,
                         name=caller.name if caller else None, fields=screen_fields(caller))

    @staticmethod
    def _result(known: _Call, ended: CallEnded) -> CallResult:
        caller, connected = known.caller, known.connected
        return CallResult(
            call_id=ended.call_id, caller=known.call.caller, callee=known.call.callee, found=caller is not None,
            customer_id=caller.customer_id if caller else None, source=caller.source if caller else None,
            dispositions=list(known.dispositions), agent=connected.agent if connected else None,
            queue=connected.queue if connected else None, answered=ended.answered,
            talk_seconds=round(ended.talk_seconds, 3),
            agent_seconds=round(max(0.0, ended.at - connected.at), 3) if connected else 0.0,
            wait_seconds=round(connected.wait_seconds, 3) if connected else None, cause=ended.cause,
            hangup_by=ended.hangup_by, started_at=known.call.started_at, ended_at=ended.at,
        )  # fmt: skip
