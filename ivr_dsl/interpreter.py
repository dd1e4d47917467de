"""Run a compiled `Program` for one call: events and `now` in, commands out (sans-IO, no clock, no sleeps).

Contract, for whoever runs it (the IVR controller, the simulator):

    interpreter = Interpreter(program, {"caller": "+48...", "called": "800", "header": {...}})
    outputs = interpreter.start(now)                   # -> list[Command | Analytics]
    outputs = interpreter.handle(Collected("1", "max_digits"), now)
    interpreter.position   # "Support line:main, attempt 2"; "bank:lookup, step 3"
    interpreter.finished   # True after a terminal command, a call that left, or CallerHungUp

Each call executes instructions until one needs the outside world and returns everything
issued so far, in order: commands (commands.py) interleaved with analytics records. When
not finished, the last item is the command that awaits an event (`awaiting` lists the event
types that may answer it; `CallerHungUp` answers anything). When finished by the scenario,
the last item is a terminal command: `Hangup`, `Transfer`, or `Finished` (the scenario ran
off its end: hang up normally). A call that left for a queue, a dial or a voicemail, or whose
caller hung up, gets only a `ScenarioExited` record. An event that does not answer the
current wait (or any event once finished) is our own misuse and raises ValueError naming the
state and the event: never silently ignored.

Variables: the scenario's defaults, overridden by those given for the call (caller, called,
header.X-..., call_id), plus `language`, which is the call's current language (`language pl`
changes it; prompts resolve in it). Function results and collected digits are stored by name.

`now` is an aware datetime; calendars are evaluated in their own zones, and the clock
variables (now/date/time/weekday) on the first calendar's zone (else `now`'s zone).

Semantics:
- Menu: each fresh entry (goto, call, back, top, an option body that ends) plays `greeting`;
  attempt n > 1 plays the invalid (or timeout) prompt then `reprompts[n-2]` (the last one
  repeats), else `short_greeting`, else `greeting`, in one Collect so a key interrupts all of
  it. A key with no option counts a failure, an empty Collected counts a timeout; on reaching
  the maximum the last invalid/timeout prompt plays and the on_max body runs (hang up normally
  when empty). `back` re-enters the menu before the most recent one (the root menu re-enters
  itself); `top` enters the scenario's first menu. Menus visited twice collapse the trail, so
  it stays bounded.
- Collect: a failed attempt (too few digits, pattern mismatch, nothing) plays `invalid` then
  the prompts again; after `retries` failed attempts the on_failure body runs and the
  variable is not assigned. Sensitive collects are wrapped in PauseRecording/ResumeRecording
  and their digits are masked in analytics.
- Failure branches of queue, dial, voicemail and function calls run, then execution falls
  through to the next statement (an empty branch simply falls through).
- `call` pushes a return point; `goto` keeps the stack; `return` (or the end of a section)
  pops it, or finishes the scenario when the stack is empty.
- Barge-in type-ahead: the keys in PlayFinished(interrupted_by=...) are handed to the very next
  Collect as `typed_ahead` if no other awaiting command comes first; otherwise dropped.
- Protection: more than STATEMENT_LIMIT instructions without a wait, or a `call` nesting deeper
  than CALL_DEPTH_LIMIT, hangs up with cause "failure" after a ScenarioFailed record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from ivr_dsl import ast
from ivr_dsl import commands as cmd
from ivr_dsl import program as ops
from ivr_dsl.calendar import zone_of
from ivr_dsl.expressions import Scope, evaluate, is_true, matches, text_of

STATEMENT_LIMIT = 10_000
CALL_DEPTH_LIMIT = 100

# The state machine as data: what each wait accepts. CallerHungUp is accepted by all of them.
ACCEPTS: dict[str, tuple[type[cmd.Event], ...]] = {
    "play": (cmd.PlayFinished,),
    "wait": (cmd.WaitFinished,),
    "menu": (cmd.Collected,),
    "collect": (cmd.Collected,),
    "queue": (cmd.QueueJoined, cmd.QueueFailed),
    "dial": (cmd.DialAnswered, cmd.DialFailed),
    "voicemail": (cmd.VoicemailRecorded, cmd.VoicemailFailed),
    "function": (cmd.FunctionReturned, cmd.FunctionFailed),
    "not_started": (),
    "finished": (),
}


class Interpreter:
    def __init__(self, program: ops.Program, variables: Mapping[str, object] | None = None) -> None:
        self.program = program
        self._sections = {section.name: section for section in program.sections}
        self._calendars = {calendar.name: calendar for calendar in program.calendars}
        self._zone = zone_of(program.calendars[0]) if program.calendars else None
        self._variables: dict[str, object] = {"language": program.language, **program.variables, **(variables or {})}
        self._section = self._sections[program.start]
        self._pc = 0
        self._stack: list[tuple[str, int]] = []
        self._trail: list[str] = []
        self._failures = 0
        self._timeouts = 0
        self._typed_ahead = ""
        self._state = "not_started"
        self._pending: cmd.Command | None = None
        self._exit: str | None = None
        self._now: datetime | None = None

    # --- what the outside world can see --------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._state == "finished"

    @property
    def variables(self) -> Mapping[str, object]:
        return MappingProxyType(self._variables)

    @property
    def language(self) -> str:
        return str(self._variables.get("language") or self.program.language)

    @property
    def awaiting(self) -> tuple[type[cmd.Event], ...]:
        """The event types that answer the current wait (CallerHungUp included); () when not waiting."""
        accepted = ACCEPTS[self._state]
        return accepted + (cmd.CallerHungUp,) if accepted else ()

    @property
    def pending(self) -> cmd.Command | None:
        """The command whose answer is awaited, None when not waiting."""
        return self._pending if self.awaiting else None

    @property
    def position(self) -> str:
        name = self.program.name
        if self._state == "not_started":
            return f"{name}: not started"
        if self._state == "finished":
            return f"{name}: finished ({self._exit})"
        where = f"{name}:{self._section.name}"
        attempt = self._failures + self._timeouts + 1
        if self._state == "menu":
            return f"{where}, attempt {attempt}"
        if self._state == "collect" and attempt > 1:
            return f"{where}, step {self._pc + 1}, attempt {attempt}"
        return f"{where}, step {self._pc + 1}"

    # --- entry points --------------------------------------------------------------------------

    def start(self, now: datetime) -> list[cmd.Output]:
        if self._state != "not_started":
            raise ValueError(f"start() called twice (the call is at {self.position})")
        self._now = now
        out: list[cmd.Output] = []
        self._enter(self._section.name, out)
        return self._run(out)

    def handle(self, event: cmd.Event, now: datetime) -> list[cmd.Output]:
        if self._state == "not_started":
            raise ValueError(f"handle({type(event).__name__}) before start()")
        if not isinstance(event, self.awaiting):
            expected = " or ".join(kind.__name__ for kind in self.awaiting) or "nothing (finished)"
            problem = f"{type(event).__name__} does not answer the wait at {self.position}: expected {expected}"
            raise ValueError(problem)  # noqa: TRY004 - a protocol misuse (h11's LocalProtocolError), not a type error
        self._now = now
        out: list[cmd.Output] = []
        if isinstance(event, cmd.CallerHungUp):
            self._finish("caller_hangup", out)
            return out
        state, self._state = self._state, "running"
        step = self._section.code[self._pc]
        match event:
            case cmd.PlayFinished(interrupted_by=keys):
                self._typed_ahead = keys
                self._pc += 1
            case cmd.WaitFinished():
                self._pc += 1
            case cmd.Collected() if state == "menu":
                if not self._menu_answered(step, event, out):  # type: ignore[arg-type]
                    return out
            case cmd.Collected():
                if not self._collect_answered(step, event, out):  # type: ignore[arg-type]
                    return out
            case cmd.QueueJoined():
                self._finish("queue", out)
                return out
            case cmd.DialAnswered():
                self._finish("dial", out)
                return out
            case cmd.VoicemailRecorded():
                self._finish("voicemail", out)
                return out
            case cmd.FunctionReturned(value=value):
                if step.result:  # type: ignore[union-attr]
                    self._variables[step.result] = value  # type: ignore[union-attr]
                self._pc = step.on_success  # type: ignore[union-attr]
            case cmd.QueueFailed() | cmd.DialFailed() | cmd.VoicemailFailed() | cmd.FunctionFailed():
                self._pc += 1
        return self._run(out)

    # --- answers to waits ----------------------------------------------------------------------

    def _menu_answered(self, menu: ops.Menu, event: cmd.Collected, out: list[cmd.Output]) -> bool:
        """Act on a key (or none) in a menu; True when execution continues, False when waiting again."""
        attempt = self._failures + self._timeouts + 1
        for key in menu.keys:
            if key.key == event.digits:
                out.append(cmd.KeyChosen(menu.name, key.key))
                self._pc = key.to
                return True
        if event.digits:
            self._failures += 1
            out.append(cmd.NoMatch(menu.name, event.digits, attempt))
            if self._failures >= menu.max_failures:
                out.append(cmd.AttemptsExhausted(menu.name, "failures"))
                self._pc = menu.on_max_failures
                return True
            self._ask_menu(menu, menu.invalid, out)
            return False
        self._timeouts += 1
        out.append(cmd.NoInput(menu.name, attempt))
        if self._timeouts >= menu.max_timeouts:
            out.append(cmd.AttemptsExhausted(menu.name, "timeouts"))
            self._pc = menu.on_max_timeouts
            return True
        self._ask_menu(menu, menu.timeout_prompt, out)
        return False

    def _collect_answered(self, collect: ops.Collect, event: cmd.Collected, out: list[cmd.Output]) -> bool:
        digits = event.digits
        valid = collect.min_digits <= len(digits) <= collect.max_digits and (
            collect.pattern is None or matches(collect.pattern, digits))
        node = self._section.name
        if valid:
            self._variables[collect.variable] = digits
            if collect.sensitive:
                out.append(cmd.ResumeRecording())
            self._pc = collect.on_success
            return True
        attempt = self._failures + 1
        self._failures += 1
        if digits:
            shown = "*" * len(digits) if collect.sensitive else digits
            out.append(cmd.NoMatch(node, shown, attempt, collect.variable))
        else:
            out.append(cmd.NoInput(node, attempt, collect.variable))
        if self._failures >= collect.retries:
            out.append(cmd.AttemptsExhausted(node, "failures", collect.variable))
            if collect.sensitive:
                out.append(cmd.ResumeRecording())
            self._pc += 1
            return True
        self._ask_collect(collect, collect.invalid + collect.prompts, out)
        return False

    # --- the execution loop --------------------------------------------------------------------

    def _run(self, out: list[cmd.Output]) -> list[cmd.Output]:
        self._state = "running"
        for _ in range(STATEMENT_LIMIT):
            if self._execute(self._section.code[self._pc], out):
                return out
        self._fail(f"{STATEMENT_LIMIT} statements without waiting for the caller (a loop with no prompt?)", out)
        return out

    def _execute(self, step: ops.Step, out: list[cmd.Output]) -> bool:
        """Execute one instruction; True when it waits for an event or ends the call."""
        match step:
            case ops.Answer():
                out.append(cmd.Answer())
            case ops.Play(prompts=prompts, barge_in=barge_in):
                if prompts:
                    return self._await("play", cmd.Play(self._resolve(prompts), barge_in), out)
            case ops.Pause(seconds=seconds):
                if seconds > 0:
                    return self._await("wait", cmd.Wait(seconds), out)
            case ops.Hangup(cause=cause):
                self._finish("hangup", out, cmd.Hangup(cause))
                return True
            case ops.SetVariable(name=name, value=value):
                self._variables[name] = evaluate(value, self._scope())
            case ops.SetLanguage(language=language):
                chosen = evaluate(language, self._scope())
                if isinstance(chosen, str) and chosen:
                    self._variables["language"] = chosen
            case ops.Jump(to=to):
                self._pc = to
                return False
            case ops.JumpUnless(condition=condition, to=to):
                if not is_true(evaluate(condition, self._scope())):
                    self._pc = to
                    return False
            case ops.GoTo(section=section):
                self._enter(section, out)
                return False
            case ops.CallSection(section=section):
                if len(self._stack) >= CALL_DEPTH_LIMIT:
                    self._fail(f"`call` nested more than {CALL_DEPTH_LIMIT} deep", out)
                    return True
                self._stack.append((self._section.name, self._pc + 1))
                self._enter(section, out)
                return False
            case ops.Return() | ops.EndSection():
                if not self._stack:
                    self._finish("finished", out, cmd.Finished())
                    return True
                name, self._pc = self._stack.pop()
                self._section = self._sections[name]
                return False
            case ops.Back():
                target = self._trail[-2] if len(self._trail) > 1 else self._trail[-1] if self._trail else None
                self._trail = self._trail[:-1]
                self._enter(target or self.program.first_menu, out)  # type: ignore[arg-type]
                return False
            case ops.Top():
                self._trail = []
                self._enter(self.program.first_menu, out)  # type: ignore[arg-type]
                return False
            case ops.Menu():
                self._ask_menu(step, (), out)
                return True
            case ops.Collect():
                self._failures = 0
                if step.sensitive:
                    out.append(cmd.PauseRecording())
                self._ask_collect(step, step.prompts, out)
                return True
            case ops.Enqueue(queue=queue, priority=priority, skills=skills, timeout=timeout):
                return self._await("queue", cmd.Enqueue(queue, priority, skills, timeout), out)
            case ops.Dial(target=target, timeout=timeout, caller_id=caller_id):
                shown_id = None if caller_id is None else text_of(evaluate(caller_id, self._scope())) or None
                return self._await("dial", cmd.Dial(self._text(target), timeout, shown_id), out)
            case ops.Transfer(target=target):
                self._finish("transfer", out, cmd.Transfer(self._text(target)))
                return True
            case ops.Voicemail(mailbox=mailbox):
                return self._await("voicemail", cmd.Voicemail(self._text(mailbox)), out)
            case ops.SetDisposition(value=value):
                out.append(cmd.SetDisposition(value))
            case ops.CallFunction(function=function, args=args, timeout=timeout):
                scope = self._scope()
                values = {argument.name: evaluate(argument.value, scope) for argument in args}
                return self._await("function", cmd.CallFunction(function, values, timeout), out)
            case _:
                raise TypeError(f"unknown instruction {step!r}")
        self._pc += 1
        return False

    # --- helpers -------------------------------------------------------------------------------

    def _enter(self, name: str, out: list[cmd.Output]) -> None:
        section = self._sections[name]
        self._section, self._pc = section, 0
        self._failures = self._timeouts = 0
        if section.kind == "menu":
            if name in self._trail:
                del self._trail[self._trail.index(name) + 1:]
            else:
                self._trail.append(name)
        out.append(cmd.NodeEntered(name, section.kind))

    def _ask_menu(self, menu: ops.Menu, lead_in: tuple[ast.Prompt, ...], out: list[cmd.Output]) -> None:
        attempt = self._failures + self._timeouts + 1
        if attempt == 1:
            prompts = menu.greeting
        elif menu.reprompts:
            prompts = menu.reprompts[min(attempt - 2, len(menu.reprompts) - 1)]
        else:
            prompts = menu.short_greeting or menu.greeting
        collect = cmd.Collect(
            self._resolve(lead_in + prompts), min_digits=1, max_digits=menu.max_digits, terminator=None,
            timeout=menu.timeout, inter_digit_timeout=menu.inter_digit_timeout, typed_ahead=self._typed_ahead,
        )
        self._await("menu", collect, out)

    def _ask_collect(self, collect: ops.Collect, prompts: tuple[ast.Prompt, ...], out: list[cmd.Output]) -> None:
        command = cmd.Collect(
            self._resolve(prompts), min_digits=collect.min_digits, max_digits=collect.max_digits,
            terminator=collect.terminator, timeout=collect.timeout, inter_digit_timeout=collect.inter_digit_timeout,
            sensitive=collect.sensitive, typed_ahead=self._typed_ahead,
        )
        self._await("collect", command, out)

    def _await(self, state: str, command: cmd.Command, out: list[cmd.Output]) -> bool:
        self._typed_ahead = ""
        self._state = state
        self._pending = command
        out.append(command)
        return True

    def _finish(self, how: str, out: list[cmd.Output], command: cmd.Command | None = None) -> None:
        out.append(cmd.ScenarioExited(how, self._section.name))  # type: ignore[arg-type]
        if command is not None:
            out.append(command)
        self._state, self._exit, self._pending = "finished", how, None

    def _fail(self, reason: str, out: list[cmd.Output]) -> None:
        out.append(cmd.ScenarioFailed(self._section.name, reason))
        self._finish("error", out, cmd.Hangup("failure"))

    def _scope(self) -> Scope:
        assert self._now is not None
        return Scope(self._variables, self._calendars, self._now, self._zone)

    def _text(self, expr: ast.Expr) -> str:
        return text_of(evaluate(expr, self._scope()))

    def _resolve(self, prompts: tuple[ast.Prompt, ...]) -> tuple[cmd.ResolvedPrompt, ...]:
        language = self.language
        resolved: list[cmd.ResolvedPrompt] = []
        for prompt in prompts:
            match prompt:
                case ast.PromptFile(name=name):
                    resolved.append(cmd.Recorded(name, language))
                case ast.Speak(text=text, language=own_language, voice=voice):
                    resolved.append(cmd.Speech(self._text(text), own_language or language, voice))
                case ast.SayDigits(value=value):
                    resolved.append(cmd.Digits(self._text(value), language))
                case ast.SayNumber(value=value):
                    resolved.append(cmd.Number(self._text(value), language))
                case ast.SayDate(value=value):
                    resolved.append(cmd.Date(self._text(value), language))
                case ast.Silence(seconds=seconds):
                    resolved.append(cmd.Silence(float(seconds)))
        return tuple(resolved)
