"""The live KPIs for Prometheus: `live_metrics(live, now)` turns the sliding window's figures
into `sdk.Metric`s, which the plugin answers to `pbx_metrics`; the PBX serves them at GET
/metrics on the admin port with its own figures (calls, queues waiting, agent states), in the
text exposition format, labels escaped.

    pbx_kpi_queue_service_level{queue="sales"} 0.833

Queue figures are gauges over the window with the label `queue` (a figure with no value, such
as ASA with nothing answered, is left out rather than written NaN); agents have a counter of
calls answered since the PBX started (their state and time in it are the PBX's own metrics).
"""

from __future__ import annotations

from sdk import Metric

from .live import LiveKpis

__all__ = ["QUEUE_METRICS", "live_metrics"]

# (metric, QueueFigures field or LiveQueue field, help)
QUEUE_METRICS = [
    ("offered", "offered", "Queue visits that ended within the live window."),
    ("answered", "answered", "Visits answered by an agent within the window."),
    ("abandoned", "abandoned", "Visits abandoned by the caller within the window."),
    ("short_abandoned", "short_abandoned", "Abandoned visits shorter than short_abandon."),
    ("timed_out", "timed_out", "Visits that reached the queue's max wait."),
    ("overflowed", "overflowed", "Visits sent to an overflow target."),
    ("service_level", "sl", "Answered within the target over offered, in the window."),
    ("service_level_answered", "sl_answered", "Answered within the target over answered."),
    ("abandon_rate", "abandon_rate", "Abandoned over offered, in the window."),
    ("asa_seconds", "asa", "Average speed of answer in the window."),
    ("average_wait_seconds", "avg_wait", "Average wait of the window's visits."),
    ("longest_wait_seconds", "longest_wait", "Longest wait of a visit that ended in the window."),
    ("aht_seconds", "aht", "Average handle time (talk, hold, wrap-up) of the window."),
    ("transfer_rate", "transfer_rate", "Handled calls the agent transferred."),
]


def live_metrics(live: LiveKpis, now: float) -> list[Metric]:
    metrics: list[Metric] = []
    queues = live.figures(now)
    for name, field, text in QUEUE_METRICS:
        for queue in queues:
            value = getattr(queue.figures, field)
            if value is not None:
                metrics.append(Metric(name=f"pbx_kpi_queue_{name}", value=float(value), labels={"queue": queue.queue},
                                      help=text))
    for agent in sorted(live.agents.values(), key=lambda agent: agent.agent):
        metrics.append(Metric(name="pbx_kpi_agent_answered_total", value=agent.answered, kind="counter",
                              labels={"agent": agent.agent}, help="Calls the agent answered since the PBX started."))
    return metrics
