"""The kpi plugin itself, through the SDK's harness, on SQLite and on PostgreSQL (`database`):

- a simulated day fed to the real plugin gives the same queue, agent and contact figures as the
  independent calculator of the golden test (tests/unit/plugins/kpi_expected.py);
- its admin endpoints answer journeys and reports (JSON and CSV) and refuse bad input with a 400
  (test_kpi_admin.py has the rest: search, exports, charts, IVR paths, roles);
- its live window answers pbx_metrics and raises KpiThresholdCrossed; schedules raise
  AdherenceAlert on the fake clock.
"""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from datetime import datetime
from pathlib import Path

import pytest

import plugins.kpi as kpi
from plugins.kpi.config import Config
from plugins.kpi.report import Report
from plugins.kpi.schedules import bucket_bounds
from plugins.kpi.simulator import simulate_day
from sdk import Metric
from sdk.events import (
    AdherenceAlert,
    AgentConnected,
    AgentStateChanged,
    CallEnded,
    CallStarted,
    KpiThresholdCrossed,
    QueueAbandoned,
    QueueJoined,
)
from tests.unit.plugins.admin_app import serving


def _calculator():
    spec = importlib.util.spec_from_file_location("kpi_expected", Path(__file__).with_name("kpi_expected.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kpi_expected", module)
    spec.loader.exec_module(module)
    return module


expected = _calculator()
ZONE = "Europe/Paris"
DAY = datetime.fromisoformat("2025-06-03T00:00+02:00").timestamp()
END = DAY + 86400
CONFIG = {"timezone": ZONE, "targets": {"sales": {"seconds": 30, "goal": 0.9}},
          "rates": [{"prefix": "+3361", "per_minute": 0.02, "setup": 0.01, "increment": 60}]}


def close(got, want, where):
    if want is None or got is None:
        assert got == want, f"{where}: {got!r} != {want!r}"
    elif isinstance(want, float) or isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {got!r} != {want!r}"
    elif isinstance(want, dict):
        assert set(got) == set(want), where
        for key in want:
            close(got[key], want[key], f"{where}[{key}]")
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


async def test_a_simulated_day_through_the_real_plugin_gives_the_calculators_figures(pbx_harness, database):
    events = simulate_day(random.Random(7), DAY, agents=12, peak_per_hour=160)
    async with pbx_harness(kpi, config=CONFIG, database=database, start=DAY) as pbx:
        for first in range(0, len(events), 2000):  # as the bus would: never 10,000 events behind
            await pbx.feed(*events[first:first + 2000])
            await pbx.settle(timeout=30)
        assert pbx.failures == []
    config = Config(timezone=ZONE, targets={"sales": Config().service_level.__class__(seconds=30, goal=0.9)})
    report = Report(database, config)
    journeys, intervals = expected.expected_records(events)
    bounds = bucket_bounds(DAY, END, None, ZONE)

    rows = await report.queues(DAY, END)
    assert {row.queue for row in rows} == {"sales", "support"}
    for row in rows:
        target = config.target(row.queue)
        want = expected.queue_figures(journeys, bounds, target.seconds, target.goal, config.short_abandon)
        for name, value in want[(row.queue, row.interval_start)].items():
            close(getattr(row, name), value, f"{row.queue} {name}")

    want_agents = expected.agent_figures(journeys, intervals, bounds)
    for row in await report.agents(DAY, END):
        for name, value in want_agents[(row.agent, row.interval_start)].items():
            close(getattr(row, name), value, f"{row.agent} {name}")

    [contacts] = await report.contacts(DAY, END)
    want_contacts = expected.contact_figures(journeys, bounds, config.repeat_window, Config(**{
        "rates": [kpi.config.Rate(**rate) for rate in CONFIG["rates"]]}).rates)
    for name in ("journeys", "answered", "repeats", "fcr", "blocked", "csat_mean", "nps", "mos_mean"):
        close(getattr(contacts, name), want_contacts[("", DAY)][name], f"contacts {name}")


def at(seconds: float) -> float:
    return DAY + seconds


def queue_call(call_id: str, start: float, *, answered: bool) -> list:
    events = [CallStarted(at=at(start), call_id=call_id, caller="+33611111111", callee="700"),
              QueueJoined(at=at(start), call_id=call_id, queue="sales", caller_number="+33611111111", priority=0,
                          position=1)]
    if answered:
        events += [AgentConnected(at=at(start + 10), agent="alice", call_id=call_id, queue="sales", wait_seconds=10,
                                  ring_seconds=2)]
    else:
        events += [QueueAbandoned(at=at(start + 40), call_id=call_id, queue="sales", position=1, wait_seconds=40)]
    end = start + (70 if answered else 40)
    events.append(CallEnded(at=at(end), call_id=call_id, caller="+33611111111", callee="700", cause="normal",
                            status=200, hangup_by="caller", answered=True, total_seconds=end - start, ring_seconds=0,
                            talk_seconds=end - start))
    return events


async def test_admin_routes_answer_journeys_and_reports_and_refuse_bad_input(pbx_harness, database):
    async with pbx_harness(kpi, config={"timezone": "UTC"}, database=database, start=at(3600)) as pbx:
        await pbx.feed(*queue_call("c1", 0, answered=True), *queue_call("c2", 100, answered=False))
        await pbx.settle()
        routes = (await pbx.admin_routes())["kpi"]
        collector = kpi.collector(pbx.api())
        await collector.writer.flush()
        async with serving("kpi", routes) as api:
            journeys = await (await api.get(f"/journeys?from={DAY}&to={END}")).json()
            assert journeys["total"] == 2
            assert [(row["journey_id"], row["outcome"]) for row in journeys["journeys"]] == [
                ("c1", "answered"), ("c2", "abandoned")]
            one = await (await api.get("/journeys/c1")).json()
            assert (one["agent"], one["wait_seconds"], one["talk_seconds"]) == ("alice", 10.0, 60.0)
            assert (await api.get("/journeys/nope")).status == 404
            for limit in ("-1", "0", "many", "1000001"):
                refused = await api.get(f"/journeys?limit={limit}")
                assert refused.status == 400 and (await refused.json())["field"] == "limit", limit
            [sales] = await (await api.get(f"/report/queues?from={DAY}&to={END}")).json()
            assert (sales["offered"], sales["answered"], sales["abandoned"], sales["sl"]) == (2, 1, 1, 0.5)
            text = await (await api.get(f"/report/queues?from={DAY}&to={END}&format=csv")).text()
            header, line = text.strip().splitlines()
            assert header.startswith("queue,interval_start,offered")
            assert line.startswith("sales,2025-06-02T22:00:00+00:00,2,1,1")  # local times in the zone, UTC here
            bad = await api.get("/report/queues?from=yesterday")
            assert bad.status == 400 and (await bad.json())["field"] == "from"
            assert (await api.get("/report/queues?interval=week")).status == 400
            assert (await api.get(f"/report/nothing?from={DAY}&to={END}")).status == 404


async def test_the_live_window_feeds_metrics_and_alerts(pbx_harness, database):
    config = {"alerts": [{"kpi": "sl", "queue": "sales", "below": 0.8}], "window": 900}
    async with pbx_harness(kpi, config=config, database=database, start=at(200)) as pbx:
        await pbx.feed(*queue_call("c1", 0, answered=False))
        await pbx.settle()
        crossed = pbx.assert_published(KpiThresholdCrossed, kpi="sl", name="sales", state="alert")
        assert crossed.value == 0.0 and crossed.threshold == 0.8
        metrics = await pbx.runner.ask(pbx.plugins[0], "pbx_metrics")
        assert Metric(name="pbx_kpi_queue_abandoned", value=1.0, labels={"queue": "sales"},
                      help=metrics[[m.name for m in metrics].index("pbx_kpi_queue_abandoned")].help) in metrics


async def test_an_agent_late_back_from_a_break_raises_an_adherence_alert(pbx_harness, database):
    monday_nine = datetime.fromisoformat("2025-06-02T09:00+00:00").timestamp()  # a Monday
    config = {"adherence_grace": 120, "schedules": {"alice": [
        {"days": ["mon"], "start": "09:00", "end": "17:00", "breaks": [{"start": "09:10", "end": "09:20"}]}]}}
    async with pbx_harness(kpi, config=config, database=database, start=monday_nine) as pbx:
        await pbx.feed(AgentStateChanged(at=monday_nine, agent="alice", old="logged-out", new="available",
                                         reason="registered"))
        await pbx.settle()
        await pbx.advance(10 * 60 + 130)  # the break began at 09:10; she is still available at 09:12:10
        await pbx.settle()
        alert = pbx.assert_published(AdherenceAlert, agent="alice")
        assert alert.planned.startswith("break") and alert.actual == "available"


async def test_staffing_and_adherence_reports_on_the_admin_api(pbx_harness, database):
    monday = datetime.fromisoformat("2025-06-02T00:00+00:00").timestamp()
    config = {"schedules": {"alice": [{"days": ["mon"], "start": "09:00", "end": "10:00"}]}}
    async with pbx_harness(kpi, config=config, database=database, start=monday + 11 * 3600) as pbx:
        await pbx.feed(AgentStateChanged(at=monday + 9.5 * 3600, agent="alice", old="logged-out", new="available",
                                         reason="registered"))
        await pbx.settle()
        await kpi.collector(pbx.api()).writer.flush()
        async with serving("kpi", (await pbx.admin_routes())["kpi"]) as client:
            day = f"from={monday}&to={monday + 86400}"
            [alice] = await (await client.get(f"/report/adherence?{day}")).json()
            assert (alice["scheduled_seconds"], alice["in_adherence_seconds"], alice["adherence"]) == (3600, 1800, 0.5)
            # 09:00-09:30 not logged in; from 10:00 to the end of the day available though off shift
            assert alice["out_of_adherence"] == {"working/logged-out": 1800, "off/available": 50400}, alice
            # Erlang C: 100 calls in 30 min at 180 s is 10 Erlangs; 80% in 20 s needs 14 agents (SL 88.8%)
            [half_hour] = await (await client.get(
                f"/report/staffing?from={monday}&to={monday + 1800}&calls=100&aht=180")).json()
            assert (half_hour["traffic_erlangs"], half_hour["agents"]) == (10.0, 14), half_hour
            refused = await client.get(f"/report/staffing?{day}&model=a")
            assert refused.status == 400 and (await refused.json())["field"] == "patience"


@pytest.mark.parametrize(("config", "says"), [
    ({"timezone": "Mars/Olympus"}, "not an IANA time zone"),
    ({"alerts": [{"kpi": "sla", "below": 0.8}]}, "unknown kpi 'sla'"),
    ({"alerts": [{"kpi": "sl"}]}, "needs one of below or above"),
    ({"schedules": {"alice": [{"days": ["mon"], "start": "9h", "end": "17:00"}]}}, "not a time of day"),
    ({"targets": {"sales": {"secs": 30}}}, "unknown field `secs`"),
])
def test_a_bad_config_is_refused_with_the_reason(config, says):
    from sdk import PluginConfigError, decode_plugin_config

    with pytest.raises(PluginConfigError, match=says):
        decode_plugin_config(kpi, config, where="plugins.kpi")
