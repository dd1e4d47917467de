"""Calls out through the trunks: an extension's call to an outside number, and click to call.

`OutboundController` is the bridge controller (pbx/calls/bridge.py) with another way of
routing: the caller must be allowed to use the outbound route (else 403 with the reason), and
the route's trunks are tried one after the other - a trunk with no free channel is skipped, a
trunk that answers 5xx or not at all (408: Timer B, RFC 3261 17.1.1.2) hands over to the next.
Other refusals (busy, not found) are the called party's answer and reach the caller. Once a
trunk rings, the call is an ordinary bridged call: media anchored, holds and transfers relayed.

`DialOut` lets a call the PBX answered itself (click to call) dial one outside number through
the IVR's `dial`: only that number reaches a trunk.
"""

from __future__ import annotations

import logging
from typing import Any

from pbx.calls.bridge import BridgeController
from pbx.calls.call import Call, CallState
from pbx.calls.leg import Leg
from pbx.calls.router import Route
from pbx.calls.signals import Hangup, Party, Try, cause_of_status
from pbx.sip.sdp import SessionDescription

from .outbound import Placement

log = logging.getLogger("pbx.trunks")

# The answers after which the next trunk of the route is tried (RFC 3261 21.5: the server
# failed, not the called number).
FAILOVER_STATUSES = frozenset({408, 500, 502, 503, 504})


class OutboundController(BridgeController):
    def __init__(self, services: Any, trunks: Any) -> None:
        super().__init__(services)
        self.trunks = trunks  # a pbx.trunks.TrunkService
        self.remaining: dict[str, tuple[list[Placement], Party, SessionDescription | None]] = {}

    def _route(self, call: Call, caller: Leg, signal: Try, now: float) -> list[Any]:
        decision = self.trunks.decide(signal.caller.number, signal.callee)
        if not isinstance(decision, list):
            return self._refuse(call, decision.status, decision.reason, now)
        self.remaining[call.id] = (list(decision), signal.caller, signal.sdp)
        self.services.start_ring_timer(call, now)
        actions = self._next_trunk(call, now)
        return actions if actions is not None else self._refuse(call, 503, "every trunk of the route is busy", now)

    def _next_trunk(self, call: Call, now: float) -> list[Any] | None:
        """A leg to the next trunk of the route with a free channel; None when none is left."""
        placements, caller, sdp = self.remaining[call.id]
        while placements:
            placement = placements.pop(0)
            if self.trunks.channels.is_full(placement.trunk):
                log.info("event=trunk_skipped call_id=%s trunk=%s reason='no free channel'", call.id, placement.trunk)
                continue
            log.info("event=trunk_dialled call_id=%s trunk=%s route=%s number=%s", call.id, placement.trunk,
                     placement.route, placement.number)
            return self.services.originate(call, Route(placement.number, trunk=placement), caller, sdp, now)
        del self.remaining[call.id]
        return None

    def _hung_up(self, call: Call, leg: Leg, signal: Hangup, now: float) -> list[Any]:
        status = signal.status or 408
        if (call.id in self.remaining and leg is not call.caller_leg and call.state is not CallState.ANSWERED
                and status in FAILOVER_STATUSES and len(call.live_legs()) == 1):
            log.info("event=trunk_failed call_id=%s trunk_number=%s status=%s", call.id, leg.party.number, status)
            actions = self._next_trunk(call, now)
            if actions is not None:
                return actions
        if leg is call.caller_leg or call.state is CallState.ANSWERED:
            self.remaining.pop(call.id, None)
        return super()._hung_up(call, leg, signal, now)

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        self.remaining.pop(call.id, None)
        return super().on_ring_timeout(call, now)

    def _refuse(self, call: Call, status: int, reason: str, now: float) -> list[Any]:
        self.remaining.pop(call.id, None)
        cause = cause_of_status(status)
        actions = call.caller_leg.send(Hangup(cause, status, reason), now)
        return actions + self.services.end_call(call, cause, status, "system", now)


class DialOut:
    """The call services, except that `number` routes to `placement` (click to call's `dial`)."""

    def __init__(self, services: Any, number: str, placement: Placement) -> None:
        self._services = services
        self._number = number
        self._placement = placement

    def route(self, number: str, now: float) -> Route:
        if number == self._number:
            return Route(self._placement.number, trunk=self._placement)
        return self._services.route(number, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._services, name)
