"""sdk.runner's isolation, through the plugin-author harness (the same runner the PBX uses).

A hook that raises, overruns its timeout (async) or blocks its thread (sync) is skipped for
that call and reported as one PluginFailed naming the plugin, the hook and the reason; the
other plugins still answer, and the caller waits no longer than the timeout. Events reach
each plugin in order; a plugin that falls behind its queue limit loses the oldest; failures
are rate-limited per plugin, hook and kind.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest

from sdk import CallerInfo, PluginFailed, RoutingInputs, hookimpl, subscribe
from sdk.events import CallEnded, CallStarted
from sdk.runner import LoadedPlugin, PluginRunner
from sdk.testing import PluginHarness

TIMEOUT = 0.2


class Answers:
    """Knows every caller: answers the lookup at once."""

    name = "answers"

    @hookimpl
    def pbx_lookup_caller(self, call):
        return CallerInfo(source="answers", name=f"caller {call.caller}")


class Raises:
    name = "raises"

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def pbx_lookup_caller(self, call):
        self.asked += 1
        raise RuntimeError("crm is down")


class SleepsPastTimeout:
    name = "sleeps"

    @hookimpl
    async def pbx_lookup_caller(self, call):
        await asyncio.sleep(30)


class Blocks:
    """A synchronous lookup stuck in a blocking client until `release` is set."""

    name = "blocks"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.threads: list[str] = []

    @hookimpl
    def pbx_lookup_caller(self, call):
        self.threads.append(threading.current_thread().name)
        self.release.wait(5)
        return CallerInfo(source="blocks")


class Events:
    """Records every event, synchronously (so in the plugin's own thread)."""

    def __init__(self, name: str = "events") -> None:
        self.name = name
        self.seen: list[str] = []
        self.threads: set[str] = set()

    @hookimpl
    def pbx_event(self, event):
        if isinstance(event, CallStarted):
            self.seen.append(event.call_id)
            self.threads.add(threading.current_thread().name)


class AsyncEvents(Events):
    @hookimpl
    async def pbx_event(self, event):
        await asyncio.sleep(0)
        if isinstance(event, CallStarted):
            self.seen.append(event.call_id)


def started(call_id: str, at: float = 0.0) -> CallStarted:
    return CallStarted(at=at, call_id=call_id, caller="1001", callee="800")


def failure_of(pbx: PluginHarness, plugin: str) -> PluginFailed:
    found = [failure for failure in pbx.failures if failure.plugin == plugin]
    assert len(found) == 1, pbx.failures
    return found[0]


# Awaited hooks -------------------------------------------------------------------------------------


async def test_a_hook_that_raises_is_reported_and_the_next_plugin_answers():
    async with PluginHarness(Raises(), Answers(), timeout=TIMEOUT) as pbx:
        call = pbx.new_call(caller="1001")
        caller = await pbx.lookup_caller(call)

        assert caller == CallerInfo(source="answers", name="caller 1001")
        assert pbx.failures == [PluginFailed(at=pbx.now(), plugin="raises", hook="pbx_lookup_caller",
                                             reason="raised RuntimeError: crm is down", call_id=call.call_id)]


async def test_an_async_hook_past_its_timeout_is_cut_off_at_the_timeout():
    async with PluginHarness(SleepsPastTimeout(), Answers(), timeout=TIMEOUT) as pbx:
        call = pbx.new_call()
        began = time.monotonic()
        caller = await pbx.lookup_caller(call)
        waited = time.monotonic() - began

        assert caller is not None and caller.source == "answers"
        assert TIMEOUT - 0.01 <= waited < TIMEOUT + 0.15
        failure = failure_of(pbx, "sleeps")
        assert (failure.hook, failure.reason, failure.call_id) == ("pbx_lookup_caller", "timed out after 0.2 s",
                                                                   call.call_id)


async def test_a_sync_hook_that_blocks_stalls_only_its_own_thread():
    blocks = Blocks()
    try:
        async with PluginHarness(blocks, Answers(), timeout=TIMEOUT) as pbx:
            began = time.monotonic()
            caller = await pbx.lookup_caller(pbx.new_call())
            waited = time.monotonic() - began

            assert caller is not None and caller.source == "answers"
            assert waited < TIMEOUT + 0.15
            assert blocks.threads and blocks.threads[0].startswith("plugin-blocks")
            assert failure_of(pbx, "blocks").reason == "timed out after 0.2 s"

            # Still stuck: the next call does not wait for it again, nor queue behind it.
            await asyncio.sleep(0.1)
            began = time.monotonic()
            caller = await pbx.lookup_caller(pbx.new_call())
            assert time.monotonic() - began < 0.05
            assert caller is not None and caller.source == "answers"
            assert len(blocks.threads) == 1
            still = [f for f in pbx.failures if f.plugin == "blocks" and f.reason.startswith("still blocked")]
            assert len(still) == 1, pbx.failures
            assert re.fullmatch(r"still blocked in an earlier call for 0\.[34] s", still[0].reason), still
    finally:
        blocks.release.set()


async def test_plugins_are_asked_at_once_so_the_wait_is_the_slowest_not_the_sum():
    class SlowAsync:
        name = "slow_async"

        @hookimpl
        async def pbx_routing_inputs(self, call):
            await asyncio.sleep(0.15)
            return RoutingInputs(priority=1)

    class SlowSync:
        name = "slow_sync"

        @hookimpl
        def pbx_routing_inputs(self, call):
            time.sleep(0.15)
            return RoutingInputs(priority=2)

    async with PluginHarness(SlowAsync(), SlowSync(), timeout=1.0) as pbx:
        began = time.monotonic()
        answers = await pbx.routing_inputs(pbx.new_call())
        assert time.monotonic() - began < 0.28
        assert answers == [RoutingInputs(priority=1), RoutingInputs(priority=2)]  # in plugin order
        assert pbx.failures == []


async def test_an_answer_of_the_wrong_type_is_refused():
    class WrongType:
        name = "wrong"

        @hookimpl
        def pbx_lookup_caller(self, call):
            return "a VIP"

    async with PluginHarness(WrongType(), Answers()) as pbx:
        caller = await pbx.lookup_caller(pbx.new_call())

        assert caller is not None and caller.source == "answers"
        reason = failure_of(pbx, "wrong").reason
        assert reason.startswith("answered the wrong type: Expected `object`, got `str`"), reason


async def test_a_mapping_with_the_right_fields_is_converted_to_the_answer_type():
    class Mapping:
        name = "mapping"

        @hookimpl
        def pbx_lookup_caller(self, call):
            return {"source": "mapping", "vip": True, "priority": 3}

    async with PluginHarness(Mapping()) as pbx:
        assert await pbx.lookup_caller(pbx.new_call()) == CallerInfo(source="mapping", vip=True, priority=3)


async def test_a_missing_field_is_the_wrong_type_too():
    class Missing:
        name = "missing"

        @hookimpl
        def pbx_lookup_caller(self, call):
            return {"vip": True}

    async with PluginHarness(Missing()) as pbx:
        assert await pbx.lookup_caller(pbx.new_call()) is None
        assert "missing required field `source`" in failure_of(pbx, "missing").reason


async def test_a_hook_asking_for_an_argument_it_is_not_offered_fails_clearly():
    class Typo:
        name = "typo"

        @hookimpl
        def pbx_lookup_caller(self, call, caller_id):
            return None

    async with PluginHarness(Typo()) as pbx:
        assert await pbx.lookup_caller(pbx.new_call()) is None
        assert failure_of(pbx, "typo").reason == "raised TypeError: asks for caller_id, which this hook does not offer"


async def test_the_first_plugin_in_order_that_answers_wins():
    class Unknown:
        name = "unknown"

        @hookimpl
        async def pbx_lookup_caller(self, call):
            return None

    class Second:
        name = "second"

        @hookimpl
        async def pbx_lookup_caller(self, call):
            return CallerInfo(source="second")

    async with PluginHarness(Unknown(), Answers(), Second()) as pbx:
        caller = await pbx.lookup_caller(pbx.new_call())
        assert caller is not None and caller.source == "answers"


# Events ---------------------------------------------------------------------------------------------


async def test_events_reach_every_plugin_in_order_sync_ones_in_their_own_thread():
    sync, asynchronous = Events("sync"), AsyncEvents("async")
    async with PluginHarness(sync, asynchronous) as pbx:
        await pbx.feed(*(started(f"call-{n}") for n in range(300)))

        expected = [f"call-{n}" for n in range(300)]
        assert sync.seen == expected
        assert asynchronous.seen == expected
        assert sync.threads == {"plugin-sync_0"}
        assert pbx.failures == []


async def test_an_event_hook_that_raises_loses_only_that_event():
    class Picky(Events):
        @hookimpl
        def pbx_event(self, event):
            if getattr(event, "call_id", "") == "call-1":
                raise ValueError("cannot file call-1")
            super().pbx_event(event)

    picky = Picky("picky")
    async with PluginHarness(picky) as pbx:
        await pbx.feed(started("call-0"), started("call-1"), started("call-2"))

        assert picky.seen == ["call-0", "call-2"]
        assert pbx.failures == [PluginFailed(at=pbx.now(), plugin="picky", hook="pbx_event",
                                             reason="raised ValueError: cannot file call-1 on CallStarted",
                                             call_id="call-1")]


async def test_an_async_event_hook_past_its_timeout_is_cut_off_and_the_next_event_delivered():
    class Slow(AsyncEvents):
        @hookimpl
        async def pbx_event(self, event):
            if event.call_id == "call-0":
                await asyncio.sleep(30)
            await super().pbx_event(event)

    slow = Slow("slow")
    async with PluginHarness(slow, timeout=TIMEOUT) as pbx:
        await pbx.feed(started("call-0"), started("call-1"))

        assert slow.seen == ["call-1"]
        failure = failure_of(pbx, "slow")
        assert (failure.hook, failure.reason, failure.call_id) == ("pbx_event", "timed out after 0.2 s on CallStarted",
                                                                   "call-0")


async def test_an_async_event_hook_that_waits_is_finished_in_order_and_its_errors_and_cleanup_seen():
    """Event hooks start eagerly (no timer for one that returns at once); one that awaits a
    future, a bare yield or a sleep is finished as a task would, raising after an await is
    reported, and a timed-out one runs its `finally`."""
    cleaned = []

    class Waits(AsyncEvents):
        @hookimpl
        async def pbx_event(self, event):
            loop = asyncio.get_running_loop()
            if not isinstance(event, CallStarted):  # the failure reports come here too
                return
            if event.call_id == "call-0":
                future = loop.create_future()
                loop.call_soon(future.set_result, "ready")
                assert await future == "ready"
                await asyncio.sleep(0)
                await asyncio.sleep(0.01)
            elif event.call_id == "call-1":
                await asyncio.sleep(0)
                raise ValueError("after a yield")
            elif event.call_id == "call-2":
                try:
                    await asyncio.sleep(30)
                finally:
                    cleaned.append(event.call_id)
            await super().pbx_event(event)

    waits = Waits("waits")
    async with PluginHarness(waits, timeout=TIMEOUT) as pbx:
        await pbx.feed(started("call-0"), started("call-1"), started("call-2"), started("call-3"))

    assert waits.seen == ["call-0", "call-3"] and cleaned == ["call-2"]
    assert sorted(failure.reason for failure in pbx.failures) == [
        "raised ValueError: after a yield on CallStarted", "timed out after 0.2 s on CallStarted"]


async def test_a_sync_event_hook_that_blocks_is_reported_and_later_events_wait_in_order():
    class Stuck(Events):
        @hookimpl
        def pbx_event(self, event):
            if getattr(event, "call_id", None) == "call-0":
                time.sleep(0.5)
            super().pbx_event(event)

    stuck = Stuck("stuck")
    async with PluginHarness(stuck, timeout=TIMEOUT) as pbx:
        pbx.runner.deliver(started("call-0"))
        await asyncio.sleep(0.05)  # the first batch is being handed over: the rest queue behind it
        began = time.monotonic()
        for n in range(1, 4):
            pbx.runner.deliver(started(f"call-{n}"))
        assert time.monotonic() - began < 0.01  # the publisher never waits
        await pbx.settle()

        assert stuck.seen == ["call-0", "call-1", "call-2", "call-3"]
        failure = failure_of(pbx, "stuck")
        assert (failure.hook, failure.reason) == ("pbx_event",
                                                  "blocked for more than 0.2 s (in its own thread; events wait for it)")


async def test_a_plugin_failing_on_a_failure_report_does_not_feed_itself():
    class Fragile:
        name = "fragile"

        @hookimpl
        def pbx_event(self, event):
            raise RuntimeError("always")

    async with PluginHarness(Fragile()) as pbx:
        await pbx.feed(started("call-0"))
        await pbx.settle()
        assert [(f.plugin, f.reason) for f in pbx.failures] == [
            ("fragile", "raised RuntimeError: always on CallStarted")]


async def test_a_queue_over_its_limit_drops_the_oldest_and_says_how_many():
    reports: list[PluginFailed] = []
    events = Events("behind")
    plugin = LoadedPlugin("behind", events, api=None, queue_limit=3)
    runner = PluginRunner([plugin], reports.append, clock=lambda: 42.0)
    for n in range(10):  # published before the worker runs: it falls behind at once
        runner.deliver(started(f"call-{n}"))
    runner.start()
    await runner.drain()
    await runner.stop()

    assert events.seen == ["call-7", "call-8", "call-9"]
    assert reports == [PluginFailed(at=42.0, plugin="behind", hook="pbx_event", reason="fell behind: dropped 7 events")]


# Rate limiting ------------------------------------------------------------------------------------


async def test_failures_are_reported_once_per_plugin_hook_and_kind_per_period():
    reports: list[PluginFailed] = []
    raises = Raises()
    runner = PluginRunner([LoadedPlugin("raises", raises, api=None, timeout=TIMEOUT)], reports.append,
                          report_every=0.3)
    for n in range(5):
        assert await runner.ask(runner.plugins[0], "pbx_lookup_caller", CallerInfo, f"call-{n}", call=None) is None
    assert raises.asked == 5
    assert [(r.reason, r.call_id) for r in reports] == [("raised RuntimeError: crm is down", "call-0")]

    await asyncio.sleep(0.35)
    await runner.ask(runner.plugins[0], "pbx_lookup_caller", CallerInfo, "call-5", call=None)
    assert len(reports) == 2
    assert reports[1].call_id == "call-5"
    assert reports[1].reason.startswith("raised RuntimeError: crm is down (and 4 more like it in the last 0 s)")
    await runner.stop()


async def test_each_kind_of_failure_and_each_hook_is_reported_on_its_own():
    class Mixed:
        name = "mixed"

        def __init__(self) -> None:
            self.slow = False

        @hookimpl
        async def pbx_lookup_caller(self, call):
            if self.slow:
                await asyncio.sleep(30)
            raise LookupError("no such customer")

        @hookimpl
        async def pbx_routing_inputs(self, call):
            raise LookupError("no routing")

    mixed = Mixed()
    async with PluginHarness(mixed, timeout=TIMEOUT) as pbx:
        await pbx.lookup_caller(pbx.new_call())
        await pbx.lookup_caller(pbx.new_call())  # same plugin, hook and kind: suppressed
        mixed.slow = True
        await pbx.lookup_caller(pbx.new_call())  # a timeout is another kind
        await pbx.routing_inputs(pbx.new_call())  # another hook

        assert [(f.hook, f.reason) for f in pbx.failures] == [
            ("pbx_lookup_caller", "raised LookupError: no such customer"),
            ("pbx_lookup_caller", "timed out after 0.2 s"),
            ("pbx_routing_inputs", "raised LookupError: no routing"),
        ]


@pytest.mark.parametrize("hook", ["pbx_startup", "pbx_shutdown"])
async def test_a_failing_life_cycle_hook_is_reported_not_raised(hook):
    def fail(api):
        raise OSError("database unreachable")

    broken = type("Broken", (), {"name": "broken", hook: staticmethod(hookimpl(fail))})()
    async with PluginHarness(broken) as pbx:
        pass
    assert [(f.hook, f.reason) for f in pbx.failures] == [(hook, "raised OSError: database unreachable")]


class ThreadedNotifier:
    """A plain `def` hook (it runs in the plugin's thread) that uses the api: each call is carried
    out on the event loop and its answer handed back to the thread."""

    name = "notifier"

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.spawned: list[str] = []

    @hookimpl
    def pbx_event(self, event, api):
        if not isinstance(event, CallStarted):
            return
        self.threads.add(threading.get_ident())
        api.publish_metric("calls", 1, kind="counter")
        assert api.call(event.call_id) is not None  # read on the loop, answered to the thread

        async def later() -> None:
            self.spawned.append(event.call_id)

        api.spawn(later(), name="later")


async def test_a_sync_hook_in_its_thread_uses_the_api_through_the_event_loop():
    from sdk.events import MetricPublished

    plugin = ThreadedNotifier()
    async with PluginHarness(plugin, timeout=TIMEOUT) as pbx:
        call = pbx.new_call(caller="1004")
        await pbx.feed(CallStarted(at=pbx.now(), call_id=call.call_id, caller="1004", callee="800"))
        assert plugin.threads and threading.get_ident() not in plugin.threads
        pbx.assert_published(MetricPublished, plugin="notifier", name="calls")
        assert plugin.spawned == [call.call_id]
        assert pbx.failures == []


class OnlyCallEnds:
    name = "ends"

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    @subscribe(CallEnded)
    async def pbx_event(self, event):
        self.seen.append(type(event).__name__)


async def test_subscribe_limits_the_events_queued_for_a_plugin():
    plugin = OnlyCallEnds()
    async with PluginHarness(plugin, timeout=TIMEOUT) as pbx:
        await pbx.feed(CallStarted(at=pbx.now(), call_id="c1", caller="1", callee="2"),
                       CallEnded(at=pbx.now(), call_id="c1", caller="1", callee="2", cause="normal", status=200,
                                 hangup_by="caller", answered=False, total_seconds=1.0, ring_seconds=1.0,
                                 talk_seconds=0.0))
        assert plugin.seen == ["CallEnded"]
        assert pbx.plugins[0].delivered == 1  # the CallStarted was never queued


class Crowded:
    """A slow synchronous lookup: calls beyond the thread's backlog are skipped, not queued."""

    name = "crowded"

    @hookimpl
    def pbx_lookup_caller(self, call):
        time.sleep(0.05)
        return CallerInfo(source="crowded")


async def test_a_sync_hook_with_a_backlog_is_skipped_at_once():
    from sdk.runner import MAX_IN_THREAD

    async with PluginHarness(Crowded(), timeout=2.0) as pbx:
        calls = [pbx.new_call(caller=str(n)) for n in range(MAX_IN_THREAD + 4)]
        started = time.monotonic()
        answers = await asyncio.gather(*(pbx.lookup_caller(call) for call in calls))
        assert sum(answer is not None for answer in answers) == MAX_IN_THREAD
        assert time.monotonic() - started < 0.05 * MAX_IN_THREAD + 0.3
        assert [failure.reason.split(" ")[0] for failure in pbx.failures] == ["still"]
