"""Live KPIs (plugins/kpi/live.py) over a fake clock, and their Prometheus exposition."""

from __future__ import annotations

import re

import pytest

from plugins.kpi.config import Alert, Config
from plugins.kpi.live import LiveKpis
from pbx.admin.metrics import render
from plugins.kpi.prometheus import live_metrics
from sdk.events import (
    AgentConnected,
    AgentStateChanged,
    KpiThresholdCrossed,
    QueueAbandoned,
    QueueJoined,
)


def joined(call: str, queue: str, at: float) -> QueueJoined:
    return QueueJoined(at=at, call_id=call, queue=queue, caller_number="+331", priority=0, position=1)


def answered(call: str, queue: str, at: float, wait: float, agent: str = "alice") -> AgentConnected:
    return AgentConnected(at=at, agent=agent, call_id=call, queue=queue, wait_seconds=wait, ring_seconds=2)


def abandoned(call: str, queue: str, at: float, wait: float) -> QueueAbandoned:
    return QueueAbandoned(at=at, call_id=call, queue=queue, position=1, wait_seconds=wait)


def test_window_keeps_only_recent_exits_and_counts_waiting_callers():
    live = LiveKpis(Config(window=60))
    for event in (joined("c1", "sales", 0), joined("c2", "sales", 1), answered("c1", "sales", 10, 10),
                  abandoned("c2", "sales", 31, 30), joined("c3", "sales", 40)):
        live.on_event(event, event.at)
    [sales] = live.figures(now=50)
    assert (sales.figures.offered, sales.figures.answered, sales.figures.abandoned) == (2, 1, 1)
    assert (sales.figures.sl, sales.figures.asa, sales.figures.longest_wait) == (0.5, 10.0, 30.0)
    assert (sales.waiting, sales.oldest_wait) == (1, 10.0)
    [sales] = live.figures(now=75)  # the answer (at 10) is out of the window, the abandon (31) still in
    assert (sales.figures.offered, sales.figures.answered, sales.figures.sl) == (1, 0, 0.0)
    [sales] = live.figures(now=200)
    assert (sales.figures.offered, sales.figures.sl, sales.oldest_wait) == (0, None, 160.0)
    assert len(live._exits) == 0  # memory bounded by the window
    assert live.pbx(now=200).waiting == 1


def test_live_aht_runs_from_connect_to_the_end_of_wrap_up():
    live = LiveKpis(Config(window=600))
    events = [joined("c1", "q", 0), answered("c1", "q", 5, 5),
              AgentStateChanged(at=5, agent="alice", old="offered", new="on-call", reason="answer"),
              AgentStateChanged(at=65, agent="alice", old="on-call", new="wrap-up", reason="hang-up"),
              AgentStateChanged(at=85, agent="alice", old="wrap-up", new="available", reason="wrap-up-ended")]
    for event in events:
        live.on_event(event, event.at)
    assert live.queue("q", now=90).figures.aht == 80.0
    assert live.agents["alice"].answered == 1 and live.agents["alice"].state == "available"


def test_alert_is_raised_once_and_cleared_once_with_hysteresis():
    live = LiveKpis(Config(window=1000, alerts=[Alert(kpi="sl", queue="q", below=0.8)]))
    crossed: list[KpiThresholdCrossed] = []
    t = 0.0

    def feed(wait: float) -> None:
        nonlocal t
        t += 1
        crossed.extend(live.on_event(joined(f"c{t}", "q", t), t))
        crossed.extend(live.on_event(answered(f"c{t}", "q", t, wait), t))

    feed(5)  # sl 1.0: ok
    feed(60)  # 0.5: alert
    feed(60)  # 0.33: still alert, nothing new
    assert [(e.state, e.value) for e in crossed] == [("alert", 0.5)]
    assert crossed[0] == KpiThresholdCrossed(at=2.0, kpi="sl", scope="queue", name="q", value=0.5, threshold=0.8,
                                             state="alert")
    for _ in range(9):
        feed(5)  # 10/12 = 0.833 > 0.8 but under 0.84 (hysteresis): still alert
    assert len(crossed) == 1
    feed(5)  # 11/13 = 0.846: ok
    assert [e.state for e in crossed] == ["alert", "ok"]
    feed(5)
    assert len(crossed) == 2


# Prometheus ---------------------------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A small parser of the text format: every sample by family, labels unescaped; HELP/TYPE
    must come before a family's samples."""
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter")
            typed.add(name)
            families[name] = []
            continue
        match = SAMPLE.match(line)
        assert match, line
        name, _, body, value = match.groups()
        assert name in typed, f"{name} has no TYPE line before it"
        labels, position = {}, 0
        while body and position < len(body):
            found = LABEL.match(body, position)
            assert found, body[position:]
            labels[found.group(1)] = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)),
                                            found.group(2))
            position = found.end()
        families[name].append((labels, float(value)))
    return families


def test_the_window_becomes_labelled_metrics_that_the_pbx_renders_and_escapes():
    odd = 'sa"les\\east\nfloor'
    live = LiveKpis(Config(window=60))
    for event in (joined("c1", odd, 0), answered("c1", odd, 4, 4, agent="bob"), joined("c2", "support", 5),
                  AgentStateChanged(at=4, agent="bob", old="offered", new="on-call", reason="answer")):
        live.on_event(event, event.at)
    text = render(live_metrics(live, now=10))
    assert 'queue="sa\\"les\\\\east\\nfloor"' in text
    families = parse(text)
    assert families["pbx_kpi_queue_offered"] == [({"queue": odd}, 1.0), ({"queue": "support"}, 0.0)]
    assert families["pbx_kpi_queue_asa_seconds"] == [({"queue": odd}, 4.0)]  # support has no value: left out
    assert families["pbx_kpi_agent_answered_total"] == [({"agent": "bob"}, 1.0)]


@pytest.mark.parametrize("value", ["plain", 'a"b', "back\\slash", "new\nline"])
def test_label_values_round_trip_through_the_parser(value):
    live = LiveKpis()
    live.on_event(joined("c", value, 0), 0)
    live.on_event(answered("c", value, 1, 1, agent="a"), 1)
    assert parse(render(live_metrics(live, 2)))["pbx_kpi_queue_offered"] == [({"queue": value}, 1.0)]
