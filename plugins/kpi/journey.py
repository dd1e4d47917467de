"""The call records, folded from the bus (pure: events in, rows out; docs/kpi.md is the contract).

`JourneyFold(node).handle(event)` returns the rows an event makes: Journey, QueueCall and
AgentCall rows are upserts by primary key (emitted again to update), the logs are appends.

- Journey: one per CallStarted without `linked_id`; a callback call (`linked_id`) joins it.
  Written when its last call ends with no callback pending ("complete"), or with one pending
  ("callback-pending", outcome "waiting", counted by no report); again when a wrap-up, a late
  CallQuality, disposition or recording arrives after that.
- QueueCall: opened by QueueJoined (a second one while a visit to that queue is open is
  ignored); the first exit decides its outcome, so an abandoned callback (QueueAbandoned then
  CallbackCompleted) counts once. A callback keeps its visit (the ACD key stays the first
  call's id). `resumed` is a caller calling again: a new call, a new journey, its own visit.
- QueueCall of an answered visit also carries its segment's handle time (talk + hold + wrap-up)
  and transfer: the segment AgentConnected opened for it (same queue, connected as the visit
  ended), so the row is emitted again when that segment ends and when its wrap-up is known.
- AgentCall: AgentConnected to the CallTransferred or CallEnded of the call the agent is on
  (the event's call if live, else the journey's latest live call: the callback call). Talk is
  the segment minus its hold (CallHeld..CallResumed), so AHT = talk + hold + wrap-up = segment
  length + wrap-up; wrap-up is the agent's next stay in "wrap-up", given to its last segment.
- Without agents, talk is a phone's: a direct call's CallEnded.talk_seconds, or from the IVR's
  `dial`/`transfer` exit to the end; hold is all hold of its calls, and talk excludes it.
  Durations are rounded to the millisecond.

A complete journey is dropped once its agents' wrap-ups are given (or they took another
call): memory is the journeys in progress plus one finished journey per agent at most.
Events of calls the fold never saw start are ignored (half a journey would mislead).
Each call is priced as it ends with `price(direction, number, talk seconds)` when given (the
rate tables), the journey's cost being the sum. It does not write, read the clock or compute
figures.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sdk.events import (
    AgentConnected,
    AgentNoAnswer,
    AgentStateChanged,
    CallAnswered,
    CallbackCompleted,
    CallbackScheduled,
    CallDisposition,
    CallEnded,
    CallHeld,
    CallQuality,
    CallResumed,
    CallStarted,
    CallTransferred,
    Event,
    IvrExited,
    IvrNodeEntered,
    IvrStarted,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    QueueOverflowed,
    QueueTimedOut,
    RecordingStarted,
)

from .logs import AgentStates, queue_entry, segment_end_entry
from .records import AgentCall, AgentLogEntry, Journey, QueueCall, QueueLogEntry

Row = Journey | QueueCall | AgentCall | QueueLogEntry | AgentLogEntry

# docs/kpi.md "outcome", after `answered`, in order of precedence.
QUEUE_OUTCOMES = ("abandoned", "timed-out", "overflowed", "callback-failed")
EXITS: dict[type[Event], str] = {
    QueueAbandoned: "abandoned", QueueTimedOut: "timed-out", QueueOverflowed: "overflowed", QueueLeft: "left",
}  # fmt: skip
CALLBACK_EXITS = {"failed": "callback-failed", "abandoned": "abandoned"}
FINISHED_KEPT = 1024  # calls whose late CallQuality still reaches their journey
SURVEYS = {"csat": range(1, 6), "nps": range(0, 11), "ces": range(1, 8)}


def _seconds(value: float) -> float:
    return round(value, 3)


@dataclass
class _Visit:
    queue: str
    joined_at: float
    priority: int
    position: int
    callback: bool = False
    outcome: str = "waiting"
    left_at: float | None = None
    wait: float = 0.0
    agent: str | None = None
    segment: _Segment | None = field(default=None, repr=False, compare=False)  # the agent segment that answered it

    def close(self, outcome: str, at: float, wait: float, agent: str | None = None) -> None:
        self.outcome, self.left_at, self.wait, self.agent = outcome, at, _seconds(wait), agent


@dataclass
class _Segment:
    agent: str
    queue: str
    call_id: str  # the call the agent talks on
    connected_at: float
    wait: float
    ended_at: float | None = None
    hold: float = 0.0
    wrapup: float = 0.0
    transferred: bool = False
    visit: _Visit | None = field(default=None, repr=False, compare=False)  # the queue visit it answered

    @property
    def talk(self) -> float:
        return 0.0 if self.ended_at is None else _seconds(self.ended_at - self.connected_at - self.hold)


@dataclass
class _Journey:
    first: CallStarted
    call_ids: list[str]
    live: set[str]
    callbacks: int = 0
    callback_pending: bool = False
    state: str | None = None  # None until written; then "callback-pending" or "complete"
    answered_at: float | None = None
    last_end: CallEnded | None = None
    phone_talk: float = 0.0  # CallEnded.talk_seconds of its calls
    route: str | None = None
    scenario: str | None = None
    ivr_path: list[str] = field(default_factory=list)
    ivr_exit: IvrExited | None = None
    visits: list[_Visit] = field(default_factory=list)
    segments: list[_Segment] = field(default_factory=list)
    held: dict[str, float] = field(default_factory=dict)  # call id -> on hold since
    hold: float = 0.0  # all hold on its calls
    transfers: int = 0
    disposition: str | None = None
    surveys: dict[str, int] = field(default_factory=dict)
    recording: str | None = None
    mos: float | None = None
    awaiting_wrapup: set[str] = field(default_factory=set)  # agents whose wrap-up is still to come
    billed: dict[str, tuple[str, str]] = field(default_factory=dict)  # call id -> (direction, number billed)
    cost: float | None = None

    @property
    def id(self) -> str:
        return self.first.call_id

    def open_visit(self, queue: str) -> _Visit | None:
        return next((v for v in reversed(self.visits) if v.queue == queue and v.outcome == "waiting"), None)

    def latest_live_call(self) -> str | None:
        return next((call_id for call_id in reversed(self.call_ids) if call_id in self.live), None)

    def end_hold(self, call_id: str, at: float) -> None:
        since = self.held.pop(call_id, None)
        if since is None:
            return
        self.hold = _seconds(self.hold + at - since)
        for segment in self.segments:
            if segment.call_id == call_id and segment.ended_at is None:
                segment.hold = _seconds(segment.hold + at - max(since, segment.connected_at))


class JourneyFold:
    """`handle(event)` -> the rows to write. `open_journeys()` -> the journey ids still held."""

    def __init__(self, node: str, price: Callable[[str, str, float], float | None] | None = None) -> None:
        self.node = node
        # price(direction, number, seconds): a call's cost from the rate tables, None when unknown
        self.price = price
        self.journeys: dict[str, _Journey] = {}
        self.journey_of: dict[str, str] = {}  # call id -> journey id, for the journeys held
        self.agents = AgentStates(node)
        self.last_segment: dict[str, tuple[_Journey, _Segment]] = {}  # agent -> the segment awaiting its wrap-up
        # Journeys released lately, by call id: a leg's CallQuality comes when its BYE is answered,
        # after the CallEnded that completed the journey. Bounded: the oldest go first.
        self.finished: OrderedDict[str, _Journey] = OrderedDict()
        self._handlers: dict[type[Event], Callable[[_Journey, Any], list[Row]]] = {
            CallAnswered: self._note, CallHeld: self._note, CallResumed: self._note, CallQuality: self._note,
            RecordingStarted: self._note, IvrStarted: self._note, IvrNodeEntered: self._note, IvrExited: self._note,
            CallTransferred: self._transferred, CallEnded: self._ended, CallDisposition: self._disposition,
            QueueJoined: self._joined,
            AgentNoAnswer: self._no_answer, AgentConnected: self._connected, QueueAbandoned: self._exited,
            QueueTimedOut: self._exited, QueueOverflowed: self._exited, QueueLeft: self._exited,
            CallbackScheduled: self._callback_scheduled, CallbackCompleted: self._callback_completed,
        }  # fmt: skip

    def open_journeys(self) -> list[str]:
        return list(self.journeys)

    def status(self) -> dict[str, int]:
        """What the fold holds, to prove it is released."""
        return {"journeys": len(self.journeys), "calls": len(self.journey_of),
                "awaiting_wrapup": len(self.last_segment), "agents": len(self.agents.changed_at)}

    def handle(self, event: Event) -> list[Row]:
        if isinstance(event, AgentStateChanged):
            return self._agent_changed(event)
        if isinstance(event, CallStarted):
            return self._started(event)
        handler = self._handlers.get(type(event))
        journey_id = self.journey_of.get(getattr(event, "call_id", None) or "")
        if journey_id is None and isinstance(event, CallQuality) and event.call_id in self.finished:
            return self._note(self.finished[event.call_id], event)
        if handler is None or journey_id is None:
            return []
        journey = self.journeys[journey_id]
        rows = handler(journey, event)
        self._release_if_done(journey)
        return rows

    # Calls -----------------------------------------------------------------------------------------

    def _started(self, event: CallStarted) -> list[Row]:
        if event.call_id in self.journey_of:
            return []
        linked = self.journey_of.get(event.linked_id or "")
        if linked is None:  # a new contact (or a callback whose contact the fold never saw)
            journey = _Journey(first=event, call_ids=[event.call_id], live={event.call_id})
            self.journeys[journey.id] = journey
        else:
            journey = self.journeys[linked]
            journey.call_ids.append(event.call_id)
            journey.live.add(event.call_id)
            journey.callbacks += 1
        self.journey_of[event.call_id] = journey.id
        # The customer's number is the caller of an inbound call and, for a call the PBX placed
        # (a callback, an originate), the number it dialled, which CallStarted gives as caller too.
        journey.billed[event.call_id] = (event.direction, event.caller)
        return []

    def _note(self, journey: _Journey, event: Any) -> list[Row]:
        """The facts that only fill the journey in."""
        match event:
            case CallAnswered() if journey.answered_at is None:  # a phone's, the IVR's or the queue's
                journey.answered_at = event.at
            case CallHeld():
                journey.held.setdefault(event.call_id, event.at)
            case CallResumed():
                journey.end_hold(event.call_id, event.at)
            case IvrStarted():
                journey.scenario = journey.scenario or event.scenario
                journey.route = journey.route or f"scenario:{event.scenario}"
            case IvrNodeEntered():
                journey.ivr_path.append(event.node)
            case IvrExited():
                journey.ivr_exit = event
            case CallQuality():
                journey.mos = event.mos if journey.mos is None else min(journey.mos, event.mos)
                return self._rewrite(journey)
            case RecordingStarted() if journey.recording is None:
                journey.recording = event.path
                return self._rewrite(journey)
        return []

    def _transferred(self, journey: _Journey, event: CallTransferred) -> list[Row]:
        journey.transfers += 1
        # The transferee's hold ends with the transfer (the bridge takes it off hold unannounced).
        journey.end_hold(event.call_id, event.at)
        return self._end_segments(journey, event.call_id, event.at, transfer=event)

    def _ended(self, journey: _Journey, event: CallEnded) -> list[Row]:
        if event.call_id not in journey.live:
            return []
        journey.live.discard(event.call_id)
        journey.last_end = event
        journey.phone_talk = _seconds(journey.phone_talk + event.talk_seconds)
        if self.price is not None and event.call_id in journey.billed:
            cost = self.price(*journey.billed[event.call_id], event.talk_seconds)
            if cost is not None:
                journey.cost = cost if journey.cost is None else journey.cost + cost
        journey.end_hold(event.call_id, event.at)
        rows = self._end_segments(journey, event.call_id, event.at, ended=event)
        return rows + self._settle(journey)

    def _settle(self, journey: _Journey) -> list[Row]:
        """Write the journey once its calls are over: complete, or waiting for a callback."""
        if journey.live:
            return []
        if journey.callback_pending:
            journey.state = "callback-pending"
            return [self._journey_row(journey)]
        rows: list[Row] = []
        end = journey.last_end.at if journey.last_end is not None else None
        for segment in journey.segments:  # an agent connected after the calls ended (events lost)
            if segment.ended_at is None and end is not None:
                rows += self._end_segment(journey, segment, end)
        journey.state = "complete"
        return [*rows, self._journey_row(journey)]

    def _disposition(self, journey: _Journey, event: CallDisposition) -> list[Row]:
        kind, equals, score = event.value.partition("=")
        kind = kind.strip().lower()
        if equals and kind in SURVEYS:
            number = score.strip()
            if number.lstrip("-").isdigit() and int(number) in SURVEYS[kind]:
                journey.surveys[kind] = int(number)
            else:
                return []  # a survey answer out of range: ignored
        else:
            journey.disposition = event.value
        return self._rewrite(journey)

    def _rewrite(self, journey: _Journey) -> list[Row]:
        """The journey's row again, when it was already written."""
        return [self._journey_row(journey)] if journey.state is not None else []

    # Queues ---------------------------------------------------------------------------------------

    def _joined(self, journey: _Journey, event: QueueJoined) -> list[Row]:
        if journey.route is None:
            journey.route = f"queue:{event.queue}"
        log = queue_entry(self.node, journey.id, event)
        if journey.open_visit(event.queue) is not None:
            return [log]
        visit = _Visit(event.queue, event.at, event.priority, event.position)
        journey.visits.append(visit)
        return [self._visit_row(journey, visit), log]

    def _no_answer(self, journey: _Journey, event: AgentNoAnswer) -> list[Row]:
        return [queue_entry(self.node, journey.id, event)]

    def _connected(self, journey: _Journey, event: AgentConnected) -> list[Row]:
        rows: list[Row] = []
        visit = journey.open_visit(event.queue)
        if visit is not None:
            visit.close("answered", event.at, event.wait_seconds, event.agent)
            rows.append(self._visit_row(journey, visit))
        call_id = event.call_id if event.call_id in journey.live else journey.latest_live_call()
        segment = _Segment(event.agent, event.queue, call_id or event.call_id, event.at, _seconds(event.wait_seconds),
                           visit=visit)
        if visit is not None:
            visit.segment = segment
        journey.segments.append(segment)
        self._stop_awaiting(event.agent)
        self.last_segment[event.agent] = (journey, segment)
        return [*rows, self._segment_row(journey, segment), queue_entry(self.node, journey.id, event)]

    def _exited(self, journey: _Journey, event: Any) -> list[Row]:
        """QueueAbandoned, QueueTimedOut, QueueOverflowed or QueueLeft."""
        rows: list[Row] = []
        visit = journey.open_visit(event.queue)
        if visit is not None:
            visit.close(EXITS[type(event)], event.at, event.wait_seconds)
            rows.append(self._visit_row(journey, visit))
        return [*rows, queue_entry(self.node, journey.id, event)]

    def _callback_scheduled(self, journey: _Journey, event: CallbackScheduled) -> list[Row]:
        journey.callback_pending = True
        rows: list[Row] = []
        visit = journey.open_visit(event.queue)
        if visit is not None:
            visit.callback = True
            rows.append(self._visit_row(journey, visit))
        return [*rows, queue_entry(self.node, journey.id, event)]

    def _callback_completed(self, journey: _Journey, event: CallbackCompleted) -> list[Row]:
        journey.callback_pending = False
        rows: list[Row] = []
        visit = journey.open_visit(event.queue)
        outcome = CALLBACK_EXITS.get(event.outcome)
        if visit is not None and outcome is not None:  # "answered" was closed by AgentConnected
            visit.close(outcome, event.at, event.wait_seconds)
            rows.append(self._visit_row(journey, visit))
        rows.append(queue_entry(self.node, journey.id, event))
        return (rows + self._settle(journey)) if journey.state == "callback-pending" else rows

    # Agents ---------------------------------------------------------------------------------------

    def _end_segments(self, journey: _Journey, call_id: str, at: float, *, transfer: CallTransferred | None = None,
                      ended: CallEnded | None = None) -> list[Row]:
        rows: list[Row] = []
        for segment in journey.segments:
            if segment.call_id == call_id and segment.ended_at is None:
                rows += self._end_segment(journey, segment, at, transfer=transfer, ended=ended)
        return rows

    def _end_segment(self, journey: _Journey, segment: _Segment, at: float, *,
                     transfer: CallTransferred | None = None, ended: CallEnded | None = None) -> list[Row]:
        since = journey.held.get(segment.call_id)
        if since is not None:  # still on hold as the agent's part ends
            segment.hold = _seconds(segment.hold + at - max(since, segment.connected_at))
        segment.ended_at = at
        segment.transferred = transfer is not None
        if self.last_segment.get(segment.agent, (None, None))[1] is segment:
            journey.awaiting_wrapup.add(segment.agent)
        figures: dict[str, Any] = {"wait": segment.wait, "talk": segment.talk, "hold": segment.hold}
        if transfer is not None:
            word = "TRANSFER"
            figures |= {"kind": transfer.kind, "target": transfer.target}
        else:
            word = "COMPLETECALLER" if ended is not None and ended.hangup_by == "caller" else "COMPLETEAGENT"
        call_id = transfer.call_id if transfer else ended.call_id if ended else segment.call_id
        log = segment_end_entry(self.node, journey.id, call_id, segment.queue, segment.agent, at, word, figures)
        return [self._segment_row(journey, segment), *self._answered_visit_row(journey, segment), log]

    def _agent_changed(self, event: AgentStateChanged) -> list[Row]:
        entry = self.agents.change(event)
        if event.old != "wrap-up":
            return [entry]
        # The bus delivers synchronously: the ACD's reaction to a CallEnded (a wrap-up, and its end
        # when it lasts 0 s) may reach the fold before that CallEnded does, the segment still open.
        held = self.last_segment.get(event.agent)
        if held is None:
            return [entry]
        journey, segment = held
        segment.wrapup = _seconds(event.at - entry.since)
        rows: list[Row] = [entry, self._segment_row(journey, segment), *self._answered_visit_row(journey, segment),
                           *self._rewrite(journey)]
        self._stop_awaiting(event.agent)
        return rows

    def _stop_awaiting(self, agent: str) -> None:
        held = self.last_segment.pop(agent, None)
        if held is not None:
            held[0].awaiting_wrapup.discard(agent)
            self._release_if_done(held[0])

    def _release_if_done(self, journey: _Journey) -> None:
        if journey.state == "complete" and not journey.awaiting_wrapup and self.journeys.get(journey.id) is journey:
            del self.journeys[journey.id]
            for call_id in journey.call_ids:
                self.journey_of.pop(call_id, None)
                self.finished[call_id] = journey
            while len(self.finished) > FINISHED_KEPT:
                self.finished.popitem(last=False)

    # Rows -----------------------------------------------------------------------------------------

    def _visit_row(self, journey: _Journey, visit: _Visit) -> QueueCall:
        segment = visit.segment if visit.outcome == "answered" else None
        # AHT per visit (docs/kpi.md): talk + hold + wrap-up of the segment that answered it, summed
        # unrounded as the report sums them; the row is written again as the segment ends and wraps up.
        return QueueCall(journey_id=journey.id, queue=visit.queue, joined_at=visit.joined_at, left_at=visit.left_at,
                         outcome=visit.outcome, wait_seconds=visit.wait, agent=visit.agent, priority=visit.priority,
                         position=visit.position, callback=visit.callback,
                         handle_seconds=segment.talk + segment.hold + segment.wrapup if segment else 0.0,
                         transferred=segment.transferred if segment else False)

    def _answered_visit_row(self, journey: _Journey, segment: _Segment) -> list[Row]:
        """The visit the segment answered, again: its handle time or transfer changed."""
        visit = segment.visit
        return [self._visit_row(journey, visit)] if visit is not None and visit.segment is segment else []

    def _segment_row(self, journey: _Journey, segment: _Segment) -> AgentCall:
        return AgentCall(journey_id=journey.id, agent=segment.agent, queue=segment.queue,
                         connected_at=segment.connected_at, ended_at=segment.ended_at, talk_seconds=segment.talk,
                         hold_seconds=segment.hold, wrapup_seconds=segment.wrapup, transferred=segment.transferred)

    def _journey_row(self, journey: _Journey) -> Journey:
        first, end, visits, segments = journey.first, journey.last_end, journey.visits, journey.segments
        answered = [v for v in visits if v.outcome == "answered"]
        deciding = answered[0] if answered else visits[-1] if visits else None
        talk, hold = _talk_and_hold(journey)
        return Journey(
            journey_id=journey.id, node=self.node, call_ids=list(journey.call_ids), direction=first.direction,
            state=journey.state or "complete",
            outcome="waiting" if journey.state == "callback-pending" else _outcome(journey),
            caller=first.caller, caller_name=first.caller_name, callee=first.callee, started_at=first.at,
            answered_at=journey.answered_at, ended_at=end.at if end else None,
            route=journey.route or f"extension:{first.callee}", scenario=journey.scenario,
            ivr_path=list(journey.ivr_path),
            ivr_exit=journey.ivr_exit.how if journey.ivr_exit else None,
            # where the caller was: the last node entered (IvrExited.node names the section)
            ivr_exit_node=(journey.ivr_path[-1] if journey.ivr_path else journey.ivr_exit.node)
            if journey.ivr_exit else None,
            queue=visits[-1].queue if visits else None, joined_at=visits[0].joined_at if visits else None,
            wait_seconds=deciding.wait if deciding is not None and deciding.outcome != "waiting" else None,
            agent=segments[0].agent if segments else None, agents=list(dict.fromkeys(s.agent for s in segments)),
            connected_at=segments[0].connected_at if segments else None,
            talk_seconds=talk, hold_seconds=hold, wrapup_seconds=_seconds(sum(s.wrapup for s in segments)),
            transfers=journey.transfers, callbacks=journey.callbacks,
            hangup_by=end.hangup_by if end else None, cause=end.cause if end else None,
            status=end.status if end else None, disposition=journey.disposition,
            csat=journey.surveys.get("csat"), nps=journey.surveys.get("nps"), ces=journey.surveys.get("ces"),
            recording=journey.recording, mos=journey.mos, cost=journey.cost,
        )  # fmt: skip


def _phone_answered_at(journey: _Journey) -> float | None:
    """When a phone (not an agent, not the PBX) took the call, if one did."""
    exit_ = journey.ivr_exit
    if exit_ is not None and exit_.how == "dial":
        return exit_.at
    if exit_ is not None and exit_.how == "transfer":
        ended_by = journey.last_end.hangup_by if journey.last_end else "system"
        return exit_.at if ended_by != "system" else None  # the transfer target never answered
    if journey.scenario is None and not journey.visits:
        return journey.answered_at  # a direct call: only a phone answers it
    return None


def _talk_and_hold(journey: _Journey) -> tuple[float, float]:
    segments = journey.segments
    if segments:
        return _seconds(sum(s.talk for s in segments)), _seconds(sum(s.hold for s in segments))
    answered_at = _phone_answered_at(journey)
    if answered_at is None:
        return 0.0, 0.0
    if journey.scenario is None:
        return _seconds(journey.phone_talk - journey.hold), journey.hold
    ended_at = journey.last_end.at if journey.last_end else answered_at
    return _seconds(ended_at - answered_at - journey.hold), journey.hold


def _outcome(journey: _Journey) -> str:
    outcomes = {visit.outcome for visit in journey.visits}
    if "answered" in outcomes or _phone_answered_at(journey) is not None:
        return "answered"
    for outcome in QUEUE_OUTCOMES:
        if outcome in outcomes:
            return outcome
    if journey.scenario is not None and not journey.visits:
        return "ivr"  # self-service: it never reached a queue
    end = journey.last_end
    # Refused by the PBX before any answer; a ring timeout (also the system's 480) rang a phone.
    refused = end is not None and end.hangup_by == "system" and end.status >= 400 and end.cause != "no_answer"
    if refused and journey.answered_at is None:
        return "blocked"
    return "unanswered"
