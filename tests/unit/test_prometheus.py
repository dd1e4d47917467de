"""The /metrics exposition: names grouped with one HELP/TYPE, labels escaped, core ACD figures."""

from __future__ import annotations

from pbx.admin.metrics import core_metrics, render
from sdk.types import AcdSnapshot, AgentSnapshot, CallerSnapshot, Metric, QueueSnapshot


def test_samples_of_one_name_share_help_and_type_and_labels_are_escaped():
    text = render([
        Metric(name="pbx_queue_sl", value=0.8333333333, labels={"queue": 'sa"les\\x\nnew'}, help="SL\nshare"),
        Metric(name="pbx_queue_sl", value=1, labels={"queue": "support"}),
        Metric(name="pbx_events_total", value=12, kind="counter"),
    ])
    assert text.splitlines() == [
        "# HELP pbx_queue_sl SL\\nshare",
        "# TYPE pbx_queue_sl gauge",
        'pbx_queue_sl{queue="sa\\"les\\\\x\\nnew"} 0.8333333333',
        'pbx_queue_sl{queue="support"} 1',
        "# HELP pbx_events_total pbx_events_total",
        "# TYPE pbx_events_total counter",
        "pbx_events_total 12",
    ]


def test_core_figures_label_queues_and_agents():
    caller = CallerSnapshot(call_id="c1", caller_number="555", position=1, wait_seconds=42.5, priority=0,
                            offered_to=[], callback=None, estimated_wait=None)
    acd = AcdSnapshot(at=0.0, queues=[QueueSnapshot(name="sales", strategy="ring-all", callers=[caller],
                                                    handle_seconds=0, available_agents=0, staffed_agents=1)],
                      agents=[AgentSnapshot(name="alice", extension="1001", state="paused", seconds_in_state=9.0,
                                            pause_reason="lunch", call_id=None, queue=None, queues=["sales"],
                                            calls_taken=3, talk_seconds=0, pending=None)])
    lines = render(core_metrics({"calls": 2, "received": 10}, acd)).splitlines()
    assert "pbx_calls_active 2" in lines and "pbx_sip_messages_received_total 10" in lines
    assert 'pbx_queue_callers_waiting{queue="sales"} 1' in lines
    assert 'pbx_queue_longest_wait_seconds{queue="sales"} 42.5' in lines
    assert 'pbx_agent_state{agent="alice",state="paused"} 1' in lines
    assert 'pbx_agent_state{agent="alice",state="available"} 0' in lines
    assert 'pbx_agent_calls_total{agent="alice"} 3' in lines
