"""`pbx run --workers 2`: two processes on one SIP port, with sipp on both sides.

The sipp callee registers 1002 once, with whichever worker the dispatcher picks; calls from a
sipp caller then land on both workers (their call ids carry the worker's tag) and every one
reaches the callee, so the registration is shared. Calls to a routed number (`_9XX` here, like
a queue or a scenario) all run on worker 0. While calls are held on both workers, worker 0's
/api/status sums both workers' counts in `worker.all`, and they go back to 0 when the calls
end. A worker killed with -9 is started again and takes calls; SIGTERM stops the whole PBX. A
SIP port another program holds stops the workers with the error that says so.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .calls.fixtures import NO_RATE_LIMITS, call_pbx  # noqa: F401 - fixture
from .calls.sipp_calls import ANSWER, run_caller, sipp_callee
from .harness import REPO_ROOT, extensions_config, pbx_config, wait_for, write_config

pytestmark = pytest.mark.e2e

CALLS = 120
HELD = 20


def started_calls(pbx, callee: str) -> list[str]:
    """The call ids of the CallStarted events the workers logged for calls to `callee`."""
    return re.findall(rf"event=CallStarted call_id='([^']+)' caller='1001' callee='{callee}'", pbx.log_text())


def place_calls(pbx, ports, workdir, callee: str, calls: int, name: str, pause_ms: int = 100) -> None:
    run = run_caller(pbx.sip_address, ports, workdir, caller="1001", password="secret1001", callee=callee,
                     calls=calls, rate=40, limit=40, pause_ms=pause_ms, timeout=40, name=name)
    stats = run.stats()
    assert (run.returncode, stats.successful, stats.failed) == (0, calls, 0), f"{stats}\n{run.describe()}"


def all_held_on_both_workers(status: dict) -> dict | None:
    """`status` once worker.all counts every held call up (two dialogs each), some on each worker."""
    everywhere, second = status["worker"]["all"], status["worker"]["workers"][1]
    if (everywhere["calls"], everywhere["dialogs"]) == (HELD, 2 * HELD) and status["calls"] and second.get("calls"):
        return status
    return None


def idle_everywhere(status: dict) -> bool:
    everywhere = status["worker"]["all"]
    return (everywhere["calls"], everywhere["dialogs"], everywhere["rtp_ports"], status["calls"]) == (0, 0, 0, 0)


@pytest.mark.timeout(150)
def test_two_workers_share_the_port_the_registrations_and_the_calls(tmp_path, ports, call_pbx):  # noqa: F811
    pbx = call_pbx(extra_args=["--workers", "2"], security=NO_RATE_LIMITS,
                   routes=[{"match": "_9XX", "extension": "1002"}])
    wait_for(lambda: "event=workers_ready count=2" in pbx.log_text(), timeout=30, what="both workers")
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(ANSWER, calls=2 * CALLS + 20 + HELD, timeout=120)
    try:
        place_calls(pbx, ports, tmp_path, "1002", CALLS, "direct")
        direct = started_calls(pbx, "1002")
        assert len(direct) == CALLS
        on_first = sum(call_id.startswith("w0-") for call_id in direct)
        on_second = sum(call_id.startswith("w1-") for call_id in direct)
        assert (on_first + on_second, min(on_first, on_second) >= CALLS // 5) == (CALLS, True), (on_first, on_second)
        assert "worker=1 event=CallStarted call_id='w1-" in pbx.log_text()  # each line names its worker
        # The admin API (worker 0) lists the registration, whichever worker took the REGISTER.
        assert [entry["extension"] for entry in pbx.registrations()] == ["1002"]
        worker = pbx.api("/api/status")["worker"]
        assert (worker["index"], worker["of"]) == (0, 2) and worker["handed_on"] + worker["handed_over"] > 0, worker

        place_calls(pbx, ports, tmp_path, "901", 20, "routed")
        routed = started_calls(pbx, "901")
        assert len(routed) == 20 and all(call_id.startswith("w0-") for call_id in routed), routed

        # Calls held on both workers: worker 0's status counts its own at the top level, and
        # every worker's in worker.all (worker 1's come in its tally, about once a second).
        with ThreadPoolExecutor(1) as background:
            held = background.submit(place_calls, pbx, ports, tmp_path, "1002", HELD, "held", pause_ms=6000)
            status = wait_for(lambda: all_held_on_both_workers(pbx.api("/api/status")), timeout=15,
                              what=f"{HELD} calls held on both workers in worker.all")
            worker = status["worker"]
            assert [row["index"] for row in worker["workers"]] == [0, 1], worker
            assert worker["workers"][0]["calls"] == status["calls"] < HELD, worker  # row 0 is the top level
            assert not worker["workers"][1]["stale"] and worker["workers"][1]["age_seconds"] < 5, worker
            assert sum(row["calls"] for row in worker["workers"]) == HELD, worker
            assert worker["all"]["rtp_ports"] == sum(row["rtp_ports"] for row in worker["workers"]) > status["rtp_ports"]
            held.result()
        wait_for(lambda: idle_everywhere(pbx.api("/api/status")), timeout=10,
                 what="worker.all's calls, dialogs and RTP ports back to 0")

        # Worker 1 dies: the supervisor starts it again, and it takes its share of calls.
        [pid] = re.findall(r"event=worker_ready worker=1 pid=(\d+)", pbx.log_text())
        os.kill(int(pid), signal.SIGKILL)
        wait_for(lambda: len(re.findall(r"event=worker_ready worker=1 ", pbx.log_text())) == 2, timeout=30,
                 what="worker 1 started again")
        assert "event=worker_died worker=1" in pbx.log_text()
        place_calls(pbx, ports, tmp_path, "1002", CALLS, "after")
        after = started_calls(pbx, "1002")[CALLS:]
        assert sum(call_id.startswith("w1-") for call_id in after) >= CALLS // 5
    finally:
        callee.stop()

    started = time.monotonic()
    assert pbx.stop(grace=20) == 0
    assert time.monotonic() - started < 15
    assert "event=worker_stopped worker=0 status=0" in pbx.log_text()
    assert "event=worker_stopped worker=1 status=0" in pbx.log_text()


@pytest.mark.timeout(60)
def test_a_sip_port_held_by_another_program_stops_the_workers_with_a_clear_error(tmp_path, ports):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))  # no SO_REUSEPORT: the workers cannot share it
        port = squatter.getsockname()[1]
        config = write_config(tmp_path / "pbx.yaml", pbx_config(port, ports.port(), extensions_config([1001]),
                                                                data_dir=str(tmp_path / "var")))
        result = subprocess.run([sys.executable, "-m", "pbx", "run", "--config", str(config), "--workers", "2"],
                                cwd=tmp_path, capture_output=True, text=True, timeout=50, check=False,
                                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"error: cannot start: SIP over UDP on 127.0.0.1:{port}: could not bind" in result.stderr
    assert "event=worker_not_ready worker=0 status=2" in result.stderr
    assert "Traceback" not in result.stderr and "worker=1" not in result.stderr  # the second never started
