"""Answering-machine detection on a call the PBX placed: the called party's audio, to a verdict.

`AmdWatch` taps the answered leg's relay endpoint (as media_watch.py does for digits), decodes
the G.711 the called party sends and hands each frame to a `MachineDetector` (pbx/media/amd.py)
with its arrival time. A timer on the call manager's scheduler asks for a verdict when no audio
comes at all (a silent or stalled stream). The verdict is published once, as
MachineDetectionFinished, and the watch removes itself; it also goes when the leg ends first,
publishing nothing (CallEnded tells that story).

It never holds, connects or ends the call: the call was connected on answer (the FCC and Ofcom
rules want a live person to hear someone within 2 s of their greeting), and the plugin that asked
for detection decides what a machine means. Audio the detector cannot read (telephone-events,
comfort noise, a codec other than G.711) is skipped, so it counts as silence.

No sockets or clocks here: the endpoint's tap and the scheduler call back with `now`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pbx.media.amd import AmdSettings, AmdVerdict, MachineDetector
from pbx.media.g711 import CODECS, Codec
from pbx.media.leg_monitor import STATIC_AUDIO
from pbx.media.rtp import RtpError, RtpPacket
from pbx.media.rtp_header import peek
from pbx.scheduler import Scheduler, TimerHandle
from sdk.events import Event, MachineDetectionFinished

from . import anchor

if TYPE_CHECKING:
    from .leg import Leg

log = logging.getLogger("pbx.calls.amd")

RETRY = 0.02  # a timer that found no verdict yet looks again no sooner than one frame later


def audio_codecs(sdp: Any) -> dict[int, Codec]:
    """The G.711 payload types the called party's SDP chose, by number (static ones included)."""
    codecs = {pt: CODECS[name] for pt, name in STATIC_AUDIO.items()}
    found = anchor.audio_stream(sdp) if sdp is not None else None
    if found is not None:
        for pt, rtpmap in found[1].rtpmaps().items():
            name = rtpmap.encoding_name.upper()
            if name in CODECS:
                codecs[pt] = CODECS[name]
    return codecs


class AmdWatch:
    """Detection on one answered leg, from `now` (the answer) to its verdict."""

    def __init__(self, leg: Leg, call_id: str, number: str, emit: Callable[[Event], None], scheduler: Scheduler,
                 now: float, settings: AmdSettings | None = None) -> None:
        self.leg = leg
        self.call_id = call_id
        self.number = number
        self.emit = emit
        self.scheduler = scheduler
        self.detector = MachineDetector(now, settings)
        self.codecs = audio_codecs(leg.phone_sdp)
        self.verdict: AmdVerdict | None = None
        self.stopped = False
        self._untap = leg.media.add_tap(self._rtp)
        # One timer at a time, set where a verdict is due without audio (the initial silence) and
        # moved on when it fires: while audio flows, the frames bring the verdict. Frames never
        # move it earlier (a tap cannot re-arm the transport's wake-up), so a stream that stops
        # right after "Hello?" is decided when this timer fires, 3.5 s after the answer.
        self._timer: TimerHandle | None = self._schedule(now)
        if leg.watch is not None:
            leg.watch.on_close += (self.stop,)

    def stop(self, now: float | None = None) -> None:
        """Stop listening (the verdict is in, or the leg ended)."""
        if self.stopped:
            return
        self.stopped = True
        self._untap()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # Inputs ---------------------------------------------------------------------------------------

    def _rtp(self, data: bytes, now: float) -> None:
        if self.stopped:
            return
        header = peek(data)
        codec = self.codecs.get(header.payload_type) if header is not None else None
        if codec is None:
            return  # RFC 4733 events, comfort noise (RFC 3389), an unknown payload: not audio we read
        try:
            payload = RtpPacket.parse(data).payload  # past CSRCs and header extensions
        except RtpError:
            return
        verdict = self.detector.feed(codec.decode(payload), now)
        if verdict is not None:
            self._finish(verdict, now)

    def _on_timer(self, now: float) -> list[Any]:
        self._timer = None
        if self.stopped:
            return []
        verdict = self.detector.handle_timer(now)
        if verdict is not None:
            self._finish(verdict, now)
        else:
            self._timer = self._schedule(now)
        return []

    def _schedule(self, now: float) -> TimerHandle | None:
        due = self.detector.deadline()
        return None if due is None else self.scheduler.call_at(max(due, now + RETRY), self._on_timer)

    def _finish(self, verdict: AmdVerdict, now: float) -> None:
        self.verdict = verdict
        self.stop(now)
        log.info("event=amd_finished call_id=%s number=%s result=%s reason=%s seconds=%.2f greeting=%.2f words=%d",
                 self.call_id, self.number, verdict.result, verdict.reason, verdict.seconds,
                 verdict.greeting_seconds, verdict.words)
        self.emit(MachineDetectionFinished(at=now, call_id=self.call_id, number=self.number, result=verdict.result,
                                           reason=verdict.reason, seconds=verdict.seconds,
                                           greeting_seconds=verdict.greeting_seconds, words=verdict.words))
