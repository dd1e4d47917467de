"""The journey fold turns hand-written event sequences, with exact times, into exact rows.

A direct call, an IVR-only call, a queue call with hold and wrap-up (AHT = talk + hold + wrap-up),
an abandonment counted once, a blind transfer by the agent, a queue callback (the original call
id as the ACD's key, the callback call as the agent's), dispositions and surveys, the agent log's
intervals, and the fold's memory given back once journeys and wrap-ups are over.
"""

from __future__ import annotations

from typing import Any

import msgspec

from plugins.kpi.journey import JourneyFold
from plugins.kpi.records import AgentCall, AgentLogEntry, Journey, QueueCall, QueueLogEntry
from sdk.events import (
    AgentConnected,
    AgentNoAnswer,
    AgentOffered,
    AgentStateChanged,
    CallAnswered,
    CallbackCompleted,
    CallbackScheduled,
    CallDisposition,
    CallEnded,
    CallHeld,
    CallQuality,
    CallResumed,
    CallRinging,
    CallStarted,
    CallTransferred,
    IvrExited,
    IvrNodeEntered,
    IvrStarted,
    QueueAbandoned,
    QueueJoined,
    QueueLeft,
    RecordingStarted,
)

T = 1_000.0
NODE = "pbx1"
CALLER = "+33600000001"


def journey_fold_feeding(events: list[Any]) -> tuple[JourneyFold, list[list[Any]]]:
    fold = JourneyFold(NODE)
    return fold, [fold.handle(event) for event in events]


def journey_started(call_id: str = "c1", at: float = T, callee: str = "1001", **more: Any) -> CallStarted:
    return CallStarted(at=at, call_id=call_id, caller=CALLER, callee=callee, caller_name="Ann", **more)


def journey_call_ended(at: float, call_id: str = "c1", *, talk: float, by: str = "caller", callee: str = "1001",
                       cause: str = "normal", status: int = 200, started: float = T) -> CallEnded:
    return CallEnded(at=at, call_id=call_id, caller=CALLER, callee=callee, cause=cause, status=status, hangup_by=by,
                     answered=talk > 0, total_seconds=at - started, ring_seconds=0.0, talk_seconds=talk)


def journey_row(**fields: Any) -> Journey:
    values: dict[str, Any] = {
        "journey_id": "c1", "node": NODE, "call_ids": ["c1"], "direction": "inbound", "state": "complete",
        "outcome": "answered", "caller": CALLER, "caller_name": "Ann", "callee": "1001", "started_at": T,
    }  # fmt: skip
    values.update(fields)
    return Journey(**values)


def agent_change(at: float, old: str, new: str, reason: str = "", agent: str = "alice") -> AgentStateChanged:
    return AgentStateChanged(at=at, agent=agent, old=old, new=new, reason=reason)


def queue_log(at: float, event: str, detail: dict[str, Any], *, call_id: str = "c1", agent: str | None = None,
              queue: str = "sales") -> QueueLogEntry:
    return QueueLogEntry(at=at, node=NODE, journey_id="c1", call_id=call_id, queue=queue, agent=agent, event=event,
                         detail=msgspec.json.encode(detail).decode())


def queue_call_answered_by_alice() -> list[Any]:
    """c1 straight to the sales queue, answered by alice after 12 s (the PBX answered at once)."""
    return [
        agent_change(T - 100, "logged-out", "available", "login"),
        journey_started(callee="500"),
        CallAnswered(at=T, call_id="c1", callee="500", codec="PCMA", ring_seconds=0.0),
        QueueJoined(at=T, call_id="c1", queue="sales", caller_number=CALLER, priority=0, position=1),
        agent_change(T + 8, "available", "offered", "offered c1"),
        AgentOffered(at=T + 8, agent="alice", call_id="c1", queue="sales"),
        agent_change(T + 12, "offered", "on-call", "answered"),
        AgentConnected(at=T + 12, agent="alice", call_id="c1", queue="sales", wait_seconds=12.0, ring_seconds=4.0),
    ]


# Direct and IVR calls --------------------------------------------------------------------------------


def test_a_direct_answered_call_is_one_journey_written_as_it_ends():
    fold, rows = journey_fold_feeding([
        journey_started(),
        CallRinging(at=T + 1, call_id="c1", callee="1001", early_media=False),
        CallAnswered(at=T + 5, call_id="c1", callee="1001", codec="PCMA", ring_seconds=4.0),
        RecordingStarted(at=T + 5, call_id="c1", path="/rec/c1.wav", layout="stereo"),
        CallHeld(at=T + 20, call_id="c1", by="1001"),
        CallResumed(at=T + 25, call_id="c1", by="1001"),
        CallQuality(at=T + 65, call_id="c1", party="caller", number=CALLER, codec="PCMA", packets=3000, lost=0,
                    loss_percent=0.0, jitter_ms=2.0, mos=4.3, ssrc_changes=0, rtcp_reports=1,
                    remote_loss_percent=None, remote_jitter_ms=None, round_trip_ms=None),
        CallQuality(at=T + 65, call_id="c1", party="callee", number="1001", codec="PCMA", packets=3000, lost=90,
                    loss_percent=3.0, jitter_ms=20.0, mos=3.9, ssrc_changes=0, rtcp_reports=1,
                    remote_loss_percent=None, remote_jitter_ms=None, round_trip_ms=None),
        journey_call_ended(T + 65, talk=60.0),
    ])  # fmt: skip
    assert all(row == [] for row in rows[:-1])
    assert rows[-1] == [journey_row(
        answered_at=T + 5, ended_at=T + 65, route="extension:1001", talk_seconds=55.0, hold_seconds=5.0,
        hangup_by="caller", cause="normal", status=200, recording="/rec/c1.wav", mos=3.9,
    )]  # fmt: skip
    assert fold.open_journeys() == []


def test_an_unanswered_and_a_blocked_call():
    _, rang = journey_fold_feeding([journey_started(), journey_call_ended(T + 30, talk=0, by="system",
                                                                          cause="no_answer", status=480)])
    _, refused = journey_fold_feeding([journey_started(callee="999"), journey_call_ended(
        T, talk=0, by="system", cause="not_found", status=404, callee="999")])
    assert rang[-1][0].outcome == "unanswered" and rang[-1][0].answered_at is None
    assert refused[-1][0].outcome == "blocked" and refused[-1][0].route == "extension:999"


def test_an_ivr_only_call_keeps_its_path_and_exit():
    fold, rows = journey_fold_feeding([
        journey_started(callee="800"),
        IvrStarted(at=T, call_id="c1", scenario="support", version=3),
        CallAnswered(at=T + 0.5, call_id="c1", callee="800", codec="PCMU", ring_seconds=0.0),
        IvrNodeEntered(at=T + 0.5, call_id="c1", scenario="support", node="main", kind="menu"),
        IvrNodeEntered(at=T + 9, call_id="c1", scenario="support", node="opening_hours", kind="block"),
        CallDisposition(at=T + 9, call_id="c1", value="self-service"),
        IvrExited(at=T + 20, call_id="c1", scenario="support", how="hangup", node="opening_hours"),
        journey_call_ended(T + 20, talk=19.5, by="system", callee="800"),
    ])  # fmt: skip
    assert rows[-1] == [journey_row(
        outcome="ivr", callee="800", answered_at=T + 0.5, ended_at=T + 20, route="scenario:support",
        scenario="support", ivr_path=["main", "opening_hours"], ivr_exit="hangup", ivr_exit_node="opening_hours",
        hangup_by="system", cause="normal", status=200, disposition="self-service",
    )]  # fmt: skip
    assert fold.open_journeys() == []


def test_an_ivr_dial_answered_by_a_phone_talks_from_the_dial():
    _, rows = journey_fold_feeding([
        journey_started(callee="800"),
        IvrStarted(at=T, call_id="c1", scenario="support", version=1),
        CallAnswered(at=T, call_id="c1", callee="800", codec="PCMU", ring_seconds=0.0),
        IvrExited(at=T + 10, call_id="c1", scenario="support", how="dial", node="main"),
        journey_call_ended(T + 50, talk=50.0, callee="800"),
    ])  # fmt: skip
    journey = rows[-1][0]
    assert (journey.outcome, journey.talk_seconds, journey.ivr_exit) == ("answered", 40.0, "dial")


# Queues ------------------------------------------------------------------------------------------


def test_a_queue_call_with_hold_and_wrap_up_has_aht_talk_plus_hold_plus_wrap_up():
    fold, rows = journey_fold_feeding([
        *queue_call_answered_by_alice(),
        CallHeld(at=T + 30, call_id="c1", by="201"),
        CallResumed(at=T + 40, call_id="c1", by="201"),
        journey_call_ended(T + 72, talk=72.0, by="callee", callee="500"),
        agent_change(T + 72, "on-call", "wrap-up", "call ended"),
    ])  # fmt: skip
    joined, connected, ended = rows[3], rows[7], rows[10]
    assert joined == [
        QueueCall(journey_id="c1", queue="sales", joined_at=T, left_at=None, outcome="waiting", wait_seconds=0.0,
                  agent=None, priority=0, position=1, callback=False),
        queue_log(T, "ENTERQUEUE", {"position": 1, "priority": 0, "caller": CALLER, "resumed": False}),
    ]
    assert connected == [
        QueueCall(journey_id="c1", queue="sales", joined_at=T, left_at=T + 12, outcome="answered", wait_seconds=12.0,
                  agent="alice", priority=0, position=1, callback=False),
        AgentCall(journey_id="c1", agent="alice", queue="sales", connected_at=T + 12, ended_at=None, talk_seconds=0.0,
                  hold_seconds=0.0, wrapup_seconds=0.0, transferred=False),
        queue_log(T + 12, "CONNECT", {"wait": 12.0, "ring": 4.0}, agent="alice"),
    ]
    segment = AgentCall(journey_id="c1", agent="alice", queue="sales", connected_at=T + 12, ended_at=T + 72,
                        talk_seconds=50.0, hold_seconds=10.0, wrapup_seconds=0.0, transferred=False)
    journey = journey_row(
        callee="500", answered_at=T, ended_at=T + 72, route="queue:sales", queue="sales", joined_at=T,
        wait_seconds=12.0, agent="alice", agents=["alice"], connected_at=T + 12, talk_seconds=50.0, hold_seconds=10.0,
        hangup_by="callee", cause="normal", status=200,
    )  # fmt: skip
    answered = msgspec.structs.replace(connected[0], handle_seconds=60.0)  # the visit's AHT so far: talk + hold
    assert ended == [segment, answered, queue_log(T + 72, "COMPLETEAGENT", {"wait": 12.0, "talk": 50.0, "hold": 10.0},
                                                  agent="alice"), journey]
    assert fold.open_journeys() == ["c1"]  # until alice's wrap-up is known
    wrap_up = fold.handle(agent_change(T + 87, "wrap-up", "available", "wrap-up ended"))
    assert wrap_up == [
        AgentLogEntry(at=T + 87, node=NODE, agent="alice", old="wrap-up", new="available", reason="wrap-up ended",
                      since=T + 72),
        msgspec.structs.replace(segment, wrapup_seconds=15.0),
        msgspec.structs.replace(answered, handle_seconds=75.0),
        msgspec.structs.replace(journey, wrapup_seconds=15.0),
    ]
    aht = wrap_up[1].talk_seconds + wrap_up[1].hold_seconds + wrap_up[1].wrapup_seconds
    assert aht == 75.0 == (T + 72) - (T + 12) + 15.0
    assert fold.open_journeys() == [] and fold.status() == {"journeys": 0, "calls": 0, "awaiting_wrapup": 0,
                                                            "agents": 1}


def test_a_wrap_up_over_before_the_fold_sees_the_call_end_is_still_given():
    """The bus is synchronous: the ACD's wrap-up (0 s here) may be delivered inside the CallEnded."""
    fold, rows = journey_fold_feeding([
        *queue_call_answered_by_alice(),
        agent_change(T + 72, "on-call", "wrap-up", "call ended"),
        agent_change(T + 72, "wrap-up", "available", "wrap-up ended"),
        journey_call_ended(T + 72, talk=72.0, by="callee", callee="500"),
    ])  # fmt: skip
    segment, visit, _, journey = rows[-1]
    assert (segment.talk_seconds, segment.wrapup_seconds, journey.wrapup_seconds) == (60.0, 0.0, 0.0)
    assert (visit.outcome, visit.handle_seconds) == ("answered", 60.0)
    assert fold.status() == {"journeys": 0, "calls": 0, "awaiting_wrapup": 0, "agents": 1}


def test_an_abandonment_is_counted_once_whatever_else_reports_the_exit():
    _, rows = journey_fold_feeding([
        journey_started(callee="500"),
        QueueJoined(at=T, call_id="c1", queue="sales", caller_number=CALLER, priority=2, position=3),
        AgentNoAnswer(at=T + 15, agent="bob", call_id="c1", queue="sales", reason="no-answer", consecutive=1),
        QueueAbandoned(at=T + 30, call_id="c1", queue="sales", position=2, wait_seconds=30.0),
        QueueLeft(at=T + 30, call_id="c1", queue="sales", wait_seconds=30.0, reason="exited"),
        journey_call_ended(T + 30, talk=30.0, callee="500"),
    ])  # fmt: skip
    assert rows[2] == [queue_log(T + 15, "RINGNOANSWER", {"reason": "no-answer", "consecutive": 1}, agent="bob")]
    abandoned = QueueCall(journey_id="c1", queue="sales", joined_at=T, left_at=T + 30, outcome="abandoned",
                          wait_seconds=30.0, agent=None, priority=2, position=3, callback=False)
    assert rows[3] == [abandoned, queue_log(T + 30, "ABANDON", {"position": 2, "wait": 30.0})]
    assert rows[4] == [queue_log(T + 30, "EXIT", {"wait": 30.0, "reason": "exited"})]  # the visit stays abandoned
    [journey] = rows[5]
    assert (journey.outcome, journey.wait_seconds, journey.queue) == ("abandoned", 30.0, "sales")
    all_rows = [row for batch in rows for row in batch]
    assert [row.outcome for row in all_rows if isinstance(row, QueueCall)] == ["waiting", "abandoned"]


def test_a_blind_transfer_by_the_agent_ends_the_segment_and_keeps_one_journey():
    fold, rows = journey_fold_feeding([
        *queue_call_answered_by_alice(),
        CallTransferred(at=T + 40, call_id="c1", kind="blind", transferor="201", transferee=CALLER, target="1002"),
        journey_call_ended(T + 100, talk=100.0, callee="500"),
        agent_change(T + 100, "on-call", "wrap-up", "call ended"),
        agent_change(T + 110, "wrap-up", "available", "wrap-up ended"),
    ])  # fmt: skip
    segment = AgentCall(journey_id="c1", agent="alice", queue="sales", connected_at=T + 12, ended_at=T + 40,
                        talk_seconds=28.0, hold_seconds=0.0, wrapup_seconds=0.0, transferred=True)
    visit = QueueCall(journey_id="c1", queue="sales", joined_at=T, left_at=T + 12, outcome="answered",
                      wait_seconds=12.0, agent="alice", priority=0, position=1, callback=False, handle_seconds=28.0,
                      transferred=True)
    assert rows[8] == [segment, visit, queue_log(T + 40, "TRANSFER", {"wait": 12.0, "talk": 28.0, "hold": 0.0,
                                                                       "kind": "blind", "target": "1002"},
                                                 agent="alice")]
    [journey] = rows[9]
    assert (journey.transfers, journey.talk_seconds, journey.outcome) == (1, 28.0, "answered")
    assert journey.ended_at == T + 100
    assert rows[11][1:3] == [msgspec.structs.replace(segment, wrapup_seconds=10.0),
                             msgspec.structs.replace(visit, handle_seconds=38.0)]
    journeys = [row for batch in rows for row in batch if isinstance(row, Journey)]
    assert {row.journey_id for row in journeys} == {"c1"} and journeys[-1].wrapup_seconds == 10.0
    assert fold.open_journeys() == []


def test_a_callback_is_one_journey_pending_then_complete_and_never_abandoned():
    fold, rows = journey_fold_feeding([
        agent_change(T - 100, "logged-out", "available", "login"),
        journey_started(callee="500"),
        CallAnswered(at=T, call_id="c1", callee="500", codec="PCMA", ring_seconds=0.0),
        QueueJoined(at=T, call_id="c1", queue="sales", caller_number=CALLER, priority=0, position=4),
        CallbackScheduled(at=T + 20, call_id="c1", queue="sales", number=CALLER, position=4),
        journey_call_ended(T + 20, talk=20.0, by="system", callee="500"),
        journey_started("cb1", T + 100, callee="callback:sales", direction="outbound", linked_id="c1"),
        agent_change(T + 105, "available", "offered", "offered c1"),
        agent_change(T + 110, "offered", "on-call", "answered"),
        AgentConnected(at=T + 110, agent="alice", call_id="c1", queue="sales", wait_seconds=110.0, ring_seconds=5.0),
        CallbackCompleted(at=T + 110, call_id="c1", queue="sales", number=CALLER, outcome="answered", attempts=1,
                          wait_seconds=110.0),
        journey_call_ended(T + 170, "cb1", talk=70.0, callee="callback:sales", started=T + 100),
    ])  # fmt: skip
    waiting = QueueCall(journey_id="c1", queue="sales", joined_at=T, left_at=None, outcome="waiting", wait_seconds=0.0,
                        agent=None, priority=0, position=4, callback=True)
    assert rows[4] == [waiting, queue_log(T + 20, "CALLBACK", {"number": CALLER, "position": 4})]
    pending = journey_row(
        state="callback-pending", outcome="waiting", callee="500", answered_at=T, ended_at=T + 20, route="queue:sales",
        queue="sales", joined_at=T, hangup_by="system", cause="normal", status=200,
    )  # fmt: skip
    assert rows[5] == [pending]
    assert rows[6] == []
    assert rows[9][0] == msgspec.structs.replace(waiting, outcome="answered", left_at=T + 110, wait_seconds=110.0,
                                                 agent="alice")
    assert rows[10] == [queue_log(T + 110, "CALLBACKDONE", {"outcome": "answered", "attempts": 1, "wait": 110.0})]
    assert rows[11] == [
        AgentCall(journey_id="c1", agent="alice", queue="sales", connected_at=T + 110, ended_at=T + 170,
                  talk_seconds=60.0, hold_seconds=0.0, wrapup_seconds=0.0, transferred=False),
        msgspec.structs.replace(rows[9][0], handle_seconds=60.0),
        queue_log(T + 170, "COMPLETECALLER", {"wait": 110.0, "talk": 60.0, "hold": 0.0}, call_id="cb1", agent="alice"),
        msgspec.structs.replace(
            pending, state="complete", outcome="answered", call_ids=["c1", "cb1"], callbacks=1, ended_at=T + 170,
            wait_seconds=110.0, agent="alice", agents=["alice"], connected_at=T + 110, talk_seconds=60.0,
            hangup_by="caller"),
    ]  # fmt: skip
    all_rows = [row for batch in rows for row in batch]
    assert not [row for row in all_rows if getattr(row, "outcome", None) == "abandoned"]
    assert not [row for row in all_rows if isinstance(row, QueueLogEntry) and row.event == "ABANDON"]


def test_a_callback_abandoned_after_the_call_back_and_one_that_failed():
    start = [
        journey_started(callee="500"),
        QueueJoined(at=T, call_id="c1", queue="sales", caller_number=CALLER, priority=0, position=1),
        CallbackScheduled(at=T + 20, call_id="c1", queue="sales", number=CALLER, position=1),
        journey_call_ended(T + 20, talk=20.0, by="system", callee="500"),
        journey_started("cb1", T + 100, callee="callback:sales", direction="outbound", linked_id="c1"),
    ]
    _, abandoned = journey_fold_feeding([
        *start,
        QueueAbandoned(at=T + 130, call_id="c1", queue="sales", position=1, wait_seconds=130.0),
        CallbackCompleted(at=T + 130, call_id="c1", queue="sales", number=CALLER, outcome="abandoned", attempts=1,
                          wait_seconds=130.0),
        journey_call_ended(T + 130, "cb1", talk=25.0, callee="callback:sales", started=T + 100),
    ])  # fmt: skip
    visits = [row for batch in abandoned for row in batch if isinstance(row, QueueCall)]
    assert [visit.outcome for visit in visits] == ["waiting", "waiting", "abandoned"]
    assert abandoned[-1][0].outcome == "abandoned" and abandoned[-1][0].callbacks == 1
    fold, failed = journey_fold_feeding([
        *start,
        journey_call_ended(T + 130, "cb1", talk=0.0, by="callee", cause="no_answer", status=480,
                           callee="callback:sales", started=T + 100),
        CallbackCompleted(at=T + 131, call_id="c1", queue="sales", number=CALLER, outcome="failed", attempts=1,
                          wait_seconds=131.0),
    ])  # fmt: skip
    assert failed[-2][0].state == "callback-pending"
    visit, _, journey = failed[-1]
    assert (visit.outcome, visit.wait_seconds) == ("callback-failed", 131.0)
    assert (journey.state, journey.outcome, journey.ended_at, journey.wait_seconds) == (
        "complete", "callback-failed", T + 130, 131.0)
    assert fold.open_journeys() == []


# Dispositions, the agent log, memory ------------------------------------------------------------------


def test_dispositions_and_survey_scores_last_valid_value_wins():
    _, rows = journey_fold_feeding([
        journey_started(),
        CallAnswered(at=T + 5, call_id="c1", callee="1001", codec="PCMA", ring_seconds=4.0),
        *[CallDisposition(at=T + 10, call_id="c1", value=value)
          for value in ("sold", "csat=4", "nps=9", "csat=9", "ces=x", "nps=-1", "csat=5", "ces=2")],
        journey_call_ended(T + 65, talk=60.0),
    ])  # fmt: skip
    journey = rows[-1][0]
    assert (journey.disposition, journey.csat, journey.nps, journey.ces) == ("sold", 5, 9, 2)


def test_the_agent_log_dates_each_interval_from_the_previous_change():
    fold, rows = journey_fold_feeding([
        agent_change(T, "logged-out", "available", "login"),
        agent_change(T + 60, "available", "paused", "lunch"),
        agent_change(T + 1860, "paused", "available", "unpause"),
        agent_change(T + 50, "available", "paused", "break", agent="bob"),
    ])  # fmt: skip
    assert [row for [row] in rows] == [
        AgentLogEntry(at=T, node=NODE, agent="alice", old="logged-out", new="available", reason="login", since=T),
        AgentLogEntry(at=T + 60, node=NODE, agent="alice", old="available", new="paused", reason="lunch", since=T),
        AgentLogEntry(at=T + 1860, node=NODE, agent="alice", old="paused", new="available", reason="unpause",
                      since=T + 60),
        AgentLogEntry(at=T + 50, node=NODE, agent="bob", old="available", new="paused", reason="break", since=T + 50),
    ]


def test_memory_is_given_back_once_journeys_and_wrap_ups_are_over():
    fold = JourneyFold(NODE)
    for number in range(200):
        at, call_id = T + number * 100, f"c{number}"
        for event in [
            journey_started(call_id, at, callee="500"),
            QueueJoined(at=at, call_id=call_id, queue="sales", caller_number=CALLER, priority=0, position=1),
            agent_change(at + 5, "available", "offered", "offered"),
            agent_change(at + 6, "offered", "on-call", "answered"),
            AgentConnected(at=at + 6, agent="alice", call_id=call_id, queue="sales", wait_seconds=6.0,
                           ring_seconds=1.0),
            journey_call_ended(at + 50, call_id, talk=50.0, callee="500", started=at),
            agent_change(at + 50, "on-call", "wrap-up", "call ended"),
        ]:
            fold.handle(event)
        # Every other wrap-up is never seen ending: the next call releases that journey anyway.
        if number % 2:
            fold.handle(agent_change(at + 60, "wrap-up", "available", "wrap-up ended"))
        assert len(fold.open_journeys()) <= 1
    assert fold.status() == {"journeys": 0, "calls": 0, "awaiting_wrapup": 0, "agents": 1}


def test_events_of_calls_the_fold_never_saw_start_are_ignored():
    fold, rows = journey_fold_feeding([
        QueueJoined(at=T, call_id="old", queue="sales", caller_number=CALLER, priority=0, position=1),
        AgentConnected(at=T + 1, agent="alice", call_id="old", queue="sales", wait_seconds=1.0, ring_seconds=1.0),
        journey_call_ended(T + 9, "old", talk=9.0),
    ])  # fmt: skip
    assert rows == [[], [], []] and fold.status()["journeys"] == 0


def test_a_legs_quality_published_after_the_call_ended_still_reaches_its_journey():
    quality = CallQuality(at=T + 31, call_id="c1", party="callee", number="1001", codec="PCMU", packets=1500,
                          lost=15, loss_percent=1.0, jitter_ms=4.0, mos=3.9, ssrc_changes=0, rtcp_reports=3,
                          remote_loss_percent=None, remote_jitter_ms=None, round_trip_ms=None)
    fold, rows = journey_fold_feeding([
        journey_started(), CallAnswered(at=T + 2, call_id="c1", callee="1001", codec="PCMU", ring_seconds=2.0),
        journey_call_ended(T + 30, talk=28.0), quality,
    ])
    assert fold.status()["journeys"] == 0
    [late] = rows[-1]
    assert isinstance(late, Journey) and late.mos == 3.9 and late.state == "complete"
