"""Tests for pbx.sip.transaction: messages from bytes, a fake clock of plain floats, exact actions.

Timer values are the RFC 3261 defaults (T1 0.5 s, T2 4 s, T4 5 s) unless a
test says otherwise, so the expected times can be read against table 4.
"""

import ast
from pathlib import Path

import pytest

from pbx.sip import transaction as transaction_module
from pbx.sip.errors import LocalProtocolError
from pbx.sip.message import Request, Response, parse_message
from pbx.sip.transaction import (
    MACHINES,
    AckReceived,
    ClientTransaction,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    State,
    Timer,
    Timers,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)

UDP = Peer("udp", "192.0.2.10", 5060)
TCP = Peer("tcp", "192.0.2.10", 40312)
ALL_ZERO = {"invite_client": 0, "non_invite_client": 0, "invite_server": 0, "non_invite_server": 0}


def sip(text: str) -> bytes:
    """A message written one header per source line, with CRLF endings."""
    return text.lstrip("\n").replace("\n", "\r\n").encode()


def make_request(
    method: str = "INVITE",
    branch: str = "z9hG4bKinv1",
    *,
    cseq: int = 1,
    cseq_method: str | None = None,
    sent_by: str = "192.0.2.10:5060",
    transport: str = "UDP",
    to_tag: str | None = None,
    from_tag: str = "a1",
    uri: str = "sip:bob@pbx.example",
    call_id: str = "call-1@192.0.2.10",
    extra: str = "",
) -> Request:
    branch_param = f";branch={branch}" if branch else ""
    to = "<sip:bob@pbx.example>" + (f";tag={to_tag}" if to_tag else "")
    message = parse_message(
        sip(
            f"""
{method} {uri} SIP/2.0
Via: SIP/2.0/{transport} {sent_by}{branch_param}
Max-Forwards: 70
From: "Alice" <sip:alice@example.com>;tag={from_tag}
To: {to}
Call-ID: {call_id}
CSeq: {cseq} {cseq_method or method}
{extra}Content-Length: 0

"""
        )
    )
    assert isinstance(message, Request)
    return message


def make_response(request: Request, status: int, reason: str, to_tag: str | None = "b2") -> Response:
    """The response a UAS would build for `request` (RFC 3261 8.2.6.2)."""
    vias = "".join(f"Via: {value}\n" for value in request.headers.lines("Via"))
    to = request.headers.get("To")
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    message = parse_message(
        sip(
            f"""
SIP/2.0 {status} {reason}
{vias}From: {request.headers.get("From")}
To: {to}
Call-ID: {request.call_id}
CSeq: {request.headers.get("CSeq")}
Content-Length: 0

"""
        )
    )
    assert isinstance(message, Response)
    return message


def names(actions: list) -> list[str]:
    return [type(action).__name__ for action in actions]


def run_until(layer: TransactionLayer, until: float) -> list[tuple[float, list]]:
    """Wake the layer at each deadline up to `until`, as the adapter's call_at would."""
    fired = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        fired.append((deadline, layer.handle_timer(deadline)))
    return fired


def retransmission_times(fired: list[tuple[float, list]]) -> list[float]:
    return [at for at, actions in fired if names(actions) == ["Transmit"]]


def answered(layer, status=486, reason="Busy Here", peer=UDP, now=0.0, request=None):
    """A server INVITE transaction that the TU has answered with `status` at `now`."""
    request = request or make_request()
    [received] = layer.receive_request(request, peer, now)
    transaction = received.transaction
    response = make_response(request, status, reason)
    layer.send_response(transaction, response, now)
    return transaction, request, response


# INVITE client transaction (RFC 3261 17.1.1, RFC 6026 7.2) -------------------------------------


def test_invite_client_transmits_request_once_and_starts_in_calling():
    layer = TransactionLayer()
    invite = make_request()
    transaction, actions = layer.send_request(invite, UDP, 0.0)
    assert actions == [Transmit(invite.serialize(), UDP, invite)]
    assert isinstance(transaction, ClientTransaction)
    assert (transaction.kind, transaction.state, transaction.peer) == ("invite_client", State.CALLING, UDP)
    assert transaction.request is invite
    assert transaction.id == "ict-1"
    assert len(layer) == 1
    assert layer.counts() == {**ALL_ZERO, "invite_client": 1}


def test_timer_a_doubles_from_t1_and_timer_b_times_out_at_64_t1():
    layer = TransactionLayer()
    invite = make_request()
    transaction, [first] = layer.send_request(invite, UDP, 0.0)
    fired = run_until(layer, 100.0)
    assert retransmission_times(fired) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(actions[0] == first for _, actions in fired[:-1])
    assert fired[-1] == (32.0, [TransactionTimedOut(transaction), TransactionTerminated(transaction)])
    assert transaction.state is State.TERMINATED
    assert layer.next_deadline() is None
    assert len(layer) == 0 and layer.counts() == ALL_ZERO


def test_timers_follow_a_configured_t1():
    layer = TransactionLayer(Timers(t1=0.1, t2=4.0, t4=5.0))
    layer.send_request(make_request(), UDP, 10.0)
    fired = run_until(layer, 100.0)
    assert retransmission_times(fired) == pytest.approx([10.1, 10.3, 10.7, 11.5, 13.1, 16.3])
    assert fired[-1][0] == pytest.approx(16.4)  # Timer B = 64*T1
    assert names(fired[-1][1]) == ["TransactionTimedOut", "TransactionTerminated"]


def test_invite_client_over_reliable_transport_never_retransmits():
    layer = TransactionLayer()
    transaction, _ = layer.send_request(make_request(transport="TCP"), TCP, 0.0)
    assert layer.next_deadline() == 32.0
    assert layer.handle_timer(31.9) == []
    assert layer.handle_timer(32.0) == [TransactionTimedOut(transaction), TransactionTerminated(transaction)]


def test_provisional_moves_to_proceeding_and_stops_timers_a_and_b():
    layer = TransactionLayer()
    invite = make_request()
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    assert layer.handle_timer(0.5) != []
    ringing = make_response(invite, 180, "Ringing")
    assert layer.receive_response(ringing, 1.0) == [ResponseReceived(transaction, ringing)]
    assert transaction.state is State.PROCEEDING
    # RFC 3261 17.1.1.2: no more retransmissions, and Timer B does not run in Proceeding.
    assert layer.next_deadline() is None
    again = make_response(invite, 183, "Session Progress")
    assert layer.receive_response(again, 2.0) == [ResponseReceived(transaction, again)]


def test_ack_for_non_2xx_is_built_by_the_transaction():
    layer = TransactionLayer()
    invite = make_request(
        branch="z9hG4bKinv7;rport",
        cseq=7,
        extra="Route: <sip:proxy1.example;lr>\nRoute: <sip:proxy2.example;lr>\n"
        "Contact: <sip:alice@192.0.2.10>\nSubject: lunch\n",
    )
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    busy = make_response(invite, 486, "Busy Here", to_tag="b2")
    actions = layer.receive_response(busy, 0.2)
    assert names(actions) == ["ResponseReceived", "Transmit"]
    assert actions[0] == ResponseReceived(transaction, busy)
    ack = actions[1]
    assert ack.peer == UDP
    # RFC 3261 17.1.1.3: Request-URI, Call-ID, From and CSeq number of the INVITE, To of the
    # response, the INVITE's top Via only, its Route headers; nothing else from the INVITE.
    assert ack.data == sip(
        """
ACK sip:bob@pbx.example SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv7;rport
Route: <sip:proxy1.example;lr>
Route: <sip:proxy2.example;lr>
Max-Forwards: 70
From: "Alice" <sip:alice@example.com>;tag=a1
To: <sip:bob@pbx.example>;tag=b2
Call-ID: call-1@192.0.2.10
CSeq: 7 ACK
Content-Length: 0

"""
    )
    assert ack.message.method == "ACK"
    assert transaction.state is State.COMPLETED


def test_ack_has_only_the_top_via_of_the_invite():
    layer = TransactionLayer()
    invite = make_request(extra="Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKupstream\n")
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    _, ack = layer.receive_response(make_response(invite, 603, "Decline"), 0.1)
    assert ack.message.headers.get_all("Via") == ["SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1"]


def test_retransmitted_final_resends_the_same_ack_and_is_not_passed_up():
    layer = TransactionLayer()
    invite = make_request()
    layer.send_request(invite, UDP, 0.0)
    busy = make_response(invite, 486, "Busy Here")
    _, first_ack = layer.receive_response(busy, 0.2)
    assert layer.receive_response(make_response(invite, 486, "Busy Here"), 1.0) == [first_ack]
    # A 2xx or 1xx has no transition in Completed: ignored.
    assert layer.receive_response(make_response(invite, 180, "Ringing"), 1.1) == []
    assert layer.receive_response(make_response(invite, 200, "OK"), 1.2) == []


def test_timer_d_is_32_seconds_on_unreliable_transports():
    layer = TransactionLayer()
    invite = make_request()
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    layer.receive_response(make_response(invite, 404, "Not Found"), 2.0)
    assert layer.next_deadline() == 34.0
    assert run_until(layer, 100.0) == [(34.0, [TransactionTerminated(transaction)])]
    # After Timer D a late retransmission matches nothing.
    assert layer.receive_response(make_response(invite, 404, "Not Found"), 35.0) == []


def test_timer_d_is_zero_on_reliable_transports():
    layer = TransactionLayer()
    invite = make_request(transport="TCP")
    transaction, _ = layer.send_request(invite, TCP, 0.0)
    actions = layer.receive_response(make_response(invite, 486, "Busy Here"), 2.0)
    assert names(actions) == ["ResponseReceived", "Transmit", "TransactionTerminated"]
    assert actions[-1] == TransactionTerminated(transaction)
    assert len(layer) == 0 and layer.next_deadline() is None


def test_2xx_moves_to_accepted_and_every_2xx_goes_up_until_timer_m():
    layer = TransactionLayer()
    invite = make_request()
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    ok = make_response(invite, 200, "OK", to_tag="b2")
    assert layer.receive_response(ok, 1.0) == [ResponseReceived(transaction, ok)]  # no ACK: the TU sends it
    assert transaction.state is State.ACCEPTED
    assert layer.next_deadline() == 33.0  # RFC 6026 Timer M = 64*T1
    retransmitted = make_response(invite, 200, "OK", to_tag="b2")
    forked = make_response(invite, 200, "OK", to_tag="fork2")
    assert layer.receive_response(retransmitted, 2.0) == [ResponseReceived(transaction, retransmitted)]
    assert layer.receive_response(forked, 3.0) == [ResponseReceived(transaction, forked)]
    assert layer.receive_response(make_response(invite, 486, "Busy Here"), 3.5) == []
    assert layer.receive_response(make_response(invite, 180, "Ringing"), 3.6) == []
    assert run_until(layer, 100.0) == [(33.0, [TransactionTerminated(transaction)])]
    assert layer.receive_response(make_response(invite, 200, "OK"), 34.0) == []


def test_timer_m_runs_on_reliable_transports_too():
    layer = TransactionLayer()
    invite = make_request(transport="TCP")
    transaction, _ = layer.send_request(invite, TCP, 0.0)
    ok = make_response(invite, 200, "OK")
    assert layer.receive_response(ok, 1.0) == [ResponseReceived(transaction, ok)]
    assert layer.next_deadline() == 33.0


# Non-INVITE client transaction (RFC 3261 17.1.2) -----------------------------------------------


def test_timer_e_doubles_up_to_t2_and_timer_f_times_out():
    layer = TransactionLayer()
    options = make_request("OPTIONS", "z9hG4bKopt1")
    transaction, [first] = layer.send_request(options, UDP, 0.0)
    assert transaction.kind == "non_invite_client" and transaction.state is State.TRYING
    fired = run_until(layer, 100.0)
    assert retransmission_times(fired) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(actions == [first] for _, actions in fired[:-1])
    assert fired[-1] == (32.0, [TransactionTimedOut(transaction), TransactionTerminated(transaction)])
    assert len(layer) == 0


def test_timer_e_fires_every_t2_in_proceeding_and_timer_f_still_runs():
    layer = TransactionLayer()
    register = make_request("REGISTER", "z9hG4bKreg1")
    transaction, _ = layer.send_request(register, UDP, 0.0)
    assert retransmission_times(run_until(layer, 0.7)) == [0.5]  # in Trying: next E at 1.5
    trying = make_response(register, 100, "Trying", to_tag=None)
    assert layer.receive_response(trying, 0.7) == [ResponseReceived(transaction, trying)]
    assert transaction.state is State.PROCEEDING
    fired = run_until(layer, 100.0)
    # The E pending at 1.5 fires as planned; from then on it is reset to T2 (17.1.2.2).
    assert retransmission_times(fired) == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert fired[-1] == (32.0, [TransactionTimedOut(transaction), TransactionTerminated(transaction)])


def test_non_invite_client_over_reliable_transport_only_runs_timer_f():
    layer = TransactionLayer()
    transaction, _ = layer.send_request(make_request("OPTIONS", transport="TCP"), TCP, 0.0)
    assert layer.next_deadline() == 32.0
    assert run_until(layer, 100.0) == [(32.0, [TransactionTimedOut(transaction), TransactionTerminated(transaction)])]


def test_final_response_completes_and_timer_k_absorbs_retransmissions():
    layer = TransactionLayer()
    bye = make_request("BYE", "z9hG4bKbye1", to_tag="b2")
    transaction, _ = layer.send_request(bye, UDP, 0.0)
    ok = make_response(bye, 200, "OK")
    assert layer.receive_response(ok, 0.2) == [ResponseReceived(transaction, ok)]
    assert transaction.state is State.COMPLETED
    assert layer.next_deadline() == 5.2  # Timer K = T4
    assert layer.receive_response(make_response(bye, 200, "OK"), 1.0) == []
    assert layer.receive_response(make_response(bye, 100, "Trying"), 1.1) == []
    assert run_until(layer, 100.0) == [(5.2, [TransactionTerminated(transaction)])]


def test_final_response_over_reliable_transport_terminates_at_once():
    layer = TransactionLayer()
    bye = make_request("BYE", transport="TCP")
    transaction, _ = layer.send_request(bye, TCP, 0.0)
    failure = make_response(bye, 481, "Call/Transaction Does Not Exist")
    assert layer.receive_response(failure, 0.2) == [
        ResponseReceived(transaction, failure),
        TransactionTerminated(transaction),
    ]
    assert len(layer) == 0 and layer.next_deadline() is None


def test_late_wake_up_restarts_the_retransmit_timer_from_now():
    layer = TransactionLayer()
    layer.send_request(make_request(), UDP, 0.0)
    assert names(layer.handle_timer(1.2)) == ["Transmit"]  # A was due at 0.5: one retransmission, no burst
    assert layer.next_deadline() == pytest.approx(2.2)  # next interval 2*T1 from the wake-up


# INVITE server transaction (RFC 3261 17.2.1, RFC 6026 7.1) -------------------------------------


def test_new_invite_creates_a_server_transaction():
    layer = TransactionLayer()
    invite = make_request()
    actions = layer.receive_request(invite, UDP, 0.0)
    [received] = actions
    assert isinstance(received, RequestReceived) and received.request is invite
    transaction = received.transaction
    assert isinstance(transaction, ServerTransaction)
    assert (transaction.kind, transaction.state, transaction.peer) == ("invite_server", State.PROCEEDING, UDP)
    assert transaction.last_response is None and transaction.id == "ist-1"
    assert layer.counts() == {**ALL_ZERO, "invite_server": 1}
    assert layer.next_deadline() is None


def test_invite_retransmission_is_absorbed_and_resends_the_last_provisional():
    layer = TransactionLayer()
    invite = make_request()
    [received] = layer.receive_request(invite, UDP, 0.0)
    transaction = received.transaction
    assert layer.receive_request(make_request(), UDP, 0.4) == []  # nothing to resend yet
    ringing = make_response(invite, 180, "Ringing")
    assert layer.send_response(transaction, ringing, 0.5) == [Transmit(ringing.serialize(), UDP, ringing)]
    assert transaction.last_response is ringing
    assert layer.receive_request(make_request(), UDP, 1.0) == [Transmit(ringing.serialize(), UDP, ringing)]
    assert transaction.state is State.PROCEEDING
    assert len(layer) == 1


def test_responses_go_to_the_peer_given_at_creation():
    layer = TransactionLayer()
    response_peer = Peer("udp", "203.0.113.7", 31337)  # what RFC 3581 rport worked out
    invite = make_request()
    [received] = layer.receive_request(invite, response_peer, 0.0)
    [sent] = layer.send_response(received.transaction, make_response(invite, 100, "Trying", None), 0.0)
    assert sent.peer == response_peer
    # A retransmission from elsewhere is still answered to the transaction's peer.
    [resent] = layer.receive_request(make_request(), UDP, 0.5)
    assert resent.peer == response_peer


def test_timer_g_retransmits_final_response_and_timer_h_times_out():
    layer = TransactionLayer()
    transaction, _, busy = answered(layer, now=10.0)
    assert transaction.state is State.COMPLETED
    fired = run_until(layer, 100.0)
    assert retransmission_times(fired) == [10.5, 11.5, 13.5, 17.5, 21.5, 25.5, 29.5, 33.5, 37.5, 41.5]
    assert all(actions == [Transmit(busy.serialize(), UDP, busy)] for _, actions in fired[:-1])
    assert fired[-1] == (42.0, [TransactionTimedOut(transaction), TransactionTerminated(transaction)])
    assert len(layer) == 0


def test_ack_confirms_and_timer_i_absorbs_ack_retransmissions():
    layer = TransactionLayer()
    transaction, invite, busy = answered(layer)
    run_until(layer, 1.5)  # G fired at 0.5 and 1.5
    ack = make_request("ACK", to_tag="b2")
    assert layer.receive_request(ack, UDP, 2.0) == []
    assert transaction.state is State.CONFIRMED
    assert layer.next_deadline() == 7.0  # Timer I = T4; G and H stopped
    assert layer.receive_request(make_request("ACK", to_tag="b2"), UDP, 3.0) == []
    assert layer.receive_request(make_request(), UDP, 3.5) == []
    assert run_until(layer, 100.0) == [(7.0, [TransactionTerminated(transaction)])]
    assert len(layer) == 0


def test_invite_retransmission_in_completed_resends_the_final_response():
    layer = TransactionLayer()
    transaction, _, busy = answered(layer)
    assert layer.receive_request(make_request(), UDP, 0.2) == [Transmit(busy.serialize(), UDP, busy)]
    assert transaction.state is State.COMPLETED


def test_invite_server_over_reliable_transport():
    layer = TransactionLayer()
    invite = make_request(transport="TCP")
    transaction, _, _ = answered(layer, peer=TCP, request=invite)
    assert layer.next_deadline() == 32.0  # only Timer H, no G
    assert layer.receive_request(make_request("ACK", transport="TCP", to_tag="b2"), TCP, 1.0) == [
        TransactionTerminated(transaction)
    ]
    assert layer.next_deadline() is None and len(layer) == 0


def test_timer_h_also_runs_on_reliable_transports():
    layer = TransactionLayer()
    transaction, _, _ = answered(layer, peer=TCP, request=make_request(transport="TCP"))
    assert run_until(layer, 100.0) == [(32.0, [TransactionTimedOut(transaction), TransactionTerminated(transaction)])]


def test_2xx_moves_to_accepted_until_timer_l():
    layer = TransactionLayer()
    transaction, invite, ok = answered(layer, 200, "OK")
    assert transaction.state is State.ACCEPTED
    assert layer.next_deadline() == 32.0  # RFC 6026 Timer L = 64*T1
    # INVITE retransmissions are absorbed: not passed up, and the 2xx is the TU's to resend.
    assert layer.receive_request(make_request(), UDP, 0.5) == []
    assert layer.send_response(transaction, ok, 0.5) == [Transmit(ok.serialize(), UDP, ok)]
    # The ACK for a 2xx has a new branch and so matches nothing: it is the dialog's.
    ack = make_request("ACK", "z9hG4bKack2xx", to_tag="b2")
    assert layer.receive_request(ack, UDP, 0.6) == [AckReceived(ack, UDP)]
    assert run_until(layer, 100.0) == [(32.0, [TransactionTerminated(transaction)])]
    assert len(layer) == 0


def test_a_state_that_waits_for_one_timer_leaves_only_for_terminated():
    # The layer queues such a transaction once, by its timer's duration, and never cancels the
    # entry (TransactionLayer._waiting): no transition inside the state may start a timer, and
    # every way out goes to Terminated.
    for machine in MACHINES.values():
        for state, timers in machine.runs.items():
            if state not in transaction_module.LINGERING or len(timers) != 1:
                continue
            for (source, _), transition in machine.transitions.items():
                if source is state:
                    assert transition.target in (state, State.TERMINATED), (machine.kind, state, transition)
                    assert not any(isinstance(effect, Timer) for effect in transition.effects), (machine.kind, state)


def test_a_waiting_transaction_ended_by_a_transport_error_is_not_fired_again():
    layer = TransactionLayer()
    ended, _, _ = answered(layer, 200, "OK", now=0.0)
    waiting, _, _ = answered(layer, 200, "OK", now=1.0, request=make_request(branch="z9hG4bKsecond"))
    assert layer.transport_error(ended, 2.0) == [TransportFailed(ended), TransactionTerminated(ended)]
    # Its queued Timer L comes up at 32 s and does nothing; the other's ends it at 33 s.
    assert run_until(layer, 100.0) == [(32.0, []), (33.0, [TransactionTerminated(waiting)])]
    assert len(layer) == 0 and layer.next_deadline() is None


def test_ack_reusing_the_invite_branch_in_accepted_goes_to_the_tu():
    layer = TransactionLayer()
    transaction, _, _ = answered(layer, 200, "OK")
    ack = make_request("ACK", to_tag="b2")
    assert layer.receive_request(ack, TCP, 1.0) == [AckReceived(ack, TCP)]  # RFC 6026 7.1
    assert transaction.state is State.ACCEPTED


def test_ack_matching_no_transaction_is_delivered():
    layer = TransactionLayer()
    ack = make_request("ACK", "z9hG4bKnothing", to_tag="b2")
    assert layer.receive_request(ack, UDP, 0.0) == [AckReceived(ack, UDP)]
    assert len(layer) == 0


def test_ack_before_any_final_response_is_ignored():
    layer = TransactionLayer()
    [received] = layer.receive_request(make_request(), UDP, 0.0)
    assert layer.receive_request(make_request("ACK"), UDP, 0.1) == []
    assert received.transaction.state is State.PROCEEDING


# Non-INVITE server transaction (RFC 3261 17.2.2) -----------------------------------------------


def test_non_invite_server_absorbs_retransmissions_in_trying():
    layer = TransactionLayer()
    options = make_request("OPTIONS", "z9hG4bKopt9")
    [received] = layer.receive_request(options, UDP, 0.0)
    assert (received.transaction.kind, received.transaction.state) == ("non_invite_server", State.TRYING)
    assert received.transaction.id == "nist-1"
    assert layer.receive_request(make_request("OPTIONS", "z9hG4bKopt9"), UDP, 0.5) == []


def test_non_invite_server_resends_provisional_then_final_until_timer_j():
    layer = TransactionLayer()
    register = make_request("REGISTER", "z9hG4bKreg9")
    [received] = layer.receive_request(register, UDP, 0.0)
    transaction = received.transaction
    trying = make_response(register, 100, "Trying", None)
    assert layer.send_response(transaction, trying, 0.1) == [Transmit(trying.serialize(), UDP, trying)]
    assert transaction.state is State.PROCEEDING
    assert layer.receive_request(make_request("REGISTER", "z9hG4bKreg9"), UDP, 0.5) == [
        Transmit(trying.serialize(), UDP, trying)
    ]
    ok = make_response(register, 200, "OK")
    assert layer.send_response(transaction, ok, 1.0) == [Transmit(ok.serialize(), UDP, ok)]
    assert transaction.state is State.COMPLETED
    assert layer.next_deadline() == 33.0  # Timer J = 64*T1
    assert layer.receive_request(make_request("REGISTER", "z9hG4bKreg9"), UDP, 2.0) == [
        Transmit(ok.serialize(), UDP, ok)
    ]
    assert run_until(layer, 100.0) == [(33.0, [TransactionTerminated(transaction)])]
    # After Timer J the same request is a new transaction.
    assert names(layer.receive_request(make_request("REGISTER", "z9hG4bKreg9"), UDP, 40.0)) == ["RequestReceived"]


def test_timer_j_is_zero_on_reliable_transports():
    layer = TransactionLayer()
    bye = make_request("BYE", transport="TCP", to_tag="b2")
    [received] = layer.receive_request(bye, TCP, 0.0)
    ok = make_response(bye, 200, "OK")
    assert layer.send_response(received.transaction, ok, 0.1) == [
        Transmit(ok.serialize(), TCP, ok),
        TransactionTerminated(received.transaction),
    ]
    assert len(layer) == 0


# Matching (RFC 3261 17.1.3, 17.2.3, 9.2) --------------------------------------------------------


def test_cancel_is_its_own_transaction_and_find_invite_locates_the_invite():
    layer = TransactionLayer()
    [invite_received] = layer.receive_request(make_request(), UDP, 0.0)
    cancel = make_request("CANCEL")
    [cancel_received] = layer.receive_request(cancel, UDP, 1.0)
    assert isinstance(cancel_received, RequestReceived)
    assert cancel_received.transaction.kind == "non_invite_server"
    assert cancel_received.transaction is not invite_received.transaction
    assert layer.find_invite(cancel) is invite_received.transaction
    assert layer.find_invite(make_request("CANCEL", "z9hG4bKother")) is None
    assert layer.find_invite(make_request("CANCEL", sent_by="198.51.100.9:5060")) is None
    assert layer.counts() == {**ALL_ZERO, "invite_server": 1, "non_invite_server": 1}


def test_find_invite_ignores_non_invite_transactions():
    layer = TransactionLayer()
    layer.receive_request(make_request("OPTIONS", "z9hG4bKsame"), UDP, 0.0)
    assert layer.find_invite(make_request("CANCEL", "z9hG4bKsame")) is None


def test_server_matching_uses_branch_sent_by_and_method():
    layer = TransactionLayer()
    assert names(layer.receive_request(make_request(), UDP, 0.0)) == ["RequestReceived"]
    # The default port is filled in: the same sent-by, so a retransmission.
    assert layer.receive_request(make_request(sent_by="192.0.2.10"), UDP, 0.1) == []
    # Same branch from another sent-by, or with another method: new transactions.
    assert names(layer.receive_request(make_request(sent_by="192.0.2.10:5070"), UDP, 0.2)) == ["RequestReceived"]
    assert names(layer.receive_request(make_request("OPTIONS"), UDP, 0.3)) == ["RequestReceived"]
    assert len(layer) == 3


def test_rfc2543_requests_are_matched_on_their_headers():
    layer = TransactionLayer()
    old_invite = make_request(branch="", cseq=5)
    [received] = layer.receive_request(old_invite, UDP, 0.0)
    transaction = received.transaction
    assert layer.receive_request(make_request(branch="", cseq=5), UDP, 0.5) == []
    assert names(layer.receive_request(make_request(branch="", cseq=6), UDP, 0.6)) == ["RequestReceived"]
    assert names(layer.receive_request(make_request(branch="", cseq=5, from_tag="zz"), UDP, 0.7)) == [
        "RequestReceived"
    ]
    # An old-style branch without the magic cookie is matched the same way.
    assert names(layer.receive_request(make_request(branch="1234", cseq=5), UDP, 0.8)) == ["RequestReceived"]
    assert layer.find_invite(make_request("CANCEL", branch="", cseq=5)) is transaction
    assert layer.find_invite(make_request("CANCEL", branch="", cseq=9)) is None


def test_rfc2543_ack_matches_by_the_to_tag_of_our_response():
    layer = TransactionLayer()
    old_invite = make_request(branch="", cseq=5)
    [received] = layer.receive_request(old_invite, UDP, 0.0)
    transaction = received.transaction
    layer.send_response(transaction, make_response(old_invite, 486, "Busy Here", to_tag="ours"), 0.1)
    stray = make_request("ACK", branch="", cseq=5, to_tag="someone-else")
    assert layer.receive_request(stray, UDP, 0.2) == [AckReceived(stray, UDP)]
    assert layer.receive_request(make_request("ACK", branch="", cseq=5, to_tag="ours"), UDP, 0.3) == []
    assert transaction.state is State.CONFIRMED


def test_rfc2543_ack_inside_a_dialog_matches_a_reinvite():
    layer = TransactionLayer()
    reinvite = make_request(branch="", cseq=8, to_tag="dlg")
    [received] = layer.receive_request(reinvite, UDP, 0.0)
    layer.send_response(received.transaction, make_response(reinvite, 488, "Not Acceptable Here"), 0.1)
    assert layer.receive_request(make_request("ACK", branch="", cseq=8, to_tag="dlg"), UDP, 0.2) == []
    assert received.transaction.state is State.CONFIRMED


def test_unmatched_and_unmatchable_responses_are_dropped():
    layer = TransactionLayer()
    invite = make_request()
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    assert layer.receive_response(make_response(make_request(branch="z9hG4bKunknown"), 200, "OK"), 0.1) == []
    # Same branch but CSeq method CANCEL: that is the CANCEL's transaction, which does not exist.
    assert layer.receive_response(make_response(make_request("CANCEL"), 200, "OK"), 0.1) == []
    no_via = parse_message(sip("SIP/2.0 200 OK\nCall-ID: x\nCSeq: 1 INVITE\nContent-Length: 0\n\n"))
    assert layer.receive_response(no_via, 0.1) == []
    assert layer.receive_response(make_response(invite, 700, "Bogus"), 0.1) == []
    assert transaction.state is State.CALLING


def test_cancel_client_transaction_shares_the_invite_branch():
    layer = TransactionLayer()
    invite = make_request()
    invite_transaction, _ = layer.send_request(invite, UDP, 0.0)
    cancel = make_request("CANCEL")
    cancel_transaction, _ = layer.send_request(cancel, UDP, 1.0)
    assert cancel_transaction.kind == "non_invite_client"
    cancelled = make_response(cancel, 200, "OK")
    assert layer.receive_response(cancelled, 1.1) == [ResponseReceived(cancel_transaction, cancelled)]
    terminated = make_response(invite, 487, "Request Terminated")
    assert names(layer.receive_response(terminated, 1.2)) == ["ResponseReceived", "Transmit"]
    assert invite_transaction.state is State.COMPLETED


# Transport errors (RFC 3261 17.1.4, 17.2.4) ----------------------------------------------------


def test_transport_error_terminates_a_client_transaction():
    layer = TransactionLayer()
    transaction, _ = layer.send_request(make_request(), UDP, 0.0)
    assert layer.transport_error(transaction, 0.1) == [TransportFailed(transaction), TransactionTerminated(transaction)]
    assert layer.next_deadline() is None and len(layer) == 0
    assert layer.transport_error(transaction, 0.2) == []  # already gone: ignored


def test_transport_error_terminates_a_server_transaction():
    layer = TransactionLayer()
    transaction, _, _ = answered(layer)
    assert layer.transport_error(transaction, 0.1) == [TransportFailed(transaction), TransactionTerminated(transaction)]
    assert layer.next_deadline() is None and len(layer) == 0


# Misuse by the TU -------------------------------------------------------------------------------


def test_response_through_a_terminated_transaction_raises_naming_state_and_event():
    layer = TransactionLayer()
    bye = make_request("BYE", transport="TCP")
    [received] = layer.receive_request(bye, TCP, 0.0)
    layer.send_response(received.transaction, make_response(bye, 200, "OK"), 0.0)
    with pytest.raises(LocalProtocolError, match="state Terminated cannot take a 2xx response from the TU"):
        layer.send_response(received.transaction, make_response(bye, 200, "OK"), 0.1)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (486, 180, "state Completed cannot take a 1xx response from the TU"),
        (486, 200, "state Completed cannot take a 2xx response from the TU"),
        (200, 486, "state Accepted cannot take a 300-699 response from the TU"),
        (200, 183, "state Accepted cannot take a 1xx response from the TU"),
    ],
)
def test_response_after_a_final_response_raises(first, second, message):
    layer = TransactionLayer()
    transaction, invite, _ = answered(layer, first, "First")
    with pytest.raises(LocalProtocolError, match=message):
        layer.send_response(transaction, make_response(invite, second, "Second"), 0.1)
    assert transaction.state in (State.COMPLETED, State.ACCEPTED)


def test_response_with_an_impossible_status_raises():
    layer = TransactionLayer()
    invite = make_request()
    [received] = layer.receive_request(invite, UDP, 0.0)
    odd = make_response(invite, 100, "Trying")
    odd.status = 99
    with pytest.raises(LocalProtocolError, match="status 99"):
        layer.send_response(received.transaction, odd, 0.0)


def test_response_through_a_client_transaction_raises():
    layer = TransactionLayer()
    invite = make_request()
    transaction, _ = layer.send_request(invite, UDP, 0.0)
    with pytest.raises(LocalProtocolError, match="server transactions"):
        layer.send_response(transaction, make_response(invite, 200, "OK"), 0.0)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (make_request("ACK", to_tag="b2"), "ACK is never sent"),
        (make_request(branch="old-style"), "must start with z9hG4bK"),
        (make_request(branch=""), "must start with z9hG4bK"),
        (make_request("OPTIONS", cseq_method="INVITE"), "CSeq method INVITE differs"),
    ],
)
def test_sending_a_request_the_stack_cannot_own_raises(request_, message):
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError, match=message):
        layer.send_request(request_, UDP, 0.0)
    assert len(layer) == 0


def test_reusing_a_live_branch_raises():
    layer = TransactionLayer()
    layer.send_request(make_request("OPTIONS", "z9hG4bKdup"), UDP, 0.0)
    with pytest.raises(LocalProtocolError, match="already used by nict-1"):
        layer.send_request(make_request("OPTIONS", "z9hG4bKdup"), UDP, 0.1)


# The timer heap and the bookkeeping --------------------------------------------------------------


def test_next_deadline_with_many_transactions():
    layer = TransactionLayer()
    expected: dict[str, float] = {}  # transaction id -> its earliest pending timer
    transactions = []
    for index in range(600):
        now = index * 0.01
        peer = UDP if index % 2 else TCP
        if index % 3 == 0:
            request = make_request("OPTIONS", f"z9hG4bKmany{index}", transport=peer.transport.upper())
            transaction, _ = layer.send_request(request, peer, now)
            expected[transaction.id] = now + (0.5 if peer is UDP else 32.0)  # Timer E, or only F
        else:
            request = make_request(branch=f"z9hG4bKmany{index}")
            [received] = layer.receive_request(request, peer, now)
            transaction = received.transaction
            expected[transaction.id] = float("inf")  # a server transaction waits for the TU
        transactions.append((transaction, request))
    assert len(layer) == 600
    assert layer.next_deadline() == pytest.approx(min(expected.values()))
    # Answer every client transaction: their Timers E and F are cancelled (lazy deletion).
    for transaction, request in transactions:
        if isinstance(transaction, ClientTransaction):
            actions = layer.receive_response(make_response(request, 200, "OK"), 6.0)
            terminated = TransactionTerminated(transaction) in actions
            expected[transaction.id] = float("inf") if terminated else 6.0 + 5.0  # Timer K
    assert layer.next_deadline() == pytest.approx(min(expected.values()))
    # The TU rejects every INVITE at 7.0: Timer G (UDP) at 7.5 or Timer H (TCP) at 39.0.
    for transaction, request in transactions:
        if isinstance(transaction, ServerTransaction):
            layer.send_response(transaction, make_response(request, 480, "Temporarily Unavailable"), 7.0)
    assert layer.next_deadline() == 7.5
    # Nobody ACKs: everything ends by Timer K or H, and the layer empties.
    fired = run_until(layer, 1000.0)
    timed_out = [action for _, actions in fired for action in actions if isinstance(action, TransactionTimedOut)]
    assert len(timed_out) == 400
    assert [at for at, _ in fired] == sorted(at for at, _ in fired)
    assert fired[-1][0] == pytest.approx(39.0)
    assert len(layer) == 0 and layer.counts() == ALL_ZERO
    assert layer.next_deadline() is None


def test_cancelled_timers_do_not_leak_into_next_deadline():
    layer = TransactionLayer()
    early, _ = layer.send_request(make_request("OPTIONS", "z9hG4bKearly"), UDP, 0.0)
    layer.send_request(make_request("OPTIONS", "z9hG4bKlate", transport="TCP"), TCP, 1.0)
    layer.transport_error(early, 0.1)
    assert layer.next_deadline() == 33.0
    assert layer.handle_timer(20.0) == []


def test_cancelled_timers_are_compacted_out_of_the_heap():
    layer = TransactionLayer()
    for index in range(5000):
        options = make_request("OPTIONS", f"z9hG4bKheap{index}", transport="TCP")
        layer.send_request(options, TCP, 0.0)  # Timer F, cancelled by the answer below
        layer.receive_response(make_response(options, 200, "OK"), 0.1)
    assert len(layer) == 0 and layer.next_deadline() is None
    assert len(layer._heap) <= 2100  # lazy deletion, but garbage never outgrows the live entries much


def test_counts_and_len_return_to_zero_after_everything_terminates():
    layer = TransactionLayer()
    invite = make_request(branch="z9hG4bKout")
    layer.send_request(invite, UDP, 0.0)
    layer.send_request(make_request("OPTIONS", "z9hG4bKout2"), UDP, 0.0)
    server_invite, _, _ = answered(layer, 200, "OK")
    register = make_request("REGISTER", "z9hG4bKin2")
    [received] = layer.receive_request(register, UDP, 0.0)
    assert layer.counts() == {"invite_client": 1, "non_invite_client": 1, "invite_server": 1, "non_invite_server": 1}
    assert len(layer) == 4
    layer.send_response(received.transaction, make_response(register, 200, "OK"), 0.1)
    layer.receive_response(make_response(invite, 486, "Busy Here"), 0.2)
    fired = run_until(layer, 1000.0)
    terminated = [a.transaction for _, actions in fired for a in actions if isinstance(a, TransactionTerminated)]
    assert len(terminated) == 4 and len(set(map(id, terminated))) == 4
    assert len(layer) == 0 and layer.counts() == ALL_ZERO


def test_ids_are_short_and_distinct():
    layer = TransactionLayer()
    client, _ = layer.send_request(make_request("OPTIONS", "z9hG4bKid"), UDP, 0.0)
    [received] = layer.receive_request(make_request(), UDP, 0.0)
    assert (client.id, received.transaction.id) == ("nict-1", "ist-2")
    assert repr(client) == "<ClientTransaction nict-1 non_invite_client Trying>"


# The tables themselves -------------------------------------------------------------------------


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_tables_start_timers_last_and_only_where_they_run(machine):
    for (state, trigger), transition in machine.transitions.items():
        timers = [effect for effect in transition.effects if isinstance(effect, Timer)]
        # A zero-length timer fires inside the transition, so nothing may follow it.
        assert transition.effects[len(transition.effects) - len(timers) :] == tuple(timers), (state, trigger)
        assert set(timers) <= machine.runs.get(transition.target, set()), (state, trigger)
        if isinstance(trigger, Timer):
            assert trigger in machine.runs.get(state, set()), (state, trigger)
    assert set(machine.start) <= machine.runs.get(machine.initial, set())
    assert not any(state is State.TERMINATED for state, _ in machine.transitions)


def test_module_is_pure():
    tree = ast.parse(Path(transaction_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & {"asyncio", "socket", "time", "random", "selectors", "threading"}


def test_new_request_reusing_a_branch_with_a_new_cseq_is_not_a_retransmission():
    """pyVoIP 1.6 re-sends its challenged INVITE under the same branch with CSeq + 1."""
    from pbx.sip.message import parse_message
    from pbx.sip.transaction import Peer, RequestReceived, TransactionLayer

    def invite(cseq: int) -> bytes:
        return (
            "INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKsame\r\n"
            "From: <sip:1003@127.0.0.1>;tag=a\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: pv\r\n"
            f"CSeq: {cseq} INVITE\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    layer = TransactionLayer()
    peer = Peer("udp", "127.0.0.1", 5062)
    first = layer.receive_request(parse_message(invite(1)), peer, 0.0)
    again = layer.receive_request(parse_message(invite(1)), peer, 0.1)
    second = layer.receive_request(parse_message(invite(2)), peer, 0.2)
    assert [type(a) for a in first] == [RequestReceived] and again == []
    assert [type(a) for a in second] == [RequestReceived]
