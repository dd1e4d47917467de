"""Call records on live calls: journeys whose times are what the phones saw, one journey across a
blind transfer and across a queue callback, and no completed call's record lost to a kill -9.

The kpi plugin folds the bus into journeys and writes them to the PBX's SQLite file; the tests
read them back over the admin API (/api/plugins/kpi/journeys) and, after the kill, from the file
itself. Phone-side times are wall-clock stamps taken as baresip's control socket delivers each
event (the test is waiting on that phone at the time), or by the Python UAC as the SIP
response arrives; the PBX stamps its events with the same clock.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from .acd.callers import CallerThread
from .acd.queue_config import acd_pbx
from .calls.fixtures import FAST_TIMERS, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .calls.sipp_calls import ANSWER, sipp_callee
from .harness import PbxProcess
from .sipp_runner import start_sipp

pytestmark = pytest.mark.e2e

KPI = {"kpi": {"config": {"batch_seconds": 0.01}}}
WITHIN = 0.1  # seconds: the bound between the record and the phones


def journeys_of(pbx: PbxProcess, caller: str) -> list[dict]:
    page = pbx.api(f"/api/plugins/kpi/journeys?from=0&to=9999999999&caller={urllib.parse.quote(caller)}")
    return [row for row in page["journeys"] if row["caller"] == caller]


def wait_journey(pbx: PbxProcess, caller: str, *, timeout: float = 10.0, **expected) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rows = journeys_of(pbx, caller)
        if rows and all(rows[-1].get(key) == value for key, value in expected.items()):
            return rows[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"no journey of {caller} with {expected} within {timeout}s: {rows}\n{pbx.log_tail(30)}")
        time.sleep(0.1)


def assert_close(recorded: float, seen: float, what: str) -> None:
    assert abs(recorded - seen) <= WITHIN, f"{what}: the record says {recorded:.3f}, the phones saw {seen:.3f}"


@pytest.mark.timeout(120)
def test_a_journey_through_ivr_and_queue_has_the_times_the_phones_saw(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), wrap_up=1.0, plugins=KPI)
    agent = phones("agent1001", "1001", pbx)
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
    with CallerThread(pbx.sip_address, "1004") as caller:
        call = caller.dial("800")  # the scenario answers, then queues the caller
        answered = call.answered_ns / 1e9
        connected = agent.wait_event("CALL_ESTABLISHED", 10)["received_at"]
        time.sleep(1.5)
        caller.hangup(call)
        ended = call.ended_ns / 1e9
    agent.wait_event("CALL_CLOSED", 10)
    journey = wait_journey(pbx, "1004", state="complete", wrapup_seconds=pytest.approx(1.0, abs=WITHIN))

    assert (journey["outcome"], journey["route"], journey["queue"], journey["agent"]) == (
        "answered", "scenario:line", "support", "1001"), journey
    assert journey["scenario"] == "line" and journey["ivr_exit"] == "queue", journey
    assert_close(journey["answered_at"], answered, "answered")
    assert_close(journey["connected_at"], connected, "agent connected")
    assert_close(journey["ended_at"], ended, "ended")
    assert_close(journey["talk_seconds"], ended - connected, "talk")
    assert_close(journey["wait_seconds"], connected - journey["joined_at"], "queue wait")
    assert journey["hangup_by"] == "caller" and journey["transfers"] == 0 and journey["callbacks"] == 0
    assert journey["started_at"] <= journey["answered_at"] <= journey["joined_at"] <= journey["connected_at"]
    with urllib.request.urlopen(pbx.admin_request("/metrics"), timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        metrics = response.read().decode()
    for line in ('pbx_queue_callers_waiting{queue="support"} 0', 'pbx_kpi_queue_answered{queue="support"} 1',
                 'pbx_kpi_agent_answered_total{agent="1001"} 1', 'pbx_agent_state{agent="1001",state="available"} 1'):
        assert line in metrics.splitlines(), f"{line!r} not in\n{metrics}"
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(120)
def test_a_blind_transfer_by_the_agent_keeps_one_journey_with_the_agents_handle_time(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), wrap_up=1.0, plugins=KPI)
    agent = phones("agent1001", "1001", pbx)
    target = phones("phone1003", "1003", pbx)
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
    caller = phones("caller1004", "1004", pbx)
    caller.dial(dial_uri(pbx, "700"))
    connected = agent.wait_event("CALL_ESTABLISHED", 10)["received_at"]
    time.sleep(1.0)
    agent.transfer(dial_uri(pbx, "1003"))  # REFER: the caller goes to 1003
    left = agent.wait_event("CALL_CLOSED", 10)["received_at"]
    target.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(1.0)
    caller.hangup()
    ended = target.wait_event("CALL_CLOSED", 10)["received_at"]
    journey = wait_journey(pbx, "1004", state="complete", wrapup_seconds=pytest.approx(1.0, abs=WITHIN))

    assert len(journeys_of(pbx, "1004")) == 1
    assert (journey["outcome"], journey["transfers"], journey["agents"]) == ("answered", 1, ["1001"]), journey
    agent_part = left - connected
    assert_close(journey["talk_seconds"] + journey["hold_seconds"], agent_part, "the agent's talk")
    handle = journey["talk_seconds"] + journey["hold_seconds"] + journey["wrapup_seconds"]
    assert_close(handle, agent_part + 1.0, "AHT (talk + hold + wrap-up)")
    assert_close(journey["ended_at"], ended, "ended (after the transferred part)")
    report = pbx.api("/api/plugins/kpi/report/queues?from=0&to=9999999999")
    [support] = [row for row in report if row["queue"] == "support"]
    assert (support["offered"], support["answered"], support["abandoned"]) == (1, 1, 0), support
    assert_close(support["aht"], agent_part + 1.0, "the queue's AHT")
    assert support["transfer_rate"] == 1.0
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(120)
def test_a_queue_callback_is_one_journey_and_not_an_abandonment(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), wrap_up=0, callback_key="1", plugins=KPI,
                  callback={"enabled": True, "retries": 1, "retry_interval": 5})
    caller = phones("caller1004", "1004", pbx)  # answers automatically when called back
    caller.dial(dial_uri(pbx, "700"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    first = wait_bus_event(pbx, "QueueJoined", timeout=5, queue="support")
    time.sleep(0.5)
    caller.command("sndcode", "1")
    caller.wait_event("CALL_CLOSED", 10)  # the caller hangs up; the place is kept
    pending = wait_journey(pbx, "1004", state="callback-pending")
    assert pending["outcome"] == "waiting", pending
    agent = phones("agent1001", "1001", pbx)  # the agent logs in by registering: the PBX calls back
    caller.wait_event("CALL_ESTABLISHED", 15)
    wait_bus_event(pbx, "AgentConnected", timeout=15, agent="1001", call_id=first["call_id"])
    time.sleep(1.0)
    agent.hangup()
    ended = caller.wait_event("CALL_CLOSED", 10)["received_at"]
    journey = wait_journey(pbx, "1004", state="complete")

    assert len(journeys_of(pbx, "1004")) == 1
    assert (journey["journey_id"], journey["outcome"], journey["callbacks"]) == (first["call_id"], "answered", 1)
    assert len(journey["call_ids"]) == 2, journey
    assert_close(journey["ended_at"], ended, "ended")
    assert_close(journey["talk_seconds"], ended - journey["connected_at"], "talk with the agent")
    assert_close(journey["wait_seconds"], journey["connected_at"] - journey["joined_at"], "wait incl. the callback")
    report = pbx.api("/api/plugins/kpi/report/queues?from=0&to=9999999999")
    [support] = [row for row in report if row["queue"] == "support"]
    assert (support["offered"], support["answered"], support["abandoned"]) == (1, 1, 0), support
    wait_idle(pbx, timeout=5)


# kill -9 under load ---------------------------------------------------------------------------

_STAMP = re.compile(r"^-+ (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)")


def bye_answers(messages: Path) -> list[float]:
    """When sipp's caller got each 200 OK to its BYE (its -trace_msg stamps, local time)."""
    times, stamp, block = [], None, []
    for line in messages.read_text(errors="replace").splitlines() + ["-" * 10 + " 1970-01-01 00:00:00.0"]:
        found = _STAMP.match(line)
        if found:
            text = "\n".join(block)
            if stamp is not None and "SIP/2.0 200" in text and re.search(r"CSeq:\s*\d+\s+BYE", text, re.I):
                times.append(stamp)
            stamp, block = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp(), []
        else:
            block.append(line)
    return times


@pytest.mark.timeout(120)
def test_kill_9_under_load_loses_no_completed_calls_record(tmp_path, ports, call_pbx):  # noqa: F811
    pbx = call_pbx(sip=FAST_TIMERS, plugins=KPI)
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(ANSWER, calls=400, timeout=60)
    csv_path = tmp_path / "uac_calls.csv"
    csv_path.write_text("SEQUENTIAL\n1001;[authentication username=1001 password=secret1001];1002\n")
    caller = start_sipp(
        ["-sf", str(Path(__file__).parent / "sipp" / "call_uac_auth.xml"), "-inf", str(csv_path),
         "-r", "40", "-l", "40", "-d", "300"],
        ports=ports, workdir=tmp_path, name="uac", remote=pbx.sip_address, calls=400, timeout=40,
    )  # fmt: skip
    try:
        time.sleep(3.5)
        killed_at = time.time()
        pbx.stop(signal.SIGKILL)
    finally:
        caller.stop()
        callee.stop()
    completed = [at for at in bye_answers(tmp_path / "uac_messages.log") if at < killed_at]
    assert len(completed) > 80, f"the load did not run: {len(completed)} calls completed"

    with sqlite3.connect(tmp_path / "var" / "pbx.sqlite") as database:
        rows = database.execute("SELECT ended_at FROM kpi_journeys WHERE state = 'complete' AND caller = '1001' "
                                "AND outcome = 'answered'").fetchall()
    recorded = sorted(ended for (ended,) in rows)
    # Every call sipp saw completed has its record. A call's rows reach the writer process one
    # event-loop turn after its CallEnded (then survive the PBX): only a BYE answered in the
    # last few milliseconds before the kill may be missing.
    settled = [at for at in completed if at < killed_at - 0.01]
    assert len(recorded) >= len(settled), (
        f"{len(settled)} calls completed by {killed_at - 0.01:.3f}, {len(recorded)} records; "
        f"the last records end at {recorded[-3:]}")
    print(f"\n{len(completed)} calls completed before the kill, {len(recorded)} records, "
          f"{len(completed) - len(settled)} in the last 10 ms")

    # The database opens again: the restarted PBX keeps the callee's registration and writes on.
    restarted = PbxProcess(config_path=pbx.config_path, log_path=tmp_path / "restarted.log",
                           sip_port=pbx.sip_port, admin_port=pbx.admin_port)
    restarted.start()
    try:
        assert [row["extension"] for row in restarted.registrations()] == ["1002"]
    finally:
        restarted.stop()


@pytest.mark.timeout(90)
def test_a_restart_after_kill_9_keeps_registrations_and_agent_logins(tmp_path, call_pbx, phones):  # noqa: F811
    settings = {"strategy": "linear", "members": [{"agent": name} for name in ("1001", "1002", "1003")]}
    agents = {"1001": {"login": "dynamic"}, "1002": {"login": "dynamic"}, "1003": {"login": "static"}}
    pbx = call_pbx(agents=agents, queues={"support": settings}, plugins=KPI)
    paused, ready = phones("agent1001", "1001", pbx), phones("agent1002", "1002", pbx)
    static = phones("agent1003", "1003", pbx)  # static: logged in by registering
    for phone, code in ((paused, "*45"), (paused, "*47"), (ready, "*45")):
        phone.dial(dial_uri(pbx, code))
        phone.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="paused")
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1002", new="available")
    wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1003", new="available")
    time.sleep(0.2)  # the state store writes within milliseconds
    before = sorted((row["extension"], row["contact"]) for row in pbx.registrations())
    pbx.stop(signal.SIGKILL)

    restarted = PbxProcess(config_path=pbx.config_path, log_path=tmp_path / "restarted.log",
                           sip_port=pbx.sip_port, admin_port=pbx.admin_port)
    restarted.start()
    try:
        assert sorted((row["extension"], row["contact"]) for row in restarted.registrations()) == before
        states = {row["agent"]: (row["state"], row["reason"]) for row in restarted.api("/api/agents")}
        assert states == {"1001": ("paused", "feature code"), "1002": ("available", None),
                          "1003": ("available", None)}, states
        # The journey log goes on in the same database: the restored logins are in the agent log.
        deadline = time.monotonic() + 3
        while True:
            with sqlite3.connect(tmp_path / "var" / "pbx.sqlite") as database:
                reasons = database.execute("SELECT agent, new, reason FROM kpi_agent_log WHERE reason = 'restored' "
                                           "AND new = 'available' ORDER BY agent").fetchall()
            if len(reasons) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert [(agent, new) for agent, new, _ in reasons] == [("1001", "available"), ("1002", "available"),
                                                               ("1003", "available")], reasons
        for phone in (paused, ready, static):
            phone.quit()  # while a PBX answers their de-registration
    finally:
        restarted.stop()


@pytest.mark.timeout(90)
def test_on_postgresql_records_and_registrations_outlive_a_kill_9(tmp_path, call_pbx, phones, postgres_database_url):  # noqa: F811
    """The same PBX on PostgreSQL (`database:` in the config): a queue call's journey, then kill -9
    and a restart that finds the phone's registration and the agent's login there."""
    pbx = acd_pbx(call_pbx, tmp_path, agents=("1001",), wrap_up=0, plugins=KPI, database=postgres_database_url)
    try:
        agent = phones("agent1001", "1001", pbx)
        wait_bus_event(pbx, "AgentStateChanged", timeout=5, agent="1001", new="available")
        with CallerThread(pbx.sip_address, "1004") as caller:
            call = caller.dial("700")
            agent.wait_event("CALL_ESTABLISHED", 10)
            time.sleep(0.5)
            caller.hangup(call)
        journey = wait_journey(pbx, "1004", state="complete")
        assert (journey["outcome"], journey["queue"], journey["agent"]) == ("answered", "support", "1001"), journey
        time.sleep(0.2)
        pbx.stop(signal.SIGKILL)
        restarted = PbxProcess(config_path=pbx.config_path, log_path=tmp_path / "restarted.log",
                               sip_port=pbx.sip_port, admin_port=pbx.admin_port)
        restarted.start()
        try:
            assert [row["extension"] for row in restarted.registrations()] == ["1001"]
            states = {row["agent"]: row["state"] for row in restarted.api("/api/agents")}
            assert states == {"1001": "available"}, states
            assert [row["journey_id"] for row in journeys_of(restarted, "1004")] == [journey["journey_id"]]
            agent.quit()  # while a PBX answers its de-registration
        finally:
            restarted.stop()
    finally:
        pbx.stop()
