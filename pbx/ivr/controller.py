"""The IVR on a live call: runs a scenario's interpreter on the caller's leg.

`IvrController` is a call controller like the bridge: it gets the call's signals. It starts
the interpreter (ivr_dsl) and carries out each command on real media and signalling: Answer
answers the leg with the PBX's own audio; Play and Collect play through the shared media
clock with barge-in (a key stops the prompt); Collect and menus time out on the PBX clock
(the call scheduler); Dial rings an extension and, once answered, hands the call to a
`BridgeController`; Enqueue hands the call to the ACD (with no queues configured: a clear failure that
runs the scenario's on-failure branch); functions registered by plugins run as tasks with a
timeout. Every outcome goes back to the interpreter as an event, and every analytics record
becomes an Ivr* event on the bus.

SIP actions produced outside SIP handling (a key press, a prompt ending, speech rendered, a
function returning) go out through `runtime.execute`, the transport's entry for actions.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ivr_dsl import commands as cmd
from ivr_dsl.interpreter import Interpreter
from pbx.calls.bridge import BridgeController
from pbx.calls.call import Call
from pbx.calls.leg import Leg
from pbx.calls.own_media import MediaSession, answer_with_own_media
from pbx.calls.signals import Answer, Cause, Hangup, Info, Party, Signal, Try, Update, UpdateAnswer
from pbx.media.dtmf import DigitDetected
from pbx.media.player import Player
from pbx.media.tones import ringback_cadence
from sdk.events import CallDisposition, IvrStarted

from .analytics import bus_event
from .prompts import PromptItem
from .runtime import IvrRuntime, QueueRefused

log = logging.getLogger("pbx.ivr")


# A scenario's hang-up cause, as the SIP final answer of a call it never answered.
REJECT_STATUS = {"busy": 486, "rejected": 603, "unavailable": 480, "no_answer": 480, "failure": 500, "normal": 480}
CAUSES = {"busy": Cause.BUSY, "rejected": Cause.REJECTED, "unavailable": Cause.UNAVAILABLE,
          "no_answer": Cause.NO_ANSWER, "failure": Cause.FAILURE}
DIAL_FAILURE = {486: "busy", 600: "busy", 603: "rejected", 404: "unavailable", 480: "unavailable",
                408: "no_answer", 487: "no_answer"}


class IvrController:
    def __init__(self, scenario: Any, services: Any, runtime: IvrRuntime, clock: Callable[[], float]) -> None:
        self.scenario = scenario  # a library.ScenarioVersion
        self.services = services
        self.runtime = runtime
        self.clock = clock
        self.interpreter = Interpreter(scenario.program, {})
        self.call: Call | None = None
        self.leg: Leg | None = None
        self.session: MediaSession | None = None
        self.waiting: cmd.Command | None = None
        self.digits = ""  # keys gathered by the current Collect
        self._prompts_done = False
        self._timer: Any = None
        self._dial: dict[str, Any] | None = None  # callee legs, refusals, timer, terminal
        self._tasks: set[asyncio.Task[Any]] = set()
        self._generation = 0  # bumped on each new wait: late results of older ones are ignored
        self._stop_listening: Callable[[], None] = lambda: None

    @property
    def position(self) -> str:
        return self.interpreter.position

    def _when(self, now: float) -> datetime:
        """The instant the scenario sees (calendars, `now`): the PBX clock, shifted in tests."""
        return _datetime(now + self.runtime.time_offset)

    # Call signals ----------------------------------------------------------------------------

    def on_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        if leg is not call.caller_leg:
            return self._callee_signal(call, leg, signal, now)
        if isinstance(signal, Try):
            self.call, self.leg = call, leg
            self.interpreter = Interpreter(self.scenario.program, _variables(call, leg, self.scenario.program))
            self._try = signal
            actions = [self.services.publish(IvrStarted(at=now, call_id=call.id, scenario=self.scenario.name,
                                                        version=self.scenario.version))]
            return actions + self._run(self.interpreter.start(self._when(now)), now)
        if isinstance(signal, Update):
            local = self.session.local_sdp if self.session is not None else None
            return leg.send(UpdateAnswer(local), now)
        if isinstance(signal, Info):
            return []  # its digit reached us through the leg's watch
        if isinstance(signal, Hangup):
            return self._caller_hung_up(call, now)
        return []

    def on_ring_timeout(self, call: Call, now: float) -> list[Any]:
        return []

    def start_answered(self, call: Call, leg: Leg, session: MediaSession | None, now: float) -> list[Any]:
        """Take over a call that is already answered (a queue's overflow or exit key), with its
        media session, and start the scenario from the top."""
        self.call, self.leg = call, leg
        call.controller = self
        self.interpreter = Interpreter(self.scenario.program, _variables(call, leg, self.scenario.program))
        self.session = session
        if session is not None:
            session.player, session.after = None, None
            session.on_played = self._played
            self._stop_listening = leg.watch.on_digit(self._digit)
        actions = [self.services.publish(IvrStarted(at=now, call_id=call.id, scenario=self.scenario.name,
                                                    version=self.scenario.version))]
        return actions + self._run(self.interpreter.start(self._when(now)), now)

    # Running the interpreter ----------------------------------------------------------------------

    def _feed(self, event: cmd.Event, now: float) -> list[Any]:
        if self.interpreter.finished or self.call is None:
            return []
        self._cancel_timer()
        self.waiting = None
        return self._run(self.interpreter.handle(event, self._when(now)), now)

    def _run(self, outputs: list[Any], now: float) -> list[Any]:
        actions: list[Any] = []
        for output in outputs:
            if isinstance(output, cmd.Analytics):
                actions += self._analytics(output, now)
            else:
                actions += self._do(output, now)
        return actions

    def _do(self, command: cmd.Command, now: float) -> list[Any]:
        assert self.call is not None and self.leg is not None
        if isinstance(command, cmd.Answer):
            return self._answer(now)
        if isinstance(command, cmd.SetDisposition):
            self.call.disposition = command.value
            return [self.services.publish(CallDisposition(at=now, call_id=self.call.id, value=command.value))]
        if isinstance(command, (cmd.PauseRecording, cmd.ResumeRecording)):
            # A sensitive entry (card, account number): no recording, no digits on the bus.
            sensitive = isinstance(command, cmd.PauseRecording)
            self._recording(sensitive)
            if self.leg.watch is not None:
                self.leg.watch.sensitive = sensitive
            return []
        if isinstance(command, (cmd.Hangup, cmd.Finished)):
            return self._hang_up(getattr(command, "cause", "normal"), now)
        self._generation += 1
        self.waiting = command
        if isinstance(command, (cmd.Play, cmd.Collect, cmd.Wait)):
            actions = self._answer(now)  # media needs an answered call
            if isinstance(command, cmd.Wait):
                self._start_timer(now + command.seconds, lambda fire_now: self._feed(cmd.WaitFinished(), fire_now))
                return actions
            return actions + self._start_prompts(command, now)
        if isinstance(command, cmd.Enqueue):
            return self._enqueue(command, now)
        if isinstance(command, cmd.Voicemail):
            return self._feed(cmd.VoicemailFailed("voicemail is not available yet"), now)
        if isinstance(command, cmd.CallFunction):
            self._spawn(self._call_function(command, self._generation))
            return []
        if isinstance(command, (cmd.Dial, cmd.Transfer)):
            timeout = command.timeout if isinstance(command, cmd.Dial) else 30.0
            caller_id = command.caller_id if isinstance(command, cmd.Dial) else None
            return self._start_dial(command.target, timeout, now, terminal=isinstance(command, cmd.Transfer),
                                    caller_id=caller_id)
        raise ValueError(f"IVR controller cannot carry out {command!r}")

    def _analytics(self, record: cmd.Analytics, now: float) -> list[Any]:
        event = bus_event(record, self.call.id if self.call else "", self.scenario.name, now)
        return [self.services.publish(event)] if event is not None else []

    # Media ----------------------------------------------------------------------------------------

    def _answer(self, now: float) -> list[Any]:
        if self.session is not None or self.call is None or self.leg is None:
            return []
        actions, self.session = answer_with_own_media(self.call, self.leg, self._try, self.services,
                                                      self.runtime.new_ssrc(), now)
        if self.session is None:
            self._finish()
            return actions
        self.session.on_played = self._played
        self._stop_listening = self.leg.watch.on_digit(self._digit)
        self.runtime.media_clock.add(self.session)
        return actions

    def _start_prompts(self, command: cmd.Play | cmd.Collect, now: float) -> list[Any]:
        self.digits = command.typed_ahead if isinstance(command, cmd.Collect) else ""
        self._prompts_done = False
        if isinstance(command, cmd.Collect) and self.digits:
            self._prompts_done = True  # type-ahead: the caller already answered, skip the prompts
            return self._check_collected(now)
        items = [self._prompt_item(prompt) for prompt in command.prompts]
        program = self.scenario
        directory = Path(program.prompts) if program.prompts else None
        clips = self.runtime.prompts.clips_now(items, directory, program.language)
        if clips is not None:
            return self._play(clips, now)
        generation = self._generation

        async def render() -> None:
            rendered = await self.runtime.prompts.clips(items, directory, program.language)
            # Too late if the wait is over, or the caller already keyed the answer meanwhile.
            if generation == self._generation and self.session is not None and not self._prompts_done:
                self.runtime.execute(self._play(rendered, self.clock()))

        self._spawn(render())
        return []

    def _play(self, clips: list[bytes], now: float) -> list[Any]:
        if self.session is None:
            return []
        if not clips:
            self.session.player = None
            return self._prompts_ended(now)
        self.session.player = Player(clips)
        return []

    def _played(self, player: Player, now: float) -> None:
        self.runtime.execute(self._prompts_ended(now))

    def _prompts_ended(self, now: float) -> list[Any]:
        waiting = self.waiting
        if isinstance(waiting, cmd.Play):
            return self._feed(cmd.PlayFinished(), now)
        if isinstance(waiting, cmd.Collect) and not self._prompts_done:
            # VoiceXML: the wait for the first key starts when the prompts have been heard.
            self._prompts_done = True
            if not self.digits:
                self._start_timer(now + waiting.timeout, lambda fire_now: self._collect_timeout(fire_now))
        return []

    def _digit(self, detected: DigitDetected) -> None:
        now = self.clock()
        waiting = self.waiting
        if isinstance(waiting, cmd.Play) and waiting.barge_in:
            self._stop_prompt()
            self.runtime.execute(self._feed(cmd.PlayFinished(interrupted_by=detected.digit), now))
        elif isinstance(waiting, cmd.Collect):
            if not self._prompts_done and not waiting.barge_in:
                return
            self._stop_prompt()
            self._prompts_done = True
            self.digits += detected.digit
            self.runtime.execute(self._check_collected(now))

    def _check_collected(self, now: float) -> list[Any]:
        waiting = self.waiting
        assert isinstance(waiting, cmd.Collect)
        if waiting.terminator and self.digits.endswith(waiting.terminator):
            return self._feed(cmd.Collected(self.digits[: -len(waiting.terminator)], "terminator"), now)
        if len(self.digits) >= waiting.max_digits:
            return self._feed(cmd.Collected(self.digits[: waiting.max_digits], "max_digits"), now)
        self._start_timer(now + waiting.inter_digit_timeout, lambda fire_now: self._collect_timeout(fire_now))
        return []

    def _collect_timeout(self, now: float) -> list[Any]:
        self._timer = None
        return self._feed(cmd.Collected(self.digits, "inter_digit_timeout" if self.digits else "timeout"), now)

    def _stop_prompt(self) -> None:
        if self.session is not None and self.session.player is not None:
            self.session.player.stop()
            self.session.player = None

    def _prompt_item(self, prompt: Any) -> PromptItem:
        if isinstance(prompt, cmd.Recorded):
            return PromptItem("file", prompt.name, prompt.language)
        if isinstance(prompt, cmd.Speech):
            return PromptItem("speech", prompt.text, prompt.language, prompt.voice)
        if isinstance(prompt, cmd.Silence):
            return PromptItem("silence", seconds=prompt.seconds)
        kind = {cmd.Digits: "digits", cmd.Number: "number", cmd.Date: "date"}[type(prompt)]
        return PromptItem(kind, prompt.text, prompt.language)  # type: ignore[arg-type]

    def _recording(self, pause: bool) -> None:
        recordings, call = self.runtime.recordings, self.call
        if recordings is None or call is None:
            return
        recordings.mark_sensitive(call.id, pause)

    # Queues ----------------------------------------------------------------------------------------

    def _enqueue(self, command: cmd.Enqueue, now: float) -> list[Any]:
        queues, call, leg = self.runtime.queues, self.call, self.leg
        assert call is not None and leg is not None
        if queues is None:
            return self._feed(cmd.QueueFailed("queues not configured"), now)
        self._stop_prompt()
        try:
            actions = queues.enqueue(call, leg, command.queue, priority=command.priority, skills=command.skills,
                                     timeout=command.timeout, now=now, media=self.session, on_left=self._left_queue)
        except QueueRefused as refused:
            return self._feed(cmd.QueueFailed(str(refused)), now)
        # The queue plays to the caller now, on the same media session; keys are its business.
        self._stop_listening()
        self._stop_listening = lambda: None
        self.session = None
        return actions

    def _left_queue(self, outcome: str, session: MediaSession | None, now: float) -> list[Any]:
        """The queue is done with the call: answered by an agent, abandoned, or back to us."""
        if self.interpreter.finished or self.call is None or self.leg is None:
            return []
        if outcome == "answered":
            return self._run(self.interpreter.handle(cmd.QueueJoined(), self._when(now)), now)
        if outcome == "abandoned":
            return self._run(self.interpreter.handle(cmd.CallerHungUp(), self._when(now)), now)
        # Timed out, queue emptied, ...: the scenario goes on with its on-failure branch.
        self.call.controller = self
        self.session = session
        if session is not None:
            session.player, session.after = None, None
            session.on_played = self._played
            self._stop_listening = self.leg.watch.on_digit(self._digit)
        return self._feed(cmd.QueueFailed(outcome), now)

    # Dialing an extension --------------------------------------------------------------------------

    def _start_dial(self, target: str, timeout: float, now: float, *, terminal: bool,
                    caller_id: str | None = None) -> list[Any]:
        assert self.call is not None and self.leg is not None
        route = self.services.route(target, now)
        if not route.found:
            return self._dial_failed(DIAL_FAILURE.get(route.status, "unavailable"), terminal, now)
        self._stop_prompt()
        formats = self.session.formats if self.session is not None else None
        before = set(map(id, self.call.legs))
        # The number the called phone shows: the scenario's `caller id`, else the caller's own.
        shown = Party(caller_id, None) if caller_id else self.call.caller
        actions = self.services.originate(self.call, route, shown, self.leg.phone_sdp, now, only=formats)
        legs = [leg for leg in self.call.legs if id(leg) not in before]
        if not legs:
            return actions + self._dial_failed("failure", terminal, now)
        self._dial = {"legs": legs, "refusals": [], "terminal": terminal}
        self._start_timer(now + timeout, self._dial_timeout)
        if self.session is not None:
            self.session.player = Player([ringback_cadence()], loop=True)  # the caller hears it ring
        return actions

    def _callee_signal(self, call: Call, leg: Leg, signal: Signal, now: float) -> list[Any]:
        dial = self._dial
        if dial is None or leg not in dial["legs"]:
            return leg.send(Hangup(Cause.NORMAL), now) if isinstance(signal, Answer) else []
        if isinstance(signal, Answer):
            return self._connect(call, leg, signal, now)
        if isinstance(signal, Hangup):
            dial["refusals"].append(signal.status or 480)
            if any(not other.is_ended for other in dial["legs"]):
                return []
            status = min(dial["refusals"], key=lambda s: (s not in DIAL_FAILURE, s))
            self._cancel_timer()
            self._dial = None
            return self._dial_failed(DIAL_FAILURE.get(status, "failure"), dial["terminal"], now)
        return []

    def _dial_timeout(self, now: float) -> list[Any]:
        self._timer = None
        dial, self._dial = self._dial, None
        if dial is None:
            return []
        actions: list[Any] = []
        for leg in dial["legs"]:
            if not leg.is_ended:
                actions += leg.send(Hangup(Cause.NO_ANSWER), now)
        return actions + self._dial_failed("no_answer", dial["terminal"], now)

    def _dial_failed(self, reason: str, terminal: bool, now: float) -> list[Any]:
        self._stop_prompt()  # the ringback
        if terminal:
            return self._hang_up("unavailable", now)
        return self._feed(cmd.DialFailed(reason), now)  # type: ignore[arg-type]

    def _connect(self, call: Call, callee: Leg, signal: Answer, now: float) -> list[Any]:
        """The callee answered: the IVR steps out and a bridge takes the call."""
        dial, self._dial = self._dial, None
        self._cancel_timer()
        actions: list[Any] = []
        for other in dial["legs"] if dial else []:
            if other is not callee and not other.is_ended:
                actions += other.send(Hangup(Cause.CANCELLED, reason="answered elsewhere"), now)
        self._release_media(now)
        self.services.bridge(call.caller_leg, callee)
        if self.runtime.recordings is not None:
            self.runtime.recordings.follow(call.id, callee)
        call.controller = BridgeController(self.services)
        if not self.interpreter.finished:
            event = cmd.DialAnswered()
            actions += self._run(self.interpreter.handle(event, self._when(now)), now)
        return actions

    def transfer(self, target: str, now: float) -> list[Any]:
        """Send the caller to `target` from outside the scenario (a plugin): what the scenario was
        waiting for no longer counts, and the call leaves the scenario as its own `transfer` would."""
        self._cancel_timer()
        self._generation += 1
        return self._start_dial(target, 30.0, now, terminal=True)

    def hang_up(self, now: float) -> list[Any]:
        """End the call from outside the scenario (the admin API): the scenario stops where it is
        (no timer or function result of it runs later), its media is released, and the call ends
        as hung up by the system."""
        return self._hang_up("normal", now)

    # Functions -------------------------------------------------------------------------------------

    async def _call_function(self, command: cmd.CallFunction, generation: int) -> None:
        function = self.runtime.functions.get(command.function)
        if function is None:
            event: cmd.Event = cmd.FunctionFailed(f"no function {command.function!r} is registered")
        else:
            try:
                if inspect.iscoroutinefunction(function):
                    result = await asyncio.wait_for(function(**command.args), command.timeout)
                else:  # a plain function may block (a file, a database): never on the event loop
                    work = asyncio.get_running_loop().run_in_executor(None, functools.partial(function, **command.args))
                    result = await asyncio.wait_for(work, command.timeout)
                    if asyncio.iscoroutine(result):
                        result = await asyncio.wait_for(result, command.timeout)
                event = cmd.FunctionReturned(result)
            except TimeoutError:
                event = cmd.FunctionFailed("timeout")
            except Exception as error:
                log.warning("event=function_failed function=%s reason=%r", command.function, str(error))
                event = cmd.FunctionFailed(str(error) or type(error).__name__)
        if generation == self._generation:
            self.runtime.execute(self._feed(event, self.clock()))

    # Ending ---------------------------------------------------------------------------------------

    def _hang_up(self, cause: str, now: float) -> list[Any]:
        call, leg = self.call, self.leg
        assert call is not None and leg is not None
        self._finish()
        self._release_media(now)
        sip_cause = CAUSES.get(cause, Cause.NORMAL)
        if call.answered_at is None:
            status = REJECT_STATUS.get(cause, 480)
            return leg.send(Hangup(sip_cause, status), now) + self.services.end_call(call, sip_cause, status, "system", now)
        return leg.send(Hangup(sip_cause), now) + self.services.end_call(call, sip_cause, 200, "system", now)

    def _caller_hung_up(self, call: Call, now: float) -> list[Any]:
        actions: list[Any] = []
        dial, self._dial = self._dial, None
        for leg in dial["legs"] if dial else []:
            if not leg.is_ended:
                actions += leg.send(Hangup(Cause.CANCELLED), now)
        if not self.interpreter.finished:
            actions += self._run(self.interpreter.handle(cmd.CallerHungUp(), self._when(now)), now)
        self._finish()
        self._release_media(now)
        return actions + self.services.end_call(call, Cause.NORMAL, 200, "caller", now)

    def _finish(self) -> None:
        self._cancel_timer()
        self._generation += 1
        self.waiting = None
        for task in self._tasks:
            task.cancel()

    def _release_media(self, now: float) -> None:
        self._stop_listening()
        self._stop_listening = lambda: None
        if self.session is not None:
            self.runtime.media_clock.remove(self.session)
            self.session.close(now)
            self.session = None

    # Timers and tasks -------------------------------------------------------------------------------

    def _start_timer(self, when: float, callback: Callable[[float], list[Any]]) -> None:
        self._cancel_timer()
        self._timer = self.services.scheduler.call_at(when, callback)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _variables(call: Call, leg: Leg, program: Any) -> dict[str, Any]:
    """What a scenario knows of its call from the start: who calls whom, the INVITE's headers, and
    what a plugin's caller lookup found (`customer.name`, `customer.tier`; `customer.found` is
    false for an unknown caller). A caller whose language the lookup knew, and the scenario
    speaks, starts in that language."""
    customer = call.customer.variables() if call.customer is not None else {"found": False}
    variables = {"caller": call.caller.number, "caller_name": call.caller.name or "", "called": call.callee,
                 "call_id": call.id, "header": leg.headers(), "customer": customer}
    language = call.routing.language if call.routing is not None else None
    if language and language in program.languages:
        variables["language"] = language
    return variables


def _datetime(now: float) -> datetime:
    return datetime.fromtimestamp(now, timezone.utc)
