"""A SIP leg: one INVITE dialog of the B2BUA, translated to and from call-control signals.

Inbound legs are the caller's dialog (we are the UAS); outbound legs are
the ones we originate (we are the UAC). Both follow RFC 3261 13-15: the
INVITE transaction, 2xx retransmission until ACK (13.3.1.4), ACK for 2xx
(13.2.2.4), CANCEL (9), BYE (15) and re-INVITE (14), plus INFO (RFC 6086)
and the REFER/NOTIFY pair of RFC 3515. Each SDP is re-addressed to this
leg's relay endpoint (anchor.py), so both phones send RTP to the PBX.
A leg whose phone offers SDES keys (or that we offer them to, `wants_srtp`)
secures its relay endpoint with them (RFC 4568; pbx/media/srtp.py).

The leg never touches sockets or clocks: it asks its `SipContext` (the
call manager) to send, respond and schedule, and returns the actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol
from urllib.parse import unquote

from pbx.media.srtp import SrtpContext
from pbx.scheduler import Scheduler, TimerHandle
from pbx.sip.dialog import Dialog, DialogState
from pbx.sip.errors import RemoteProtocolError
from pbx.sip.message import Headers, Request, Response
from pbx.sip.offer_answer import SrtpKeys
from pbx.sip.sdes import fresh_crypto
from pbx.sip.sdp import SdpError, SessionDescription
from pbx.sip.status import make_response
from pbx.sip.transaction import Peer, ServerTransaction, State, Timers
from pbx.sip.uri import NameAddress, Uri

from . import anchor
from .leg import Leg, LegState
from .signals import (
    STATUS_OF_CAUSE,
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

SDP = "application/sdp"
SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"  # what we offer: RFC 4568 6.2.1, the one every phone has
# RFC 3261 17.2.1: a server transaction sends 100 Trying unless the TU answers within 200 ms;
# a little under it, so the 100 leaves on time on our 20 ms timer grid.
TRYING_DELAY = 0.18

log = logging.getLogger("pbx.calls.sip_leg")


class SipContext(Protocol):
    """What a SIP leg needs from the call manager."""

    scheduler: Scheduler
    timers: Timers
    media_host: str
    domain: str

    def send_request(self, leg: SipLeg, request: Request, purpose: str, now: float) -> list[Any]: ...
    def send_ack(self, leg: SipLeg, ack: Request, now: float) -> list[Any]: ...
    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> list[Any]: ...
    def dialog_created(self, leg: SipLeg, dialog: Dialog) -> None: ...
    def leg_ended(self, leg: SipLeg, now: float) -> list[Any]: ...
    def contact_for(self, peer: Peer) -> str: ...
    def new_tag(self) -> str: ...
    def tag_for(self, request: Request) -> str: ...


class SipLeg(Leg):
    __slots__ = ("context", "peer", "session", "dialog", "invite", "invite_transaction", "local_tag", "final_status",
                 "cancel_wanted", "provisional_seen", "pending_reinvite", "outgoing_reinvite", "session_expires",
                 "only_formats", "wants_srtp", "srtp_keys", "_retransmit", "far_domain", "answer_challenge")

    def __init__(self, context: SipContext, leg_id: str, role: str, party: Party, peer: Peer, session_id: int) -> None:
        super().__init__(leg_id, role, party)
        self.context = context
        self.peer = peer  # where requests to this phone go (its registration source, or where its INVITE came from)
        self.session = anchor.LegSession(session_id)
        self.dialog: Dialog | None = None
        self.invite: Request | None = None  # the INVITE that created the leg (received or sent)
        self.invite_transaction: ServerTransaction | None = None  # inbound legs
        self.local_tag = context.new_tag()
        self.final_status: int | None = None
        self.cancel_wanted = False
        self.provisional_seen = False
        self.pending_reinvite: tuple[ServerTransaction, Request] | None = None  # the phone's re-offer awaiting an answer
        self.outgoing_reinvite = False
        self.session_expires: str | None = None
        self.only_formats: list[str] | None = None  # payload types a transfer target may use
        self.wants_srtp = False  # offer the phone RTP/SAVP and require it (extension `srtp: true`)
        self.srtp_keys: SrtpKeys | None = None  # the SDES keys in use on this leg, if any
        self._retransmit: TimerHandle | None = None
        # Legs to a trunk: the provider's domain for To, and the credentials that answer its
        # 401/407 to our INVITE (RFC 3261 22.2, 22.3): (response, invite) -> header, or None.
        self.far_domain: str | None = None
        self.answer_challenge: Callable[[Response, Request], tuple[str, str] | None] | None = None

    # Signals from the controller --------------------------------------------------------------

    def send(self, signal: Signal, now: float) -> list[Any]:
        if self.is_ended:
            return []
        if isinstance(signal, Try):
            return self._originate(signal, now)
        if isinstance(signal, Ringing):
            return self._ring(signal, now)
        if isinstance(signal, Answer):
            return self._answer(signal, now)
        if isinstance(signal, Hangup):
            return self._hang_up(signal, now)
        if isinstance(signal, Update):
            return self._reoffer(signal, now)
        if isinstance(signal, UpdateAnswer):
            return self._answer_reoffer(signal, now)
        if isinstance(signal, Info):
            return self._in_dialog("INFO", now, body=signal.body, content_type=signal.content_type)
        raise TypeError(f"a SIP leg cannot carry {type(signal).__name__}")

    # Outbound: we are the UAC ------------------------------------------------------------------

    def _originate(self, signal: Try, now: float) -> list[Any]:
        """RFC 3261 8.1.1 / 13.2.1: an INVITE to the phone, with an offer pointing at our relay."""
        assert self.invite is None, "a leg sends one initial INVITE"
        target = Uri.parse(signal.callee)
        offer = self._local_offer(signal.sdp, self.only_formats)
        headers = Headers()
        headers.add("Max-Forwards", "70")
        caller = signal.caller
        display = f'"{caller.name}" ' if caller.name else ""
        headers.add("From", f"{display}<sip:{caller.number}@{self.context.domain}>;tag={self.local_tag}")
        headers.add("To", f"<sip:{self.party.number}@{self.far_domain or self.context.domain}>")
        headers.add("Call-ID", f"{self.id}@{self.context.domain}")
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", self.context.contact_for(self.peer))
        headers.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY")
        headers.add("Supported", "replaces, timer")
        if offer is not None:
            headers.add("Content-Type", SDP)
        invite = Request("INVITE", target, headers, offer.serialize() if offer else b"")
        self.invite = invite
        self.state = LegState.CALLING
        return self.context.send_request(self, invite, "invite", now)

    def on_invite_response(self, response: Response, now: float) -> list[Any]:
        status = response.status
        if self.is_ended and not 200 <= status < 300:
            if self.cancel_wanted and 100 < status < 200 and not self.provisional_seen:
                # RFC 3261 9.1: the CANCEL held back until a provisional response goes now.
                self.provisional_seen = True
                return self._send_cancel(now)
            return []
        if status < 200:
            return self._on_provisional(response, now)
        if status < 300:
            return self._on_success(response, now)
        if status in (401, 407) and self.answer_challenge is not None and not self.is_ended:
            resent = self._with_credentials(response, now)
            if resent:
                return resent
        self.final_status = status
        return self._ended_by_phone(Hangup(cause_of_status(status), status, response.reason), now)

    def _on_provisional(self, response: Response, now: float) -> list[Any]:
        if response.status == 100:
            return []
        self.provisional_seen = True
        if self.cancel_wanted:
            return self._send_cancel(now)
        sdp = self._readable_sdp(response)  # unreadable early SDP: ring without early media
        if sdp is not None and not self._take_answered_keys(sdp, now):
            sdp = None  # early media we cannot decrypt: ring without it
        if sdp is not None:
            self._remember_phone_sdp(sdp)
        first = self.state is LegState.CALLING
        self.state = LegState.RINGING
        if first or sdp is not None:
            return self.report(Ringing(sdp), now)
        return []

    def _on_success(self, response: Response, now: float) -> list[Any]:
        """RFC 3261 13.2.2.4: every 2xx is ACKed; the first one confirms the dialog."""
        tag = response.to.tag or ""
        if self.dialog is not None and self.dialog.remote_tag == tag:
            return self.context.send_ack(self, self.dialog.create_ack(response), now)  # a retransmission
        if self.dialog is not None:
            dialog = self.dialog.fork(response)
        else:
            assert self.invite is not None
            dialog = Dialog.as_uac(self.invite, response)
        actions = self.context.send_ack(self, dialog.create_ack(response), now)
        sdp = self._readable_sdp(response)
        broken = bool(response.body) and (sdp is None or not self._take_answered_keys(sdp, now))
        if self.dialog is not None or self.is_ended or broken:
            # A second 2xx from a fork downstream, our CANCEL crossed the 2xx (RFC 3261 9.1,
            # 13.2.2.4), or an answer we cannot read: ACK it and end that dialog at once.
            actions += self.context.send_request(self, dialog.create_request("BYE"), "bye", now)
            if broken and not self.is_ended:
                actions += self._ended_by_phone(Hangup(Cause.FAILURE, 488, "unreadable SDP answer"), now)
            return actions
        self.dialog = dialog
        self.context.dialog_created(self, dialog)
        # A 2xx from another fork until Timer M (RFC 6026 7.2) makes its dialog from this one
        # (Dialog.fork), to ACK and BYE it (RFC 3261 13.2.2.4); our offer is in local_sdp.
        self.invite = None
        if sdp is not None:
            self._remember_phone_sdp(sdp)
        self.state = LegState.ANSWERED
        self.answered_at = now
        actions += self.report(Answer(self.phone_sdp), now)
        self.settle()  # the other side has its answer now
        return actions

    def _with_credentials(self, response: Response, now: float) -> list[Any]:
        """RFC 3261 22.2/22.3: the INVITE again with the same Call-ID and From tag, the next
        CSeq and our credentials; [] when the challenge cannot (or can no longer) be answered."""
        assert self.invite is not None and self.answer_challenge is not None
        if self.cancel_wanted:
            return []
        answer = self.answer_challenge(response, self.invite)
        if answer is None:
            return []
        headers = Headers()
        for name, value in self.invite.headers:
            if name.lower() not in ("via", "cseq", "authorization", "proxy-authorization", "content-length"):
                headers.add(name, value)
        headers.add("CSeq", f"{self.invite.cseq.number + 1} INVITE")
        headers.add(*answer)
        invite = Request("INVITE", self.invite.uri, headers, self.invite.body)
        self.invite = invite
        self.provisional_seen = False
        return self.context.send_request(self, invite, "invite", now)

    def on_invite_timeout(self, now: float) -> list[Any]:
        """Timer B or a transport failure: the phone never answered the INVITE (RFC 3261 17.1.1.2)."""
        return self._ended_by_phone(Hangup(Cause.TIMEOUT, 408, "no response"), now)

    def _send_cancel(self, now: float) -> list[Any]:
        """RFC 3261 9.1: CANCEL copies the INVITE's Request-URI, Call-ID, From, To, CSeq number and Via."""
        assert self.invite is not None
        headers = Headers()
        for name in ("Via", "Route"):
            for value in self.invite.headers.lines(name)[:1] if name == "Via" else self.invite.headers.lines(name):
                headers.add(name, value)
        for name in ("Max-Forwards", "From", "To", "Call-ID"):
            headers.add(name, self.invite.headers.get(name) or "")
        headers.add("CSeq", f"{self.invite.cseq.number} CANCEL")
        cancel = Request("CANCEL", self.invite.uri, headers)
        return self.context.send_request(self, cancel, "cancel", now)

    # Inbound: we are the UAS -------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        if self.invite is None:
            return {}
        # Header names are case-insensitive (RFC 3261 7.3.5): offer each as sent, in lower case
        # and in the usual capitalisation, so `header.X-Customer-Id` finds x-customer-id.
        found: dict[str, str] = {}
        for name, value in self.invite.headers:
            for spelling in (name, name.lower(), "-".join(part.capitalize() for part in name.split("-"))):
                found.setdefault(spelling, value)
        return found

    def accept_invite(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        """Take the caller's INVITE and ask the controller to route it; 100 Trying follows if
        nothing else has answered it within TRYING_DELAY."""
        self.invite = request
        self.invite_transaction = transaction
        self.local_tag = self.context.tag_for(request)
        self.state = LegState.CALLING
        self.session_expires = request.headers.get("Session-Expires")
        # RFC 3261 17.2.1: the 100 is owed only when the TU has not answered within 200 ms. A
        # call that rings or is refused at once spares a message, at 600 calls/s 600 a second.
        self._retransmit = self.context.scheduler.call_at(now + TRYING_DELAY, partial(self._send_trying, transaction))
        sdp = self._sdp_of(request)
        if sdp is not None:
            self._remember_phone_sdp(sdp)
        return self.report(Try(self.party, request.uri.user or "", self.phone_sdp), now)

    def _send_trying(self, transaction: ServerTransaction, now: float) -> list[Any]:
        self._retransmit = None
        if (self.invite_transaction is not transaction or transaction.last_response is not None
                or transaction.state is not State.PROCEEDING):
            return []  # answered meanwhile (a 2xx's transaction is Accepted and keeps no response)
        return self.context.respond(transaction, make_response(transaction.request, 100), now)

    def _ring(self, signal: Ringing, now: float) -> list[Any]:
        if self.invite_transaction is None or self.state not in (LegState.CALLING, LegState.RINGING):
            return []
        self.state = LegState.RINGING
        if signal.sdp is not None and self.phone_sdp is not None:
            # Early media (RFC 3960): 183 with our answer, so the caller hears the far end ringing.
            body = self._local_answer(signal.sdp).serialize()
            return self._respond_invite(183, now, body)
        return self._respond_invite(180, now)

    def _answer(self, signal: Answer, now: float) -> list[Any]:
        if self.invite_transaction is None or self.state is LegState.ANSWERED:
            return []
        body = b""
        if signal.sdp is not None and self.phone_sdp is not None:
            body = self._local_answer(signal.sdp).serialize()
        extra = []
        if self.session_expires:
            # RFC 4028 9: echo the interval and let the caller refresh; we answer refreshes locally.
            interval = self.session_expires.split(";")[0].strip()
            extra = [("Session-Expires", f"{interval};refresher=uac"), ("Require", "timer")]
        self.state = LegState.ANSWERED
        self.answered_at = now
        response = self._invite_response(200, body, extra)
        actions = self.context.respond(self.invite_transaction, response, now)
        assert self.invite is not None
        self.dialog = Dialog.as_uas(self.invite, response, local_contact=self.context.contact_for(self.peer))
        self.context.dialog_created(self, self.dialog)
        self._retransmit_2xx(self.invite_transaction, response, now, self.context.timers.t1)
        return actions

    def _respond_invite(self, status: int, now: float, body: bytes = b"",
                        extra: list[tuple[str, str]] | None = None, warning: str | None = None) -> list[Any]:
        assert self.invite_transaction is not None
        return self.context.respond(self.invite_transaction, self._invite_response(status, body, extra, warning), now)

    def _invite_response(self, status: int, body: bytes = b"", extra: list[tuple[str, str]] | None = None,
                         warning: str | None = None) -> Response:
        assert self.invite is not None
        if self._retransmit is not None:  # the 100 Trying still to come is owed no more
            self._retransmit.cancel()
            self._retransmit = None
        # RFC 3261 20.43: a refusal says why in a Warning the caller's phone can show.
        response = make_response(self.invite, status, to_tag=self.local_tag, warning=warning if status >= 400 else None)
        if 100 < status < 300:
            response.headers.add("Contact", self.context.contact_for(self.peer))
        if status == 200:
            response.headers.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY")
            response.headers.add("Supported", "replaces, timer")
        for name, value in extra or ():
            response.headers.add(name, value)
        if body:
            response.headers.add("Content-Type", SDP)
            response.body = body
        return response

    def _retransmit_2xx(self, transaction: ServerTransaction, response: Response, now: float, interval: float) -> None:
        """RFC 3261 13.3.1.4: resend the 2xx at T1, 2T1, ... up to T2 until the ACK; give up after 64*T1."""
        # Done on every transport: a proxy between us and the phone may use UDP (13.3.1.4).
        self._schedule_2xx(transaction, response, now, now + interval, interval)

    def _schedule_2xx(self, transaction: ServerTransaction, response: Response, started: float, at: float,
                      interval: float) -> None:
        # A method and a partial, not a closure that schedules itself: that is a reference cycle
        # (function -> cell -> function) that only the cyclic collector frees, after every call.
        self._retransmit = self.context.scheduler.call_at(
            at, partial(self._resend_2xx, transaction, response, started, interval))

    def _resend_2xx(self, transaction: ServerTransaction, response: Response, started: float, interval: float,
                    now: float) -> list[Any]:
        self._retransmit = None
        if self.is_ended:
            return []
        timers = self.context.timers
        if now - started >= 64 * timers.t1:
            return self._ended_by_phone(Hangup(Cause.TIMEOUT, 408, "no ACK for our 2xx"), now, bye=True)
        next_interval = min(2 * interval, timers.t2)
        self._schedule_2xx(transaction, response, started, now + next_interval, next_interval)
        return self.context.respond(transaction, response, now)

    def on_ack(self, request: Request, now: float) -> list[Any]:
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        if self.dialog is not None and self.dialog.state is DialogState.EARLY:
            self.dialog.confirm()
        return []

    def on_cancel(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        """RFC 3261 9.2: 200 to the CANCEL, 487 to the INVITE if it is still pending."""
        actions = self.context.respond(transaction, make_response(request, 200, to_tag=self.local_tag), now)
        if self.state in (LegState.CALLING, LegState.RINGING) and self.invite_transaction is not None:
            actions += self._respond_invite(487, now)
            actions += self._ended_by_phone(Hangup(Cause.CANCELLED, 487, "caller cancelled"), now)
        return actions

    # In-dialog requests from the phone ----------------------------------------------------------

    def on_bye(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        actions = self.context.respond(transaction, make_response(request, 200), now)
        return actions + self._ended_by_phone(Hangup(Cause.NORMAL, 200, "BYE"), now)

    def on_reinvite(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        """RFC 3261 14.2: a new offer from the phone; answered locally for a session refresh."""
        if self.pending_reinvite is not None or self.outgoing_reinvite:
            # RFC 3261 14.2: an offer crossing ours gets 491 Request Pending.
            return self.context.respond(transaction, make_response(request, 491), now)
        sdp = self._sdp_of(request)
        unchanged = sdp is None or (
            self.phone_sdp is not None and sdp.origin.session_version == self.phone_sdp.origin.session_version
        )
        if unchanged:
            # RFC 4028 / RFC 3264 8: a refresh with the same SDP version changes nothing.
            return self._reply_with_sdp(transaction, request, self.local_sdp, now)
        self.pending_reinvite = (transaction, request)
        self._remember_phone_sdp(sdp)
        return self.report(Update(sdp), now)

    def _answer_reoffer(self, signal: UpdateAnswer, now: float) -> list[Any]:
        if self.pending_reinvite is None:
            return []
        transaction, request = self.pending_reinvite
        self.pending_reinvite = None
        if signal.status != 200 or signal.sdp is None:
            return self.context.respond(transaction, make_response(request, signal.status or 488), now)
        answer = self._local_answer(signal.sdp)
        return self._reply_with_sdp(transaction, request, answer, now)

    def _reply_with_sdp(self, transaction: ServerTransaction, request: Request,
                        sdp: SessionDescription | None, now: float) -> list[Any]:
        response = make_response(request, 200)
        response.headers.add("Contact", self.context.contact_for(self.peer))
        if sdp is not None and (request.method == "INVITE" or request.body):
            response.headers.add("Content-Type", SDP)
            response.body = sdp.serialize()
        actions = self.context.respond(transaction, response, now)
        if request.method == "INVITE":
            self._retransmit_2xx(transaction, response, now, self.context.timers.t1)
        return actions

    def on_update(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        """RFC 3311 UPDATE, used by session timers (RFC 4028) to refresh: answered locally."""
        return self._reply_with_sdp(transaction, request, self.local_sdp if request.body else None, now)

    def on_info(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        actions = self.context.respond(transaction, make_response(request, 200), now)
        content_type = request.headers.get("Content-Type") or ""
        return actions + self.report(Info(content_type, request.body), now)

    def on_refer(self, transaction: ServerTransaction, request: Request, now: float) -> list[Any]:
        """RFC 3515 2.4: accept with 202, report 100 Trying in a NOTIFY, hand the transfer to the controller."""
        refer_to = request.headers.get("Refer-To")
        try:
            target = NameAddress.parse(refer_to or "")
        except RemoteProtocolError:
            return self.context.respond(transaction, make_response(request, 400, "Bad Refer-To"), now)
        replaces = _replaces_of(target.uri)
        actions = self.context.respond(transaction, make_response(request, 202), now)
        actions += self.notify_transfer(100, "Trying", now)
        number = target.uri.user or ""
        return actions + self.report(Transfer(number, replaces), now)

    def notify_transfer(self, status: int, reason: str, now: float) -> list[Any]:
        """RFC 3515 2.4.4: the progress of the transfer as a message/sipfrag NOTIFY."""
        if self.dialog is None or self.dialog.state is DialogState.TERMINATED:
            return []
        final = status >= 200
        state = "terminated;reason=noresource" if final else "active;expires=60"
        body = f"SIP/2.0 {status} {reason}\r\n".encode()
        return self._in_dialog("NOTIFY", now, body=body, content_type="message/sipfrag;version=2.0",
                               extra=[("Event", "refer"), ("Subscription-State", state)])

    def on_in_dialog_response(self, request: Request, response: Response, now: float) -> list[Any]:
        """Responses to what we sent inside the dialog (re-INVITE, BYE, INFO, NOTIFY)."""
        if self.dialog is None:
            return []
        if response.status >= 200:
            self.dialog.receive_response(request, response)
        if request.method != "INVITE" or response.status < 200:
            if response.status in (408, 481) and not self.is_ended:
                return self._ended_by_phone(Hangup(Cause.FAILURE, response.status, "dialog gone"), now)
            return []
        actions: list[Any] = []
        self.outgoing_reinvite = False
        if 200 <= response.status < 300:
            actions += self.context.send_ack(self, self.dialog.create_ack(response), now)
            sdp = self._readable_sdp(response)
            if (sdp is None and response.body) or (sdp is not None and not self._take_answered_keys(sdp, now)):
                return actions + self.report(UpdateAnswer(None, 488), now)  # unreadable answer
            if sdp is not None:
                self._remember_phone_sdp(sdp)
            return actions + self.report(UpdateAnswer(sdp), now)
        return actions + self.report(UpdateAnswer(None, response.status), now)

    # Ending --------------------------------------------------------------------------------------

    def _hang_up(self, signal: Hangup, now: float) -> list[Any]:
        if self.state is LegState.ANSWERED:
            actions = self._bye(now)
        elif self.invite_transaction is not None:
            status = signal.status or STATUS_OF_CAUSE.get(signal.cause, 480)
            actions = self._respond_invite(max(status, 300), now, warning=signal.reason)
        elif self.provisional_seen:
            actions = self._send_cancel(now)
        else:
            # RFC 3261 9.1: no provisional yet, so no CANCEL; send it when one arrives.
            self.cancel_wanted = True
            actions = []
        self.cancel_wanted = self.cancel_wanted or self.state in (LegState.CALLING, LegState.RINGING)
        return actions + self._finish(now)

    def _bye(self, now: float) -> list[Any]:
        if self.dialog is None or self.dialog.state is DialogState.TERMINATED:
            return []
        bye = self.dialog.create_request("BYE")
        return self.context.send_request(self, bye, "bye", now)

    def _ended_by_phone(self, signal: Hangup, now: float, *, bye: bool = False) -> list[Any]:
        if self.is_ended:
            return []
        actions = self._bye(now) if bye else []
        if self.dialog is not None and not bye:
            self.dialog.terminate()
        actions += self._finish(now)
        return actions + self.report(signal, now)

    def _finish(self, now: float) -> list[Any]:
        self.state = LegState.ENDED
        if self._retransmit is not None:
            self._retransmit.cancel()
            self._retransmit = None
        return self.context.leg_ended(self, now)

    # SDP ---------------------------------------------------------------------------------------

    def _in_dialog(self, method: str, now: float, *, body: bytes = b"", content_type: str | None = None,
                   extra: list[tuple[str, str]] | None = None) -> list[Any]:
        if self.dialog is None or self.dialog.state is DialogState.TERMINATED:
            return []
        request = self.dialog.create_request(method, body=body, content_type=content_type, extra_headers=extra or ())
        # A re-INVITE's answers belong to the dialog, not to the leg's initial INVITE.
        purpose = "reinvite" if method == "INVITE" else method.lower()
        return self.context.send_request(self, request, purpose, now)

    def _reoffer(self, signal: Update, now: float) -> list[Any]:
        """Relay the other party's new offer (hold, resume) as a re-INVITE to this phone."""
        if self.dialog is None or self.outgoing_reinvite:
            return self.report(UpdateAnswer(None, 491), now)
        offer = self._local_offer(signal.sdp)
        if offer is None:
            return self.report(UpdateAnswer(None, 488), now)
        self.outgoing_reinvite = True
        return self._in_dialog("INVITE", now, body=offer.serialize(), content_type=SDP)

    def _local_offer(self, far: SessionDescription | None, only: list[str] | None = None) -> SessionDescription | None:
        if far is None:
            return None
        crypto = None
        if self.wants_srtp or self.srtp_keys is not None:
            # A leg on SRTP stays on it; our key is kept across re-offers (RFC 4568 6.1 allows it),
            # so the phone's SRTP state (rollover counter, replay window) carries on.
            crypto = self.srtp_keys.local if self.srtp_keys is not None else fresh_crypto(1, SRTP_SUITE)
        offer = anchor.offer_for_leg(far, host=self.context.media_host, port=self.media.port, session=self.session,
                                     only=only, crypto=crypto)
        self.local_sdp = offer
        return offer

    def _local_answer(self, far: SessionDescription) -> SessionDescription:
        assert self.phone_sdp is not None
        theirs = anchor.offered_crypto(self.phone_sdp)
        keys = None
        if theirs is not None:
            # RFC 4568 7.1.2: same tag and suite as the phone's line, a key of our own.
            kept = self.srtp_keys.local if self.srtp_keys is not None else None
            same = kept is not None and (kept.tag, kept.suite) == (theirs.tag, theirs.suite)
            keys = SrtpKeys(local=kept if same else fresh_crypto(theirs.tag, theirs.suite), remote=theirs)
        answer = anchor.answer_for_leg(self.phone_sdp, far, host=self.context.media_host, port=self.media.port,
                                       session=self.session, crypto=keys.local if keys else None)
        self._use_keys(keys)
        self.local_sdp = answer
        return answer

    def _take_answered_keys(self, answer: SessionDescription, now: float) -> bool:
        """Secure the leg with the keys of the phone's answer to our offer; False when the answer
        drops or garbles the SRTP we required (RFC 4568 7.1.3)."""
        if self.local_sdp is None:
            return True
        try:
            keys = anchor.answered_keys(self.local_sdp, answer)
        except SdpError as error:
            log.warning("%s: %s", self.id, error)
            return False
        self._use_keys(keys)
        return True

    def _use_keys(self, keys: SrtpKeys | None) -> None:
        if keys == self.srtp_keys or self.media is None:
            return
        if keys is not None and self.srtp_keys is None and self.peer.transport != "tls":
            # RFC 4568 8.3: SDES keys are only as secret as the signalling that carries them.
            warned = any(isinstance(leg, SipLeg) and leg.srtp_keys is not None and leg.peer.transport != "tls"
                         for leg in (self.call.legs if self.call is not None else ()) if leg is not self)
            if not warned:
                log.warning("call %s: SRTP keys negotiated over %s, not TLS: anyone who sees the SIP "
                            "can decrypt the media (RFC 4568 8.3)", self.call.id if self.call else self.id,
                            self.peer.transport.upper())
        self.srtp_keys = keys
        self.media.secure(None if keys is None else SrtpContext(
            keys.remote.suite, keys.remote.key_and_salt, keys.local.suite, keys.local.key_and_salt))

    def _remember_phone_sdp(self, sdp: SessionDescription) -> None:
        self.phone_sdp = sdp
        address = anchor.media_address(sdp)
        if address is not None and self.media is not None and address.host != "0.0.0.0":
            self.media.expect(address.host, address.port, address.rtcp_port)

    @classmethod
    def offer_of(cls, request: Request) -> SessionDescription | None:
        """The SDP offer of a request, or None if absent or unreadable."""
        return cls._readable_sdp(request)

    @classmethod
    def _readable_sdp(cls, message: Request | Response) -> SessionDescription | None:
        """The SDP of a response from the phone, or None if absent or unreadable (logged by the caller)."""
        try:
            return cls._sdp_of(message)
        except SdpError:
            return None

    @staticmethod
    def _sdp_of(message: Request | Response) -> SessionDescription | None:
        content_type = (message.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not message.body or content_type != SDP:
            return None
        return SessionDescription.parse(message.body)


def _replaces_of(uri: Uri) -> tuple[str, str, str] | None:
    """RFC 3891 in a Refer-To URI header: `?Replaces=callid%3Bto-tag%3Dx%3Bfrom-tag%3Dy`."""
    if not uri.headers:
        return None
    for part in uri.headers.split("&"):
        name, _, value = part.partition("=")
        if name.lower() == "replaces":
            call_id, *params = unquote(value).split(";")
            tags = dict(p.split("=", 1) for p in params if "=" in p)
            return call_id, tags.get("to-tag", ""), tags.get("from-tag", "")
    return None


def check_sdp(message: Request | Response) -> str | None:
    """The reason an SDP body is unreadable, or None when it is fine (or absent)."""
    try:
        SipLeg._sdp_of(message)
    except SdpError as error:
        return str(error)
    return None
