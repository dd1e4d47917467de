"""The call waits for the plugins' caller lookup before it is routed, and loses nothing by it.

A site plugin looks callers up slowly (1 s, within its 3 s timeout). A caller who hangs up while
the lookup runs ends cleanly (CANCEL, 487, CallEnded "cancelled", nothing left behind), and the
next caller, once looked up, reaches the phone they dialled with the lookup's answer published
(CallerIdentified) before the callee rings.
"""

from __future__ import annotations

import time

import pytest

from .calls.fixtures import bus_events, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .harness import require_binary

pytestmark = pytest.mark.e2e

SLOW_DIRECTORY = '''\
import asyncio

from sdk import CallerInfo, hookimpl


@hookimpl
async def pbx_lookup_caller(call):
    await asyncio.sleep(1.0)
    return CallerInfo(source="directory", name="Alice Example", tier="gold") if call.caller == "1001" else None
'''


@pytest.mark.timeout(90)
def test_a_caller_hanging_up_during_the_lookup_ends_cleanly_and_the_next_is_routed_after_it(
        tmp_path, call_pbx, phones):  # noqa: F811
    require_binary("baresip", "baresip-core")
    (tmp_path / "directory.py").write_text(SLOW_DIRECTORY)
    pbx = call_pbx(plugins={"directory": {"path": str(tmp_path / "directory.py"), "timeout": 3}})
    alice = phones("alice1001", "1001", pbx)
    bob = phones("bob1002", "1002", pbx, answermode="manual")

    alice.dial(dial_uri(pbx, "1002"))
    started = wait_bus_event(pbx, "CallStarted", timeout=5, caller="1001")
    time.sleep(0.3)
    alice.hangup()  # CANCEL while the plugin is still looking 1001 up
    alice.wait_event("CALL_CLOSED", 10)
    ended = wait_bus_event(pbx, "CallEnded", timeout=5, call_id=started["call_id"])
    assert ended["cause"] == "cancelled" and ended["answered"] == "False", ended
    bob.expect_no_event("CALL_INCOMING", within=1.5)  # the lookup's late answer routes nothing
    assert not bus_events(pbx, "CallerIdentified")
    wait_idle(pbx, timeout=5)

    dialled = time.monotonic()
    alice.dial(dial_uri(pbx, "1002"))
    bob.wait_event("CALL_INCOMING", 5)
    assert time.monotonic() - dialled >= 1.0  # routed only once the lookup answered
    second = bus_events(pbx, "CallStarted")[-1]
    identified = wait_bus_event(pbx, "CallerIdentified", timeout=1, call_id=second["call_id"])
    assert (identified["name"], identified["tier"], identified["source"]) == ("Alice Example", "gold", "directory")
    bob.accept()
    alice.wait_event("CALL_ESTABLISHED", 10)
    wait_bus_event(pbx, "CallAnswered", timeout=5, call_id=second["call_id"])
    alice.hangup()
    bob.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)
