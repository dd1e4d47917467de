"""The index entry of each recording, folded from the event stream (pure: events in, rows out).

A recording's row is what the bus said about it and about its call:

- CallStarted, IvrStarted, QueueJoined, AgentConnected: caller, callee, scenario, queue, agent;
- RecordingStarted: the file, its layout, the policy that started it, when (offset 0);
- RecordingPaused / RecordingResumed: pauses as intervals of the file (seconds from its start,
  with the reason: "sensitive" while a card number was keyed, "on-demand" otherwise);
- RecordingStopped: its length, paused seconds, failure, and `keep_until` (the stop time plus
  the policy's retention; None keeps it).

`handle` returns the row to write when there is one: at the start (state "recording", so a
file on disk is always in the index) and at the stop (state "complete" or "failed"). Offsets
come from the events' `at`, the PBX clock the recorder also ticks on: the file's frames are
written on that clock's 20 ms ticks, so an offset is right to a frame or two.

It does not write anything, read the clock, or know about files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from sdk.events import (
    AgentConnected,
    CallEnded,
    CallStarted,
    Event,
    IvrStarted,
    QueueJoined,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)


class Pause(msgspec.Struct, frozen=True, kw_only=True):
    """A stretch of silence in the file: seconds from its start; `end` None while still paused."""

    start: float
    end: float | None
    reason: str


class RecordingRow(msgspec.Struct, frozen=True, kw_only=True):
    """One recording in the index (and in the admin API's and CLI's answers)."""

    call_id: str
    path: str
    policy: str
    layout: str
    state: str  # "recording", "complete", "failed", or "interrupted" (the PBX stopped before the recording did)
    started_at: float
    caller: str | None = None
    callee: str | None = None
    scenario: str | None = None
    queue: str | None = None
    agent: str | None = None
    stopped_at: float | None = None
    seconds: float | None = None  # the file's length, paused stretches included
    paused_seconds: float | None = None
    keep_until: float | None = None  # None: kept until deleted
    legal_hold: bool = False
    consent: str | None = None  # the announcement played to the caller, if any
    pauses: list[Pause] = []


@dataclass
class _Call:
    caller: str | None = None
    callee: str | None = None
    scenario: str | None = None
    queue: str | None = None
    agent: str | None = None
    consent: str | None = None
    ended: bool = False


@dataclass
class _Recording:
    started: RecordingStarted
    pauses: list[Pause] = field(default_factory=list)


def _offset(at: float, started: float) -> float:
    return round(max(0.0, at - started), 3)


class RecordingFold:
    """`handle(event)` -> the row to write, or None. `keep_for(policy name)` -> retention seconds."""

    def __init__(self, keep_for: Callable[[str], float | None]) -> None:
        self.keep_for = keep_for
        self.calls: dict[str, _Call] = {}
        self.recordings: dict[str, _Recording] = {}

    def note_consent(self, call_id: str, prompt: str) -> None:
        """The caller was told the call is recorded (the plugin played `prompt`)."""
        self.calls.setdefault(call_id, _Call()).consent = prompt

    def handle(self, event: Event) -> RecordingRow | None:
        call_id = getattr(event, "call_id", None)
        if call_id is None:
            return None
        if isinstance(event, CallStarted):
            self.calls[call_id] = _Call(caller=event.caller, callee=event.callee)
            return None
        if isinstance(event, RecordingStarted):
            self.recordings[call_id] = _Recording(event)
            return self._row(call_id, state="recording")
        recording = self.recordings.get(call_id)
        if isinstance(event, RecordingStopped):
            return self._stopped(event) if recording is not None else None
        if isinstance(event, RecordingPaused) and recording is not None:
            recording.pauses.append(Pause(start=_offset(event.at, recording.started.at), end=None,
                                          reason=event.reason))
            return None
        if isinstance(event, RecordingResumed) and recording is not None:
            self._close_pause(recording, _offset(event.at, recording.started.at))
            return None
        call = self.calls.get(call_id)
        if call is None:
            return None
        if isinstance(event, IvrStarted):
            call.scenario = event.scenario
        elif isinstance(event, QueueJoined):
            call.queue = event.queue
        elif isinstance(event, AgentConnected):
            call.queue, call.agent = event.queue, event.agent
        elif isinstance(event, CallEnded):
            call.ended = True
            if call_id not in self.recordings:  # its RecordingStopped may still be on its way
                del self.calls[call_id]
        return None

    def _stopped(self, event: RecordingStopped) -> RecordingRow:
        recording = self.recordings[event.call_id]
        self._close_pause(recording, round(event.seconds, 3))
        keep = self.keep_for(recording.started.policy)
        row = self._row(
            event.call_id, state="failed" if event.failed else "complete", stopped_at=event.at,
            seconds=round(event.seconds, 3), paused_seconds=round(event.paused_seconds, 3),
            keep_until=None if keep is None else round(event.at + keep, 3), path=event.path,
        )  # fmt: skip
        del self.recordings[event.call_id]
        call = self.calls.get(event.call_id)
        if call is not None and call.ended:
            del self.calls[event.call_id]
        return row

    @staticmethod
    def _close_pause(recording: _Recording, at: float) -> None:
        if recording.pauses and recording.pauses[-1].end is None:
            last = recording.pauses[-1]
            recording.pauses[-1] = msgspec.structs.replace(last, end=max(last.start, at))

    def _row(self, call_id: str, **fields: object) -> RecordingRow:
        recording = self.recordings[call_id]
        started = recording.started
        call = self.calls.get(call_id) or _Call()
        values: dict[str, object] = {
            "call_id": call_id, "path": started.path, "policy": started.policy, "layout": started.layout,
            "started_at": started.at, "caller": call.caller, "callee": call.callee, "scenario": call.scenario,
            "queue": call.queue, "agent": call.agent, "consent": call.consent, "pauses": list(recording.pauses),
        }  # fmt: skip
        values.update(fields)
        return RecordingRow(**values)  # type: ignore[arg-type]
