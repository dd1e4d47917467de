"""Which calls are recorded, and the controls to start, pause, resume and stop a recording.

Policy from the config: every answered call (`recording.calls: all`), or the calls to and from
extensions marked `record: true`. The admin API (and later plugins) call `control()` on any
live call. A recording is one WAV per call under `recording.directory/<date>/<call id>.wav`:
stereo with the caller on the left and the callee on the right, or mixed mono. It follows the
bus: it starts on CallAnswered, stops on CallEnded, and each change is published
(RecordingStarted, RecordingPaused, RecordingResumed, RecordingStopped).

The audio work is `pbx.media.recorder.CallRecorder`'s; this module only finds the legs.
A call the PBX answered and then connected (IVR dial) records the new leg from then on
(`follow`); a call transferred to a third phone keeps recording the legs it had.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pbx.media.recorder import CallRecorder
from pbx.media.wav_writer import WavWriter
from sdk.events import (
    CallAnswered,
    CallEnded,
    Event,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)

log = logging.getLogger("pbx.calls.recordings")

# Seconds a recording stays paused after a sensitive entry ends: the entry completes when the last
# key is detected, while its tone still sounds (RFC 4733 events last 40 ms and more; phones send
# 80-100 ms), so resuming at once would record the tail of the last card digit.
SENSITIVE_GUARD = 0.25

Layout = Literal["stereo", "mixed"]
Action = Literal["start", "stop", "pause", "resume"]


class NoSuchCall(LookupError):
    """The call is not live (never was, or has ended)."""


class RecordingConflict(Exception):
    """The action does not fit the recording's state (resume when not paused, start twice...)."""


class Recordings:
    def __init__(self, calls: Any, media_clock: Any, writer: WavWriter, *, directory: str | Path,
                 layout: Layout = "stereo", record_all: bool = False, recorded_numbers: frozenset[str] = frozenset(),
                 emit: Callable[[Event], None], clock: Callable[[], float],
                 call_later: Callable[[float, Callable[[], None]], Any] | None = None) -> None:
        self.calls = calls
        self.media_clock = media_clock
        self.writer = writer
        self.directory = Path(directory)
        self.layout = layout
        self.record_all = record_all
        self.recorded_numbers = recorded_numbers
        self.emit = emit
        self.clock = clock
        self.active: dict[str, CallRecorder] = {}
        self.paused: set[str] = set()
        self.sensitive: set[str] = set()  # calls whose caller is keying a card number (PCI): never record it
        self._guards: dict[str, Any] = {}  # call id -> the timer that resumes after a sensitive entry
        self.call_later = call_later or (lambda delay, callback: asyncio.get_running_loop().call_later(delay, callback))

    # Bus --------------------------------------------------------------------------------------

    def on_answered(self, event: CallAnswered) -> None:
        call = self.calls.calls.get(event.call_id)
        if call is None or event.call_id in self.active:
            return
        if self.record_all or {call.caller.number, call.callee} & self.recorded_numbers:
            try:
                self.start(event.call_id, policy="config")
            except (NoSuchCall, RecordingConflict) as error:
                log.warning("event=recording_not_started call_id=%s reason=%r", event.call_id, str(error))

    def on_ended(self, event: CallEnded) -> None:
        self.sensitive.discard(event.call_id)
        guard = self._guards.pop(event.call_id, None)
        if guard is not None:
            guard.cancel()
        if event.call_id in self.active:
            self.stop(event.call_id)

    def mark_sensitive(self, call_id: str, sensitive: bool) -> None:
        """The scenario starts (or ends) a sensitive entry (a card number: PCI DSS): the recording
        pauses, and one that starts meanwhile starts paused. At the end it resumes only after
        SENSITIVE_GUARD, so the tail of the last key's tone (the entry completes on the key's
        start, RFC 4733 2.5) never reaches the file; a new sensitive entry within the guard keeps
        it paused."""
        guard = self._guards.pop(call_id, None)
        if guard is not None:
            guard.cancel()
        if sensitive:
            self.sensitive.add(call_id)
            if call_id in self.active and call_id not in self.paused:
                self.pause(call_id, "sensitive")
            return
        self.sensitive.discard(call_id)
        if call_id in self.active and call_id in self.paused:
            self._guards[call_id] = self.call_later(SENSITIVE_GUARD, lambda: self._guard_over(call_id))

    def _guard_over(self, call_id: str) -> None:
        self._guards.pop(call_id, None)
        if call_id not in self.sensitive and call_id in self.active and call_id in self.paused:
            self.resume(call_id)

    # Controls ---------------------------------------------------------------------------------

    def control(self, call_id: str, action: Action, layout: Layout | None = None) -> dict[str, Any]:
        if action == "start":
            return self.start(call_id, layout)
        if action == "stop":
            return self.stop(call_id)
        if action == "pause":
            return self.pause(call_id)
        if action == "resume":
            return self.resume(call_id)
        raise ValueError(f"unknown recording action {action!r}: start, stop, pause or resume")

    def start(self, call_id: str, layout: Layout | None = None, policy: str = "on-demand") -> dict[str, Any]:
        call = self._live_call(call_id)
        if call_id in self.active:
            raise RecordingConflict(f"call {call_id} is already being recorded")
        if call.answered_at is None:
            raise RecordingConflict(f"call {call_id} is not answered yet")
        caller = call.caller_leg
        callee = next((leg for leg in call.live_legs() if leg.role == "callee" and leg.is_answered), None)
        if caller.media is None or caller.media.closed:
            raise RecordingConflict(f"call {call_id} has no media to record")
        now = self.clock()
        path = self.directory / datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d") / f"{call_id}.wav"
        recorder = CallRecorder(
            caller.media, callee.media if callee is not None else None, media_clock=self.media_clock,
            writer=self.writer, path=path, layout=layout or self.layout,
            caller_codecs=caller.watch.monitor.audio, callee_codecs=callee.watch.monitor.audio if callee else {},
        )  # fmt: skip
        recorder.start()
        if callee is None and caller.own_media is not None:
            caller.own_media.recorder = recorder  # the PBX answered: record what it says
        self.active[call_id] = recorder
        self.emit(RecordingStarted(at=now, call_id=call_id, path=str(path), layout=recorder.layout, policy=policy))
        if call_id in self.sensitive:
            self.pause(call_id, "sensitive")
        return self.status(call_id)

    def follow(self, call_id: str, callee: Any) -> None:
        """The call was connected to `callee` after the PBX answered it (IVR dial, queue): record
        that leg in the callee's channel from now on."""
        recorder = self.active.get(call_id)
        if recorder is None or callee.media is None:
            return
        recorder.attach("callee", callee.media, callee.watch.monitor.audio if callee.watch else {})

    def pause(self, call_id: str, reason: str = "on-demand") -> dict[str, Any]:
        recorder = self._recorder(call_id)
        if call_id in self.paused:
            raise RecordingConflict(f"the recording of call {call_id} is already paused")
        recorder.pause()
        self.paused.add(call_id)
        self.emit(RecordingPaused(at=self.clock(), call_id=call_id, reason=reason))
        return self.status(call_id)

    def resume(self, call_id: str) -> dict[str, Any]:
        recorder = self._recorder(call_id)
        if call_id not in self.paused:
            raise RecordingConflict(f"the recording of call {call_id} is not paused")
        recorder.resume()
        self.paused.discard(call_id)
        self.emit(RecordingResumed(at=self.clock(), call_id=call_id))
        return self.status(call_id)

    def stop(self, call_id: str) -> dict[str, Any]:
        recorder = self._recorder(call_id)
        summary = recorder.stop()
        call = self.calls.calls.get(call_id)
        if call is not None and call.legs and call.caller_leg.own_media is not None:
            call.caller_leg.own_media.recorder = None
        del self.active[call_id]
        self.paused.discard(call_id)
        self.emit(RecordingStopped(
            at=self.clock(), call_id=call_id, path=str(summary.path), layout=summary.layout,
            seconds=round(summary.seconds, 3), paused_seconds=round(summary.paused_seconds, 3), failed=summary.failed,
        ))  # fmt: skip
        return {"call_id": call_id, "state": "stopped", "path": str(summary.path), "layout": summary.layout,
                "seconds": round(summary.seconds, 3), "paused_seconds": round(summary.paused_seconds, 3),
                "failed": summary.failed}

    def status(self, call_id: str) -> dict[str, Any]:
        recorder = self.active.get(call_id)
        if recorder is None:
            return {"call_id": call_id, "state": "off"}
        return {"call_id": call_id, "state": "paused" if call_id in self.paused else "recording",
                "path": str(recorder.path), "layout": recorder.layout}

    def stop_all(self) -> None:
        for call_id in list(self.active):
            self.stop(call_id)

    def _live_call(self, call_id: str) -> Any:
        call = self.calls.calls.get(call_id)
        if call is None:
            raise NoSuchCall(f"no live call {call_id!r}")
        return call

    def _recorder(self, call_id: str) -> CallRecorder:
        recorder = self.active.get(call_id)
        if recorder is None:
            self._live_call(call_id)  # NoSuchCall for a call that is not live
            raise RecordingConflict(f"call {call_id} is not being recorded")
        return recorder
