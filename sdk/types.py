"""The values plugins and the PBX hand each other: what a call is, what a CRM knows about its
caller, what routing and recording should do with it, and a picture of the queues and agents.

Frozen msgspec Structs, like the events: they encode to JSON as they are, and a plugin's answer
is checked against its type at the edge (a hook that returns the wrong thing is a plugin
failure, not a crash in the call path).
"""

from __future__ import annotations

from typing import Any

import msgspec


class CallInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One call as plugins see it. `route` is "scenario", "queue" or "extension" once routed
    (None while the PBX is still looking the caller up); `target` names it."""

    call_id: str
    caller: str
    callee: str
    caller_name: str | None = None
    started_at: float = 0.0
    answered_at: float | None = None
    route: str | None = None
    target: str | None = None
    scenario: str | None = None  # the scenario the call ran (or runs)
    queue: str | None = None  # the queue it waits in, or was answered from
    agent: str | None = None  # the agent it is connected to
    headers: dict[str, str] = {}


class CallerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a caller lookup found. `fields` become IVR variables under `customer.` (with `name`,
    `tier` and `language` beside them: `{customer.name}`); `vip`, `priority` and
    `preferred_agent` are routing inputs for the queues."""

    source: str  # the connector that answered: "rest", "contacts", a plugin's own name
    customer_id: str | None = None
    name: str | None = None
    tier: str | None = None
    language: str | None = None
    vip: bool = False
    priority: int = 0  # added to the queue priority the scenario asks for (higher is served first)
    preferred_agent: str | None = None
    fields: dict[str, Any] = {}

    def variables(self) -> dict[str, Any]:
        """The IVR's view: `customer.name`, `customer.tier`, ... and every field."""
        known = {"id": self.customer_id, "name": self.name, "tier": self.tier, "language": self.language,
                 "vip": self.vip, "found": True}
        return {**self.fields, **{key: value for key, value in known.items() if value is not None}}


class RoutingInputs(msgspec.Struct, frozen=True, kw_only=True):
    """A plugin's say in how the queues treat a call (`pbx_routing_inputs`)."""

    priority: int = 0
    preferred_agent: str | None = None
    language: str | None = None


class RecordingDecision(msgspec.Struct, frozen=True, kw_only=True):
    """`pbx_recording_policy`'s answer: record this call, under `policy`."""

    policy: str
    layout: str | None = None  # "stereo" or "mixed"; the PBX's default when None


class Metric(msgspec.Struct, frozen=True, kw_only=True):
    """A figure a plugin publishes (`api.publish_metric`: a gauge or a counter increment), or
    hands to the Prometheus scrape (`pbx_metrics`: a gauge or a counter's total)."""

    name: str
    value: float
    kind: str = "gauge"  # or "counter"
    labels: dict[str, str] = {}
    help: str = ""


# The ACD as the admin API and plugins see it ----------------------------------------------------


class CallerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    caller_number: str
    position: int
    wait_seconds: float  # since this call arrived
    priority: int
    offered_to: list[str]
    callback: str | None  # "waiting", "dialing" or "on-line" for a callback entry, else None
    estimated_wait: float | None


class QueueSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    strategy: str
    callers: list[CallerSnapshot]
    handle_seconds: float  # the talk-time average EWT uses
    available_agents: int
    staffed_agents: int


class AgentSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    extension: str
    state: str
    seconds_in_state: float
    pause_reason: str | None
    call_id: str | None
    queue: str | None
    queues: list[str]
    calls_taken: int
    talk_seconds: float
    pending: str | None  # "pause" or "logout" asked for during a call


class AcdSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    queues: list[QueueSnapshot]
    agents: list[AgentSnapshot]
