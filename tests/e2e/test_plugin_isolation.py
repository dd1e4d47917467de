"""Three misbehaving site plugins cannot break or hold up real calls.

A PBX loads three plugins by `path:` from files this test writes, each with a 0.5 s timeout:

- `raiser`: its `pbx_lookup_caller` and its `pbx_event` raise;
- `sleeper`: its async `pbx_lookup_caller` and `pbx_event` sleep for 30 s;
- `blocker`: its sync `pbx_lookup_caller` blocks its thread with `time.sleep` for 1.5 s.

sipp then places authenticated calls (1001 -> PBX -> a sipp callee registered as 1002), held
2 s each so that many are up while the plugins misbehave. Every call completes (sipp: 0
failed; each BYE got its 200, so no call in progress was dropped), no call waits for the
plugins longer than their timeout bound, the PBX is idle afterwards, and the log has a
PluginFailed for each plugin naming the hook and the reason.
"""

from __future__ import annotations

import csv
import textwrap
import time

import pytest

from .calls.fixtures import bus_events, call_pbx, wait_idle  # noqa: F401
from .calls.sipp_calls import ANSWER, run_caller, sipp_callee
from .harness import wait_for

pytestmark = pytest.mark.e2e

CALLS = 60
TIMEOUT = 0.5

PLUGINS = {
    "raiser": """
        from sdk import hookimpl


        @hookimpl
        def pbx_lookup_caller(call):
            raise RuntimeError("crm is down")


        @hookimpl
        def pbx_event(event):
            raise RuntimeError("event store is down")
    """,
    "sleeper": """
        import asyncio

        from sdk import hookimpl
        from sdk.events import CallStarted


        @hookimpl
        async def pbx_lookup_caller(call):
            await asyncio.sleep(30)


        @hookimpl
        async def pbx_event(event):
            if isinstance(event, CallStarted):
                await asyncio.sleep(30)
    """,
    "blocker": """
        import time

        from sdk import hookimpl


        @hookimpl
        def pbx_lookup_caller(call):
            time.sleep(1.5)  # a blocking HTTP client that hangs
    """,
}


def write_plugins(directory) -> dict:
    sections = {"recording": {"enabled": False}, "crm": {"enabled": False}}  # only the three below
    for name, source in PLUGINS.items():
        path = directory / f"{name}.py"
        path.write_text(textwrap.dedent(source).lstrip())
        sections[name] = {"path": str(path), "timeout": TIMEOUT}
    return sections


def failed_as(pbx, plugin: str, hook: str, reason: str) -> dict:
    """The PluginFailed log line for `plugin` and `hook` whose reason is `reason` (or starts with
    it, when it ends in a space); fails the test after 5 s without one."""

    def matching():
        return next((event for event in bus_events(pbx, "PluginFailed")
                     if event.get("plugin") == plugin and event.get("hook") == hook
                     and (event.get("reason", "").startswith(reason) if reason.endswith(" ")
                          else event.get("reason") == reason)), None)

    return wait_for(matching, timeout=5, what=f"PluginFailed plugin={plugin} hook={hook} reason={reason!r}")


def setup_times_ms(stat_path) -> list[float]:
    """sipp's per-period average INVITE-to-200 time ("setup" rtd), in ms, from the stat CSV."""
    with stat_path.open(newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter=";"))
    times = []
    for row in rows:
        value = row.get("ResponseTimesetup(P)", "")
        if value and value != "00:00:00:000000":
            hours, minutes, seconds, micros = (int(part) for part in value.split(":"))
            times.append(((hours * 60 + minutes) * 60 + seconds) * 1000 + micros / 1000)
    return times


@pytest.mark.timeout(60)
def test_misbehaving_plugins_do_not_break_or_delay_calls(tmp_path, ports, call_pbx):  # noqa: F811
    pbx = call_pbx(plugins=write_plugins(tmp_path))
    assert "plugins=raiser,sleeper,blocker" in pbx.log_text(), pbx.log_tail()
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(ANSWER, calls=CALLS, timeout=40)
    try:
        started = time.monotonic()
        run = run_caller(pbx.sip_address, ports, tmp_path, caller="1001", password="secret1001", callee="1002",
                         calls=CALLS, rate=10, limit=CALLS, pause_ms=2000, timeout=35)
        elapsed = time.monotonic() - started
        stats = run.stats()
        assert run.returncode == 0, f"{stats}\n{run.describe()}\n--- callee ---\n{callee.describe()}"
        assert (stats.successful, stats.failed) == (CALLS, 0), f"{stats}\n{run.describe()}"
        assert callee.wait() == 0, callee.describe()
    finally:
        callee.stop()

    # Each call waits for the plugins at most 0.5 s (the slowest is cut off; they are asked at
    # once, so not 3 x 0.5 s); with 407 + ACK + 180 on loopback, setup stays well under 1 s.
    setups = setup_times_ms(run.stat_path)
    assert setups and max(setups) < 1000, setups
    assert min(setups) >= TIMEOUT * 1000 * 0.9, f"the lookup was not awaited at all? {setups}"

    # Each failure, by plugin, hook and reason (in whatever order the calls met them).
    failed_as(pbx, "raiser", "pbx_lookup_caller", "raised RuntimeError: crm is down")
    failed_as(pbx, "raiser", "pbx_event", "raised RuntimeError: event store is down on ")  # the first event it got
    failed_as(pbx, "sleeper", "pbx_lookup_caller", "timed out after 0.5 s")
    failed_as(pbx, "sleeper", "pbx_event", "timed out after 0.5 s on CallStarted")
    failed_as(pbx, "blocker", "pbx_lookup_caller", "timed out after 0.5 s")
    stuck = [event for event in bus_events(pbx, "PluginFailed")
             if event.get("plugin") == "blocker" and event.get("reason", "").startswith("still blocked")]
    assert stuck, "calls during the block were not skipped at once"

    # Rate limited: one report per plugin, hook and kind per 10 s, not one per call.
    failures = bus_events(pbx, "PluginFailed")
    assert len(failures) <= 2 * 6 + 2, failures
    print(f"\n{CALLS} calls in {elapsed:.1f}s with 3 failing plugins; setup {min(setups):.0f}-{max(setups):.0f} ms; "
          f"{len(failures)} PluginFailed")
    wait_idle(pbx, timeout=5)
