"""The bridge controller: connect the caller to the callee, as a PBX does for two desk phones.

It reads signals from the legs and decides what the others do: route the
caller's Try, ring every contact (first answer wins, the rest are
cancelled), relay ringing and early media, answer the caller, carry
re-offers (hold/resume) end to end, hang up the other side, and carry out
blind and attended transfers. It knows nothing of SIP: everything it needs
from the outside comes through `CallServices`.
"""

from __future__ import annotations

from typing import Any, Protocol

from sdk.events import CallAnswered, CallHeld, CallResumed, CallRinging, CallTransferred, Event

from . import anchor
from .call import Call, CallState
from .leg import Leg
from .router import Route
from .signals import (
    Answer,
    Cause,
    Hangup,
    Info,
    Party,
    Ringing,
    Signal,
    Transfer,
    Try,
    Update,
    UpdateAnswer,
    cause_of_status,
)

# RFC 3261 16.7 step 6 in spirit: the final answer a caller hears when every contact refused.
_PREFERENCE = (486, 600, 603, 488, 404, 480, 408, 487)


class CallServices(Protocol):
    def route(self, number: str, now: float) -> Route: ...
    def originate(self, call: Call, route: Route, caller: Party, sdp: Any, now: float,
                  only: list[str] | None = None) -> list[Any]: ...
    def bridge(self, a: Leg, b: Leg) -> None: ...
    def start_ring_timer(self, call: Call, now: float) -> None: ...
    def stop_ring_timer(self, call: Call) -> None: ...
    def end_call(self, call: Call, cause: Cause, status: int, hangup_by: str, now: float) -> list[Any]: ...
    def publish(self, event: Event) -> Any: ...
    def find_leg(self, call_id: str, tags: tuple[str, str]) -> Leg | None: ...
    def adopt(self, call: Call, leg: Leg) -> None: ...


class BridgeController:
    # One per call (issue 16: a held call's every byte counts): slots, and a dict for a set,
    # since an empty dict is 64 bytes and an empty set 216.
    __slots__ = ("services", "target", "refusals", "transfers", "unannounced", "__weakref__")

    def __init__(self, services: CallServices, *, target: str | None = None) -> None:
        self.services = services
        self.target = target  # ring this extension instead of the number dialled (an inbound route)
        self.refusals: dict[str, list[int]] = {}  # call id -> statuses of the contacts that refused
        self.transfers: dict[str, tuple[Leg, Leg, str]] = {}  # call id -> (transferor, transferee, kind)
        self.unannounced: dict[str, None] = {}  # transfers no phone asked for (no REFER, so no NOTIFY)

    # Dispatch ------------------------------------------------------------------------------------

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if isinstance(signal, Try):
            return self._route(call, leg, signal, now)
        if isinstance(signal, Ringing):
            return self._ringing(call, leg, signal, now)
        if isinstance(signal, Answer):
            return self._answered(call, leg, signal, now)
        if isinstance(signal, Hangup):
            return self._hung_up(call, leg, signal, now)
        if isinstance(signal, Update):
            return self._reoffer(call, leg, signal, now)
        if isinstance(signal, UpdateAnswer):
            return self._reanswer(call, leg, signal, now)
        if isinstance(signal, Info):
            other = self._other(call, leg)
            return other.send(signal, now) if other else []
        if isinstance(signal, Transfer):
            return self._transfer(call, leg, signal, now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        """Nobody answered in time: cancel the contacts, tell the caller 480 (no answer)."""
        if call.state not in (CallState.ROUTING, CallState.RINGING):
            return []
        actions: list[Any] = []
        for leg in call.live_legs()[1:]:
            actions += leg.send(Hangup(Cause.NO_ANSWER), now)
        actions += call.caller_leg.send(Hangup(Cause.NO_ANSWER, 480, "no answer"), now)
        return actions + self.services.end_call(call, Cause.NO_ANSWER, 480, "system", now)

    # Setting up ------------------------------------------------------------------------------------

    def _route(self, call: Call, caller: Leg, signal: Try, now: float) -> list[Any]:
        route = self.services.route(self.target or signal.callee, now)
        if not route.found:
            cause = cause_of_status(route.status)
            return caller.send(Hangup(cause, route.status, route.reason), now) + self.services.end_call(
                call, cause, route.status, "system", now
            )
        self.services.start_ring_timer(call, now)
        return self.services.originate(call, route, signal.caller, signal.sdp, now)

    def _ringing(self, call: Call, leg: Leg, signal: Ringing, now: float) -> list[Any]:
        if call.id in self.transfers:
            return []  # the transfer target rings; the transferee keeps its (held) call meanwhile
        actions: list[Any] = []
        if call.state is CallState.ROUTING:
            call.state = CallState.RINGING
            call.ringing_at = now
            actions.append(self.services.publish(CallRinging(
                at=now, call_id=call.id, callee=leg.party.number, early_media=signal.sdp is not None
            )))  # fmt: skip
        if signal.sdp is not None and leg.media is not None and call.caller_leg.media is not None:
            self.services.bridge(call.caller_leg, leg)
        return actions + call.caller_leg.send(signal, now)

    def _answered(self, call: Call, leg: Leg, signal: Answer, now: float) -> list[Any]:
        if leg is call.caller_leg:
            return []
        transfer = self.transfers.get(call.id)
        if transfer is not None and leg not in transfer[:2]:
            return self.on_transfer_answered(call, leg, now)
        if call.state is CallState.ANSWERED or call.state is CallState.ENDED:
            return leg.send(Hangup(Cause.NORMAL), now)  # a second contact answered too late
        self.services.stop_ring_timer(call)
        actions: list[Any] = []
        for other in call.live_legs()[1:]:
            if other is not leg:
                actions += other.send(Hangup(Cause.CANCELLED, reason="answered elsewhere"), now)
        call.state = CallState.ANSWERED
        call.answered_at = now
        if call.ringing_at is None:
            call.ringing_at = now
        self.services.bridge(call.caller_leg, leg)
        actions += call.caller_leg.send(signal, now)
        codec = anchor.codec_name(signal.sdp) if signal.sdp is not None else ""
        actions.append(self.services.publish(CallAnswered(
            at=now, call_id=call.id, callee=leg.party.number, codec=codec, ring_seconds=round(now - call.ringing_at, 3)
        )))  # fmt: skip
        return actions

    # Tearing down ----------------------------------------------------------------------------------

    def _hung_up(self, call: Call, leg: Leg, signal: Hangup, now: float) -> list[Any]:
        transfer = self.transfers.get(call.id)
        if transfer is not None and leg is transfer[0]:
            return []  # the transferor leaving is part of the transfer (RFC 5589 6)
        if transfer is not None and leg is not transfer[1]:
            return self._transfer_failed(call, signal, now)
        if leg is call.caller_leg:
            actions: list[Any] = []
            for other in call.live_legs():
                actions += other.send(Hangup(signal.cause if call.state is not CallState.ANSWERED else Cause.NORMAL), now)
            cause = Cause.NORMAL if call.state is CallState.ANSWERED else signal.cause
            return actions + self.services.end_call(call, cause, signal.status or 0, "caller", now)
        if call.state is CallState.ANSWERED:
            actions = []
            for other in call.live_legs():
                actions += other.send(Hangup(Cause.NORMAL), now)
            return actions + self.services.end_call(call, Cause.NORMAL, 200, "callee", now)
        # A contact refused or failed while others may still ring.
        self.refusals.setdefault(call.id, []).append(signal.status or 480)
        if len(call.live_legs()) > 1:
            return []
        status = self._best_refusal(self.refusals.pop(call.id, [480]))
        cause = cause_of_status(status)
        self.services.stop_ring_timer(call)
        actions = call.caller_leg.send(Hangup(cause, status, signal.reason), now)
        return actions + self.services.end_call(call, cause, status, "callee", now)

    @staticmethod
    def _best_refusal(statuses: list[int]) -> int:
        for preferred in _PREFERENCE:
            if preferred in statuses:
                return preferred
        return min(statuses)

    # Mid-call ---------------------------------------------------------------------------------------

    def _reoffer(self, call: Call, leg: Leg, signal: Update, now: float) -> list[Any]:
        other = self._other(call, leg)
        if other is None or call.state is not CallState.ANSWERED:
            return leg.send(UpdateAnswer(None, 491), now)
        actions: list[Any] = []
        held = anchor.is_on_hold(signal.sdp)
        if held and call.on_hold_by is None:
            call.on_hold_by = leg.party.number
            actions.append(self.services.publish(CallHeld(at=now, call_id=call.id, by=leg.party.number)))
        elif not held and call.on_hold_by == leg.party.number:
            call.on_hold_by = None
            actions.append(self.services.publish(CallResumed(at=now, call_id=call.id, by=leg.party.number)))
        return actions + other.send(signal, now)

    def _reanswer(self, call: Call, leg: Leg, signal: UpdateAnswer, now: float) -> list[Any]:
        other = self._other(call, leg)
        return other.send(signal, now) if other is not None else []

    def _other(self, call: Call, leg: Leg) -> Leg | None:
        for candidate in call.live_legs():
            if candidate is not leg and (call.state is not CallState.ANSWERED or candidate.is_answered):
                return candidate
        return None

    # Transfers (RFC 3515 blind, RFC 3891 attended) -------------------------------------------------------

    def _transfer(self, call: Call, transferor: Leg, signal: Transfer, now: float) -> list[Any]:
        transferee = self._other(call, transferor)
        if transferee is None or call.state is not CallState.ANSWERED:
            return transferor.notify_transfer(603, "Decline", now)
        if signal.replaces is not None:
            return self._attended(call, transferor, transferee, signal, now)
        route = self.services.route(signal.target, now)
        if not route.found:
            return transferor.notify_transfer(route.status, route.reason or "Not Found", now)
        self.transfers[call.id] = (transferor, transferee, "blind")
        codec = anchor.audio_formats(transferee.phone_sdp) if transferee.phone_sdp else None
        # The target must take the codec already flowing: we relay, we do not transcode.
        return self.services.originate(call, route, transferee.party, transferee.phone_sdp, now, only=codec)

    def transfer(self, call: Call, target: str, now: float) -> list[Any]:
        """A blind transfer asked from outside the phones (a plugin, the admin API): the caller goes
        to `target`; the callee's leg is released once the target answers, and stays if it does
        not. Raises ValueError saying why it cannot be done."""
        callee = self._other(call, call.caller_leg)
        if callee is None or call.state is not CallState.ANSWERED:
            raise ValueError(f"call {call.id} is not connected between two phones")
        if call.id in self.transfers:
            raise ValueError(f"call {call.id} is already being transferred")
        route = self.services.route(target, now)
        if not route.found:
            raise ValueError(f"cannot transfer to {target!r}: {route.reason or route.status}")
        caller = call.caller_leg
        self.transfers[call.id] = (callee, caller, "blind")
        self.unannounced[call.id] = None
        codec = anchor.audio_formats(caller.phone_sdp) if caller.phone_sdp else None
        return self.services.originate(call, route, caller.party, caller.phone_sdp, now, only=codec)

    def _notify(self, call: Call, transferor: Leg, status: int, reason: str, now: float) -> list[Any]:
        """RFC 3515 2.4.5: the transferor hears how its REFER went (not when no phone asked)."""
        return [] if call.id in self.unannounced else transferor.notify_transfer(status, reason, now)

    def on_transfer_answered(self, call: Call, target: Leg, now: float) -> list[Any]:
        transferor, transferee, kind = self.transfers.pop(call.id)
        self.services.bridge(transferee, target)
        actions = self._notify(call, transferor, 200, "OK", now)
        self.unannounced.pop(call.id, None)
        actions += transferor.send(Hangup(Cause.TRANSFERRED), now)
        actions.append(self.services.publish(CallTransferred(
            at=now, call_id=call.id, kind=kind, transferor=transferor.party.number,
            transferee=transferee.party.number, target=target.party.number,
        )))  # fmt: skip
        if call.on_hold_by is not None and target.phone_sdp is not None:
            # The transferee was put on hold before the transfer: take it off (re-offer sendrecv).
            call.on_hold_by = None
            actions += transferee.send(Update(anchor.with_direction(target.phone_sdp, "sendrecv")), now)
        return actions

    def _transfer_failed(self, call: Call, signal: Hangup, now: float) -> list[Any]:
        transferor, transferee, _ = self.transfers.pop(call.id)
        status = signal.status or 480
        actions = self._notify(call, transferor, status, signal.reason or "Failed", now)
        self.unannounced.pop(call.id, None)
        if transferor.is_ended:
            actions += transferee.send(Hangup(Cause.FAILURE), now)
            actions += self.services.end_call(call, Cause.FAILURE, status, "system", now)
        return actions

    def _attended(self, call: Call, transferor: Leg, transferee: Leg, signal: Transfer, now: float) -> list[Any]:
        call_id, to_tag, from_tag = signal.replaces  # type: ignore[misc]
        replaced = self.services.find_leg(call_id, (to_tag, from_tag))
        if replaced is None or replaced.call is None:
            return transferor.notify_transfer(481, "Call Does Not Exist", now)
        other_call = replaced.call
        target = next((leg for leg in other_call.live_legs() if leg is not replaced), None)
        if target is None:
            return transferor.notify_transfer(481, "Call Does Not Exist", now)
        self.services.adopt(call, target)
        self.services.bridge(transferee, target)
        actions = transferor.notify_transfer(200, "OK", now)
        actions += transferor.send(Hangup(Cause.TRANSFERRED), now)
        actions += replaced.send(Hangup(Cause.TRANSFERRED), now)
        actions += self.services.end_call(other_call, Cause.TRANSFERRED, 200, "system", now)
        actions.append(self.services.publish(CallTransferred(
            at=now, call_id=call.id, kind="attended", transferor=transferor.party.number,
            transferee=transferee.party.number, target=target.party.number,
        )))  # fmt: skip
        call.on_hold_by = None
        for leg, far in ((transferee, target), (target, transferee)):
            if far.phone_sdp is not None:
                actions += leg.send(Update(anchor.with_direction(far.phone_sdp, "sendrecv")), now)
        return actions
