"""The CRM plugin through the plugin harness (sdk.testing): a fake PBX with a fake clock, a real
SQLite database, and the example CRM (examples/crm_server.py) served by aiohttp on 127.0.0.1.

Lookups through the contact store and the REST API (bearer token, field mapping, VIP priority),
the cache on the fake clock, the circuit breaker opening, staying open and closing again (each
logged once), a slow CRM cut off by the REST timeout, the screen pop, the writeback, and a
config with a typo (the admin endpoints: test_crm_admin.py).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from plugins import crm
from plugins.crm.contacts import Contact, ContactStore
from sdk import PluginConfigError
from sdk.events import AgentConnected, CallDisposition, CallEnded, ScreenPop

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "t0k3n"


def _example_server():
    spec = importlib.util.spec_from_file_location("crm_server_example", ROOT / "examples" / "crm_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example_server()
CUSTOMERS = example.load_customers(ROOT / "examples" / "crm_customers.json")


class Crm:
    """The example CRM on a free port, with a switch that makes it answer 503 (an outage)."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.app = example.make_app(CUSTOMERS, token=TOKEN, delay=delay)
        self.down = False

        @web.middleware
        async def outage(request, handler):
            if self.down:
                self.refused += 1
                return web.json_response({"error": "down for maintenance"}, status=503)
            return await handler(request)

        self.refused = 0
        self.app.middlewares.append(outage)
        self.server = TestServer(self.app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def lookups(self) -> list[str]:
        return self.app[example.LOOKUPS]

    @property
    def calls(self) -> list[dict]:
        return self.app[example.CALLS]

    def config(self, **extra) -> dict:
        rest = {"url": self.url + "/customers?phone={caller}", "auth": {"value": f"Bearer {TOKEN}"},
                "fields": {"extra": {"manager": "account.manager"}}, "timeout": 0.5,
                **extra.pop("rest", {})}
        return {"rest": rest, **extra}


@pytest.fixture
async def crm_server():
    server = Crm()
    await server.server.start_server()
    yield server
    await server.server.close()


@pytest.fixture
def crm_log(caplog):
    caplog.set_level(logging.INFO, logger="pbx.plugins.crm")

    def lines(event: str) -> list[str]:
        return [record.getMessage() for record in caplog.records if f"event={event} " in record.getMessage() + " "]

    return lines


# Lookups ----------------------------------------------------------------------------------------


async def test_a_vip_is_found_through_the_rest_api_with_the_token_and_the_field_mapping(pbx_harness, crm_server):
    async with pbx_harness(crm, config=crm_server.config()) as pbx:
        found = await pbx.lookup_caller(pbx.new_call(caller="1007"))
    assert found.source == "rest" and found.customer_id == "C-1007" and found.name == "Victoria Vance"
    assert (found.vip, found.priority, found.tier, found.language) == (True, 10, "platinum", "en")
    assert found.fields == {"manager": "Marta Nowak"}
    assert found.variables()["name"] == "Victoria Vance" and found.variables()["found"] is True
    assert crm_server.lookups == ["1007"]
    assert not pbx.failures


async def test_an_unknown_caller_is_none_and_a_non_vip_gets_no_priority(pbx_harness, crm_server):
    async with pbx_harness(crm, config={**crm_server.config(), "vip_priority": 25}) as pbx:
        assert await pbx.lookup_caller(pbx.new_call(caller="1006")) is None  # 404
        bob = await pbx.lookup_caller(pbx.new_call(caller="1004"))
        victoria = await pbx.lookup_caller(pbx.new_call(caller="1007"))
    assert (bob.name, bob.vip, bob.priority) == ("Bob Brown", False, 0)
    assert victoria.priority == 25
    assert not pbx.failures


async def test_answers_are_cached_for_their_ttl_on_the_pbx_clock(pbx_harness, crm_server):
    async with pbx_harness(crm, config=crm_server.config(rest={"cache": {"ttl": 60}})) as pbx:
        first = await pbx.lookup_caller(pbx.new_call(caller="1007"))
        again = await pbx.lookup_caller(pbx.new_call(caller="1007"))
        assert await pbx.lookup_caller(pbx.new_call(caller="1006")) is None
        assert await pbx.lookup_caller(pbx.new_call(caller="1006")) is None  # "unknown" is cached too
        assert crm_server.lookups == ["1007", "1006"]
        await pbx.advance(60)
        await pbx.lookup_caller(pbx.new_call(caller="1007"))
    assert first == again
    assert crm_server.lookups == ["1007", "1006", "1007"]


async def test_the_contact_store_answers_first_and_the_crm_is_not_asked(pbx_harness, crm_server):
    async with pbx_harness(crm, config={**crm_server.config(), "contacts": {"enabled": True}}) as pbx:
        await ContactStore(pbx.api().database).put_many([
            Contact(number="+48 600 100 200", customer_id="K-1", name="Jan From Contacts", vip=True,
                    preferred_agent="1002", fields={"note": "prefers Polish"})])
        jan = await pbx.lookup_caller(pbx.new_call(caller="+48600100200"))
        victoria = await pbx.lookup_caller(pbx.new_call(caller="1007"))  # not a contact: the CRM knows her
    assert (jan.source, jan.name, jan.vip, jan.priority, jan.preferred_agent) == \
        ("contacts", "Jan From Contacts", True, 10, "1002")
    assert jan.fields == {"note": "prefers Polish"}
    assert victoria.source == "rest"
    assert crm_server.lookups == ["1007"]


async def test_a_wrong_token_is_a_failure_logged_with_its_status_not_an_exception(pbx_harness, crm_server, crm_log):
    config = crm_server.config(rest={"auth": {"value": "Bearer wrong"}})
    async with pbx_harness(crm, config=config) as pbx:
        assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
    [failed] = crm_log("crm_request_failed")
    assert "HTTP 401" in failed and "phone=" not in failed  # the number stays out of the log
    assert not pbx.failures


async def test_a_slow_crm_is_cut_off_by_the_rest_timeout_well_within_the_hook_timeout(pbx_harness, crm_log):
    slow = Crm(delay=1.5)
    await slow.server.start_server()
    try:
        async with pbx_harness(crm, config=slow.config(rest={"timeout": 0.2})) as pbx:
            started = time.monotonic()
            found = await pbx.lookup_caller(pbx.new_call(caller="1007"))
            waited = time.monotonic() - started
    finally:
        await slow.server.close()
    assert found is None and 0.2 <= waited < 0.6, waited
    assert "no answer within 0.2 s" in crm_log("crm_request_failed")[0]
    assert not pbx.failures  # the plugin answered in time itself: the PBX had nothing to cut off


# The circuit breaker ---------------------------------------------------------------------------------


async def test_the_circuit_opens_after_n_failures_stays_open_then_a_trial_closes_it(pbx_harness, crm_server,
                                                                                   crm_log):
    config = crm_server.config(rest={"breaker": {"failures": 3, "open_seconds": 30}, "cache": {"ttl": 0}})
    async with pbx_harness(crm, config=config) as pbx:
        crm_server.down = True
        for _ in range(3):
            assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
        assert crm_server.refused == 3
        assert len(crm_log("crm_circuit_opened")) == 1
        for _ in range(5):  # open: nothing is sent, nothing logged, nothing published per call
            assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
        await pbx.advance(29.9)
        assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
        assert crm_server.refused == 3 and len(crm_log("crm_request_failed")) == 3

        await pbx.advance(0.1)  # half-open: one trial, which fails: open again, no second warning
        assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
        assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
        assert crm_server.refused == 4

        crm_server.down = False
        await pbx.advance(30)  # the next trial succeeds: closed, logged once
        found = await pbx.lookup_caller(pbx.new_call(caller="1007"))
        assert found is not None and found.name == "Victoria Vance"
        assert await pbx.lookup_caller(pbx.new_call(caller="1004")) is not None
    assert len(crm_log("crm_circuit_opened")) == 1
    [closed] = crm_log("crm_circuit_closed")
    assert "skipped_lookups=7" in closed
    assert crm_server.lookups == ["1007", "1004"]
    assert not [event for event in pbx.published if not isinstance(event, ScreenPop)]  # no per-call events


async def test_a_crm_that_is_not_there_at_all_opens_the_circuit_too(pbx_harness, crm_log):
    unused = TestServer(web.Application(), host="127.0.0.1")
    await unused.start_server()
    port = unused.port
    await unused.close()  # nothing listens there now: connections are refused
    config = {"rest": {"url": f"http://127.0.0.1:{port}/customers?phone={{caller}}",
                       "breaker": {"failures": 2, "open_seconds": 10}}}
    async with pbx_harness(crm, config=config) as pbx:
        for _ in range(4):
            assert await pbx.lookup_caller(pbx.new_call(caller="1007")) is None
    assert len(crm_log("crm_request_failed")) == 2 and len(crm_log("crm_circuit_opened")) == 1
    assert "ClientConnectorError" in crm_log("crm_circuit_opened")[0]
    assert not pbx.failures


# Screen pop and writeback ------------------------------------------------------------------------------


def _ended(pbx, call_id: str, caller: str, *, talk: float = 25.0) -> CallEnded:
    return CallEnded(at=pbx.now(), call_id=call_id, caller=caller, callee="800", cause="normal", status=200,
                     hangup_by="caller", answered=True, total_seconds=talk + 1, ring_seconds=0.0, talk_seconds=talk)


async def test_the_agent_gets_a_screen_pop_and_the_crm_gets_the_call_result(pbx_harness, crm_server):
    config = crm_server.config(writeback={"url": crm_server.url + "/calls"})
    async with pbx_harness(crm, config=config) as pbx:
        call = pbx.new_call(caller="1007")
        await pbx.lookup_caller(call)
        await pbx.advance(5)
        await pbx.feed(CallDisposition(at=pbx.now(), call_id=call.call_id, value="known customer"))
        await pbx.advance(10)
        await pbx.feed(AgentConnected(at=pbx.now(), agent="1001", call_id=call.call_id, queue="support",
                                      wait_seconds=9.5, ring_seconds=0.5))
        pop = pbx.assert_published(ScreenPop, call_id=call.call_id, agent="1001")
        assert (pop.queue, pop.caller, pop.customer_id, pop.name) == ("support", "1007", "C-1007", "Victoria Vance")
        assert pop.fields == {"found": "true", "source": "rest", "vip": "true", "tier": "platinum", "language": "en",
                              "manager": "Marta Nowak"}
        await pbx.advance(20)
        await pbx.feed(_ended(pbx, call.call_id, "1007"))
    [result] = crm_server.calls
    assert result["call_id"] == call.call_id and result["customer_id"] == "C-1007" and result["found"] is True
    assert (result["dispositions"], result["agent"], result["queue"]) == (["known customer"], "1001", "support")
    assert (result["talk_seconds"], result["agent_seconds"], result["wait_seconds"]) == (25.0, 20.0, 9.5)
    assert not pbx.failures


async def test_an_unknown_callers_result_is_written_back_and_a_failing_writeback_never_raises(pbx_harness,
                                                                                              crm_server, crm_log):
    config = crm_server.config(writeback={"url": crm_server.url + "/calls/{call_id}"})  # no such route: 404
    async with pbx_harness(crm, config=config) as pbx:
        call = pbx.new_call(caller="1006")
        assert await pbx.lookup_caller(call) is None
        await pbx.feed(AgentConnected(at=pbx.now(), agent="1002", call_id=call.call_id, queue="support",
                                      wait_seconds=1.0, ring_seconds=0.2))
        pop = pbx.assert_published(ScreenPop, agent="1002")
        assert (pop.name, pop.fields) == (None, {"found": "false"})
        await pbx.feed(_ended(pbx, call.call_id, "1006"))
    assert crm_server.calls == []
    [failed] = crm_log("crm_request_failed")
    assert "method=POST" in failed and "HTTP 404" in failed
    assert not pbx.failures


async def test_calls_never_looked_up_get_neither_screen_pop_nor_writeback(pbx_harness, crm_server):
    config = crm_server.config(writeback={"url": crm_server.url + "/calls"})
    async with pbx_harness(crm, config=config) as pbx:
        await pbx.feed(AgentConnected(at=pbx.now(), agent="1001", call_id="callback-1", queue="support",
                                      wait_seconds=1.0, ring_seconds=0.2), _ended(pbx, "callback-1", "1004"))
    assert not [event for event in pbx.published if isinstance(event, ScreenPop)]
    assert crm_server.calls == []


# Config (the admin endpoints are in test_crm_admin.py) -------------------------------------------------------


def test_a_config_with_an_unknown_key_is_refused_with_its_path(pbx_harness):
    with pytest.raises(PluginConfigError, match=r"unknown field `ttl_seconds` - at `\$.rest.cache`") as refused:
        pbx_harness(crm, config={"rest": {"url": "http://127.0.0.1:1/c?phone={caller}",
                                          "cache": {"ttl_seconds": 5}}})
    assert refused.value.path == ["rest", "cache", "ttl_seconds"]
