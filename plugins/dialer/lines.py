"""What the dialer keeps in memory for a running campaign and for each line it dialled.

A `CampaignRun` is a campaign's spec and state with its pacer (pacing.py) and its abandonment
ledger (abandonment.py). A `Line` follows one placed call from the dial to its end: answered,
classified by AMD, a person waiting for an agent (the 2 s of the safe-harbor rule), connected or
abandoned. `outcome` folds a line and its CallEnded into the attempt's outcome. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .abandonment import AbandonmentLedger
from .config import CampaignSpec
from .leads import Lead
from .pacing import Pacer, PacingInputs, false_positive_share

BUSY_CAUSES = frozenset({"busy"})
NO_ANSWER_CAUSES = frozenset({"no_answer", "timeout", "cancelled"})
AGENT_STATES = {"available": "ready", "offered": "talking", "on-call": "talking", "wrap-up": "wrapping"}


@dataclass
class Line:
    call_id: str
    campaign: str
    lead: Lead
    started_at: float
    answered_at: float | None = None
    person_at: float | None = None  # a person is on the line (answer, or AMD's "human"): the 2 s start
    machine: bool = False
    amd_result: str | None = None
    connected: bool = False
    agent: str | None = None
    abandoned_at: float | None = None
    timers: list[Any] = field(default_factory=list)

    @property
    def ringing(self) -> bool:
        """Dialled, and nobody known to be on the line yet (AMD still listening counts)."""
        return self.person_at is None and not self.machine and not self.connected

    @property
    def waiting(self) -> bool:
        """A person on the line waits for an agent."""
        return self.person_at is not None and not self.connected and self.abandoned_at is None

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


def outcome(line: Line, cause: str) -> str:
    """The attempt's outcome when its call ended with `cause` (a CallEnded cause)."""
    if line.abandoned_at is not None:
        return "abandoned"
    if line.connected:
        return "contact"
    if line.machine:
        return "machine"
    if line.answered_at is not None:
        return "hung-up"  # a person (or AMD still listening) hung up before an agent came
    if cause in BUSY_CAUSES:
        return "busy"
    if cause in NO_ANSWER_CAUSES:
        return "no-answer"
    return "failed"


@dataclass
class CampaignRun:
    spec: CampaignSpec
    state: str  # running | paused | stopped
    source: str  # config | api
    pacer: Pacer = field(init=False)
    ledger: AbandonmentLedger = field(init=False)
    last_decision: Any = None

    def __post_init__(self) -> None:
        self.pacer = Pacer(self.spec.abandonment_cap, false_positive_rate=self.spec.amd_false_positive_rate
                           if self.spec.amd else 0.0, talk_seconds=120.0)
        self.ledger = AbandonmentLedger(self.spec.abandonment_cap)

    def respec(self, spec: CampaignSpec) -> None:
        """A new spec from the API or the config: the estimates carry on, the cap is the new one."""
        self.spec = spec
        self.pacer.cap = self.ledger.cap = spec.abandonment_cap
        fresh = Pacer(spec.abandonment_cap, false_positive_rate=spec.amd_false_positive_rate if spec.amd else 0.0)
        self.pacer.budget = fresh.budget

    @property
    def unseen_abandoned(self) -> float:
        """Abandoned calls to add per live answer for AMD's false positives (abandonment.py)."""
        return false_positive_share(self.spec.amd_false_positive_rate) if self.spec.amd else 0.0


def pacing_inputs(spec: CampaignSpec, agents: list[Any], lines: list[Line]) -> PacingInputs:
    """The inputs for a campaign from the ACD snapshot's agents and the lines in flight on its queue."""
    counts = {"ready": 0, "talking": 0, "wrapping": 0}
    for agent in agents:
        if spec.queue in agent.queues and agent.state in AGENT_STATES:
            counts[AGENT_STATES[agent.state]] += 1
    if spec.queue is None:  # a scenario takes every answered call: max_lines calls at once is the pace
        return PacingInputs(ready=spec.max_lines, ringing=len(lines), max_lines=spec.max_lines)
    return PacingInputs(ready=counts["ready"], talking=counts["talking"], wrapping=counts["wrapping"],
                        ringing=sum(1 for line in lines if line.ringing),
                        waiting=sum(1 for line in lines if line.waiting), max_lines=spec.max_lines)
