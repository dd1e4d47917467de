"""What a scenario knows of a call a plugin looked up: `customer.*`, and the caller's language
when the scenario speaks it."""

from types import SimpleNamespace

from pbx.ivr.controller import _variables
from sdk import CallerInfo, RoutingInputs

PROGRAM = SimpleNamespace(languages=("en", "pl"))


def call(customer=None, routing=None):
    return SimpleNamespace(caller=SimpleNamespace(number="1004", name="Dave"), callee="800", id="c1",
                           customer=customer, routing=routing)


LEG = SimpleNamespace(headers=lambda: {"Accept-Language": "en"})


def test_a_known_caller_is_customer_variables_and_starts_in_their_language():
    found = CallerInfo(source="crm", customer_id="C-7", name="Ewa", tier="gold", language="pl", vip=True,
                       fields={"account_manager": "Marta"})
    variables = _variables(call(found, RoutingInputs(priority=10, language="pl")), LEG, PROGRAM)
    assert variables["customer"] == {"account_manager": "Marta", "id": "C-7", "name": "Ewa", "tier": "gold",
                                     "language": "pl", "vip": True, "found": True}
    assert variables["language"] == "pl"


def test_an_unknown_caller_is_not_found_and_a_language_the_scenario_lacks_is_ignored():
    assert _variables(call(), LEG, PROGRAM)["customer"] == {"found": False}
    assert "language" not in _variables(call(None, RoutingInputs(language="de")), LEG, PROGRAM)
