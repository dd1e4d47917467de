"""The RTP-inactivity timeout: answered calls whose phones vanished without a BYE are ended.

A phone that loses power or its network sends no BYE; without this the call (and its two
relay ports, its agent, its CDR) would stay up until someone notices. Every answered leg's
`LegWatch` knows when its phone last sent RTP or RTCP (`LegMonitor.last_received_at`); a
leg silent for `seconds` ends its call with `Cause.MEDIA_TIMEOUT` (Asterisk's `rtptimeout`).

A leg on hold is exempt: RFC 3264 8.4 lets a held party send nothing (its SDP says sendonly,
recvonly or inactive, or c=0.0.0.0), and its silence counts from when the hold was last seen.

Pure: one timer on the call manager's scheduler, armed while there are calls, fired with
`now`; ending a call is the `end` callback's business (the composition root's hang-up).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pbx.scheduler import Scheduler, TimerHandle

from .call import Call
from .leg import Leg

EndCall = Callable[[Call, float], list[Any]]


class MediaTimeout:
    """Watches the answered legs of `calls`; `seconds` of silence ends a call (0 turns it off)."""

    def __init__(self, seconds: float, scheduler: Scheduler, calls: dict[str, Call], end: EndCall) -> None:
        self.seconds = seconds
        self.scheduler = scheduler
        self.calls = calls
        self.end = end
        self._timer: TimerHandle | None = None
        self._held_at: dict[str, float] = {}  # leg id -> when the leg was last seen on hold

    def watch(self, now: float) -> None:
        """A call was added: make sure a check is due (no leg can time out before now + seconds)."""
        if self.seconds > 0 and self._timer is None:
            self._timer = self.scheduler.call_at(now + self.seconds, self._check)

    def silent_since(self, leg: Leg, now: float) -> float | None:
        """Since when an answered leg's phone has sent nothing; None for a leg not watched."""
        if leg.answered_at is None or leg.is_ended or leg.watch is None:
            return None
        if leg.phone_on_hold:
            self._held_at[leg.id] = now
            return None
        heard = leg.watch.monitor.last_received_at
        return max(leg.answered_at, heard if heard is not None else leg.answered_at,
                   self._held_at.get(leg.id, leg.answered_at))

    def _check(self, now: float) -> list[Any]:
        self._timer = None
        actions: list[Any] = []
        next_due = now + self.seconds
        live: set[str] = set()
        for call in list(self.calls.values()):
            if call.answered_at is None:
                continue
            for leg in call.live_legs():
                live.add(leg.id)
                if call.on_hold_by is not None:
                    self._held_at[leg.id] = now
                    continue
                since = self.silent_since(leg, now)
                if since is None:
                    continue
                if now - since >= self.seconds:
                    actions += self.end(call, now)
                    break
                next_due = min(next_due, since + self.seconds)
        for leg_id in [leg_id for leg_id in self._held_at if leg_id not in live]:
            del self._held_at[leg_id]
        if self.calls:
            self._timer = self.scheduler.call_at(next_due, self._check)
        return actions
