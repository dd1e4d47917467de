"""The CRM plugin's pure parts, with a fake clock: circuit breaker, cache, JSON mapping, CSV
reading, URL templates, the config's errors, and the per-call fold (screen pop, call result)."""

from __future__ import annotations

import typing

import msgspec
import pytest

from plugins import crm
from plugins.crm.breaker import BreakerState, Change, CircuitBreaker
from plugins.crm.cache import Hit, TtlCache
from plugins.crm.calls import CallResult, CallTracker
from plugins.crm.config import FieldMapping, fill
from plugins.crm.connectors import CONNECTORS
from plugins.crm.csv_import import read_contacts
from plugins.crm.mapping import CrmAnswerError, caller_from_document, screen_fields
from sdk import CallerInfo, CallInfo, PluginConfigError, decode_plugin_config
from sdk.events import AgentConnected, CallDisposition, CallEnded, ScreenPop

# Circuit breaker ------------------------------------------------------------------------------


def test_the_breaker_opens_after_n_failures_in_a_row_and_says_so_once():
    breaker = CircuitBreaker(failures=3, open_seconds=30)
    assert breaker.allow(0.0)
    assert [breaker.failed(1.0), breaker.failed(2.0)] == [None, None]
    assert breaker.succeeded(3.0) is None  # a success starts the count again
    assert [breaker.failed(4.0), breaker.failed(5.0), breaker.failed(6.0)] == [None, None, Change.OPENED]
    assert breaker.state is BreakerState.OPEN and breaker.reopens_at() == 36.0
    assert not breaker.allow(6.0) and not breaker.allow(35.9)
    assert breaker.failed(7.0) is None  # a late failure of a request sent before: no second opening


def test_after_open_seconds_one_trial_goes_through_and_its_success_closes_the_circuit():
    breaker = CircuitBreaker(failures=1, open_seconds=10)
    assert breaker.failed(100.0) is Change.OPENED
    assert breaker.allow(110.0)  # the trial
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(110.1)  # only one trial at a time
    assert breaker.succeeded(110.2) is Change.CLOSED
    assert breaker.state is BreakerState.CLOSED and breaker.allow(110.3) and breaker.reopens_at() is None


def test_a_failed_trial_opens_the_circuit_again_for_open_seconds_without_a_new_change():
    breaker = CircuitBreaker(failures=2, open_seconds=10)
    breaker.failed(0.0)
    assert breaker.failed(0.5) is Change.OPENED
    assert breaker.allow(10.5)
    assert breaker.failed(10.6) is None  # still open: nothing new to log
    assert breaker.state is BreakerState.OPEN and breaker.reopens_at() == 20.6
    assert not breaker.allow(20.5) and breaker.allow(20.6)


def test_a_cancelled_trial_lets_the_next_request_be_the_trial():
    breaker = CircuitBreaker(failures=1, open_seconds=5)
    breaker.failed(0.0)
    assert breaker.allow(5.0) and not breaker.allow(5.0)
    breaker.abandoned()
    assert breaker.allow(5.1)


def test_a_breaker_needs_sensible_settings():
    with pytest.raises(ValueError, match="failures"):
        CircuitBreaker(failures=0, open_seconds=1)


# Cache ----------------------------------------------------------------------------------------


def test_the_cache_keeps_answers_including_unknown_callers_until_their_ttl():
    cache: TtlCache[str | None] = TtlCache(ttl=60, size=10)
    cache.put("a", "Alice", now=0.0)
    cache.put("b", None, now=0.0)
    assert cache.get("a", now=59.9) == Hit("Alice")
    assert cache.get("b", now=30.0) == Hit(None)  # "unknown" is an answer too
    assert cache.get("a", now=60.0) is None and cache.get("c", now=1.0) is None
    assert (cache.hits, cache.misses) == (2, 2)


def test_the_cache_drops_the_least_recently_used_beyond_its_size_and_can_be_off():
    cache: TtlCache[int] = TtlCache(ttl=60, size=2)
    cache.put("a", 1, 0.0)
    cache.put("b", 2, 0.0)
    cache.get("a", 1.0)
    cache.put("c", 3, 2.0)
    assert cache.get("b", 3.0) is None and cache.get("a", 3.0) == Hit(1) and cache.get("c", 3.0) == Hit(3)
    off: TtlCache[int] = TtlCache(ttl=0, size=100)
    off.put("a", 1, 0.0)
    assert off.get("a", 0.0) is None and len(off) == 0


# Mapping a CRM's JSON ----------------------------------------------------------------------------


def test_a_crm_document_maps_to_caller_info_with_nested_extra_fields_and_vip_priority():
    document = {"id": 1007, "name": "Victoria Vance", "tier": "platinum", "vip": "yes", "language": "en",
                "account": {"manager": "Marta Nowak", "balance": 12500}}
    mapping = FieldMapping(extra={"manager": "account.manager", "balance": "account.balance", "missing": "x.y"})
    found = caller_from_document(document, mapping, vip_priority=10)
    assert found == CallerInfo(source="rest", customer_id="1007", name="Victoria Vance", tier="platinum",
                               language="en", vip=True, priority=10,
                               fields={"manager": "Marta Nowak", "balance": 12500})
    assert found.variables()["manager"] == "Marta Nowak" and found.variables()["found"] is True
    assert caller_from_document([document], FieldMapping(vip=None)).vip is False  # a list: its first item
    assert caller_from_document([], mapping) is None


def test_a_crm_document_of_the_wrong_shape_is_the_crms_fault_and_says_which_field():
    with pytest.raises(CrmAnswerError, match="expected a JSON object, got str"):
        caller_from_document("Victoria", FieldMapping())
    with pytest.raises(CrmAnswerError, match=r"vip: expected true or false, got 'maybe'"):
        caller_from_document({"vip": "maybe"}, FieldMapping())
    with pytest.raises(CrmAnswerError, match=r"name: expected text, got dict"):
        caller_from_document({"name": {"first": "V"}}, FieldMapping())


def test_screen_fields_are_text_and_say_whether_the_caller_was_found():
    caller = CallerInfo(source="rest", name="V", tier="gold", vip=True, fields={"balance": 12.5, "vip_since": None,
                                                                             "tags": ["a"], "active": False})
    assert screen_fields(caller) == {"found": "true", "source": "rest", "vip": "true", "tier": "gold",
                                     "balance": "12.5", "vip_since": "null", "tags": '["a"]', "active": "false"}
    assert screen_fields(None) == {"found": "false"}


# URL templates and the config ------------------------------------------------------------------------


def test_placeholders_are_url_quoted_so_a_number_cannot_change_the_url():
    assert fill("http://crm/c?phone={caller}&to={callee}", caller="+48 600/1?x=1", callee="800") == \
        "http://crm/c?phone=%2B48%20600%2F1%3Fx%3D1&to=800"


@pytest.mark.parametrize(("raw", "path", "message"), [
    ({"rest": {"url": "http://crm/c?phone={caller}", "tmeout": 1}}, ["rest", "tmeout"], "unknown field `tmeout`"),
    ({"rest": {"url": "http://crm/c?phone={number}"}}, ["rest"], r"unknown placeholder \{number\}"),
    ({"rest": {"url": "crm/c?phone={caller}"}}, ["rest"], "must start with http"),
    ({"rest": {"url": "http://crm/{caller}", "breaker": {"failures": 0}}}, ["rest", "breaker"], "at least 1"),
    ({"order": ["contacts", "ldap"]}, ["order", 1], "Invalid enum value 'ldap'"),
    ({"writeback": {"url": "http://crm/calls/{agent}"}}, ["writeback"], r"unknown placeholder \{agent\}"),
    ({"screenpop": True}, ["screenpop"], "unknown field"),
])  # fmt: skip
def test_a_bad_config_is_refused_with_the_path_of_the_mistake(raw, path, message):
    with pytest.raises(PluginConfigError, match=message) as refused:
        decode_plugin_config(crm, raw, where="plugins.crm.config")
    assert refused.value.path == path
    assert str(refused.value).startswith("plugins.crm.config: ")


def test_the_configs_connector_names_are_the_registrys_names():
    literal, _ = typing.get_args(typing.get_type_hints(crm.Config)["order"])  # tuple[Literal[...], ...]
    assert set(typing.get_args(literal)) == set(CONNECTORS) == {"contacts", "rest"}


# CSV -------------------------------------------------------------------------------------------------


def test_csv_rows_become_contacts_and_each_bad_row_is_reported_with_its_line():
    text = ("Number,Name,tier,VIP,preferred_agent,customer_id,Account Manager\n"
            "+48 600-100-200,Jan Kowalski,gold,yes,1002,C-1,Marta\n"
            ",No Number,,,,,\n"
            "1007,Victoria Vance,platinum,maybe,,C-2,\n"
            "\n"
            "1008,\"Carla, \nContact\",silver,no,,C-3,Piotr\n"
            "1009,Too,Many,Cells,,,,,\n"
            "+48600100200,Jan Again,gold,no,,C-9,\n")
    result = read_contacts(text.splitlines(keepends=True), "contacts.csv")
    assert [contact.number for contact in result.contacts] == ["+48600100200", "1008"]
    jan, carla = result.contacts
    assert (jan.vip, jan.preferred_agent, jan.customer_id, jan.fields) == (True, "1002", "C-1",
                                                                           {"account_manager": "Marta"})
    assert carla.name == "Carla, \nContact" and carla.vip is False
    assert result.problems == [
        "contacts.csv:3: the number is empty",
        "contacts.csv:4: vip must be yes/no/true/false/1/0, got 'maybe'",
        "contacts.csv:8: expected 7 cells (number,name,tier,vip,preferred_agent,customer_id,account_manager), got 9",
        "contacts.csv:9: number +48600100200 is already on line 2",
    ]
    assert not result.fatal


def test_a_csv_without_a_number_column_is_refused_as_a_whole():
    result = read_contacts(["phone,name\n", "1,A\n"], "x.csv")
    assert result.fatal and result.problems == ["x.csv:1: the header has no 'number' column (found: phone,name)"]
    assert read_contacts([], "empty.csv").fatal


# The per-call fold ---------------------------------------------------------------------------------------


def test_a_looked_up_call_gives_a_screen_pop_per_agent_and_one_result_at_its_end():
    tracker = CallTracker(screen_pop=True, write_back=True)
    call = CallInfo(call_id="c1", caller="1007", callee="800", started_at=100.0)
    vip = CallerInfo(source="rest", customer_id="C-1007", name="Victoria Vance", vip=True, priority=10)
    tracker.looked_up(call, None)
    tracker.looked_up(call, vip)
    assert tracker.on_event(CallDisposition(at=101.0, call_id="c1", value="known customer")) == []
    [pop] = tracker.on_event(AgentConnected(at=110.0, agent="1001", call_id="c1", queue="support",
                                            wait_seconds=8.0, ring_seconds=0.5))
    assert pop == ScreenPop(at=110.0, call_id="c1", agent="1001", queue="support", caller="1007",
                            customer_id="C-1007", name="Victoria Vance",
                            fields={"found": "true", "source": "rest", "vip": "true"})
    assert tracker.on_event(CallEnded(at=130.0, call_id="other", caller="1", callee="2", cause="normal", status=200,
                                      hangup_by="caller", answered=True, total_seconds=1, ring_seconds=0,
                                      talk_seconds=1)) == []
    [result] = tracker.on_event(CallEnded(at=130.0, call_id="c1", caller="1007", callee="800", cause="normal",
                                          status=200, hangup_by="caller", answered=True, total_seconds=30.0,
                                          ring_seconds=0.0, talk_seconds=29.5))
    assert result == CallResult(call_id="c1", caller="1007", callee="800", found=True, customer_id="C-1007",
                                source="rest", dispositions=["known customer"], agent="1001", queue="support",
                                answered=True, talk_seconds=29.5, agent_seconds=20.0, wait_seconds=8.0,
                                cause="normal", hangup_by="caller", started_at=100.0, ended_at=130.0)
    assert len(tracker) == 0  # forgotten at its end
    assert msgspec.json.decode(msgspec.json.encode(result))["dispositions"] == ["known customer"]


def test_the_fold_forgets_the_oldest_call_beyond_its_limit_and_can_skip_unknown_callers():
    tracker = CallTracker(write_back=True, only_identified=True, limit=2)
    for number in ("1", "2", "3"):
        tracker.looked_up(CallInfo(call_id=number, caller=number, callee="800"), None)
    assert len(tracker) == 2 and tracker.forgotten == 1
    ended = CallEnded(at=1.0, call_id="3", caller="3", callee="800", cause="normal", status=200, hangup_by="caller",
                      answered=True, total_seconds=1, ring_seconds=0, talk_seconds=1)
    assert tracker.on_event(ended) == []  # unknown caller, only_identified
