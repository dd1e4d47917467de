"""The trunk service on a real SIP endpoint: its REGISTERs run as client transactions, the
provider's answers come back through the endpoint, refreshes fire from the endpoint's timer,
and other responses still reach the call manager's handler."""

from __future__ import annotations

import itertools

from pbx.sip.digest import DigestAuthenticator, Verdict
from pbx.sip.endpoint import Publish
from pbx.sip.message import Request, parse_message
from pbx.sip.status import make_response
from pbx.sip.transaction import Peer, Transmit
from pbx.trunks import TrunkConfig, TrunkRegistration, TrunkService
from sdk.events import TrunkRegistered
from tests.unit.sipkit import make_endpoint

REGISTRAR = Peer("udp", "198.51.100.1", 5060)
PROVIDER = DigestAuthenticator("provider.test", b"p" * 32, {"acme": "s3cret"}.get, algorithms=("MD5",))


def reply(request: Request, status: int, *headers: tuple[str, str]) -> bytes:
    response = make_response(request, status, to_tag="reg")
    for name, value in headers:
        response.headers.add(name, value)
    return response.serialize()


def requests(actions) -> list[Request]:
    return [parse_message(action.data) for action in actions if isinstance(action, Transmit)]


def test_registration_runs_on_the_endpoint_and_its_timer():
    endpoint = make_endpoint()
    seen: list = []
    endpoint.client_handler = lambda event, now: seen.append(event) or []  # the call manager's place
    ids = (f"id{n}" for n in itertools.count())
    trunks = TrunkService(
        {"acme": TrunkConfig(register=TrunkRegistration(username="acme", password="s3cret",
                                                        servers=["198.51.100.1:5060"], expires=300))},
        [], {}, {}, endpoint=endpoint, new_id=lambda: next(ids), route_inbound=lambda did, services: None,
    )  # fmt: skip
    actions = trunks.start(0.0, lambda transport: ("192.0.2.10", 5060))
    [first] = requests(actions)
    assert [action.peer for action in actions] == [REGISTRAR]
    assert first.top_via.host == "192.0.2.10" and first.headers.get("Contact") == "<sip:acme@192.0.2.10:5060>"
    challenge = reply(first, 401, *(("WWW-Authenticate", value) for value in PROVIDER.challenges(0.0)))
    [second] = requests(endpoint.receive(challenge, REGISTRAR, 0.1))
    assert PROVIDER.verify("REGISTER", second.headers.lines("Authorization"), 0.1).verdict is Verdict.ACCEPTED
    actions = endpoint.receive(reply(second, 200, ("Expires", "300")), REGISTRAR, 0.2)
    assert [action.event for action in actions if isinstance(action, Publish)] == [
        TrunkRegistered(at=0.2, trunk="acme", server="198.51.100.1:5060", expires=300, refresh=False)]
    assert trunks.status()["acme"]["registration"]["state"] == "registered"
    assert endpoint.next_deadline() <= 150.2
    [refresh] = requests(endpoint.handle_timer(150.2))
    assert refresh.method == "REGISTER" and refresh.cseq.number == 3
    assert seen == []  # the REGISTER transactions were the trunk service's own
    # A response for a transaction the trunks did not send goes on to the call manager's handler.
    trunks._on_client_event(type("Event", (), {"transaction": object()})(), 151.0)
    assert len(seen) == 1
