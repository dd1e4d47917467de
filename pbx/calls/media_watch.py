"""Every leg's incoming media watched, whatever controls the call: digits and quality.

A `LegWatch` taps a leg's relay endpoint (RTP and RTCP) and feeds a `LegMonitor`. It is the
one place DTMF becomes `DigitReceived` on the bus, for bridged calls as for legs the PBX
answers itself: RFC 4733 at every telephone-event payload type the phone's SDP offered, SIP
INFO (handed over by the call manager), and in-band tones where RFC 4733 is not offered
(Asterisk's "auto" mode) or where a controller asks for them. A `DigitStream` per leg reports
each press once whatever carried it. Controllers that act on keys (read-back, IVR) subscribe
with `on_digit`. When the leg ends, `close` returns its quality for a `CallQuality` event.

No sockets here: the endpoint's `add_tap` calls back with `now`, digits go out through `emit`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pbx.media.dtmf import DigitDetected, DigitStream, parse_info_body
from pbx.media.leg_monitor import LegMonitor, LegQuality
from sdk.events import CallQuality, DigitReceived, Event

from . import anchor

if TYPE_CHECKING:
    from .leg import Leg

log = logging.getLogger("pbx.calls.media")

InbandMode = Literal["auto", "always", "never"]
DigitListener = Callable[[DigitDetected], None]


class LegWatch:
    __slots__ = ("leg", "emit", "inband_mode", "monitor", "digits", "listeners", "sensitive", "_sdp_version", "_tapped",
                 "closed", "on_close")

    def __init__(self, leg: Leg, emit: Callable[[Event], None], inband: InbandMode = "auto") -> None:
        self.leg = leg
        self.emit = emit
        self.inband_mode = inband
        self.monitor = LegMonitor()
        self.digits: DigitStream | None = None  # made by the first digit: most legs never see one
        self.listeners: tuple[DigitListener, ...] = ()  # tuples: most legs have none (issue 16)
        self.sensitive = False  # a sensitive entry is being keyed: digits go to listeners only
        self._sdp_version = -1  # the leg's phone_sdp_version the monitor was configured from
        leg.media.add_tap(self)  # the watch is its own RTP tap (__call__): no bound method kept per leg
        leg.media.add_tap(self._rtcp, rtcp=True)
        self._tapped = True  # the taps hold bound methods of ours: a cycle until close removes them
        self.closed = False
        self.on_close: tuple[Callable[[float], None], ...] = ()  # other watches on the leg (amd_watch.py)

    def want_inband(self) -> None:
        """Listen for tones too (a controller that answers the leg itself: services, IVR)."""
        self.inband_mode = "always"
        self._sdp_version = -1  # reconfigure on the next packet

    def on_digit(self, listener: DigitListener) -> Callable[[], None]:
        self.listeners += (listener,)
        return lambda: self._remove_listener(listener)

    def _remove_listener(self, listener: DigitListener) -> None:
        self.listeners = tuple(known for known in self.listeners if known is not listener)

    def info(self, content_type: str, body: bytes, now: float) -> None:
        """A SIP INFO from the phone (RFC 6086): application/dtmf-relay or application/dtmf."""
        digit = parse_info_body(content_type, body)
        if digit is not None:
            self._digit(DigitDetected(digit, "info", now, None))

    def close(self, now: float) -> LegQuality:
        if not self.closed:
            self.closed = True
            if self._tapped:
                self.leg.media.remove_tap(self)
                self.leg.media.remove_tap(self._rtcp)
                self._tapped = False
            for closing in self.on_close:
                closing(now)
            for detected in self.monitor.flush(now + 60):  # a press whose end packets never came
                self._digit(detected)
        return self.monitor.report()

    def quality_event(self, call_id: str, now: float) -> CallQuality | None:
        """The leg's quality, for a leg that carried media (an unanswered fork has none)."""
        report = self.close(now)
        if not report.packets and self.leg.answered_at is None:
            return None
        return CallQuality(at=now, call_id=call_id, party=self.leg.role, number=self.leg.party.number,
                           **{name: getattr(report, name) for name in report.__struct_fields__})

    # Taps ---------------------------------------------------------------------------------------

    def __call__(self, data: bytes, now: float) -> None:
        """An RTP packet from the leg's phone."""
        if self.leg.phone_sdp_version != self._sdp_version:
            self._sdp_version = self.leg.phone_sdp_version
            self._configure(self.leg.phone_sdp)
        for detected in self.monitor.receive(data, now):
            self._digit(detected)
        if self.monitor.events:
            for detected in self.monitor.flush(now):
                self._digit(detected)

    def _rtcp(self, data: bytes, now: float) -> None:
        self.monitor.receive_rtcp(data, now)

    def _configure(self, sdp: Any) -> None:
        found = anchor.audio_stream(sdp) if sdp is not None else None
        events: list[int] = []
        if found is not None:
            rtpmaps = found[1].rtpmaps()
            audio = {pt: m.encoding_name for pt, m in rtpmaps.items()}
            events = [pt for pt, m in rtpmaps.items() if m.encoding_name.casefold() == "telephone-event"]
            self.monitor.configure(audio, events)
        wants_tones = self.inband_mode == "always" or (self.inband_mode == "auto" and not events)
        if wants_tones != (self.monitor.inband is not None):
            self.monitor.set_inband(wants_tones)

    def _digit(self, detected: DigitDetected) -> None:
        if self.digits is None:
            self.digits = DigitStream()
        if self.digits.add(detected) is None:
            return  # the same press, seen by a second source
        call = self.leg.call
        self.emit(DigitReceived(at=detected.at, call_id=call.id if call else "",
                                digit="?" if self.sensitive else detected.digit, source=detected.source,
                                party=self.leg.role, sensitive=self.sensitive))
        for listener in list(self.listeners):
            try:
                listener(detected)
            except Exception:
                log.exception("event=digit_listener_failed leg=%s", self.leg.id)
