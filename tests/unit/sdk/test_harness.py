"""sdk.testing: the fake PBX plugin authors test against (FakeClock, FakeApi, PluginHarness and
the `pbx_harness` pytest fixture that installing `pbx` registers)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from sdk import ActionRefused, PluginConfigError, hookimpl
from sdk.events import AgentConnected, CallStarted, ScreenPop
from sdk.testing import FakeClock, PluginHarness

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "plugins" / "pbx-caller-stats"


# FakeClock -------------------------------------------------------------------------------------------


def test_the_fake_clock_moves_only_when_told_and_fires_due_timers_in_order():
    clock = FakeClock(start=100.0)
    fired: list[tuple[str, float]] = []
    clock.call_later(5, lambda: fired.append(("five", clock())))
    clock.call_later(1, lambda: fired.append(("one", clock())))
    cancelled = clock.call_later(2, lambda: fired.append(("two", clock())))
    clock.call_later(1, lambda: fired.append(("one again", clock())))
    cancelled.cancel()

    assert clock() == 100.0
    clock.advance(3)
    assert fired == [("one", 101.0), ("one again", 101.0)]  # same time: in the order they were set
    assert clock() == 103.0
    clock.advance(2)
    assert fired[-1] == ("five", 105.0)
    clock.advance(100)
    assert len(fired) == 3


def test_a_timer_set_by_a_timer_fires_in_the_same_advance_when_due():
    clock = FakeClock(start=0.0)
    fired: list[float] = []
    clock.call_later(1, lambda: clock.call_later(1, lambda: fired.append(clock())))
    clock.advance(5)
    assert fired == [2.0]


# The plugin's view ---------------------------------------------------------------------------------------


class Reminder:
    """Screen-pops the agent, and reminds it by hanging up calls still up 60 s after connecting."""

    name = "reminder"

    class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        limit: float = 60.0

    def __init__(self) -> None:
        self.started = self.stopped = False

    @hookimpl
    def pbx_startup(self, api):
        self.started = True

    @hookimpl
    def pbx_shutdown(self, api):
        self.stopped = True

    @hookimpl
    async def pbx_event(self, event, api):  # async: api.call_later and api.spawn need the event loop
        if isinstance(event, AgentConnected):
            api.publish(ScreenPop(at=api.now(), call_id=event.call_id, agent=event.agent, queue=event.queue,
                                  caller="1001", customer_id=None, name=None, fields={}))
            api.call_later(api.config.limit, lambda: self._too_long(api, event.call_id))

    def _too_long(self, api, call_id):
        if api.call(call_id) is not None:
            api.hang_up(call_id, cause="timeout")


def connected(pbx: PluginHarness, call_id: str) -> AgentConnected:
    return AgentConnected(at=pbx.now(), agent="1001", call_id=call_id, queue="sales", wait_seconds=3,
                          ring_seconds=2)


async def test_timers_run_on_the_fake_clock_and_actions_are_recorded():
    reminder = Reminder()
    async with PluginHarness(reminder, config={"limit": 30}) as pbx:
        assert reminder.started
        call = pbx.new_call(caller="1001")
        ended = pbx.new_call(caller="1002")
        await pbx.feed(connected(pbx, call.call_id), connected(pbx, ended.call_id))
        pbx.assert_published(ScreenPop, agent="1001", call_id=call.call_id)
        pbx.end_call(ended.call_id)

        await pbx.advance(29)
        assert pbx.actions == []
        await pbx.advance(1)
        action = pbx.assert_action("hang_up", call.call_id, cause="timeout")
        assert (action.plugin, len(pbx.actions)) == ("reminder", 1)
    assert reminder.stopped


async def test_assertions_say_what_was_there_instead():
    async with PluginHarness(Reminder()) as pbx:
        await pbx.feed(connected(pbx, "call-1"))
        with pytest.raises(AssertionError, match=r"no ScreenPop with \{'agent': '2002'\}; published: \[ScreenPop\("):
            pbx.assert_published(ScreenPop, agent="2002")
        with pytest.raises(AssertionError, match=r"no action hang_up on call-1 with \{\}; actions: \[\]"):
            pbx.assert_action("hang_up", "call-1")


async def test_call_actions_on_a_call_that_is_not_live_are_refused():
    async with PluginHarness(Reminder()) as pbx:
        api = pbx.api()
        with pytest.raises(ActionRefused, match="no live call 'gone'"):
            api.hang_up("gone")
        with pytest.raises(ActionRefused):
            api.play("gone", ["welcome"])


async def test_recording_actions_follow_the_recording_state():
    async with PluginHarness(Reminder()) as pbx:
        api = pbx.api("reminder")
        call = pbx.new_call()
        with pytest.raises(ActionRefused, match="is not being recorded"):
            api.pause_recording(call.call_id)
        api.start_recording(call.call_id, layout="stereo", policy="compliance")
        with pytest.raises(ActionRefused, match="already being recorded"):
            api.start_recording(call.call_id)
        with pytest.raises(ActionRefused, match="is not paused"):
            api.resume_recording(call.call_id)
        api.pause_recording(call.call_id, reason="card number")
        api.resume_recording(call.call_id)
        api.stop_recording(call.call_id)

        assert [(a.name, a.arguments) for a in pbx.actions] == [
            ("start_recording", {"layout": "stereo", "policy": "compliance"}),
            ("pause_recording", {"reason": "card number"}),
            ("resume_recording", {}),
            ("stop_recording", {}),
        ]


async def test_calls_the_plugin_sees_follow_the_harness():
    async with PluginHarness(Reminder()) as pbx:
        api = pbx.api()
        call = pbx.new_call(caller="1001", callee="800", call_id="c1")
        assert api.call("c1") == call and api.calls() == [call]
        updated = pbx.update_call("c1", queue="sales", agent="1004")
        assert api.call("c1") == updated and (updated.queue, updated.agent) == ("sales", "1004")
        pbx.end_call("c1")
        assert api.call("c1") is None and api.calls() == []
        originated = await api.originate("1004", connect_to="800")
        assert originated.startswith("originated-")
        pbx.assert_action("originate", None, number="1004", connect_to="800")


async def test_each_plugin_gets_its_own_config_store_and_directory():
    class Other:
        name = "other"

    async with PluginHarness(Reminder(), Other(), configs={"reminder": {"limit": 5}}) as pbx:
        reminder, other = pbx.api("reminder"), pbx.api("other")
        assert reminder.config == Reminder.Config(limit=5)
        assert other.config is None
        assert reminder.data_dir.is_dir() and reminder.data_dir != other.data_dir
        await reminder.store.set("k", 1)
        assert await other.store.get("k") is None
        with pytest.raises(KeyError, match="no plugin 'missing'"):
            pbx.api("missing")


def test_a_config_that_does_not_fit_is_refused_before_the_plugin_runs():
    with pytest.raises(PluginConfigError, match=r"plugins\.reminder: Expected `float`, got `str` - at `\$\.limit`"):
        PluginHarness(Reminder(), config={"limit": "soon"})


async def test_spawned_work_is_settled_by_feed():
    class Background:
        name = "background"

        @hookimpl
        async def pbx_event(self, event, api):
            if isinstance(event, CallStarted):
                api.spawn(self.look_up(api, event.call_id), name=f"look-up-{event.call_id}")

        async def look_up(self, api, call_id):
            await asyncio.sleep(0.05)
            await api.store.set(call_id, "looked up")

    async with PluginHarness(Background()) as pbx:
        await pbx.feed(CallStarted(at=pbx.now(), call_id="c1", caller="1001", callee="800"))
        assert await pbx.api().store.get("c1") == "looked up"


async def test_the_pbx_harness_fixture_keeps_its_files_under_tmp_path(pbx_harness, tmp_path):
    async with pbx_harness(Reminder()) as pbx:
        assert pbx.api().data_dir.is_relative_to(tmp_path)
        await pbx.api().store.set("kept", True)
    assert (tmp_path / "harness-0" / "pbx.sqlite").is_file()


@pytest.mark.timeout(60)
def test_a_third_party_project_gets_the_fixture_from_the_installed_pbx(tmp_path):
    """The example plugin's own tests, run as its author would: in its directory, with its own
    pytest configuration, the `pbx_harness` fixture coming from the pytest11 entry point."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o",
                             f"cache_dir={tmp_path}"], cwd=EXAMPLE, capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
