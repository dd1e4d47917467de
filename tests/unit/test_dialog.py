"""Tests for pbx.sip.dialog: messages from bytes, exact requests out.

The call is the one of RFC 3261 section 24 (Alice calls Bob through two
record-routing proxies, p1 on Alice's side and p2 on Bob's). The same INVITE,
180 and 200 serve both sides: we are Bob (UAS) or Alice (UAC).
"""


import pytest

from pbx.sip.dialog import ALLOWED, Dialog, DialogEvent, DialogId, DialogState, DialogTable
from pbx.sip.errors import LocalProtocolError, RemoteProtocolError
from pbx.sip.message import Request, Response, parse_message

CALL_ID = "a84b4c76e66710@pc33.atlanta.example.com"
ALICE_TAG = "1928301774"
BOB_TAG = "a6c85cf"
ALICE = f"Alice <sip:alice@atlanta.example.com>;tag={ALICE_TAG}"
BOB = "Bob <sip:bob@biloxi.example.com>"
ROUTES = "Record-Route: <sip:p2.example.net;lr>\nRecord-Route: <sip:p1.example.com;lr>\n"
BOB_CONTACT = "Contact: <sip:bob@192.0.2.4>\n"
PBX_CONTACT = "<sip:pbx@198.51.100.1:5060>"


def sip(text: str, body: str = "") -> bytes:
    """A message written one header per source line; CRLF on the wire."""
    head = text.strip("\n").replace("\n", "\r\n")
    return f"{head}\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()


def invite(*, cseq: int = 314159, routes: str = ROUTES, contact: str = "<sip:alice@pc33.atlanta.example.com>",
           uri: str = "sip:bob@biloxi.example.com") -> Request:
    """The INVITE as Bob receives it: three Vias, two Record-Routes, Alice's Contact."""
    message = parse_message(sip(f"""
INVITE {uri} SIP/2.0
Via: SIP/2.0/UDP p2.example.net;branch=z9hG4bK2d4790.1
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bK77ef4c2312983.1
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
Max-Forwards: 68
{routes}From: {ALICE}
To: {BOB}
Call-ID: {CALL_ID}
CSeq: {cseq} INVITE
Contact: {contact}
"""))  # fmt: skip
    assert isinstance(message, Request)
    return message


def response(status: int, reason: str, *, to_tag: str | None = BOB_TAG, routes: str = ROUTES,
             contact: str = BOB_CONTACT, cseq: str = "314159 INVITE") -> Response:
    """A response from Bob to Alice's request, as Alice receives it."""
    to = BOB + (f";tag={to_tag}" if to_tag else "")
    message = parse_message(sip(f"""
SIP/2.0 {status} {reason}
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8
{routes}From: {ALICE}
To: {to}
Call-ID: {CALL_ID}
CSeq: {cseq}
{contact}"""))  # fmt: skip
    assert isinstance(message, Response)
    return message


def request_from_alice(method: str, cseq: int, *, contact: str = "", to_tag: str = BOB_TAG) -> Request:
    """An in-dialog request Alice sends to Bob (From tag Alice's, To tag Bob's)."""
    message = parse_message(sip(f"""
{method} sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK-{method}-{cseq}
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.net;lr>
Max-Forwards: 70
From: {ALICE}
To: {BOB};tag={to_tag}
Call-ID: {CALL_ID}
CSeq: {cseq} {method}
{contact}"""))  # fmt: skip
    assert isinstance(message, Request)
    return message


def uas() -> Dialog:
    """We are Bob and answered 200."""
    return Dialog.as_uas(invite(), response(200, "OK"), local_contact=PBX_CONTACT)


def uac() -> Dialog:
    """We are Alice and got Bob's 200."""
    return Dialog.as_uac(invite(routes=""), response(200, "OK"))


def head(request: Request) -> list[str]:
    return request.serialize().decode().split("\r\n\r\n")[0].split("\r\n")


def answer(request: Request, status: int, reason: str, *, contact: str = "") -> Response:
    """The peer's response to a request we built (its Via copied, as a UAS would)."""
    lines = [f"SIP/2.0 {status} {reason}", "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKours"]
    lines += [f"{name}: {request.headers.get(name)}" for name in ("From", "To", "Call-ID", "CSeq")]
    if contact:
        lines.append(f"Contact: {contact}")
    message = parse_message(sip("\n".join(lines)))
    assert isinstance(message, Response)
    return message


# Creation (RFC 3261 12.1) ---------------------------------------------------------------------


def test_uas_dialog_from_200():
    dialog = uas()
    assert dialog.id == DialogId(CALL_ID, BOB_TAG, ALICE_TAG)
    assert dialog.state is DialogState.CONFIRMED
    # 12.1.1: the route set is the Record-Route of the request, in order.
    assert dialog.route_set == ("<sip:p2.example.net;lr>", "<sip:p1.example.com;lr>")
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.example.com"
    assert (dialog.local_seq, dialog.remote_seq, dialog.invite_cseq) == (None, 314159, None)
    assert str(dialog.local_uri) == f"{BOB};tag={BOB_TAG}" and dialog.local_tag == BOB_TAG
    assert str(dialog.remote_uri) == ALICE
    assert (dialog.local_contact, dialog.secure) == (PBX_CONTACT, False)


def test_uac_dialog_from_200_reverses_the_route_set():
    dialog = uac()
    assert dialog.id == DialogId(CALL_ID, ALICE_TAG, BOB_TAG)
    assert dialog.state is DialogState.CONFIRMED
    # 12.1.2: Record-Route of the response, reversed.
    assert dialog.route_set == ("<sip:p1.example.com;lr>", "<sip:p2.example.net;lr>")
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert (dialog.local_seq, dialog.remote_seq, dialog.invite_cseq) == (314159, None, 314159)
    assert dialog.local_contact == "<sip:alice@pc33.atlanta.example.com>"
    assert (dialog.local_uri.tag, dialog.remote_uri.tag) == (ALICE_TAG, BOB_TAG)


def test_a_2xx_from_another_fork_makes_the_same_dialog_as_the_invite_would():
    # RFC 3261 12.1.2, 13.2.2.4: the leg keeps its first dialog, not its INVITE, until Timer M.
    first = uac()
    fork = response(200, "OK", to_tag="carol", routes="", contact="Contact: <sip:carol@192.0.2.9>\n")
    made = first.fork(fork)
    assert vars_of(made) == vars_of(Dialog.as_uac(invite(), fork))
    assert made.id == DialogId(CALL_ID, ALICE_TAG, "carol")
    assert (str(made.remote_target), made.route_set, made.local_seq) == ("sip:carol@192.0.2.9", (), 314159)
    with pytest.raises(LocalProtocolError):
        uas().fork(fork)
    with pytest.raises(LocalProtocolError, match="without a To tag"):
        first.fork(response(180, "Ringing", to_tag=None))
    with pytest.raises(LocalProtocolError, match="only 101-299"):
        first.fork(response(486, "Busy Here", to_tag="carol"))


def vars_of(dialog: Dialog) -> dict:
    return {name: getattr(dialog, name) for name in Dialog.__slots__ if name != "__weakref__"}


def test_sips_request_uri_makes_a_secure_dialog():
    dialog = Dialog.as_uas(invite(uri="sips:bob@biloxi.example.com"), response(200, "OK"), local_contact=PBX_CONTACT)
    assert dialog.secure is True


def test_rfc2543_peer_without_to_tag_has_an_empty_remote_tag():
    dialog = Dialog.as_uac(invite(routes=""), response(200, "OK", to_tag=None))
    assert dialog.id == DialogId(CALL_ID, ALICE_TAG, "")
    assert dialog.create_request("BYE").headers.get("To") == BOB


def test_responses_and_requests_that_create_no_dialog_are_refused():
    with pytest.raises(LocalProtocolError, match="without a To tag creates no dialog"):
        Dialog.as_uac(invite(), response(180, "Ringing", to_tag=None))
    with pytest.raises(LocalProtocolError, match="486 creates no dialog"):
        Dialog.as_uac(invite(), response(486, "Busy Here"))
    with pytest.raises(LocalProtocolError, match="no To tag"):
        Dialog.as_uas(invite(), response(200, "OK", to_tag=None), local_contact=PBX_CONTACT)
    with pytest.raises(RemoteProtocolError, match="without Contact") as raised:
        Dialog.as_uas(invite(contact=""), response(200, "OK"), local_contact=PBX_CONTACT)
    assert raised.value.status == 400


# Requests inside the dialog (12.2.1.1) ---------------------------------------------------------


def test_uac_bye_exact_bytes():
    bye = uac().create_request("BYE")
    assert bye.serialize() == sip(f"""
BYE sip:bob@192.0.2.4 SIP/2.0
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.net;lr>
Max-Forwards: 70
From: {ALICE}
To: {BOB};tag={BOB_TAG}
Call-ID: {CALL_ID}
CSeq: 314160 BYE
""")  # fmt: skip
    assert "Via" not in bye.headers and "Contact" not in bye.headers


def test_uas_requests_start_the_local_sequence_and_increment_it():
    dialog = uas()
    info = dialog.create_request("INFO", body=b"Signal=5\r\n", content_type="application/dtmf-relay")
    bye = dialog.create_request("BYE")
    assert head(info)[:7] == [
        "INFO sip:alice@pc33.atlanta.example.com SIP/2.0",
        "Route: <sip:p2.example.net;lr>",
        "Route: <sip:p1.example.com;lr>",
        "Max-Forwards: 70",
        f"From: {BOB};tag={BOB_TAG}",
        f"To: {ALICE}",
        f"Call-ID: {CALL_ID}",
    ]
    assert (info.headers.get("CSeq"), bye.headers.get("CSeq"), dialog.local_seq) == ("1 INFO", "2 BYE", 2)
    assert info.headers.get("Content-Type") == "application/dtmf-relay"
    assert info.body == b"Signal=5\r\n"


def test_target_refreshing_requests_carry_our_contact():
    dialog = uas()
    reinvite = dialog.create_request("INVITE", extra_headers=[("Supported", "timer")])
    assert head(reinvite)[7:] == ["CSeq: 1 INVITE", f"Contact: {PBX_CONTACT}", "Supported: timer", "Content-Length: 0"]
    assert dialog.invite_cseq == 1
    # A bare URI is put in <> so that its parameters stay the URI's (RFC 3261 20.10).
    bare = Dialog.as_uas(invite(), response(200, "OK"), local_contact="sip:pbx@198.51.100.1;transport=tcp")
    assert bare.create_request("UPDATE").headers.get("Contact") == "<sip:pbx@198.51.100.1;transport=tcp>"
    assert "Contact" not in bare.create_request("BYE").headers


def test_create_request_refuses_misuse():
    dialog = uac()
    for method in ("ACK", "CANCEL"):
        with pytest.raises(LocalProtocolError, match=f"{method} is not built by create_request"):
            dialog.create_request(method)
    with pytest.raises(LocalProtocolError, match="no Content-Type"):
        dialog.create_request("INFO", body=b"x")
    with pytest.raises(LocalProtocolError, match="CSeq is set by the dialog"):
        dialog.create_request("INFO", extra_headers=[("CSeq", "1 INFO")])
    dialog.terminate()
    with pytest.raises(LocalProtocolError, match="it is TERMINATED"):
        dialog.create_request("BYE")
    assert dialog.local_seq == 314159


def test_callee_must_not_bye_an_early_dialog():
    dialog = Dialog.as_uas(invite(), response(180, "Ringing"), local_contact=PBX_CONTACT)
    with pytest.raises(LocalProtocolError, match="must not BYE an early dialog"):
        dialog.create_request("BYE")


def test_strict_router_gets_the_request_uri_and_the_target_goes_last():
    strict = "Record-Route: <sip:p2.example.net;lr>\nRecord-Route: <sip:p1.example.com>\n"
    dialog = Dialog.as_uac(invite(routes=""), response(200, "OK", routes=strict))
    assert dialog.route_set == ("<sip:p1.example.com>", "<sip:p2.example.net;lr>")
    assert head(dialog.create_request("BYE"))[:3] == [
        "BYE sip:p1.example.com SIP/2.0",
        "Route: <sip:p2.example.net;lr>",
        "Route: <sip:bob@192.0.2.4>",
    ]


def test_strict_route_loses_what_a_request_uri_may_not_carry():
    routes = "Record-Route: <sip:p1.example.com;transport=tcp;method=INVITE?X-Y=1>\n"
    dialog = Dialog.as_uac(invite(routes=""), response(200, "OK", routes=routes))
    assert head(dialog.create_ack())[:2] == [
        "ACK sip:p1.example.com;transport=tcp SIP/2.0",
        "Route: <sip:bob@192.0.2.4>",
    ]


def test_no_route_set_means_no_route_header():
    dialog = Dialog.as_uac(invite(routes=""), response(200, "OK", routes=""))
    bye = dialog.create_request("BYE")
    assert str(bye.uri) == "sip:bob@192.0.2.4" and "Route" not in bye.headers


# ACK for 2xx (13.2.2.4) ------------------------------------------------------------------------


def test_ack_for_the_2xx_has_the_invite_cseq_number():
    dialog = uac()
    ack = dialog.create_ack(response(200, "OK"))
    assert head(ack) == [
        "ACK sip:bob@192.0.2.4 SIP/2.0",
        "Route: <sip:p1.example.com;lr>",
        "Route: <sip:p2.example.net;lr>",
        "Max-Forwards: 70",
        f"From: {ALICE}",
        f"To: {BOB};tag={BOB_TAG}",
        f"Call-ID: {CALL_ID}",
        "CSeq: 314159 ACK",
        "Content-Length: 0",
    ]
    assert dialog.local_seq == 314159  # an ACK takes no new sequence number


def test_ack_for_a_reinvite_follows_the_new_invite():
    dialog = uac()
    reinvite = dialog.create_request("INVITE", body=b"v=0\r\n", content_type="application/sdp")
    ok = answer(reinvite, 200, "OK", contact="<sip:bob@192.0.2.4>")
    dialog.receive_response(reinvite, ok)
    assert dialog.create_ack().headers.get("CSeq") == "314160 ACK"
    assert dialog.create_ack(ok).headers.get("CSeq") == "314160 ACK"
    # A late retransmission of the first 2xx is ACKed with its own number.
    assert dialog.create_ack(response(200, "OK")).headers.get("CSeq") == "314159 ACK"
    late_sdp = dialog.create_ack(body=b"v=0\r\n", content_type="application/sdp")
    assert (late_sdp.headers.get("Content-Type"), late_sdp.body) == ("application/sdp", b"v=0\r\n")


def test_ack_needs_an_invite_and_a_2xx():
    with pytest.raises(LocalProtocolError, match="has sent no INVITE"):
        uas().create_ack()
    with pytest.raises(LocalProtocolError, match="only a 2xx to INVITE"):
        uac().create_ack(response(486, "Busy Here"))


# What the peer sends (12.2.2) ------------------------------------------------------------------


def test_reinvite_received_refreshes_the_target():
    dialog = uas()
    dialog.receive_request(request_from_alice("INVITE", 314160, contact="Contact: <sip:alice@192.0.2.101:5070>\n"))
    assert (str(dialog.remote_target), dialog.remote_seq) == ("sip:alice@192.0.2.101:5070", 314160)
    assert str(dialog.create_request("BYE").uri) == "sip:alice@192.0.2.101:5070"


def test_non_refreshing_request_keeps_the_target():
    dialog = uas()
    dialog.receive_request(request_from_alice("INFO", 314160, contact="Contact: <sip:alice@192.0.2.101>\n"))
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.example.com"


def test_remote_cseq_lower_is_a_500():
    dialog = uas()
    dialog.receive_request(request_from_alice("INFO", 314170))
    with pytest.raises(RemoteProtocolError, match="CSeq lower than 314170") as raised:
        dialog.receive_request(request_from_alice("INFO", 314160))
    assert raised.value.status == 500
    assert dialog.remote_seq == 314170


def test_ack_and_cancel_are_not_sequenced():
    dialog = uas()
    dialog.receive_request(request_from_alice("INFO", 314170))
    dialog.receive_request(request_from_alice("ACK", 314159))
    dialog.receive_request(request_from_alice("CANCEL", 314159))
    assert dialog.remote_seq == 314170


def test_bye_received_terminates_and_later_requests_get_481():
    dialog = uas()
    dialog.receive_request(request_from_alice("BYE", 314160))
    assert dialog.state is DialogState.TERMINATED
    dialog.receive_request(request_from_alice("ACK", 314159))  # late ACK: ignored
    with pytest.raises(RemoteProtocolError) as raised:
        dialog.receive_request(request_from_alice("INFO", 314161))
    assert raised.value.status == 481


def test_request_for_another_dialog_is_our_routing_bug():
    with pytest.raises(LocalProtocolError, match="does not belong to dialog"):
        uas().receive_request(request_from_alice("BYE", 314160, to_tag="other"))


# Responses to what we sent (12.2.1.2) --------------------------------------------------------


def test_200_to_our_reinvite_refreshes_the_target_and_488_keeps_the_dialog():
    dialog = uac()
    reinvite = dialog.create_request("INVITE")
    dialog.receive_response(reinvite, answer(reinvite, 200, "OK", contact="<sip:bob@192.0.2.99>"))
    assert str(dialog.remote_target) == "sip:bob@192.0.2.99"
    reinvite = dialog.create_request("INVITE")
    dialog.receive_response(reinvite, answer(reinvite, 488, "Not Acceptable Here"))
    assert (dialog.state, str(dialog.remote_target)) == (DialogState.CONFIRMED, "sip:bob@192.0.2.99")


def test_2xx_to_our_bye_terminates():
    dialog = uac()
    bye = dialog.create_request("BYE")
    dialog.receive_response(bye, answer(bye, 407, "Proxy Authentication Required"))
    assert dialog.state is DialogState.CONFIRMED
    dialog.receive_response(bye, answer(bye, 200, "OK"))
    assert dialog.state is DialogState.TERMINATED


@pytest.mark.parametrize(("status", "reason"), [(481, "Call/Transaction Does Not Exist"), (408, "Request Timeout")])
def test_481_or_408_to_an_in_dialog_request_terminates(status, reason):
    dialog = uas()
    info = dialog.create_request("INFO")
    dialog.receive_response(info, answer(info, status, reason))
    assert dialog.state is DialogState.TERMINATED


def test_2xx_of_another_fork_is_refused():
    dialog = Dialog.as_uac(invite(routes=""), response(180, "Ringing"))
    with pytest.raises(LocalProtocolError, match="belongs to another dialog"):
        dialog.receive_response(invite(routes=""), response(200, "OK", to_tag="other"))


# Early dialogs and forking (12.1.2, 12.3, 13.2.2.4) ------------------------------------------


def test_early_dialog_from_180_confirmed_by_200_with_its_route_set():
    request = invite(routes="")
    dialog = Dialog.as_uac(request, response(180, "Ringing"))
    assert (dialog.state, dialog.id) == (DialogState.EARLY, DialogId(CALL_ID, ALICE_TAG, BOB_TAG))
    dialog.receive_response(request, response(183, "Session Progress"))
    assert dialog.state is DialogState.EARLY
    # 13.2.2.4: the 2xx recomputes the route set (here p2 stopped record-routing).
    dialog.receive_response(request, response(200, "OK", routes="Record-Route: <sip:p1.example.com;lr>\n",
                                              contact="Contact: <sip:bob@192.0.2.5>\n"))
    assert dialog.state is DialogState.CONFIRMED
    assert (dialog.route_set, str(dialog.remote_target)) == (("<sip:p1.example.com;lr>",), "sip:bob@192.0.2.5")


def test_uas_early_dialog_is_confirmed_by_us_or_by_the_ack():
    ringing = response(180, "Ringing")
    dialog = Dialog.as_uas(invite(), ringing, local_contact=PBX_CONTACT)
    assert dialog.state is DialogState.EARLY
    dialog.confirm()
    assert dialog.state is DialogState.CONFIRMED
    other = Dialog.as_uas(invite(), ringing, local_contact=PBX_CONTACT)
    other.receive_request(request_from_alice("ACK", 314159))
    assert other.state is DialogState.CONFIRMED


def test_forked_180s_make_two_early_dialogs_and_a_rejection_ends_both():
    request = invite(routes="")
    table = DialogTable()
    for tag in ("fork-a", "fork-b"):
        ringing = response(180, "Ringing", to_tag=tag)
        assert table.find_for_response(ringing) is None
        table.add(Dialog.as_uac(request, ringing))
    assert len(table) == 2
    assert [dialog.remote_tag for dialog in table] == ["fork-a", "fork-b"]
    found = table.find_for_response(response(200, "OK", to_tag="fork-b"))
    assert found is not None and found.remote_tag == "fork-b"
    # 12.3: the best final response, whatever its To tag, ends every early dialog.
    busy = response(486, "Busy Here", to_tag="fork-a")
    for dialog in table:
        dialog.receive_response(request, busy)
    assert [dialog.state for dialog in table] == [DialogState.TERMINATED] * 2


# The transition table ----------------------------------------------------------------------


def test_transition_table_is_data_keyed_by_event_text():
    assert ALLOWED[(DialogState.EARLY, "2xx")] is DialogState.CONFIRMED
    assert ALLOWED[(DialogState.CONFIRMED, DialogEvent.BYE)] is DialogState.TERMINATED
    assert (DialogState.TERMINATED, DialogEvent.CONFIRM) not in ALLOWED


def test_illegal_transition_names_state_and_event():
    dialog = uas()
    dialog.terminate()
    dialog.terminate()  # idempotent
    with pytest.raises(LocalProtocolError, match="in state TERMINATED cannot take event 'confirm'"):
        dialog.confirm()


def test_late_responses_do_not_revive_a_terminated_dialog():
    dialog = uac()
    bye = dialog.create_request("BYE")
    dialog.terminate()
    dialog.receive_response(bye, answer(bye, 200, "OK"))
    dialog.receive_response(invite(routes=""), response(200, "OK"))
    assert dialog.state is DialogState.TERMINATED


# Matching and the table (12.2.2) ---------------------------------------------------------------


def test_table_finds_the_dialog_for_an_in_dialog_bye_from_either_side():
    bob_side, alice_side = DialogTable(), DialogTable()
    bob, alice = uas(), uac()
    bob_side.add(bob)
    alice_side.add(alice)
    # Alice's BYE reaches Bob; Bob's BYE (built by his dialog) reaches Alice.
    assert bob_side.find_for_request(request_from_alice("BYE", 314160)) is bob
    assert alice_side.find_for_request(bob.create_request("BYE")) is alice
    assert bob_side.find_for_request(request_from_alice("BYE", 314160, to_tag="a6c85cg")) is None
    assert bob_side.find_for_request(request_from_alice("BYE", 314160, to_tag=BOB_TAG.upper())) is bob
    assert bob_side.find_for_request(invite()) is None  # no To tag: outside any dialog
    assert alice_side.find_for_response(response(200, "OK")) is alice
    assert alice_side.find_for_response(response(200, "OK", to_tag="x")) is None


def test_matches_takes_the_side_of_the_message():
    bob = uas()
    assert bob.matches(request_from_alice("INFO", 314160))
    assert not bob.matches(response(200, "OK"))  # From tag is Alice's: not a response to Bob
    assert uac().matches(response(200, "OK"))


def test_table_add_and_remove():
    table, dialog = DialogTable(), uas()
    table.add(dialog)
    with pytest.raises(LocalProtocolError, match="already in the table"):
        table.add(uas())
    table.remove(uas())  # another object with the same id is not removed
    assert len(table) == 1
    table.remove(dialog)
    assert (len(table), list(table)) == (0, [])
