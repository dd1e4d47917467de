"""The KPI figures of docs/kpi.md computed again, straight from the raw bus events.

Written from the definitions only: no journey fold, store or report of plugins/kpi is used, so
the golden test compares two readings of the contract. It favours plainness over speed.

Readings of the text where it leaves a choice (each one is stated where it is used):
- a phone answered a journey when a CallAnswered follows a CallRinging on that call (the PBX's
  own answer for an IVR or a queue does not ring);
- blocked: never answered, the last call ended by the system with a status >= 400 and it never
  rang (a ring timeout "rang a phone that never answered": unanswered);
- a journey's caller is its first call's caller; its queue, its last visit's queue;
- the agent's call is the journey's live call: the callback's call after a callback;
- a drop-off is an IvrExited "caller_hangup" of a journey that had not reached a queue;
- a duration taken from two instants is rounded to the millisecond (`ms`): instants near 1.7e9 s
  carry about 2e-7 s of float noise, below which no duration is meaningful, and the PBX itself
  rounds its durations to milliseconds (CallEnded).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sdk.events import (
    AgentConnected, AgentStateChanged, CallAnswered, CallbackCompleted, CallbackScheduled, CallDisposition, CallEnded,
    CallHeld, CallQuality, CallResumed, CallRinging, CallStarted, CallTransferred, IvrExited, IvrNodeEntered,
    IvrStarted, QueueAbandoned, QueueJoined, QueueLeft, QueueOverflowed, QueueTimedOut,
)


def ms(seconds: float) -> float:
    return round(seconds, 3)


@dataclass
class Visit:
    queue: str
    joined_at: float
    outcome: str = "waiting"
    wait: float = 0.0
    agent: str | None = None
    segment: Segment | None = None


@dataclass
class Segment:
    agent: str
    queue: str
    call_id: str
    connected_at: float
    ended_at: float | None = None
    transferred: bool = False
    hold: float = 0.0
    wrapup: float = 0.0

    @property
    def talk(self) -> float:
        return ms((self.ended_at or self.connected_at) - self.connected_at - self.hold)


@dataclass
class Journey:
    id: str
    caller: str
    started_at: float
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # call id -> rang, answered, ended, direction...
    visits: list[Visit] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    scenario: str | None = None
    last_node: str | None = None
    dropped_at: str | None = None  # the node a caller hung up in, in the IVR
    phone_answered: bool = False
    callback_pending: bool = False
    callback_failed: bool = False
    callback_abandoned: bool = False
    surveys: dict[str, int] = field(default_factory=dict)
    mos: float | None = None
    last_end: CallEnded | None = None


def expected_records(events: list[Any]) -> tuple[dict[str, Journey], dict[str, list[tuple[float, float, str, str]]]]:
    """Journeys by id, and per agent the state intervals (since, at, state, reason entering it)."""
    journeys: dict[str, Journey] = {}
    of_call: dict[str, Journey] = {}
    live_call: dict[str, str] = {}  # journey id -> the call an agent talks on
    holds: dict[str, float] = {}  # call id -> held since
    open_segments: dict[str, list[Segment]] = defaultdict(list)  # call id -> segments on it
    awaiting_wrapup: dict[str, Segment] = {}  # agent -> its last ended segment
    agent_since: dict[str, tuple[float, str]] = {}
    intervals: dict[str, list[tuple[float, float, str, str]]] = defaultdict(list)
    in_wrapup: dict[str, float] = {}

    def end_segments(call_id: str, at: float, transferred: bool) -> None:
        for segment in open_segments.pop(call_id, []):
            if call_id in holds:
                segment.hold = ms(segment.hold + at - max(holds[call_id], segment.connected_at))
            segment.ended_at = at
            segment.transferred = transferred
            awaiting_wrapup[segment.agent] = segment

    for event in events:
        if isinstance(event, CallStarted):
            if event.linked_id is None:
                journey = journeys[event.call_id] = Journey(event.call_id, event.caller, event.at)
            else:
                journey = journeys[event.linked_id]
                journey.callback_pending = False
                live_call[journey.id] = event.call_id
            journey.calls[event.call_id] = {"direction": event.direction, "rang": False, "caller": event.caller,
                                            "callee": event.callee}
            of_call[event.call_id] = journey
            live_call.setdefault(journey.id, event.call_id)
            continue
        if isinstance(event, AgentStateChanged):
            since, reason = agent_since.get(event.agent, (event.at, ""))
            intervals[event.agent].append((since, event.at, event.old, reason))
            agent_since[event.agent] = (event.at, event.reason)
            if event.old == "wrap-up" and event.agent in in_wrapup:
                segment = awaiting_wrapup.pop(event.agent, None)
                if segment is not None:
                    segment.wrapup = ms(segment.wrapup + event.at - in_wrapup.pop(event.agent))
            in_wrapup.pop(event.agent, None)
            if event.new == "wrap-up":
                in_wrapup[event.agent] = event.at
            continue
        journey = of_call.get(getattr(event, "call_id", None))
        if journey is None:
            continue
        call = journey.calls.get(event.call_id)
        if isinstance(event, CallRinging):
            call["rang"] = True
        elif isinstance(event, CallAnswered):
            if call["rang"]:
                journey.phone_answered = True
        elif isinstance(event, IvrStarted):
            journey.scenario = event.scenario
        elif isinstance(event, IvrNodeEntered):
            journey.last_node = event.node
        elif isinstance(event, IvrExited):
            if event.how == "caller_hangup" and not journey.visits:
                journey.dropped_at = journey.last_node
        elif isinstance(event, QueueJoined):
            journey.visits.append(Visit(event.queue, event.at))
        elif isinstance(event, (QueueAbandoned, QueueTimedOut, QueueOverflowed, QueueLeft)):
            visit = journey.visits[-1]
            visit.outcome = {QueueAbandoned: "abandoned", QueueTimedOut: "timed-out", QueueOverflowed: "overflowed",
                             QueueLeft: "left"}[type(event)]
            visit.wait = ms(event.wait_seconds)
        elif isinstance(event, AgentConnected):
            visit = journey.visits[-1]
            visit.outcome, visit.wait, visit.agent = "answered", ms(event.wait_seconds), event.agent
            segment = Segment(event.agent, event.queue, live_call[journey.id], event.at)
            visit.segment = segment
            journey.segments.append(segment)
            open_segments[segment.call_id].append(segment)
        elif isinstance(event, CallbackScheduled):
            journey.callback_pending = True
        elif isinstance(event, CallbackCompleted):
            journey.callback_pending = False
            visit = journey.visits[-1]
            if event.outcome == "failed":
                journey.callback_failed = True
                visit.outcome, visit.wait = "callback-failed", ms(event.wait_seconds)
            elif event.outcome == "abandoned":
                journey.callback_abandoned = True
        elif isinstance(event, CallHeld):
            holds.setdefault(event.call_id, event.at)
        elif isinstance(event, CallResumed):
            since = holds.pop(event.call_id, None)
            if since is not None:
                for segment in open_segments.get(event.call_id, []):
                    segment.hold = ms(segment.hold + event.at - max(since, segment.connected_at))
        elif isinstance(event, CallTransferred):
            end_segments(event.call_id, event.at, True)
            holds.pop(event.call_id, None)  # the transfer takes the transferee off hold
        elif isinstance(event, CallDisposition):
            kind, _, value = event.value.partition("=")
            if kind in ("csat", "nps", "ces") and value.isdigit():
                journey.surveys[kind] = int(value)
        elif isinstance(event, CallQuality):
            journey.mos = event.mos if journey.mos is None else min(journey.mos, event.mos)
        elif isinstance(event, CallEnded):
            end_segments(event.call_id, event.at, False)
            holds.pop(event.call_id, None)
            call["ended"] = event
            journey.last_end = event
    return journeys, intervals


def is_complete(journey: Journey) -> bool:
    return not journey.callback_pending and all("ended" in call for call in journey.calls.values())


def outcome(journey: Journey) -> str:
    visits = {visit.outcome for visit in journey.visits}
    if "answered" in visits or journey.phone_answered:
        return "answered"
    if "abandoned" in visits or journey.callback_abandoned:
        return "abandoned"
    if "timed-out" in visits:
        return "timed-out"
    if "overflowed" in visits:
        return "overflowed"
    if journey.callback_failed:
        return "callback-failed"
    if journey.scenario is not None and not journey.visits:
        return "ivr"
    end = journey.last_end
    rang = any(call["rang"] for call in journey.calls.values())
    if end is not None and end.hangup_by == "system" and end.status >= 400 and not rang and \
            not any(call["ended"].answered for call in journey.calls.values()):
        return "blocked"
    return "unanswered"


def bucket_of(at: float, bounds: list[float]) -> float | None:
    for a, b in zip(bounds, bounds[1:]):
        if a <= at < b:
            return a
    return None


def rate(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def queue_figures(journeys: dict[str, Journey], bounds: list[float], target: float, goal: float,
                  short: float) -> dict[tuple[str, float], dict[str, Any]]:
    groups: dict[tuple[str, float], list[Visit]] = defaultdict(list)
    for journey in journeys.values():
        for visit in journey.visits:
            start = bucket_of(visit.joined_at, bounds)
            if start is not None and visit.outcome != "waiting":
                groups[visit.queue, start].append(visit)
    figures = {}
    for key, visits in groups.items():
        answered = [v for v in visits if v.outcome == "answered"]
        abandoned = [v for v in visits if v.outcome == "abandoned"]
        shorts = [v for v in abandoned if v.wait < short]
        within = sum(1 for v in answered if v.wait <= target)
        abandoned_within = sum(1 for v in abandoned if v.wait <= target)
        offered = len(visits)
        timed_out = sum(1 for v in visits if v.outcome == "timed-out")
        overflowed = sum(1 for v in visits if v.outcome == "overflowed")
        handle = [v.segment.talk + v.segment.hold + v.segment.wrapup for v in answered]
        figures[key] = dict(
            offered=offered, answered=len(answered), abandoned=len(abandoned), short_abandoned=len(shorts),
            timed_out=timed_out, overflowed=overflowed,
            left=offered - len(answered) - len(abandoned) - timed_out - overflowed,
            answered_within=within, abandoned_within=abandoned_within, target_seconds=target, goal=goal,
            sl=rate(within, offered), sl_answered=rate(within, len(answered)),
            sl_no_short=rate(within, offered - len(shorts)), sl_abandons=rate(within + abandoned_within, offered),
            asa=rate(sum(v.wait for v in answered), len(answered)), avg_wait=rate(sum(v.wait for v in visits), offered),
            longest_wait=max(v.wait for v in visits), abandon_rate=rate(len(abandoned), offered),
            abandon_rate_no_short=rate(len(abandoned) - len(shorts), offered - len(shorts)),
            aht=rate(sum(handle), len(answered)),
            transfer_rate=rate(sum(1 for v in answered if v.segment.transferred), len(answered)))
    return figures


STAFFED = {"available", "offered", "on-call", "wrap-up"}
BUSY = {"offered", "on-call", "wrap-up"}


def agent_figures(journeys: dict[str, Journey], intervals: dict[str, list[tuple[float, float, str, str]]],
                  bounds: list[float]) -> dict[tuple[str, float], dict[str, Any]]:
    figures: dict[tuple[str, float], dict[str, Any]] = {}

    def of(agent: str, start: float) -> dict[str, Any]:
        return figures.setdefault((agent, start), dict(
            logged_in_seconds=0.0, staffed_seconds=0.0, busy_seconds=0.0, paused_seconds=0.0, pause_by_reason={},
            answered=0, talk_seconds=0.0, hold_seconds=0.0, wrapup_seconds=0.0))

    for agent, rows in intervals.items():
        for since, until, state, reason in rows:
            for a, b in zip(bounds, bounds[1:]):  # split at bucket edges
                lo, hi = max(since, a), min(until, b)
                if hi <= lo:
                    continue
                seconds = max(0.0, hi - lo)
                row = of(agent, a)
                if state != "logged-out":
                    row["logged_in_seconds"] += seconds
                if state in STAFFED:
                    row["staffed_seconds"] += seconds
                if state in BUSY:
                    row["busy_seconds"] += seconds
                if state == "paused":
                    row["paused_seconds"] += seconds
                    row["pause_by_reason"][reason] = row["pause_by_reason"].get(reason, 0.0) + seconds
    for journey in journeys.values():
        for segment in journey.segments:
            start = bucket_of(segment.connected_at, bounds)
            if start is None:
                continue
            row = of(segment.agent, start)
            row["answered"] += 1
            row["talk_seconds"] += segment.talk
            row["hold_seconds"] += segment.hold
            row["wrapup_seconds"] += segment.wrapup
    for row in figures.values():
        logged_in = row["logged_in_seconds"]
        row["pause_share"] = {reason: seconds / logged_in for reason, seconds in row["pause_by_reason"].items()} \
            if logged_in else {reason: None for reason in row["pause_by_reason"]}
        row["occupancy"] = rate(row["busy_seconds"], row["staffed_seconds"])
        row["utilization"] = rate(row["busy_seconds"], logged_in)
        row["calls_per_hour"] = rate(row["answered"], logged_in / 3600)
        row["aht"] = rate(row["talk_seconds"] + row["hold_seconds"] + row["wrapup_seconds"], row["answered"])
    return figures


def availability(intervals: dict[str, list[tuple[float, float, str, str]]], bounds: list[float]) -> dict[float, dict]:
    """Time with at least one staffed agent, per bucket, by sweeping the staffed intervals."""
    staffed = sorted((since, until) for rows in intervals.values() for since, until, state, _ in rows
                     if state in STAFFED and until > since)
    merged: list[list[float]] = []
    for since, until in staffed:
        if merged and since <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], until)
        else:
            merged.append([since, until])
    figures = {}
    for a, b in zip(bounds, bounds[1:]):
        covered = sum(max(0.0, min(b, y) - max(a, x)) for x, y in merged)
        figures[a] = dict(seconds=b - a, staffed_seconds=covered, availability=rate(covered, b - a))
    return figures


def journey_cost(journey: Journey, rates: list[Any]) -> float | None:
    """Per call: the longest prefix (a leading + ignored) of the customer's number, setup + per minute
    x the talk time in started increments; None when no call has a rate. The customer's number is
    CallStarted.caller for both directions: the PBX puts the number it dials there for the calls it
    places (a callback's callee is "callback:<queue>"), so docs/kpi.md's "callee for outbound calls"
    (the party called) is read from it."""
    total = None
    for call in journey.calls.values():
        number = call["caller"]
        digits = number.lstrip("+")
        found = [r for r in rates if r.direction in ("any", call["direction"]) and digits.startswith(r.prefix.lstrip("+"))]
        if not found:
            continue
        best = max(found, key=lambda r: (len(r.prefix.lstrip("+")), r.direction != "any"))
        talk = call["ended"].talk_seconds
        billed = math.ceil(talk / best.increment - 1e-9) * best.increment
        total = (total or 0.0) + best.setup + best.per_minute * billed / 60.0
    return total


def contact_figures(journeys: dict[str, Journey], bounds: list[float], window: float, rates: list[Any],
                    by_queue: bool = False, by_scenario: bool = False) -> dict[tuple[str, float], dict[str, Any]]:
    by_caller: dict[str, list[float]] = defaultdict(list)
    for journey in journeys.values():
        by_caller[journey.caller].append(journey.started_at)
    groups: dict[tuple[str, float], list[Journey]] = defaultdict(list)
    for journey in journeys.values():
        start = bucket_of(journey.started_at, bounds)
        if start is None or not is_complete(journey):
            continue
        if by_scenario:
            if journey.scenario is None:
                continue
            scope = f"scenario:{journey.scenario}"
        elif by_queue:
            if not journey.visits:
                continue
            scope = journey.visits[-1].queue
        else:
            scope = ""
        groups[scope, start].append(journey)
    figures = {}
    for key, members in groups.items():
        outcomes = [outcome(j) for j in members]
        answered = [j for j, o in zip(members, outcomes) if o == "answered"]
        repeats = sum(1 for j in members
                      if any(0 < j.started_at - t <= window for t in by_caller[j.caller]))
        resolved = sum(1 for j in answered if not any(0 < t - j.started_at <= window for t in by_caller[j.caller]))
        blocked = outcomes.count("blocked")
        csat = [j.surveys["csat"] for j in members if "csat" in j.surveys]
        nps = [j.surveys["nps"] for j in members if "nps" in j.surveys]
        ces = [j.surveys["ces"] for j in members if "ces" in j.surveys]
        mos = [j.mos for j in members if j.mos is not None]
        ivr = [j for j, o in zip(members, outcomes) if j.scenario is not None]
        contained = sum(1 for j, o in zip(members, outcomes) if j.scenario is not None and o == "ivr")
        costs = [journey_cost(j, rates) for j in members]
        cost_total = sum(c for c in costs if c is not None)
        figures[key] = dict(
            journeys=len(members), answered=len(answered), repeats=repeats, repeat_rate=rate(repeats, len(members)),
            fcr=rate(resolved, len(answered)), blocked=blocked, blocked_rate=rate(blocked, len(members)),
            csat_mean=rate(sum(csat), len(csat)), csat_satisfied=rate(sum(1 for v in csat if v >= 4), len(csat)),
            nps=rate(sum(1 for v in nps if v >= 9) - sum(1 for v in nps if v <= 6), len(nps)),
            ces_mean=rate(sum(ces), len(ces)), mos_mean=rate(sum(mos), len(mos)),
            poor_quality_share=rate(sum(1 for v in mos if v < 3.6), len(mos)),
            ivr_journeys=len(ivr), ivr_contained=contained, containment=rate(contained, len(ivr)),
            cost_total=cost_total, cost_per_call=rate(cost_total, len(members)))
    return figures


def dropoff(journeys: dict[str, Journey], bounds: list[float]) -> dict[tuple[str, str, float], int]:
    counts: dict[tuple[str, str, float], int] = defaultdict(int)
    for journey in journeys.values():
        start = bucket_of(journey.started_at, bounds)
        if start is not None and journey.dropped_at is not None and is_complete(journey):
            counts[journey.scenario or "", journey.dropped_at, start] += 1
    return dict(counts)
