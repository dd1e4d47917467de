"""1,000 authenticated calls, sipp caller -> PBX -> sipp callee, with no failure.

The callee (``call_uas.xml``) first registers as 1002 from the port it then listens on.  The
caller (``call_uac_auth.xml``, extension 1001) answers the PBX's 407, waits for the 200, ACKs,
pauses 200 ms and hangs up, at 100 calls/s with up to 100 in flight.  Afterwards the PBX's
call, dialog and RTP-port counters are 0 at once, and its transactions within Timer D/J (32 s).
"""

from __future__ import annotations

import time

import pytest

from .calls.fixtures import FAST_TIMERS, NO_RATE_LIMITS, call_pbx, call_status, wait_all_idle, wait_idle  # noqa: F401
from .calls.sipp_calls import ANSWER, run_caller, sipp_callee

pytestmark = pytest.mark.e2e

CALLS = 1000


@pytest.mark.timeout(110)
def test_thousand_calls_through_the_pbx(tmp_path, ports, call_pbx):  # noqa: F811
    pbx = call_pbx(sip=FAST_TIMERS, security=NO_RATE_LIMITS)  # one user at 100 calls/s: over the default limits
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(ANSWER, calls=CALLS, timeout=60)
    try:
        started = time.monotonic()
        run = run_caller(
            pbx.sip_address, ports, tmp_path, caller="1001", password="secret1001", callee="1002",
            calls=CALLS, rate=100, limit=100, pause_ms=200, timeout=55,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        stats = run.stats()
        assert run.returncode == 0, f"{stats}\n{run.describe()}\n--- callee ---\n{callee.describe()}"
        assert (stats.successful, stats.failed) == (CALLS, 0), f"{stats}\n{run.describe()}"
        assert callee.wait() == 0, callee.describe()
        print(f"\n{CALLS} calls in {elapsed:.1f}s, {stats.retransmissions} retransmissions; status {call_status(pbx)}")
    finally:
        callee.stop()

    wait_idle(pbx, timeout=3)
    callee.unregister()
    wait_all_idle(pbx, timeout=40)
