"""Prometheus text exposition (format 0.0.4) at GET /metrics on the admin port.

The PBX's own figures (SIP, calls, RTP ports, events; per queue the callers waiting and the
longest wait; per agent a gauge for each state and the time in it) and every plugin's
`pbx_metrics` answer (the kpi plugin's service level, ASA, abandonment, occupancy...), grouped by
metric name with one HELP and TYPE line each. Label values are escaped as the format asks
(backslash, double quote, newline).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sdk.types import AcdSnapshot, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
AGENT_STATES = ("logged-out", "available", "offered", "on-call", "wrap-up", "paused")

_CORE_HELP = {
    "received": ("pbx_sip_messages_received_total", "counter", "SIP messages received"),
    "malformed": ("pbx_sip_messages_malformed_total", "counter", "SIP messages refused as malformed"),
    "dropped": ("pbx_sip_messages_dropped_total", "counter", "SIP messages dropped"),
    "transactions": ("pbx_sip_transactions", "gauge", "SIP transactions in progress"),
    "registrations": ("pbx_registrations", "gauge", "Registered contacts"),
    "calls": ("pbx_calls_active", "gauge", "Calls in progress"),
    "legs": ("pbx_call_legs_active", "gauge", "Call legs up"),
    "rtp_ports": ("pbx_rtp_ports_in_use", "gauge", "RTP ports in use"),
    "tcp_connections": ("pbx_sip_tcp_connections", "gauge", "SIP TCP connections open"),
    "events_published": ("pbx_events_published_total", "counter", "Events published on the bus"),
}
_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def core_metrics(status: dict[str, int], acd: AcdSnapshot | None) -> list[Metric]:
    metrics = [Metric(name=name, value=float(status[key]), kind=kind, help=help_text)
               for key, (name, kind, help_text) in _CORE_HELP.items() if key in status]
    if acd is None:
        return metrics
    for queue in acd.queues:
        labels = {"queue": queue.name}
        metrics.append(Metric(name="pbx_queue_callers_waiting", value=len(queue.callers), labels=labels,
                              help="Callers waiting in the queue now"))
        metrics.append(Metric(name="pbx_queue_longest_wait_seconds", labels=labels,
                              value=max((caller.wait_seconds for caller in queue.callers), default=0.0),
                              help="The longest wait of a caller waiting now"))
        metrics.append(Metric(name="pbx_queue_agents_available", value=queue.available_agents, labels=labels,
                              help="Agents of the queue ready for a call"))
        metrics.append(Metric(name="pbx_queue_agents_staffed", value=queue.staffed_agents, labels=labels,
                              help="Agents of the queue logged in and not paused"))
    for agent in acd.agents:
        for state in AGENT_STATES:
            metrics.append(Metric(name="pbx_agent_state", value=1.0 if agent.state == state else 0.0,
                                  labels={"agent": agent.name, "state": state},
                                  help="1 for the agent's current state"))
        metrics.append(Metric(name="pbx_agent_state_seconds", value=agent.seconds_in_state,
                              labels={"agent": agent.name}, help="Seconds the agent has been in its state"))
        metrics.append(Metric(name="pbx_agent_calls_total", value=agent.calls_taken, kind="counter",
                              labels={"agent": agent.name}, help="Queue calls the agent has taken"))
    return metrics


def render(metrics: Iterable[Metric]) -> str:
    """The exposition text: one HELP and TYPE per name, then its samples."""
    families: dict[str, list[Metric]] = {}
    for metric in metrics:
        families.setdefault(_NAME.sub("_", metric.name), []).append(metric)
    lines: list[str] = []
    for name, samples in families.items():
        first = samples[0]
        kind = "counter" if first.kind == "counter" else "gauge"
        lines.append(f"# HELP {name} {_escape_help(first.help or name)}")
        lines.append(f"# TYPE {name} {kind}")
        for sample in samples:
            labels = ",".join(f'{_NAME.sub("_", key)}="{_escape_label(value)}"'
                              for key, value in sorted(sample.labels.items()))
            lines.append(f"{name}{{{labels}}} {_number(sample.value)}" if labels else f"{name} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


def _escape_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))
