"""One supervisor on one live call, as media: listen, whisper to the agent, barge in.

`Monitor` joins a supervisor's leg to a call already bridged between a caller and an agent.
What each party hears is `pbx.media.mixer`'s policy; this module only carries it out:

- it taps the three relay endpoints and feeds what each phone sends to a `MonitorMixer`;
- on each tick of the media clock it sends every mixed listener one frame, G.711-encoded in the
  format that listener's phone receives, with RTP timestamps kept on real time when the clock
  had to skip ticks (RFC 3550 5.1);
- for a listener the relay served until now (the agent when whispering starts), it asks the
  relay to withhold the other party's stream and sends the mix in its place, as the same
  stream: the same SSRC, the next sequence number and timestamp. RFC 3550 7.1 would have a
  mixer start a source of its own, but real phones do not all cope with a new source whose
  numbers lie behind the old one's (baresip's jitter buffer drops it as late), while a
  continued stream is just more packets; when the mode no longer needs the mix, the relay
  carries the party's own packets again, whose numbers have moved on as fast as ours.

Finding calls, starting and stopping monitors and their events are supervision.py's. This
module does not signal or record, and mixes G.711 only (what the relay carries). While a
party's stream is withheld, its RFC 4733 key presses do not reach the other phone (the PBX
still sees them: DigitReceived).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pbx.media.clock import TICK
from pbx.media.mixer import Mode, MonitorMixer, Party, check_mode, mixed, withheld
from pbx.media.recording import STATIC_CODECS, rtp_payload
from pbx.media.sender import RtpSender

from . import anchor
from .call import Call
from .leg import Leg

log = logging.getLogger("pbx.calls.monitor")

State = Literal["ringing", "active", "stopped"]
Source = Literal["phone", "api", "system"]  # who caused a change: the supervisor's phone, the API, the PBX
# Whom the call connects each of its two parties to: the stream a mix replaces.
BRIDGED: Mapping[Party, Party] = {"caller": "agent", "agent": "caller"}
# Ticks a mix waits for the first packet of the stream it replaces before starting one of its own.
TAKEOVER_TICKS = 10


@dataclass
class _Output:
    """A mixed listener's stream: the endpoint facing its phone and the sender of the stream."""

    endpoint: Any
    sender: RtpSender


@dataclass(frozen=True)
class _LastPacket:
    """The last audio packet a phone sent: where its stream stands."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    samples: int  # G.711: one octet a sample


def sending_format(leg: Leg) -> tuple[int, str] | None:
    """The G.711 payload type and codec to send `leg`'s phone: the first PCMU or PCMA its own
    SDP lists that ours lists too (RFC 3264 5.1: a party receives the formats of its SDP)."""
    phone = _g711(leg.phone_sdp)
    ours = _g711(leg.local_sdp)
    for payload_type, codec in phone.items():
        if not ours or payload_type in ours:
            return payload_type, codec
    return next(iter(ours.items()), None)


def _g711(sdp: Any) -> dict[int, str]:
    found = anchor.audio_stream(sdp) if sdp is not None else None
    if found is None:
        return {}
    return {pt: m.encoding_name.upper() for pt, m in found[1].rtpmaps().items()
            if m.encoding_name.upper() in ("PCMU", "PCMA")}


def _codecs(leg: Leg) -> Mapping[int, str]:
    """The audio payload types `leg`'s phone sends ({pt: codec}), as its watch learnt them."""
    watch = getattr(leg, "watch", None)
    return dict(watch.monitor.audio) if watch is not None else dict(STATIC_CODECS)


class Monitor:
    """One supervisor on one call; see the module docstring."""

    def __init__(self, monitor_id: str, call: Call, caller: Leg, agent: Leg, *, agent_name: str, supervisor: str,
                 mode: Mode, source: Source, new_ssrc: Callable[[], int], now: float) -> None:
        self.id = monitor_id
        self.call = call
        self.caller = caller
        self.agent = agent
        self.agent_name = agent_name
        self.supervisor = supervisor  # the supervisor's extension
        self.mode: Mode = check_mode(mode)
        self.source: Source = source
        self.state: State = "ringing"
        self.created_at = now
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.supervisor_call: Call | None = None
        self.supervisor_leg: Leg | None = None
        self.session: Any = None  # the supervisor leg's own_media.MediaSession: its sender and RTCP
        self.mixer: MonitorMixer | None = None
        self.new_ssrc = new_ssrc
        self.on_lost: Callable[[Monitor, float], None] | None = None  # a leg ended under us (a tick saw it)
        self._outputs: dict[Party, _Output] = {}
        self._waiting: dict[Party, int] = {}  # listener -> ticks waited for the stream its mix continues
        self._last: dict[Party, _LastPacket] = {}
        self._codecs: dict[Party, Mapping[int, str]] = {}
        self._untaps: list[Callable[[], None]] = []
        self._last_tick: float | None = None

    def __repr__(self) -> str:
        return f"<Monitor {self.id} call={self.call.id} agent={self.agent_name} {self.mode} {self.state}>"

    @property
    def finished(self) -> bool:
        """The media clock drops a stopped monitor."""
        return self.state == "stopped"

    @property
    def moved_on(self) -> bool:
        """A leg of the monitored call (or the supervisor's) ended or lost its media."""
        return any(leg.is_ended or leg.media is None or leg.media.closed for leg in self.legs.values())

    @property
    def legs(self) -> dict[Party, Leg]:
        legs: dict[Party, Leg] = {"caller": self.caller, "agent": self.agent}
        if self.supervisor_leg is not None:
            legs["supervisor"] = self.supervisor_leg
        return legs

    def attach(self, supervisor_leg: Leg, session: Any, now: float) -> None:
        """The supervisor's phone answered: tap the three legs and carry out the mode."""
        if self.state != "ringing":
            raise ValueError(f"cannot attach {self!r}: it is {self.state}")
        self.supervisor_leg, self.session = supervisor_leg, session
        legs = self.legs
        self._codecs = {party: _codecs(leg) for party, leg in legs.items()}
        self.mixer = MonitorMixer(self.mode, self._codecs)
        for party, leg in legs.items():
            self._untaps.append(leg.media.add_tap(self._tap(party)))
        self.state = "active"
        self.started_at = now
        self._carry_out()

    def switch(self, mode: Mode) -> Mode:
        """Change the mode from the next tick on; the previous mode is returned."""
        previous, self.mode = self.mode, check_mode(mode)
        if self.mixer is not None:
            self.mixer.set_mode(self.mode)
        if self.state == "active":
            self._carry_out()
        return previous

    def tick(self, now: float) -> None:
        """The media clock's 20 ms: one frame to every mixed listener."""
        if self.state != "active" or self.mixer is None:
            return
        if self.moved_on:
            # The call moved on under us (a transfer, a hang-up not yet published): stop.
            if self.on_lost is not None:
                self.on_lost(self, now)
            return
        if self._last_tick is not None:
            # The clock skipped ticks (a late wakeup): our RTP timestamps stay on real time
            # (RFC 3550 5.1), and the phones' jitter buffers see a gap, not a squeeze.
            missed = round((now - self._last_tick) / TICK) - 1
            if missed > 0:
                for output in self._outputs.values():
                    output.sender.pause(missed)
        self._last_tick = now
        for listener in list(self._waiting):
            self._take_over(listener)
        for listener, frame in self.mixer.tick(now).items():
            output = self._outputs.get(listener)
            if output is not None and not output.endpoint.closed:
                output.endpoint.send(output.sender.packet(frame))
        session = self.session
        if session is not None and session.rtcp.due(now) and not session.endpoint.closed:
            # RFC 3550 6.4.1: the supervisor's leg ends at the PBX, which reports as a sender.
            session.endpoint.send_rtcp(session.rtcp.report(now, session.sender, session.monitor))

    def detach(self, now: float) -> None:
        """Stop: untap, relay everything again, say goodbye on the supervisor's leg. Idempotent."""
        if self.state == "stopped":
            return
        self.state = "stopped"
        self.stopped_at = now
        for untap in self._untaps:
            untap()
        self._untaps.clear()
        for leg in (self.caller, self.agent):
            if leg.media is not None and not leg.media.closed:
                leg.media.withhold(False)
        self._outputs.clear()
        self._waiting.clear()
        if self.session is not None:
            self.session.close(now)

    def seconds(self, now: float) -> float:
        """How long the supervisor has been attached (until `now`, or until it stopped)."""
        if self.started_at is None:
            return 0.0
        return round((self.stopped_at if self.stopped_at is not None else now) - self.started_at, 3)

    # Internals --------------------------------------------------------------------------------

    def _tap(self, party: Party) -> Callable[[bytes, float], None]:
        receive = self.mixer.receive  # type: ignore[union-attr]
        if party == "supervisor":
            return lambda data, now: receive(party, data, now)
        audio = self._codecs[party]
        last = self._last

        def tap(data: bytes, now: float) -> None:
            receive(party, data, now)
            parsed = rtp_payload(data)
            if parsed is not None and parsed[0] in audio and parsed[4]:
                last[party] = _LastPacket(*parsed[:4], samples=len(parsed[4]))

        return tap

    def _carry_out(self) -> None:
        """Withhold the streams a mix replaces, relay the others; start each mixed listener's stream."""
        withhold = withheld(self.mode)
        for party in BRIDGED:
            self.legs[party].media.withhold(party in withhold)
        listeners = mixed(self.mode)
        for party in list(self._outputs):
            if party not in listeners:
                del self._outputs[party]  # back on the relay
        for party in list(self._waiting):
            if party not in listeners:
                del self._waiting[party]
        for party in listeners:
            if party in self._outputs or party in self._waiting:
                continue
            if party == "supervisor":
                self._outputs[party] = _Output(self.session.endpoint, self.session.sender)
            else:
                self._waiting[party] = 0
                self._take_over(party)

    def _take_over(self, listener: Party) -> None:
        """Start `listener`'s mix as the continuation of the stream it was hearing; a stream of our
        own when that party has sent nothing for TAKEOVER_TICKS."""
        speaker = BRIDGED[listener]
        last = self._last.get(speaker)
        if last is not None:
            codec = self._codecs[speaker][last.payload_type]
            sender = RtpSender(codec, last.payload_type, last.ssrc, sequence=last.sequence + 1,
                               timestamp=last.timestamp + last.samples)
        elif self._waiting[listener] >= TAKEOVER_TICKS:
            found = sending_format(self.legs[listener])
            if found is None:
                log.warning("event=monitor_no_codec monitor=%s listener=%s", self.id, listener)
                del self._waiting[listener]
                return
            payload_type, codec = found
            sender = RtpSender(codec, payload_type, self.new_ssrc(), sequence=self.new_ssrc(),
                               timestamp=self.new_ssrc())
        else:
            self._waiting[listener] += 1
            return
        del self._waiting[listener]
        self._outputs[listener] = _Output(self.legs[listener].media, sender)
