"""The ACD on live calls: carries out the pure core's commands with legs and media, and feeds it back.

`AcdService` owns the `Acd` core (dispatcher.py) and is the IVR's `QueueService`. A caller who
joins a queue gets a `WaitingCall` as the call's controller: music on hold and announcements on
the PBX's own media session, and the agents' offer legs, rung through the call services like
any callee. What happens is reported to the core (offer answered or failed, caller left, call
ended), whose outputs come back here: offers, cancellations, the connection (then a
`BridgeController` takes the call), overflows, and one `RemoveCaller` per caller. A caller who
leaves without an agent (timed out, queue emptied) goes back to the scenario that queued them,
whose on-failure branch runs; an answered or abandoned call tells it too (for its analytics).
Static agents are logged in while their phone is registered.
The reconciler runs every few seconds against the calls that really exist.

A caller who presses the queue's callback key keeps their place and hangs up; when their turn
comes the PBX calls them back (`CallbackController`) and they wait again at the head.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pbx.calls.bridge import BridgeController
from pbx.calls.call import Call, CallState
from pbx.calls.leg import Leg
from pbx.calls.own_media import media_on_answer
from pbx.calls.signals import Cause, Hangup, Party
from pbx.ivr.runtime import QueueRefused
from pbx.media.player import Player
from sdk.events import (
    CallEnded,
    CallStarted,
    CallTransferred,
    Event,
    RegistrationAdded,
    RegistrationExpired,
    RegistrationRemoved,
)

from .controllers import CallbackController, WaitingCall
from .dispatcher import Acd
from .outputs import (
    AnnounceToCaller,
    CancelOffer,
    ConnectAgent,
    OfferCall,
    Outcome,
    Overflow,
    PlaceCallback,
    Refused,
    RemoveCaller,
)

log = logging.getLogger("pbx.acd")

RECONCILE_EVERY = 5.0


class AcdService:
    def __init__(self, acd: Acd, services: Any, *, media_clock: Any, prompts: Any, hold_music: bytes | None,
                 emit: Callable[[Event], None], execute: Callable[[list[Any]], None], clock: Callable[[], float],
                 recordings: Any = None, start_scenario: Callable[[Call, Leg, Any, str, float], list[Any]] | None = None,
                 exit_keys: dict[str, str] | None = None, exit_scenarios: dict[str, str] | None = None,
                 callback_keys: dict[str, str] | None = None, new_ssrc: Callable[[], int] = lambda: 0) -> None:
        self.acd = acd
        self.services = services
        self.media_clock = media_clock
        self.prompts = prompts
        self.hold_music = hold_music
        self.emit = emit
        self.execute = execute
        self.clock = clock
        self.recordings = recordings
        self.start_scenario = start_scenario  # (call, leg, media session, scenario name, now) -> actions
        self.exit_keys = exit_keys or {}  # queue -> the key that takes a caller out
        self.exit_scenarios = exit_scenarios or {}  # queue -> where a caller who came straight goes
        self.callback_keys = callback_keys or {}  # queue -> the key that asks to be called back
        self.new_ssrc = new_ssrc
        self.waiting: dict[str, WaitingCall] = {}
        self.connected: dict[str, tuple[str, str]] = {}  # call id -> (agent, ACD key) while they talk
        self._timer: Any = None
        self._timer_at: float | None = None
        self._reconciling: Any = None

    # The IVR's QueueService -------------------------------------------------------------------------

    def enqueue(self, call: Call, leg: Leg, queue: str, *, priority: int, skills: tuple[str, ...],
                timeout: float | None, now: float, media: Any = None,
                on_left: Callable[[str, Any, float], list[Any]] | None = None) -> list[Any]:
        # What plugins said of the caller before routing (a CRM's VIP, the account owner) adds to
        # the priority the scenario asked for.
        routing = call.routing
        if routing is not None:
            priority += routing.priority
        outputs = self.acd.join(call.id, call.caller.number, queue, now, priority=priority,
                                skills=dict.fromkeys(skills, 1),
                                preferred_agent=routing.preferred_agent if routing is not None else None)
        if isinstance(outputs, Refused):
            raise QueueRefused(outputs.reason)
        waiting = WaitingCall(self, call, leg, media, on_left)
        self.waiting[call.id] = waiting
        call.controller = waiting
        self._hold(waiting)
        if leg.watch is not None:
            waiting.stop_listening = leg.watch.on_digit(lambda detected: self._key(waiting, detected.digit))
        if timeout is not None:
            # The scenario's own limit (`queue support timeout 10m`), beside the queue's max_wait.
            def give_up(fire_now: float) -> list[Any]:
                if self.waiting.get(waiting.key) is not waiting:
                    return []
                return self.run(self.acd.caller_left(waiting.key, fire_now, outcome=Outcome.TIMED_OUT), fire_now)

            waiting.timeout = self.services.scheduler.call_at(now + timeout, give_up)
        return self.run(outputs, now)

    def _key(self, waiting: WaitingCall, digit: str) -> None:
        """A key from a waiting caller: the queue's exit key takes them out; its callback key
        keeps their place and lets them hang up (the PBX calls them back when it is their turn)."""
        entry = self.acd.entries.get(waiting.key)
        if entry is None:
            return
        now = self.clock()
        if self.exit_keys.get(entry.queue) == digit:
            self.execute(self.run(self.acd.caller_left(waiting.key, now, outcome=Outcome.EXITED), now))
        elif self.callback_keys.get(entry.queue) == digit and not entry.is_callback:
            self.execute(self._request_callback(waiting, now))

    def _request_callback(self, waiting: WaitingCall, now: float) -> list[Any]:
        outputs = self.acd.request_callback(waiting.key, waiting.call.caller.number, now)
        if isinstance(outputs, Refused):
            log.info("event=callback_refused call_id=%s reason=%s", waiting.call.id, outputs.reason)
            return []
        actions = self.run(outputs, now)
        # The caller's place is kept by the ACD; this call ends.
        self._release(waiting, now)
        self._stop_media(waiting, now)
        if waiting.on_left is not None:
            actions += waiting.on_left("abandoned", None, now)
        actions += waiting.leg.send(Hangup(Cause.NORMAL), now)
        return actions + self.services.end_call(waiting.call, Cause.NORMAL, 200, "system", now)

    # Reports from the calls --------------------------------------------------------------------------

    def caller_left(self, waiting: WaitingCall, now: float) -> list[Any]:
        actions = self.run(self.acd.caller_left(waiting.key, now), now)
        self._release(waiting, now)
        self._stop_media(waiting, now)
        return actions + self.services.end_call(waiting.call, Cause.NORMAL, 200, "caller", now)

    def offer_answered(self, waiting: WaitingCall, agent: str, leg: Leg, now: float) -> list[Any]:
        return self.run(self.acd.offer_answered(agent, waiting.key, now), now)

    def on_call_started(self, event: CallStarted) -> None:
        """A call the agent's phone makes or receives outside the ACD (the queue's own offers ring
        the agent on the caller's call, never as a call of their own): the agent is in use."""
        for agent in self.acd.agents.values():
            if agent.extension in (event.caller, event.callee):
                self.execute(self.run(self.acd.phone_in_use(agent.name, event.call_id, True, event.at), event.at))

    def on_call_ended(self, event: CallEnded) -> None:
        talked = self.connected.pop(event.call_id, None)
        if talked is not None:
            agent, key = talked
            self.execute(self.run(self.acd.call_ended(agent, key, event.at), event.at))
        for agent in self.acd.agents.values():
            if event.call_id in agent.direct_calls:
                self.execute(self.run(self.acd.phone_in_use(agent.name, event.call_id, False, event.at), event.at))

    def on_call_transferred(self, event: CallTransferred) -> None:
        """An agent handed their queue call on (a transfer from their phone or from the admin API):
        their part is over, so their wrap-up starts now, not when the caller and the target hang up."""
        talked = self.connected.get(event.call_id)
        if talked is None or self.acd.agents[talked[0]].extension != event.transferor:
            return
        agent, key = self.connected.pop(event.call_id)
        self.execute(self.run(self.acd.call_ended(agent, key, event.at, reason="transferred"), event.at))

    def on_registration(self, event: Event) -> None:
        """Static agents log in when their phone registers, out when its last binding goes."""
        extension = getattr(event, "extension", None)
        now = event.at
        for agent in self.acd.agents.values():
            if not agent.static or agent.extension != extension:
                continue
            if isinstance(event, RegistrationAdded):
                outputs = self.acd.login(agent.name, now, reason="registered")
            elif isinstance(event, (RegistrationRemoved, RegistrationExpired)) and not self._registered(extension, now):
                outputs = self.acd.logout(agent.name, now, reason="unregistered")
            else:
                continue
            self.execute(self.run(outputs, now))
        self._start_reconciler(now)

    def _registered(self, extension: str, now: float) -> bool:
        return self.services.route(extension, now).found

    # The admin API ----------------------------------------------------------------------------------

    def placements(self) -> dict[str, tuple[str | None, str | None]]:
        """Where each live call the ACD holds is: call id -> (queue, agent). A waiting caller has
        a queue and no agent yet; a call connected to an agent has both while they talk."""
        placed: dict[str, tuple[str | None, str | None]] = {}
        for waiting in self.waiting.values():
            entry = self.acd.entries.get(waiting.key)
            placed[waiting.call.id] = (entry.queue if entry is not None else None, None)
        for call_id, (agent, _) in self.connected.items():
            placed[call_id] = (self.acd.agents[agent].queue, agent)
        return placed

    def waiting_call(self, call_id: str) -> WaitingCall | None:
        """The queue's hold on a live call waiting in it (a called-back customer included)."""
        return next((waiting for waiting in self.waiting.values() if waiting.call.id == call_id), None)

    def take_out(self, waiting: WaitingCall, now: float) -> list[Any]:
        """Take a waiting caller out of their queue for good, from outside (the admin API hangs
        them up or sends them elsewhere): the outcome is "exited" (they did not give up), the
        offers ringing for them are cancelled, and neither the queue's exit rules nor the scenario
        that queued them take the call back. The caller's media session stays theirs to use or
        close (`waiting.session`)."""
        self._release(waiting, now)  # first: RemoveCaller then finds nothing to send anywhere
        return self.run(self.acd.caller_left(waiting.key, now, outcome=Outcome.EXITED), now)

    def hang_up(self, call_id: str, now: float) -> list[Any] | None:
        """End a call the ACD holds (a caller waiting, a callback ringing the customer) as the
        system: the caller leaves the queue as `take_out` says, then the call ends. None when the
        ACD does not hold the call: end it as any other."""
        waiting = self.waiting_call(call_id)
        if waiting is not None:
            actions = self.take_out(waiting, now)
            self._stop_media(waiting, now)
            call = waiting.call
        else:
            call = self.services.calls.get(call_id)
            if call is None or not isinstance(call.controller, CallbackController):
                return None
            actions = self.run(self.acd.caller_left(call.controller.key, now, outcome=Outcome.EXITED), now)
        return actions + self.services.end_call(call, Cause.NORMAL, 200, "system", now)

    # Carrying out the core's outputs ----------------------------------------------------------------

    def run(self, outputs: list[Any], now: float) -> list[Any]:
        actions: list[Any] = []
        for output in outputs:
            if isinstance(output, Event):
                actions.append(self.services.publish(output))
            elif isinstance(output, OfferCall):
                actions += self._offer(output, now)
            elif isinstance(output, CancelOffer):
                actions += self._cancel(output, now)
            elif isinstance(output, ConnectAgent):
                actions += self._connect(output, now)
            elif isinstance(output, Overflow):
                waiting = self.waiting.get(output.call_id)
                if waiting is not None:
                    waiting.overflow_to = f"{output.target.kind}:{output.target.name}"
            elif isinstance(output, AnnounceToCaller):
                self._announce(output)
            elif isinstance(output, RemoveCaller):
                actions += self._removed(output, now)
            elif isinstance(output, PlaceCallback):
                actions += self._place_callback(output, now)
        self._arm()
        return actions

    def _offer(self, offer: OfferCall, now: float) -> list[Any]:
        waiting = self.waiting.get(offer.call_id)
        if waiting is None:
            return self.run(self.acd.offer_failed(offer.agent, offer.call_id, "failure", now), now)
        route = self.services.route(offer.extension, now)
        if not route.found:
            return self.run(self.acd.offer_failed(offer.agent, offer.call_id, "unavailable", now), now)
        call = waiting.call
        before = {id(leg) for leg in call.legs}
        formats = waiting.session.formats if waiting.session is not None else None
        actions = self.services.originate(call, route, call.caller, waiting.leg.phone_sdp, now, only=formats)
        legs = [leg for leg in call.legs if id(leg) not in before]
        if not legs:
            return actions + self.run(self.acd.offer_failed(offer.agent, offer.call_id, "failure", now), now)
        for leg in legs:
            waiting.offers[id(leg)] = (offer.agent, leg)
        if offer.whisper is not None:
            waiting.whispers[offer.agent] = offer.whisper
        return actions

    def _cancel(self, cancel: CancelOffer, now: float) -> list[Any]:
        waiting = self.waiting.get(cancel.call_id)
        if waiting is None:
            return []
        actions: list[Any] = []
        for key, (agent, leg) in list(waiting.offers.items()):
            if agent == cancel.agent:
                del waiting.offers[key]
                if not leg.is_ended:
                    actions += leg.send(Hangup(Cause.CANCELLED, reason=cancel.reason), now)
        return actions

    def _connect(self, connect: ConnectAgent, now: float) -> list[Any]:
        waiting = self.waiting.get(connect.call_id)
        agent_leg = waiting.leg_of(connect.agent) if waiting is not None else None
        if waiting is None or agent_leg is None or agent_leg.is_ended:
            log.warning("event=connect_failed call_id=%s agent=%s", connect.call_id, connect.agent)
            return []
        actions: list[Any] = []
        for key, (agent, leg) in list(waiting.offers.items()):
            if leg is not agent_leg and not leg.is_ended:
                actions += leg.send(Hangup(Cause.CANCELLED, reason="answered elsewhere"), now)
            del waiting.offers[key]
        waiting.stop_listening()
        self.connected[waiting.call.id] = (connect.agent, waiting.key)
        whisper = waiting.whispers.get(connect.agent)
        if whisper is not None and self.prompts is not None:
            self._whisper(waiting, agent_leg, whisper, now)  # the caller keeps the hold music meanwhile
            return actions
        return actions + self._bridge(waiting, agent_leg, now)

    def _bridge(self, waiting: WaitingCall, agent_leg: Leg, now: float) -> list[Any]:
        call = waiting.call
        self._stop_media(waiting, now)
        self.services.bridge(call.caller_leg, agent_leg)
        if self.recordings is not None:
            self.recordings.follow(call.id, agent_leg)
        call.controller = BridgeController(self.services)
        return []

    def _whisper(self, waiting: WaitingCall, agent_leg: Leg, queue: str, now: float) -> None:
        """Tell the agent which queue the call comes from, then bridge (the agent hears it alone)."""
        from pbx.ivr.prompts import PromptItem

        session = media_on_answer(agent_leg, self.new_ssrc(), now)
        waiting.whispering = agent_leg
        if session is None:
            self.execute(self._bridge(waiting, agent_leg, now))
            return

        def done(player: Any, when: float) -> None:
            self.media_clock.remove(session)
            session.close(when)
            agent_leg.own_media = None
            if waiting.whispering is agent_leg and not agent_leg.is_ended and waiting.call.legs[0].is_answered:
                waiting.whispering = None
                self.execute(self._bridge(waiting, agent_leg, when))

        async def speak() -> None:
            clips = await self.prompts.clips([PromptItem("speech", f"Call from the {queue} queue.")], None, "en")
            session.player = Player(clips or [bytes(320)])
            session.on_played = done
            self.media_clock.add(session)

        asyncio.get_running_loop().create_task(speak())

    def _removed(self, removed: RemoveCaller, now: float) -> list[Any]:
        waiting = self.waiting.get(removed.call_id)
        if waiting is None:
            return []
        if removed.outcome in (Outcome.ANSWERED, Outcome.ABANDONED):
            self.waiting.pop(removed.call_id, None)
            if waiting.timeout is not None:
                waiting.timeout.cancel()
            return waiting.on_left(removed.outcome, None, now) if waiting.on_left is not None else []
        if removed.outcome == Outcome.OVERFLOWED and waiting.overflow_to is not None:
            kind, _, name = waiting.overflow_to.partition(":")
            waiting.overflow_to = None
            if kind == "queue":
                outputs = self.acd.join(removed.call_id, waiting.call.caller.number, name, now)
                if not isinstance(outputs, Refused):
                    return self.run(outputs, now)
            elif kind == "scenario" and self.start_scenario is not None:
                self._release(waiting, now)
                session, waiting.session = waiting.session, None
                return self.start_scenario(waiting.call, waiting.leg, session, name, now)
        # Timed out, left empty, exited, or nowhere to overflow to: back to the scenario, else goodbye.
        self._release(waiting, now)
        exit_to = self.exit_scenarios.get(removed.queue)
        if waiting.on_left is None and removed.outcome == Outcome.EXITED and exit_to and self.start_scenario:
            session, waiting.session = waiting.session, None
            return self.start_scenario(waiting.call, waiting.leg, session, exit_to, now)
        if waiting.on_left is not None:
            session, waiting.session = waiting.session, None
            return waiting.on_left(removed.outcome, session, now)
        self._stop_media(waiting, now)
        actions = waiting.leg.send(Hangup(Cause.NORMAL), now)
        return actions + self.services.end_call(waiting.call, Cause.NORMAL, 200, "system", now)

    # Callbacks -------------------------------------------------------------------------------------

    def _place_callback(self, place: PlaceCallback, now: float) -> list[Any]:
        """The customer's turn came: call them; once they answer they wait again at their place."""
        shown_as = Party(place.queue, f"Callback from {place.queue}")
        controller = CallbackController(self, place.call_id)
        call, actions = self.services.originate_call(place.number, shown_as, f"callback:{place.queue}", controller, now,
                                                     linked_id=place.call_id)
        if call is None:
            return self.run(self.acd.callback_failed(place.call_id, "unavailable", now), now)
        return actions

    def callback_answered(self, key: str, call: Call, leg: Leg, now: float) -> list[Any]:
        session = media_on_answer(leg, self.new_ssrc(), now)
        if session is not None:
            self.media_clock.add(session)
        waiting = WaitingCall(self, call, leg, session, None, key=key)
        self.waiting[key] = waiting
        call.controller = waiting
        call.state = CallState.ANSWERED
        call.answered_at = call.ringing_at = now
        self._hold(waiting)
        if leg.watch is not None:
            waiting.stop_listening = leg.watch.on_digit(lambda detected: self._key(waiting, detected.digit))
        return self.run(self.acd.callback_answered(key, now), now)

    # Media -----------------------------------------------------------------------------------------

    def _hold(self, waiting: WaitingCall) -> None:
        session = waiting.session
        if session is None:
            return
        session.on_played = None
        session.player = Player([self.hold_music], loop=True) if self.hold_music else None

    def _announce(self, announce: AnnounceToCaller) -> None:
        waiting = self.waiting.get(announce.call_id)
        if waiting is None or waiting.session is None or self.prompts is None:
            return
        text = f"You are caller number {announce.position}."
        if announce.ewt_seconds is not None:
            minutes = max(1, round(announce.ewt_seconds / 60))
            text += f" Your estimated wait is about {minutes} minute{'s' if minutes > 1 else ''}."
        from pbx.ivr.prompts import PromptItem

        async def speak() -> None:
            clips = await self.prompts.clips([PromptItem("speech", text)], None, "en")
            session = waiting.session
            if session is not None and waiting.key in self.waiting and clips:
                session.player = Player(clips)
                session.after = Player([self.hold_music], loop=True) if self.hold_music else None

        asyncio.get_running_loop().create_task(speak())

    def _stop_media(self, waiting: WaitingCall, now: float) -> None:
        if waiting.session is not None:
            self.media_clock.remove(waiting.session)
            waiting.session.close(now)
            waiting.session = None

    def _release(self, waiting: WaitingCall, now: float) -> None:
        self.waiting.pop(waiting.key, None)
        if waiting.timeout is not None:
            waiting.timeout.cancel()
        waiting.stop_listening()
        waiting.stop_listening = lambda: None
        for agent, leg in list(waiting.offers.values()):
            if not leg.is_ended:
                self.execute(leg.send(Hangup(Cause.CANCELLED), now))
        waiting.offers.clear()

    # Timers and the reconciler ------------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.acd.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.services.scheduler.call_at(deadline, self._on_timer) if deadline is not None else None

    def _on_timer(self, now: float) -> list[Any]:
        self._timer, self._timer_at = None, None
        return self.run(self.acd.handle_timer(now), now)

    def _start_reconciler(self, now: float) -> None:
        if self._reconciling is None:
            self._reconciling = self.services.scheduler.call_at(now + RECONCILE_EVERY, self._reconcile)

    def _reconcile(self, now: float) -> list[Any]:
        """RFC-free housekeeping: compare agent states with the legs that really exist."""
        live = self.services.calls
        pairs = {(agent, key) for call_id, (agent, key) in self.connected.items() if call_id in live}
        for call_id, waiting in self.waiting.items():
            pairs |= {(agent, call_id) for agent, leg in waiting.offers.values() if not leg.is_ended}
        self._reconciling = self.services.scheduler.call_at(now + RECONCILE_EVERY, self._reconcile)
        return self.run(self.acd.reconcile(pairs, now), now)
