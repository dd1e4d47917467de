"""Asks the plugins who is calling before a call is routed (a CRM's caller lookup).

The caller's INVITE already has its 100 Trying; while the plugins answer (each bounded by its
timeout, the whole by `deadline`) the call waits here, then the controller the inbound routes
chose takes over with the same Try signal, as if it had come just now. The lookup's answer
stays on the call: `call.customer` (the IVR's `customer.*` variables) and `call.routing`
(priority and preferred agent for the queues). A caller who hangs up meanwhile just ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sdk import CallInfo
from sdk.events import CallerIdentified

from .call import Call, CallState
from .leg import Leg
from .signals import Cause, Hangup, Signal, Try

log = logging.getLogger("pbx.calls.lookup")


class LookupFirst:
    def __init__(self, services: Any, lookup: Callable[[CallInfo], Awaitable[tuple[Any, Any]]],
                 route: Callable[[], Any], *, execute: Callable[[list[Any]], None], clock: Callable[[], float],
                 deadline: float) -> None:
        self.services = services
        self.lookup = lookup
        self.route = route  # the controller the inbound routes chose (built once the lookup is done)
        self.execute = execute
        self.clock = clock
        self.deadline = deadline
        self.task: asyncio.Task | None = None

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if isinstance(signal, Try) and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._look_up(call, leg, signal))
            return []
        if isinstance(signal, Hangup):  # cancelled while we were asking
            if self.task is not None:
                self.task.cancel()
            return self.services.end_call(call, signal.cause, signal.status or 487, "caller", now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []

    async def _look_up(self, call: Call, leg: Leg, signal: Try) -> None:
        info = CallInfo(call_id=call.id, caller=call.caller.number, callee=call.callee, caller_name=call.caller.name,
                        started_at=call.started_at, headers=dict(leg.headers()))
        caller = routing = None
        try:
            async with asyncio.timeout(self.deadline):
                caller, routing = await self.lookup(info)
        except TimeoutError:
            log.warning("event=caller_lookup_timed_out call_id=%s seconds=%s", call.id, self.deadline)
        except Exception:  # the host reports plugin failures itself; this is our own bug
            log.exception("event=caller_lookup_failed call_id=%s", call.id)
        if call.state is CallState.ENDED or call.controller is not self:
            return
        now = self.clock()
        call.customer, call.routing = caller, routing
        actions: list[Any] = []
        if caller is not None:
            actions.append(self.services.publish(CallerIdentified(
                at=now, call_id=call.id, caller=call.caller.number, source=caller.source,
                customer_id=caller.customer_id, name=caller.name, tier=caller.tier, vip=caller.vip,
                priority=routing.priority if routing is not None else caller.priority,
                preferred_agent=routing.preferred_agent if routing is not None else caller.preferred_agent,
            )))  # fmt: skip
        controller = self.route()
        call.controller = controller
        try:
            actions += controller.on_signal(call, leg, signal, now)
        except Exception:
            log.exception("event=route_failed call_id=%s", call.id)
            actions += leg.send(Hangup(Cause.FAILURE), now) + self.services.end_call(call, Cause.FAILURE, 500,
                                                                                    "system", now)
        self.execute(actions)
