"""Live KPIs: queue figures over a sliding window, fed with bus events, and threshold alerts.

`LiveKpis(config)` is pure: `on_event(event, now)` folds one event and returns the
KpiThresholdCrossed events it causes; `figures(now)` gives per queue the QueueFigures of the
visits that ended within the last `config.window` seconds (by their exit: answer, abandon,
timeout, overflow, other exits), the callers waiting now and the longest current wait;
`pbx(now)` the same over every queue (queue ""). Nothing reads a clock: `now` is passed in.

Memory is bounded by the window: finished visits older than it are dropped on every call,
and the waiting callers and agents are what is live now.

Alerts (`config.alerts`): a figure of the window (a QueueFigures field: sl, asa, abandon_rate,
longest_wait, ...) for a queue (`queue` None: every queue; "": the PBX as a whole) goes into
"alert" when it passes the threshold (below `below`, above `above`) and back to "ok" only once
it is past the threshold by HYSTERESIS of it on the good side, so a figure hovering on the
threshold does not flap with each event. A figure with no value (an empty window) changes
nothing. Each change is one KpiThresholdCrossed.

Live AHT is connect to the end of the wrap-up (talk, hold and wrap-up together), counted when
the wrap-up ends; a transfer by the connected agent counts for the transfer rate.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import msgspec

from sdk.events import (
    AgentConnected,
    AgentStateChanged,
    CallbackCompleted,
    CallEnded,
    CallTransferred,
    Event,
    KpiThresholdCrossed,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    QueueOverflowed,
    QueueTimedOut,
)

from .config import Alert, Config
from .figures import QueueFigures

__all__ = ["HYSTERESIS", "AgentNow", "LiveKpis", "LiveQueue"]

HYSTERESIS = 0.05  # back to "ok" only 5% of the threshold past it


class LiveQueue(msgspec.Struct, kw_only=True):
    """One queue now: the window's figures, the callers waiting and the longest current wait."""

    queue: str
    figures: QueueFigures
    waiting: int
    oldest_wait: float | None


class AgentNow(msgspec.Struct, kw_only=True):
    """One agent now: its state, since when, and calls answered since the PBX started."""

    agent: str
    state: str
    since: float
    answered: int  # calls answered since the PBX started (a counter)


class _Exit(NamedTuple):
    at: float
    queue: str
    outcome: str  # answered, abandoned, timed-out, overflowed, left
    wait: float


class _Handled(NamedTuple):
    at: float
    queue: str
    seconds: float
    transferred: bool


class LiveKpis:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self._exits: deque[_Exit] = deque()
        self._handled: deque[_Handled] = deque()
        self._waiting: dict[str, tuple[str, float]] = {}  # call id -> (queue, joined at)
        self._connected: dict[str, tuple[str, str, float, bool]] = {}  # agent -> (call, queue, at, transferred)
        self._wrapping: dict[str, tuple[str, float, bool]] = {}  # agent -> (queue, connected at, transferred)
        self._queues: set[str] = set()
        self.agents: dict[str, AgentNow] = {}
        self._alerting: set[tuple[int, str]] = set()  # (alert number, queue name) in alert

    # Events -------------------------------------------------------------------------------------

    def on_event(self, event: Event, now: float) -> list[KpiThresholdCrossed]:
        self._fold(event)
        return self.evaluate(now)

    def _fold(self, event: Event) -> None:
        match event:
            case QueueJoined(call_id=call, queue=queue, at=at):
                self._queues.add(queue)
                self._waiting[call] = (queue, at)
            case AgentConnected(call_id=call, queue=queue, agent=agent, wait_seconds=wait, at=at):
                self._exit(call, queue, "answered", wait, at)
                self._connected[agent] = (call, queue, at, False)
                found = self.agents.get(agent)
                if found is not None:
                    found.answered += 1
                else:
                    self.agents[agent] = AgentNow(agent=agent, state="on-call", since=at, answered=1)
            case QueueAbandoned(call_id=call, queue=queue, wait_seconds=wait, at=at):
                self._exit(call, queue, "abandoned", wait, at)
            case QueueTimedOut(call_id=call, queue=queue, wait_seconds=wait, at=at):
                self._exit(call, queue, "timed-out", wait, at)
            case QueueOverflowed(call_id=call, queue=queue, wait_seconds=wait, at=at):
                self._exit(call, queue, "overflowed", wait, at)
            case QueueLeft(call_id=call, queue=queue, wait_seconds=wait, at=at):
                self._exit(call, queue, "left", wait, at)
            case CallbackCompleted(call_id=call, queue=queue, outcome=outcome, wait_seconds=wait, at=at):
                if outcome != "answered":  # an answered callback was counted at AgentConnected
                    self._exit(call, queue, "abandoned" if outcome == "abandoned" else "left", wait, at)
            case CallTransferred(call_id=call):
                for agent, (connected_call, queue, at, _) in list(self._connected.items()):
                    if connected_call == call:
                        self._connected[agent] = (connected_call, queue, at, True)
            case CallEnded(call_id=call):
                self._waiting.pop(call, None)
            case AgentStateChanged(agent=agent, new=new, old=old, at=at):
                found = self.agents.get(agent)
                if found is None:
                    self.agents[agent] = AgentNow(agent=agent, state=new, since=at, answered=0)
                else:
                    found.state, found.since = new, at
                if old == "on-call" and agent in self._connected:
                    _, queue, connected_at, transferred = self._connected.pop(agent)
                    if new == "wrap-up":
                        self._wrapping[agent] = (queue, connected_at, transferred)
                    else:
                        self._handled.append(_Handled(at, queue, at - connected_at, transferred))
                elif old == "wrap-up" and agent in self._wrapping:
                    queue, connected_at, transferred = self._wrapping.pop(agent)
                    self._handled.append(_Handled(at, queue, at - connected_at, transferred))

    def _exit(self, call: str, queue: str, outcome: str, wait: float, at: float) -> None:
        self._queues.add(queue)
        self._waiting.pop(call, None)
        self._exits.append(_Exit(at, queue, outcome, wait))

    def _expire(self, now: float) -> None:
        horizon = now - self.config.window
        while self._exits and self._exits[0].at <= horizon:
            self._exits.popleft()
        while self._handled and self._handled[0].at <= horizon:
            self._handled.popleft()

    # Figures ------------------------------------------------------------------------------------

    def _figures(self, name: str, queue: str | None, now: float) -> LiveQueue:
        exits = [e for e in self._exits if queue is None or e.queue == queue]
        handled = [h for h in self._handled if queue is None or h.queue == queue]
        target = self.config.target(queue or "")
        short_limit = self.config.short_abandon
        offered = len(exits)
        answered = sum(e.outcome == "answered" for e in exits)
        abandoned = sum(e.outcome == "abandoned" for e in exits)
        short = sum(e.outcome == "abandoned" and e.wait < short_limit for e in exits)
        within = sum(e.outcome == "answered" and e.wait <= target.seconds for e in exits)
        abandoned_within = sum(e.outcome == "abandoned" and e.wait <= target.seconds for e in exits)
        answered_wait = sum(e.wait for e in exits if e.outcome == "answered")
        figures = QueueFigures(
            queue=name, interval_start=now - self.config.window, offered=offered, answered=answered,
            abandoned=abandoned, short_abandoned=short, timed_out=sum(e.outcome == "timed-out" for e in exits),
            overflowed=sum(e.outcome == "overflowed" for e in exits), left=sum(e.outcome == "left" for e in exits),
            answered_within=within, abandoned_within=abandoned_within, target_seconds=float(target.seconds),
            goal=float(target.goal), sl=_rate(within, offered), sl_answered=_rate(within, answered),
            sl_no_short=_rate(within, offered - short), sl_abandons=_rate(within + abandoned_within, offered),
            asa=_rate(answered_wait, answered), avg_wait=_rate(sum(e.wait for e in exits), offered),
            longest_wait=max((e.wait for e in exits), default=None), abandon_rate=_rate(abandoned, offered),
            abandon_rate_no_short=_rate(abandoned - short, offered - short),
            aht=_rate(sum(h.seconds for h in handled), len(handled)),
            transfer_rate=_rate(sum(h.transferred for h in handled), len(handled)))
        waits = [now - joined for waiting_queue, joined in self._waiting.values()
                 if queue is None or waiting_queue == queue]
        return LiveQueue(queue=name, figures=figures, waiting=len(waits), oldest_wait=max(waits, default=None))

    def figures(self, now: float) -> list[LiveQueue]:
        """Every queue seen so far, by name."""
        self._expire(now)
        return [self._figures(queue, queue, now) for queue in sorted(self._queues)]

    def queue(self, name: str, now: float) -> LiveQueue:
        self._expire(now)
        return self._figures(name, name, now)

    def pbx(self, now: float) -> LiveQueue:
        self._expire(now)
        return self._figures("", None, now)

    # Alerts -------------------------------------------------------------------------------------

    def evaluate(self, now: float) -> list[KpiThresholdCrossed]:
        """Check every alert against the window now; the changes of state, as events."""
        self._expire(now)
        crossed: list[KpiThresholdCrossed] = []
        for number, alert in enumerate(self.config.alerts):
            names = sorted(self._queues) if alert.queue is None else [alert.queue]
            for name in names:
                live = self._figures(name, name or None, now)
                value = getattr(live.figures, alert.kpi, None)
                if value is None:
                    continue
                event = self._judge(number, alert, name, float(value), now)
                if event is not None:
                    crossed.append(event)
        return crossed

    def _judge(self, number: int, alert: Alert, name: str, value: float, now: float) -> KpiThresholdCrossed | None:
        key = (number, name)
        alerting = key in self._alerting
        for threshold, low in ((alert.below, True), (alert.above, False)):
            if threshold is None:
                continue
            band = abs(threshold) * HYSTERESIS
            bad = value < threshold if low else value > threshold
            good = value >= threshold + band if low else value <= threshold - band
            if not alerting and bad:
                self._alerting.add(key)
                return self._event(alert, name, value, threshold, "alert", now)
            if alerting and good and not self._other_side_bad(alert, value, low):
                self._alerting.discard(key)
                return self._event(alert, name, value, threshold, "ok", now)
        return None

    @staticmethod
    def _other_side_bad(alert: Alert, value: float, low: bool) -> bool:
        other = alert.above if low else alert.below
        if other is None:
            return False
        return value > other if low else value < other

    @staticmethod
    def _event(alert: Alert, name: str, value: float, threshold: float, state: str, now: float) -> KpiThresholdCrossed:
        return KpiThresholdCrossed(at=now, kpi=alert.kpi, scope="queue" if name else "pbx", name=name, value=value,
                                   threshold=threshold, state=state)


def _rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator
