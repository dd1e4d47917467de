"""A worker takes another worker's bindings of an address of record (Registrar.adopt)."""

from __future__ import annotations

from pbx.sip.registrar import Binding, Registrar, RegistrarSettings
from pbx.sip.transaction import Peer
from pbx.sip.uri import NameAddress
from pbx.store.state import binding_from_row, binding_row
from sdk.events import RegistrationAdded, RegistrationExpired, RegistrationRefreshed, RegistrationRemoved

NOW = 1_800_000_000.0
AOR = "sip:1002@pbx.test"


def binding(contact: str, expires_at: float, cseq: int = 1) -> Binding:
    return Binding(aor=AOR, extension="1002", contact=NameAddress.parse(contact), call_id="reg-1002", cseq=cseq,
                   expires_at=expires_at, registered_at=NOW, source=Peer("udp", "127.0.0.1", 5070),
                   user_agent="sipp")


def test_adopting_says_what_changed_as_a_register_would():
    registrar = Registrar(RegistrarSettings(), "pbx.test")
    desk = binding("<sip:1002@127.0.0.1:5070>", NOW + 600)
    [added] = registrar.adopt(AOR, [desk], NOW)
    assert isinstance(added, RegistrationAdded) and (added.contact, added.expires) == (str(desk.contact), 600)
    assert registrar.lookup("1002", NOW) == [desk]

    refreshed_desk = binding("<sip:1002@127.0.0.1:5070>", NOW + 900, cseq=2)
    mobile = binding("<sip:1002@127.0.0.1:5080>", NOW + 300)
    events = registrar.adopt(AOR, [refreshed_desk, mobile], NOW + 10)
    assert [type(event) for event in events] == [RegistrationRefreshed, RegistrationAdded]
    assert registrar.adopt(AOR, [refreshed_desk, mobile], NOW + 10) == []  # the same again: nothing new

    [removed] = registrar.adopt(AOR, [mobile], NOW + 20)
    assert isinstance(removed, RegistrationRemoved) and removed.contact == str(refreshed_desk.contact)
    [removed] = registrar.adopt(AOR, [], NOW + 30)
    assert removed.contact == str(mobile.contact) and registrar.lookup("1002", NOW + 30) == []


def test_an_adopted_binding_expires_here_on_its_own():
    registrar = Registrar(RegistrarSettings(), "pbx.test")
    registrar.adopt(AOR, [binding("<sip:1002@127.0.0.1:5070>", NOW + 60)], NOW)
    assert registrar.next_expiry() == NOW + 60
    [expired] = registrar.expire(NOW + 61)
    assert isinstance(expired, RegistrationExpired) and len(registrar) == 0


def test_a_binding_travels_as_a_row_and_back():
    original = binding('"Desk" <sip:1002@127.0.0.1:5070;transport=udp>;+sip.instance="<urn:uuid:1>";expires=600',
                       NOW + 600)
    assert binding_from_row(list(binding_row(original))) == original
