"""The call manager: the B2BUA's transaction user, owning every call, leg and dialog.

It claims INVITE, ACK, BYE, CANCEL, INFO, UPDATE, REFER and NOTIFY on the
SIP endpoint, finds the leg each message belongs to (by INVITE transaction,
dialog or client transaction) and lets the leg translate it. It is the
`SipContext` legs use to send and the `CallServices` controllers use to
route, originate and bridge. Counters for calls, legs, dialogs and relay
ports are exposed so tests can prove everything is released.

No sockets or clocks here: the relay is injected (its calls are synchronous
bind/close), time arrives as `now`, ids come from the composition root.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from pbx.media.ports import PortsExhausted
from pbx.scheduler import Scheduler, TimerHandle
from pbx.sip.dialog import Dialog, DialogTable
from pbx.sip.endpoint import Publish, SipEndpoint
from pbx.sip.errors import RemoteProtocolError
from pbx.sip.fields import MAGIC_COOKIE, Via
from pbx.sip.message import Request, Response
from pbx.sip.sdp import SdpError
from pbx.sip.status import make_response
from pbx.sip.transaction import (
    AckReceived,
    Peer,
    ResponseReceived,
    ServerTransaction,
    Timers,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)
from sdk.events import CallStarted, Event

from .anchor import srtp_refusal
from .bridge import BridgeController
from .call import Call
from .leg import Leg
from .media_timeout import MediaTimeout
from .media_watch import InbandMode, LegWatch
from .router import Route, Router
from .signals import Cause, Hangup, Party, Try
from .own_media import own_offer
from .sip_leg import SipLeg, check_sdp


class CallManager:
    def __init__(
        self,
        endpoint: SipEndpoint,
        router: Router,
        relay: Any,
        *,
        domain: str,
        media_host: str,
        local_address: Callable[[str], tuple[str, int]],
        new_id: Callable[[], str],
        ring_timeout: float = 30.0,
        display_name: Callable[[str], str | None] = lambda number: None,
        controller_for: Callable[[str, "CallManager"], Any] = lambda number, manager: None,
        emit: Callable[[Event], None] = lambda event: None,
        inband_dtmf: InbandMode = "auto",
        inactivity_timeout: float = 0.0,
    ) -> None:
        self.endpoint = endpoint
        self.router = router
        self.relay = relay
        self.domain = domain
        self.media_host = media_host
        self.local_address = local_address
        self.new_id = new_id
        self.contact_user = "pbx"  # a worker's own (pbx/workers/dispatch.py): in-dialog requests come back to it
        self._contacts: dict[tuple[str, str, int, str], str] = {}  # one string for every dialog that shares it
        self.ring_timeout = ring_timeout
        self.display_name = display_name
        # A controller other than the bridge for some numbers (test extensions; IVR and queues later).
        self.controller_for = controller_for
        # Straight to the bus, for what media taps find outside SIP handling (digits).
        self.emit = emit
        self.inband_dtmf = inband_dtmf
        self.timers: Timers = endpoint.transactions.timers
        self.scheduler = Scheduler()
        self.calls: dict[str, Call] = {}
        self.placed: set[str] = set()  # ids of the live calls the PBX placed itself (outbound)
        self.dialogs = DialogTable()
        self._leg_of_dialog: dict[Any, SipLeg] = {}
        self._leg_of_invite: dict[int, SipLeg] = {}  # id(server transaction) -> inbound leg
        # id(client transaction) -> leg, purpose, request (None once an answered INVITE's leg let go of it)
        self._client: dict[int, tuple[SipLeg, str, Request | None]] = {}
        self._ring_timers: dict[str, TimerHandle] = {}
        self._session_ids = itertools.count(1)
        # SIP trunks (pbx.trunks.TrunkService): recognises providers' INVITEs, places calls out.
        self.trunks: Any = None
        # Extensions configured `srtp: true`: their legs are offered RTP/SAVP with SDES keys.
        self.srtp_numbers: frozenset[str] = frozenset()
        for method in ("INVITE", "BYE", "CANCEL", "INFO", "UPDATE", "REFER", "NOTIFY"):
            endpoint.handlers[method] = self._on_request
        endpoint.ack_handler = self._on_ack
        endpoint.client_handler = self._on_client_event
        endpoint.timer_sources.append(self.scheduler)
        self._releases = Scheduler()  # ended calls letting go of their legs (end_call)
        endpoint.timer_sources.append(self._releases)
        # Ends an answered call from outside it (the composition root's hang_up: queues and
        # scenarios let go of it first); by default the call ends here.
        self.hang_up: Callable[[Call, float, Cause], list[Any]] = (
            lambda call, now, cause: self.end_call(call, cause, 200, "system", now))
        self.media_timeout = MediaTimeout(inactivity_timeout, self.scheduler, self.calls,
                                          lambda call, now: self.hang_up(call, now, Cause.MEDIA_TIMEOUT))
        # SIGTERM: no new calls, with Retry-After seconds for the 503 (RFC 3261 21.5.4); None when taking calls.
        self.draining_retry_after: int | None = None

    def status(self) -> dict[str, int]:
        legs = sum(len(call.live_legs()) for call in self.calls.values())
        return {
            "calls": len(self.calls),
            "legs": legs,
            "dialogs": len(self.dialogs),
            "rtp_ports": self.relay.ports_in_use,
            "call_timers": len(self.scheduler),
        }

    @property
    def hangups_in_flight(self) -> int:
        """BYEs and CANCELs sent and not answered yet (a draining PBX waits for them)."""
        return sum(1 for _, purpose, _ in self._client.values() if purpose in ("bye", "cancel"))

    # SIP requests ------------------------------------------------------------------------------

    def _on_request(self, transaction: ServerTransaction, request: Request, user: str | None, now: float) -> list[Any]:
        try:
            return self._dispatch(transaction, request, user, now)
        except (RemoteProtocolError, SdpError) as error:
            status = getattr(error, "status", 400)
            reason = getattr(error, "reason", str(error))
            response = make_response(request, status, f"Bad Request ({reason})" if status == 400 else None,
                                     to_tag=self.endpoint.tag_for(request), warning=reason)
            return self.endpoint.respond(transaction, response, now)

    def _dispatch(self, transaction: ServerTransaction, request: Request, user: str | None, now: float) -> list[Any]:
        method = request.method
        if method == "CANCEL":
            invite = self.endpoint.transactions.find_invite(request)
            leg = self._leg_of_invite.get(id(invite)) if invite is not None else None
            if leg is None:
                # RFC 3261 9.2: 481 without a matching INVITE; one answered and acknowledged
                # already (its leg let go of it) is not cancelled, and the CANCEL gets a 200.
                return self._reply(transaction, request, 481 if invite is None else 200, now)
            return leg.on_cancel(transaction, request, now)
        if method == "INVITE" and request.to.tag is None:
            return self._new_call(transaction, request, user, now)
        dialog = self.dialogs.find_for_request(request)
        leg = self._leg_of_dialog.get(dialog.id) if dialog is not None else None
        if dialog is None or leg is None:
            return self._reply(transaction, request, 481, now)
        dialog.receive_request(request)
        handler = {
            "INVITE": leg.on_reinvite, "BYE": leg.on_bye, "INFO": leg.on_info, "UPDATE": leg.on_update,
            "REFER": leg.on_refer,
        }.get(method)  # fmt: skip
        if handler is None:  # NOTIFY for a subscription we never made, or other chatter
            return self._reply(transaction, request, 200 if method == "NOTIFY" else 405, now)
        actions = handler(transaction, request, now)
        if method == "INFO" and leg.watch is not None:
            # After the 200 to the INFO is on its way: a key that ends the call (an IVR's last
            # choice) sends its BYE behind that answer, not before it.
            leg.watch.info(request.headers.get("Content-Type") or "", request.body, now)
        return actions

    def _new_call(self, transaction: ServerTransaction, request: Request, user: str | None, now: float) -> list[Any]:
        if self.draining_retry_after is not None:
            # RFC 3261 21.5.4: 503 and Retry-After while the PBX drains before it stops.
            response = make_response(request, 503, "Service Unavailable (shutting down)",
                                     to_tag=self.endpoint.tag_for(request))
            response.headers.add("Retry-After", str(self.draining_retry_after))
            return self.endpoint.respond(transaction, response, now)
        problem = check_sdp(request)
        if problem is not None:
            return self._reply(transaction, request, 400, now, f"Bad SDP ({problem})")
        if not request.body:
            # Late offer (INVITE without SDP) is not supported yet: say so instead of failing later.
            return self._reply(transaction, request, 488, now, "INVITE without SDP not supported")
        offer = SipLeg.offer_of(request)
        refusal = srtp_refusal(offer) if offer is not None else None
        if refusal is not None:
            # RFC 4568 7.1.2 / RFC 3264 6: SRTP asked for and no key we can use: Not Acceptable Here.
            return self._reply(transaction, request, 488, now, f"Not Acceptable Here ({refusal})")
        trunk = self.trunks.trunk_of(request) if self.trunks is not None and user is None else None
        if trunk is not None:
            # From a provider (not challenged, pbx/trunks/identify.py): the DID picks an inbound
            # route; such a call never reaches a trunk again.
            caller = Party(request.from_.uri.user or "anonymous", request.from_.display_name)
            callee = self.trunks.called_number(request)
            refusal = self.trunks.refuse_inbound(trunk, callee)
            if refusal is not None:
                return self._reply(transaction, request, refusal[0], now, refusal[1])
            controller = self.trunks.inbound_controller(trunk, callee, self)
        else:
            number = user or request.from_.uri.user or "anonymous"
            caller = Party(number, self.display_name(number) or request.from_.display_name)
            callee = request.uri.user or request.to.uri.user or ""
            controller = self.controller_for(callee, self) or BridgeController(self)
        call = Call(self.new_id(), caller, callee, controller, now)
        try:
            leg = self._new_leg(call, "caller", caller, request.source or transaction.peer)
        except (PortsExhausted, OSError) as error:
            # RFC 3261 21.5.4: 503 when we cannot take the call now (no RTP ports left).
            return self._reply(transaction, request, 503, now, f"Service Unavailable ({error})")
        if trunk is not None:
            self.trunks.channels.take(trunk, leg)
        self.calls[call.id] = call
        self.media_timeout.watch(now)
        self._leg_of_invite[id(transaction)] = leg
        actions: list[Any] = [Publish(CallStarted(
            at=now, call_id=call.id, caller=caller.number, callee=callee, caller_name=caller.name
        ))]  # fmt: skip
        return actions + leg.accept_invite(transaction, request, now)

    def _on_ack(self, ack: AckReceived, now: float) -> list[Any]:
        dialog = self.dialogs.find_for_request(ack.request)
        leg = self._leg_of_dialog.get(dialog.id) if dialog is not None else None
        if leg is None:
            return []
        if leg.invite is not None and ack.request.cseq.number < leg.invite.cseq.number:
            # RFC 3261 13.2.2.4: the ACK of a 2xx carries its INVITE's CSeq number; a lower one
            # is the ACK of the challenge before the call's INVITE (same Call-ID and tags), late.
            return []
        actions = leg.on_ack(ack.request, now)
        self._forget_invite(leg)
        if leg.invite is not None:
            # Kept for its headers (SipLeg.headers, the CSeq above), not what only delivered it:
            # its Via and credentials are a call's longest unique header values (issue 16).
            leg.invite = leg.invite.copy_keeping(_kept_after_ack)
        if leg.is_answered:
            leg.settle()  # the offer and answer are done: their SDPs as text
        return actions

    def _reply(self, transaction: ServerTransaction, request: Request, status: int, now: float,
               reason: str | None = None) -> list[Any]:
        response = make_response(request, status, reason, to_tag=self.endpoint.tag_for(request))
        return self.endpoint.respond(transaction, response, now)

    # Responses to what we sent --------------------------------------------------------------------

    def _on_client_event(self, event: Any, now: float) -> list[Any]:
        entry = self._client.get(id(event.transaction))
        if entry is None:
            return []
        leg, purpose, request = entry
        if isinstance(event, ResponseReceived):
            if event.response.status >= 200 and purpose != "invite":
                del self._client[id(event.transaction)]
            if purpose == "invite":
                if event.response.status >= 200 and not 200 <= event.response.status < 300:
                    del self._client[id(event.transaction)]
                actions = leg.on_invite_response(event.response, now)
                if leg.invite is not request and id(event.transaction) in self._client:
                    # The leg lets go of its INVITE once answered (or keeps a newer one): so does
                    # this entry, which Timer M keeps for 64*T1 (RFC 6026 7.2).
                    self._client[id(event.transaction)] = (leg, purpose, leg.invite)
                return actions
            if purpose == "cancel":
                return []
            assert request is not None  # only an INVITE's entry lets go of its request
            return leg.on_in_dialog_response(request, event.response, now)
        if isinstance(event, TransactionTerminated):
            # An answered leg let go of its INVITE at the 2xx (SipLeg._on_success), not here.
            self._client.pop(id(event.transaction), None)
            return []
        if isinstance(event, (TransactionTimedOut, TransportFailed)):
            del self._client[id(event.transaction)]
            if purpose == "invite":
                return leg.on_invite_timeout(now)
            if purpose in ("bye", "cancel", "notify"):
                return []
            assert request is not None  # only an INVITE's entry lets go of its request
            timeout = Response(408, "Request Timeout")
            return leg.on_in_dialog_response(request, timeout, now) if leg.dialog else []
        return []

    # SipContext ---------------------------------------------------------------------------------

    def send_request(self, leg: SipLeg, request: Request, purpose: str, now: float) -> list[Any]:
        if request.method != "CANCEL":
            request.prepend_via(self._via(leg.peer))
        transaction, actions = self.endpoint.transactions.send_request(request, leg.peer, now)
        self._client[id(transaction)] = (leg, purpose, request)
        return list(actions)

    def send_ack(self, leg: SipLeg, ack: Request, now: float) -> list[Any]:
        """RFC 3261 13.2.2.4: the ACK for a 2xx is its own transaction-less request."""
        ack.prepend_via(self._via(leg.peer))
        return [Transmit(ack.serialize(), leg.peer, ack)]

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> list[Any]:
        return self.endpoint.respond(transaction, response, now)

    def dialog_created(self, leg: SipLeg, dialog: Dialog) -> None:
        if dialog.id not in self._leg_of_dialog:
            self.dialogs.add(dialog)
        self._leg_of_dialog[dialog.id] = leg

    def leg_ended(self, leg: SipLeg, now: float) -> list[Any]:
        """Release what a finished leg held: relay ports and (soon after) its dialog.

        The leg's media quality is published now, as the leg ends."""
        actions: list[Any] = []
        if leg.watch is not None:
            quality = leg.watch.quality_event(leg.call.id if leg.call else "", now)
            if quality is not None:
                actions.append(Publish(quality))
        leg.watch = None  # closed by quality_event; it refers to its leg: no cycle for the collector
        if leg.media is not None:
            leg.media.close()
        self._forget_invite(leg)
        # What only a live leg uses goes now, not with the call 64*T1 later (at 600 calls/s that
        # is 20,000 ended calls): its SDPs, and the INVITE a phone sent us. The INVITE we sent
        # stays until Timer M, to ACK and BYE a 2xx from another fork (RFC 3261 13.2.2.4).
        leg.phone_sdp = leg.local_sdp = None
        if leg.invite is not None and leg.invite.source is not None:
            leg.invite = None
        if leg.dialog is not None and self._leg_of_dialog.get(leg.dialog.id) is leg:
            # The leg keeps its Dialog object for the BYE's answer; the table forgets it, so a
            # late request in it gets 481 (RFC 3261 12.2.2).
            del self._leg_of_dialog[leg.dialog.id]
            self.dialogs.remove(leg.dialog)
        return actions

    def _forget_invite(self, leg: SipLeg) -> None:
        """The leg's INVITE is answered and acknowledged (or the leg is over): the leg no longer
        holds its server transaction, which the transaction layer keeps as long as RFC 3261
        17.2.1 / RFC 6026 require; a held call keeps only its dialog."""
        invite = leg.invite_transaction
        if invite is not None and self._leg_of_invite.get(id(invite)) is leg:
            del self._leg_of_invite[id(invite)]
        leg.invite_transaction = None

    def contact_for(self, peer: Peer) -> str:
        host, port = self.local_address(peer.transport)
        key = (self.contact_user, host, port, peer.transport)
        contact = self._contacts.get(key)
        if contact is None:
            transport = "" if peer.transport == "udp" else f";transport={peer.transport}"
            contact = f"<sip:{self.contact_user}@{host}:{port}{transport}>"
            if len(self._contacts) < 64:  # our own few addresses
                self._contacts[key] = contact
        return contact

    def new_tag(self) -> str:
        return self.endpoint.new_tag()

    def tag_for(self, request: Request) -> str:
        return self.endpoint.tag_for(request)

    def _via(self, peer: Peer) -> Via:
        host, port = self.local_address(peer.transport)
        return Via.ours(peer.transport, host, port, f"{MAGIC_COOKIE}{self.new_id()}")

    # CallServices --------------------------------------------------------------------------------

    def route(self, number: str, now: float) -> Route:
        return self.router.route(number, now)

    def originate(self, call: Call, route: Route, caller: Party, sdp: Any, now: float,
                  only: list[str] | None = None) -> list[Any]:
        if route.trunk is not None:
            leg, actions = self.dial_trunk(call, route.trunk, caller, sdp, now, only=only)
            if leg is None:
                for other in call.live_legs():
                    actions += other.send(Hangup(Cause.FAILURE, 503, "no RTP ports"), now)
                actions += self.end_call(call, Cause.FAILURE, 503, "system", now)
            return actions
        actions: list[Any] = []
        for binding in route.contacts:
            party = Party(route.number, self.display_name(route.number))
            try:
                leg = self._new_leg(call, "callee", party, binding.source)
            except (PortsExhausted, OSError):
                continue
            leg.only_formats = only
            leg.wants_srtp = route.number in self.srtp_numbers
            actions += leg.send(Try(caller, str(binding.uri), sdp), now)
        if not actions and route.contacts:
            # No RTP ports left for any contact: the call cannot go on (503, RFC 3261 21.5.4).
            for leg in call.live_legs():
                actions += leg.send(Hangup(Cause.FAILURE, 503, "no RTP ports"), now)
            actions += self.end_call(call, Cause.FAILURE, 503, "system", now)
        return actions

    def originate_call(self, number: str, shown_as: Party, label: str, controller: Any,
                       now: float, *, linked_id: str | None = None,
                       caller_id: str | None = None) -> tuple[Call | None, list[Any]]:
        """A call the PBX places itself (a queue calling a customer back): its first leg rings
        `number` with an offer of the PBX's own media; the controller hears that leg's answer.
        None when `number` has nothing registered to ring or no RTP ports are left. `linked_id`
        names the contact it continues (the call that asked for the callback). An outside number
        goes out on a trunk (`_originate_out`), showing `caller_id` if given, else the route's or
        trunk's caller id."""
        route = self.route(number, now)
        if not route.found:
            return self._originate_out(number, Party(caller_id, shown_as.name) if caller_id else shown_as, label,
                                       controller, now, linked_id, explicit=caller_id is not None)
        call = Call(self.new_id(), Party(number, self.display_name(number)), label, controller, now)
        try:
            leg = self._new_leg(call, "caller", Party(number, self.display_name(number)), route.contacts[0].source)
        except (PortsExhausted, OSError):
            return None, []
        self.calls[call.id] = call
        self.media_timeout.watch(now)
        self.placed.add(call.id)
        actions: list[Any] = [Publish(CallStarted(at=now, call_id=call.id, caller=number, callee=label,
                                                  caller_name=call.caller.name, direction="outbound",
                                                  linked_id=linked_id))]
        return call, actions + leg.send(Try(shown_as, str(route.contacts[0].uri), own_offer()), now)

    def _originate_out(self, number: str, shown_as: Party, label: str, controller: Any, now: float,
                       linked_id: str | None, *, explicit: bool = False) -> tuple[Call | None, list[Any]]:
        """`originate_call` to an outside number: out through the first trunk with a free channel
        of the outbound route that matches it (the PBX itself asks: no extension's permission)."""
        placement = self.trunks.placement_for(number) if self.trunks is not None else None
        if placement is None:
            return None, []
        call = Call(self.new_id(), Party(number, None), label, controller, now)
        if explicit:  # a campaign's own caller id wins over the route's and the trunk's
            placement = msgspec.structs.replace(placement, caller_id=shown_as.number)
        leg, actions = self.dial_trunk(call, placement, shown_as, own_offer(), now, role="caller")
        if leg is None:
            return None, []
        self.calls[call.id] = call
        self.media_timeout.watch(now)
        self.placed.add(call.id)
        started = CallStarted(at=now, call_id=call.id, caller=number, callee=label, direction="outbound",
                              linked_id=linked_id)
        return call, [Publish(started), *actions]

    def dial_trunk(self, call: Call, placement: Any, shown_as: Party, sdp: Any, now: float, *,
                   role: str = "callee", only: list[str] | None = None) -> tuple[SipLeg | None, list[Any]]:
        """A leg to a trunk (`placement`: pbx.trunks.Placement) ringing its rewritten number, the
        From showing the route's or trunk's caller id; None when no RTP ports are left."""
        target = self.trunks.target_of(placement)
        try:
            leg = self._new_leg(call, role, Party(placement.number, None), target.peer)
        except (PortsExhausted, OSError):
            return None, []
        leg.only_formats = only
        leg.far_domain = target.domain
        leg.answer_challenge = target.answer_challenge
        self.trunks.channels.take(placement.trunk, leg)
        shown = Party(placement.caller_id, shown_as.name) if placement.caller_id else shown_as
        return leg, leg.send(Try(shown, target.uri, sdp), now)

    def bridge(self, a: Leg, b: Leg) -> None:
        if a.media is not None and b.media is not None:
            self.relay.link(a.media, b.media)

    def start_ring_timer(self, call: Call, now: float, seconds: float | None = None) -> None:
        """Ring for `seconds` (the configured ring timeout by default), then the controller's
        `on_ring_timeout`; `end_call` and `stop_ring_timer` cancel it."""
        def expire(fire_now: float) -> list[Any]:
            self._ring_timers.pop(call.id, None)
            return call.controller.on_ring_timeout(call, fire_now)

        self._ring_timers[call.id] = self.scheduler.call_at(now + (self.ring_timeout if seconds is None else seconds),
                                                            expire)

    def stop_ring_timer(self, call: Call) -> None:
        handle = self._ring_timers.pop(call.id, None)
        if handle is not None:
            handle.cancel()

    def end_call(self, call: Call, cause: Cause, status: int, hangup_by: str, now: float) -> list[Any]:
        self.stop_ring_timer(call)
        events = call.end(cause, status, hangup_by, now)
        self.calls.pop(call.id, None)
        self.placed.discard(call.id)
        actions: list[Any] = [Publish(event) for event in events]
        for leg in call.live_legs():
            actions += leg.send(Hangup(cause), now)
        # Its legs finish their transactions within 64*T1 (RFC 3261 17: Timers B, F, H, J, M);
        # then the call and its legs let go of each other, so reference counting frees them at
        # once instead of the cyclic collector, which runs rarely here (pbx.app.serve).
        self._releases.call_at(now + 64 * self.timers.t1 + self.timers.t4, partial(_release, call))
        return actions

    def publish(self, event: Event) -> Any:
        return Publish(event)

    def find_leg(self, call_id: str, tags: tuple[str, str]) -> Leg | None:
        wanted = {tag for tag in tags if tag}
        for dialog_id, leg in self._leg_of_dialog.items():
            if dialog_id.call_id == call_id and {dialog_id.local_tag, dialog_id.remote_tag} >= wanted:
                return leg
        return None

    def adopt(self, call: Call, leg: Leg) -> None:
        """Move a leg into `call` (attended transfer joins the target's leg to the transferee's call)."""
        old = leg.call
        if old is not None and leg in old.legs:
            old.legs.remove(leg)
        call.add_leg(leg)

    # Helpers ---------------------------------------------------------------------------------

    def _new_leg(self, call: Call, role: str, party: Party, peer: Peer) -> SipLeg:
        leg = SipLeg(self, self.new_id(), role, party, peer, next(self._session_ids))
        leg.media = self.relay.open_endpoint(f"{call.id}:{role}:{party.number}")
        leg.watch = LegWatch(leg, self.emit, self.inband_dtmf)
        call.add_leg(leg)
        return leg


# What an answered phone's INVITE needs no more once ACKed: how it travelled, its credentials,
# and what described the body (the SDP is the leg's).
_NOT_KEPT_AFTER_ACK = frozenset({"via", "proxy-authorization", "authorization", "max-forwards", "content-length",
                                 "content-type"})


def _kept_after_ack(key: str) -> bool:
    return key not in _NOT_KEPT_AFTER_ACK


def _release(call: Call, now: float) -> list[Any]:
    """A release timer's callback (timer callbacks return actions: this one has none)."""
    call.release()
    return []
