"""The caller_stats plugin on the fake PBX of `sdk.testing` (the `pbx_harness` fixture that
installing `pbx` registers with pytest). Run from this directory: `python -m pytest`."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import pbx_caller_stats
from sdk import PluginConfigError, RoutingInputs
from sdk.events import CallStarted, MetricPublished


def started(pbx, caller: str, call_id: str) -> CallStarted:
    return CallStarted(at=pbx.now(), call_id=call_id, caller=caller, callee="800")


async def test_counts_calls_per_caller(pbx_harness):
    async with pbx_harness(pbx_caller_stats, config={"greeting": "Ahoy", "vip_after": 2}) as pbx:
        await pbx.feed(started(pbx, "1001", "a"), started(pbx, "1001", "b"), started(pbx, "1002", "c"))

        calls = (await pbx.ivr_functions())["stats.calls"]
        assert await calls(number="1001") == {"count": 2, "frequent": True, "greeting": "Ahoy"}
        assert await calls(number="1002") == {"count": 1, "frequent": False, "greeting": "Ahoy"}
        assert await calls(number="1003") == {"count": 0, "frequent": False, "greeting": "Ahoy"}
        assert await pbx.api().store.get("calls:1001") == 2


async def test_publishes_a_counter_per_call(pbx_harness):
    async with pbx_harness(pbx_caller_stats, config={"vip_after": 2}) as pbx:
        await pbx.feed(started(pbx, "1001", "a"), started(pbx, "1001", "b"))

        metrics = [event for event in pbx.published if isinstance(event, MetricPublished)]
        assert [(m.plugin, m.name, m.value, m.kind, m.labels) for m in metrics] == [
            ("caller_stats", "calls", 1.0, "counter", {"frequent": "no"}),
            ("caller_stats", "calls", 1.0, "counter", {"frequent": "yes"}),
        ]


async def test_frequent_callers_get_priority(pbx_harness):
    async with pbx_harness(pbx_caller_stats, config={"vip_after": 2, "priority": 5}) as pbx:
        await pbx.feed(started(pbx, "1001", "a"))
        assert await pbx.routing_inputs(pbx.new_call(caller="1001")) == []

        await pbx.feed(started(pbx, "1001", "b"))
        assert await pbx.routing_inputs(pbx.new_call(caller="1001")) == [RoutingInputs(priority=5)]
        assert pbx.failures == []


async def test_the_admin_route_serves_the_count(pbx_harness):
    async with pbx_harness(pbx_caller_stats, config={"vip_after": 1}) as pbx:
        await pbx.feed(started(pbx, "1001", "a"))
        app = web.Application()
        app.add_routes((await pbx.admin_routes())["caller_stats"])
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/callers/1001")
            assert response.status == 200
            assert await response.json() == {"number": "1001", "calls": 1, "frequent": True,
                                             "greeting": "Welcome back"}


def test_an_unknown_config_key_is_refused_with_its_path(pbx_harness):
    with pytest.raises(PluginConfigError) as refused:
        pbx_harness(pbx_caller_stats, config={"vip_afterr": 2})
    assert refused.value.path == ["vip_afterr"]
    assert "plugins.caller_stats" in str(refused.value)
