"""Supervision of live calls: find the call an agent is on, start, switch and stop monitors.

A supervisor starts monitoring two ways:

- from their phone, with a feature code and the agent's extension or name (`*222` listen,
  `*223` whisper, `*224` barge: `*2221002`, `*223alice`). The PBX answers the supervisor itself
  and attaches their leg to the agent's call; an agent on no call is refused with 480, a target
  that is no agent and no extension with 404, a phone not in `feature_codes.supervisors` with 403,
  a call already monitored with 486. Keys 4, 5 and 6 then switch to listen, whisper and barge
  (as Asterisk's ChanSpy does); hanging up stops;
- from the admin API: the PBX rings the supervisor's phone and attaches it when it answers.

Either way the monitor stops when the monitored call ends (and the supervisor is hung up) or the
supervisor hangs up. Each start, switch and stop is published (MonitorStarted,
MonitorModeChanged, MonitorStopped) with `source` naming who did it: "phone", "api" or
"system"; the admin audit log records the phone's ones from there (the API gate audits its own).

The media work is monitor.py's (`Monitor`); the policy of who hears whom is pbx.media.mixer's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from pbx.media.mixer import Mode, check_mode
from sdk.events import CallAnswered, CallEnded, MonitorModeChanged, MonitorStarted, MonitorStopped

from .call import Call, CallState
from .leg import Leg
from .monitor import Monitor, Source
from .own_media import answer_with_own_media, media_on_answer
from .signals import Answer, Cause, Hangup, Party, Signal, Try, Update, UpdateAnswer, cause_of_status

__all__ = ["MODE_KEYS", "MonitorController", "MonitorRefused", "Monitors", "parse_code"]

log = logging.getLogger("pbx.calls.supervision")

MODE_KEYS: Mapping[str, Mode] = {"4": "listen", "5": "whisper", "6": "barge"}  # as Asterisk's ChanSpy
KEEP_STOPPED_SECONDS = 300.0  # a stopped monitor stays listed this long (the wallboard shows how it ended)


class MonitorRefused(Exception):
    """A monitor cannot start or change: `status` is the SIP answer for a phone, `kind` the
    admin API's error code ("bad_request", "not_found", "conflict", "forbidden"), `field` the
    input at fault."""

    def __init__(self, status: int, kind: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.field = field


def parse_code(number: str, codes: Mapping[str, Mode]) -> tuple[Mode, str] | None:
    """(mode, target) of a dialled monitoring code such as "*2221002"; None for other numbers."""
    for code in sorted(codes, key=len, reverse=True):  # the longest code wins if one prefixes another
        if code and number.startswith(code) and len(number) > len(code):
            return codes[code], number[len(code):]
    return None


class Monitors:
    """Every monitor of the PBX; see the module docstring."""

    def __init__(self, calls: Any, media_clock: Any, *, execute: Callable[[list[Any]], None],
                 clock: Callable[[], float], new_id: Callable[[], str], new_ssrc: Callable[[], int],
                 codes: Mapping[str, Mode] | None = None, supervisors: Collection[str] = (),
                 agents: Callable[[], Mapping[str, str]] = dict,
                 is_extension: Callable[[str], bool] = bool) -> None:
        self.calls = calls  # the CallManager
        self.media_clock = media_clock
        self.execute = execute
        self.clock = clock
        self.new_id = new_id
        self.new_ssrc = new_ssrc
        self.codes = {code: check_mode(mode) for code, mode in (codes or {}).items()}
        self.supervisors = frozenset(supervisors)  # the extensions the feature codes answer
        self.agents = agents  # agent name -> extension (the queues' agents; empty without queues)
        self.is_extension = is_extension
        self.monitors: dict[str, Monitor] = {}

    def controller_for(self, number: str) -> MonitorController | None:
        """The controller of a call to a monitoring code, or None for any other number."""
        parsed = parse_code(number, self.codes)
        if parsed is None:
            return None
        mode, target = parsed
        return MonitorController(self, mode=mode, target=target)

    # Finding the call -------------------------------------------------------------------------

    def agent_extension(self, target: str) -> str:
        """An agent's name or extension, as an extension; MonitorRefused (404) for neither."""
        extension = self.agents().get(target, target)
        if not self.is_extension(extension):
            raise MonitorRefused(404, "not_found", f"{target!r} is neither an agent nor an extension", "agent")
        return extension

    def agent_name(self, extension: str) -> str:
        return next((name for name, number in self.agents().items() if number == extension), extension)

    def find_by_agent(self, target: str) -> tuple[Call, Leg, Leg]:
        """(call, caller leg, agent leg) of the call the agent is talking on; 480 when on none."""
        extension = self.agent_extension(target)
        for call in list(self.calls.calls.values()):
            found = _talking(call, extension)
            if found is not None:
                return call, *found
        raise MonitorRefused(480, "conflict", f"{target} is on no connected call", "agent")

    def find_by_call(self, call_id: str) -> tuple[Call, Leg, Leg]:
        """(call, caller leg, agent leg) of a live call: the agent is the leg connected to the
        other, a queue agent's leg when there is one, else the callee's."""
        call = self.calls.calls.get(call_id)
        if call is None:
            raise MonitorRefused(404, "not_found", f"no live call {call_id!r}", "call_id")
        extensions = set(self.agents().values())
        candidates = [found for leg in call.live_legs() if (found := _talking(call, leg.party.number, leg))]
        candidates.sort(key=lambda pair: (pair[1].party.number not in extensions, pair[1] is call.caller_leg))
        if not candidates:
            raise MonitorRefused(409, "conflict", f"call {call_id} is not connected between two phones", "call_id")
        return call, *candidates[0]

    def monitor_of(self, call_id: str) -> Monitor | None:
        return next((m for m in self.monitors.values() if m.call.id == call_id and m.state != "stopped"), None)

    # Starting ---------------------------------------------------------------------------------

    def prepare(self, call: Call, caller: Leg, agent: Leg, supervisor: str, mode: Mode, source: Source,
                now: float) -> Monitor:
        """A monitor waiting for the supervisor's leg; MonitorRefused when the call has one already,
        or the supervisor is a party to it."""
        if supervisor in (caller.party.number, agent.party.number):
            raise MonitorRefused(403, "conflict", f"{supervisor} is a party to call {call.id}", "supervisor")
        current = self.monitor_of(call.id)
        if current is not None:
            raise MonitorRefused(486, "conflict", f"call {call.id} is already monitored by {current.supervisor} "
                                 f"(monitor {current.id})", "call_id")
        monitor = Monitor(self.new_id(), call, caller, agent, agent_name=self.agent_name(agent.party.number),
                          supervisor=supervisor, mode=mode, source=source, new_ssrc=self.new_ssrc, now=now)
        monitor.on_lost = lambda lost, at: self.execute(self.stop(lost.id, "system", at))
        self.monitors[monitor.id] = monitor
        return monitor

    def attach(self, monitor: Monitor, supervisor_leg: Leg, session: Any, now: float) -> list[Any]:
        """The supervisor's leg is answered: attach, join the clock, listen to the keys."""
        monitor.attach(supervisor_leg, session, now)
        self.media_clock.add(monitor)
        if supervisor_leg.watch is not None:
            supervisor_leg.watch.on_digit(lambda detected: self._key(monitor, detected.digit))
        log.info("event=monitor_attached monitor=%s call_id=%s mode=%s", monitor.id, monitor.call.id, monitor.mode)
        return [self.calls.publish(MonitorStarted(
            at=now, monitor_id=monitor.id, call_id=monitor.call.id, agent=monitor.agent_name,
            supervisor=monitor.supervisor, mode=monitor.mode, source=monitor.source))]  # fmt: skip

    def call_supervisor(self, call_id: str, supervisor: str, mode: Mode, now: float) -> Monitor:
        """The admin API's way: ring the supervisor's phone; it is attached when it answers."""
        check_mode(mode)
        if not self.is_extension(supervisor):
            raise MonitorRefused(404, "bad_request", f"{supervisor!r} is not an extension", "supervisor")
        call, caller, agent = self.find_by_call(call_id)
        monitor = self.prepare(call, caller, agent, supervisor, mode, "api", now)
        shown = Party(agent.party.number, f"{mode.capitalize()} {monitor.agent_name}")
        supervisor_call, actions = self.calls.originate_call(
            supervisor, shown, f"monitor:{call.id}", MonitorController(self, monitor=monitor), now, linked_id=call.id)
        if supervisor_call is None:
            del self.monitors[monitor.id]
            raise MonitorRefused(409, "conflict", f"{supervisor} has no phone registered", "supervisor")
        monitor.supervisor_call = supervisor_call
        self.calls.start_ring_timer(supervisor_call, now)
        self.execute(actions)
        return monitor

    # Changing and stopping --------------------------------------------------------------------

    def switch(self, monitor_id: str, mode: Mode, source: Source, now: float) -> list[Any]:
        """The MonitorModeChanged action, or nothing when `mode` is the current one."""
        monitor = self.live(monitor_id)
        previous = monitor.switch(mode)
        if previous == monitor.mode:
            return []
        log.info("event=monitor_switched monitor=%s mode=%s previous=%s", monitor.id, monitor.mode, previous)
        return [self.calls.publish(MonitorModeChanged(
            at=now, monitor_id=monitor.id, call_id=monitor.call.id, agent=monitor.agent_name,
            supervisor=monitor.supervisor, mode=monitor.mode, previous=previous, source=source))]  # fmt: skip

    def stop(self, monitor_id: str, source: Source, now: float, *, hang_up: bool = True) -> list[Any]:
        """Detach the supervisor and, unless the supervisor's call is ending anyway, hang it up."""
        monitor = self.monitors.get(monitor_id)
        if monitor is None or monitor.state == "stopped":
            return []
        was_active = monitor.state == "active"
        seconds = monitor.seconds(now)
        monitor.detach(now)
        self.media_clock.remove(monitor)
        actions: list[Any] = []
        supervisor_call = monitor.supervisor_call
        if hang_up and supervisor_call is not None and supervisor_call.state is not CallState.ENDED:
            for leg in supervisor_call.live_legs():
                actions += leg.send(Hangup(Cause.NORMAL), now)
            actions += self.calls.end_call(supervisor_call, Cause.NORMAL, 200, "system", now)
        if was_active:
            actions.append(self.calls.publish(MonitorStopped(
                at=now, monitor_id=monitor.id, call_id=monitor.call.id, agent=monitor.agent_name,
                supervisor=monitor.supervisor, mode=monitor.mode, source=source, seconds=seconds)))  # fmt: skip
        log.info("event=monitor_detached monitor=%s source=%s", monitor.id, source)
        self._forget_stopped(now)
        return actions

    def on_call_ended(self, event: CallEnded) -> None:
        """The bus: a monitored call ended (its monitor stops, the supervisor is hung up), or a
        supervisor's own call did (its monitor stops)."""
        for monitor in list(self.monitors.values()):
            if monitor.state == "stopped":
                continue
            if monitor.call.id == event.call_id:
                self.execute(self.stop(monitor.id, "system", event.at))
            elif monitor.supervisor_call is not None and monitor.supervisor_call.id == event.call_id:
                self.execute(self.stop(monitor.id, "phone", event.at, hang_up=False))

    def live(self, monitor_id: str) -> Monitor:
        """A monitor that has not stopped; MonitorRefused (404, or 409 once stopped) otherwise."""
        monitor = self.monitors.get(monitor_id)
        if monitor is None:
            raise MonitorRefused(404, "not_found", f"no monitor {monitor_id!r}", "monitor_id")
        if monitor.state == "stopped":
            raise MonitorRefused(409, "conflict", f"monitor {monitor_id} has stopped", "monitor_id")
        return monitor

    def _key(self, monitor: Monitor, digit: str) -> None:
        mode = MODE_KEYS.get(digit)
        if mode is not None and monitor.state == "active":
            self.execute(self.switch(monitor.id, mode, "phone", self.clock()))

    def _forget_stopped(self, now: float) -> None:
        for monitor_id, monitor in list(self.monitors.items()):
            if monitor.state == "stopped" and now - monitor.created_at > KEEP_STOPPED_SECONDS:
                del self.monitors[monitor_id]


def _talking(call: Call, extension: str, only: Leg | None = None) -> tuple[Leg, Leg] | None:
    """(other leg, the extension's leg) when the extension's answered leg is bridged on the relay
    to another leg of the call."""
    if call.state is not CallState.ANSWERED:
        return None
    for leg in call.live_legs():
        if (only is not None and leg is not only) or leg.party.number != extension or not leg.is_answered:
            continue
        peer = leg.media.peer if leg.media is not None else None
        other = next((o for o in call.live_legs() if peer is not None and o is not leg and o.media is peer), None)
        if other is not None:
            return other, leg
    return None


class MonitorController:
    """The supervisor's call: dialled with a feature code (`mode` and `target`), or placed by
    the PBX for the admin API (`monitor`, attached when the supervisor answers)."""

    def __init__(self, monitors: Monitors, *, mode: Mode | None = None, target: str | None = None,
                 monitor: Monitor | None = None) -> None:
        self.monitors = monitors
        self.mode = mode
        self.target = target
        self.monitor = monitor
        self.session: Any = None

    @property
    def services(self) -> Any:
        return self.monitors.calls

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if isinstance(signal, Try):
            return self._dialled(call, leg, signal, now)
        if isinstance(signal, Answer):
            return self._answered(call, leg, now) if self.target is None else []
        if isinstance(signal, Update):
            local = self.session.local_sdp if self.session is not None else None
            return leg.send(UpdateAnswer(local) if local is not None else UpdateAnswer(None, 488), now)
        if isinstance(signal, Hangup):
            return self._hung_up(call, signal, now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        """The supervisor's phone did not answer the API's call."""
        actions: list[Any] = []
        for leg in call.live_legs():
            actions += leg.send(Hangup(Cause.NO_ANSWER), now)
        if self.monitor is not None:
            actions += self.monitors.stop(self.monitor.id, "system", now, hang_up=False)
        return actions + self.services.end_call(call, Cause.NO_ANSWER, 480, "system", now)

    def _dialled(self, call: Call, leg: Leg, signal: Try, now: float) -> list[Any]:
        """A supervisor dialled a monitoring code: attach them, or say why not."""
        assert self.mode is not None and self.target is not None, "an outbound monitor call is answered, not dialled"
        supervisor = call.caller.number
        try:
            if supervisor not in self.monitors.supervisors:
                raise MonitorRefused(403, "forbidden", f"{supervisor} may not monitor calls "
                                     "(feature_codes.supervisors)", "supervisor")
            monitored, caller, agent = self.monitors.find_by_agent(self.target)
            self.monitor = self.monitors.prepare(monitored, caller, agent, supervisor, self.mode, "phone", now)
        except MonitorRefused as refused:
            log.info("event=monitor_refused supervisor=%s target=%s status=%d reason=%r", supervisor, self.target,
                     refused.status, str(refused))
            actions = leg.send(Hangup(cause_of_status(refused.status), refused.status, str(refused)), now)
            return actions + self.services.end_call(call, cause_of_status(refused.status), refused.status, "system",
                                                    now)
        actions, self.session = answer_with_own_media(call, leg, signal, self.services, self.monitors.new_ssrc(), now)
        if self.session is None:  # no G.711 offered: answered 488 already
            return actions + self.monitors.stop(self.monitor.id, "system", now, hang_up=False)
        self.monitor.supervisor_call = call
        return actions + self.monitors.attach(self.monitor, leg, self.session, now)

    def _answered(self, call: Call, leg: Leg, now: float) -> list[Any]:
        """The supervisor's phone answered the API's call."""
        monitor = self.monitor
        assert monitor is not None, "a dialled monitor call is answered by the PBX, not by the phone"
        self.services.stop_ring_timer(call)
        self.session = media_on_answer(leg, self.monitors.new_ssrc(), now)
        if self.session is None or monitor.state != "ringing" or monitor.moved_on:
            # No G.711 in the phone's answer, or the monitored call ended (or moved on) while it rang.
            status = 488 if self.session is None else 200
            actions = leg.send(Hangup(Cause.FAILURE if status == 488 else Cause.NORMAL), now)
            if self.session is not None:
                self.session.close(now)
            actions += self.monitors.stop(monitor.id, "system", now, hang_up=False)
            return actions + self.services.end_call(call, Cause.NORMAL, status, "system", now)
        call.state = CallState.ANSWERED
        call.answered_at = call.ringing_at = now
        answered = self.services.publish(CallAnswered(at=now, call_id=call.id, callee=call.callee,
                                                      codec=self.session.sender.codec.name,
                                                      ring_seconds=round(now - call.started_at, 3)))
        return [answered, *self.monitors.attach(monitor, leg, self.session, now)]

    def _hung_up(self, call: Call, signal: Hangup, now: float) -> list[Any]:
        """The supervisor hung up (or their phone refused the API's call)."""
        actions: list[Any] = []
        if self.monitor is not None:
            actions += self.monitors.stop(self.monitor.id, "phone", now, hang_up=False)
        answered = call.answered_at is not None
        status = 200 if answered else signal.status or 480
        cause = Cause.NORMAL if answered else cause_of_status(status)
        hangup_by = "caller" if self.target is not None else "callee"  # as OriginateController's calls
        return actions + self.services.end_call(call, cause, status, hangup_by, now)

