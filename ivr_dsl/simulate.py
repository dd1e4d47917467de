"""Simulate a call through a compiled scenario and describe it line by line (pure: no I/O, no clock).

A `Simulation` drives an `Interpreter` on a fake clock that starts at `at` and moves forward
by each pause and each timed-out collect. Prompts, pauses and functions given in
`functions` are answered automatically; the other waits take one input each:

- a menu or collect: digits ("1", "123#"; a trailing terminator ends the entry), or "timeout";
  fewer digits than the maximum and no terminator end by inter-digit timeout;
- a queue, dial or voicemail: "ok" (the call leaves the scenario) or "fail" (a queue/voicemail
  failure; a dial fails "failure"), "fail:REASON", or a dial reason: "busy", "no_answer",
  "rejected", "unavailable";
- a function not in `functions`: "ok" (returns null), "fail" / "fail:REASON", or a JSON value
  (text that is not JSON is returned as text);
- anywhere: "hangup" (the caller hangs up).

`functions` maps a function name to its result, or to a `FunctionFailed` event for a failure.
`simulate()` runs a whole script; when the script runs out the caller hangs up. A scenario
that keeps playing with no input (more than AUTOMATIC_STEP_LIMIT automatic answers in a row)
is stopped with a hang-up and a note.

Trace lines: "[main, attempt 1] collect 1 digit, 5s: say 'Press 1...' (en)", "> 1",
"[main] · key 1". Analytics records are marked with "·".
What this module does not do: read stdin or print (cli.py does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from ivr_dsl import commands as cmd
from ivr_dsl.interpreter import Interpreter
from ivr_dsl.program import Program

AUTOMATIC_STEP_LIMIT = 1000
DIAL_REASONS = ("busy", "no_answer", "rejected", "unavailable", "failure")
KEYS = set("0123456789*#ABCD")


class SimulationInputError(ValueError):
    """An input that does not answer the current wait; the message says what would."""


class Simulation:
    def __init__(self, program: Program, variables: Mapping[str, object] | None = None, *, at: datetime,
                 functions: Mapping[str, object] | None = None) -> None:
        if at.tzinfo is None:
            raise ValueError("the simulation clock needs an aware datetime")
        self.interpreter = Interpreter(program, variables)
        self.now = at
        self.functions = dict(functions or {})
        self._scenario_prefix = f"{program.name}:"
        self._section = program.start

    @property
    def finished(self) -> bool:
        return self.interpreter.finished

    @property
    def expected(self) -> str:
        """What the current wait accepts, for an interactive prompt."""
        pending = self.interpreter.pending
        if isinstance(pending, cmd.Collect):
            return "digits, timeout or hangup"
        if isinstance(pending, cmd.Dial):
            return "ok, busy, no_answer, rejected, unavailable, fail or hangup"
        if isinstance(pending, cmd.CallFunction):
            return "ok, fail[:reason], a JSON value or hangup"
        return "ok, fail[:reason] or hangup"

    def start(self) -> list[str]:
        return self._continue(self.interpreter.start(self.now))

    def feed(self, text: str) -> list[str]:
        """Answer the current wait with one input; returns the lines that follow."""
        text = text.strip()
        event = self._event_for(text)
        lines = [f"> {text}"]
        lines += self._continue(self.interpreter.handle(event, self.now))
        return lines

    # --- internals -----------------------------------------------------------------------------

    def _continue(self, outputs: list[cmd.Output]) -> list[str]:
        lines = self._describe_all(outputs)
        for _ in range(AUTOMATIC_STEP_LIMIT):
            event = self._automatic_answer()
            if event is None:
                return lines
            lines += self._describe_all(self.interpreter.handle(event, self.now))
        lines.append(f"(simulation stopped: {AUTOMATIC_STEP_LIMIT} steps without input; the caller hangs up)")
        lines += self._describe_all(self.interpreter.handle(cmd.CallerHungUp(), self.now))
        return lines

    def _automatic_answer(self) -> cmd.Event | None:
        pending = self.interpreter.pending
        if isinstance(pending, cmd.Play):
            return cmd.PlayFinished()
        if isinstance(pending, cmd.Wait):
            self.now += timedelta(seconds=pending.seconds)
            return cmd.WaitFinished()
        if isinstance(pending, cmd.CallFunction) and pending.function in self.functions:
            result = self.functions[pending.function]
            return result if isinstance(result, cmd.FunctionFailed) else cmd.FunctionReturned(result)
        return None

    def _event_for(self, text: str) -> cmd.Event:
        pending = self.interpreter.pending
        if pending is None:
            raise SimulationInputError("the call is over: no more input is expected")
        if text == "hangup":
            return cmd.CallerHungUp()
        verb, _, reason = text.partition(":")
        failed = verb == "fail"
        match pending:
            case cmd.Collect():
                return self._collected(pending, text)
            case cmd.Enqueue():
                if text == "ok":
                    return cmd.QueueJoined()
                if failed:
                    return cmd.QueueFailed(reason or "failure")
            case cmd.Dial():
                if text == "ok":
                    return cmd.DialAnswered()
                if text in DIAL_REASONS:
                    return cmd.DialFailed(text)  # type: ignore[arg-type]
                if failed:
                    return cmd.DialFailed(reason if reason in DIAL_REASONS else "failure")  # type: ignore[arg-type]
            case cmd.Voicemail():
                if text == "ok":
                    return cmd.VoicemailRecorded()
                if failed:
                    return cmd.VoicemailFailed(reason or "voicemail not available")
            case cmd.CallFunction():
                if failed:
                    return cmd.FunctionFailed(reason or "failure")
                if text == "ok":
                    return cmd.FunctionReturned(None)
                try:
                    return cmd.FunctionReturned(json.loads(text))
                except ValueError:
                    return cmd.FunctionReturned(text)
        raise SimulationInputError(f"{text!r} does not answer {_describe(pending)}: expected {self.expected}")

    def _collected(self, collect: cmd.Collect, text: str) -> cmd.Collected:
        if text == "timeout":
            self.now += timedelta(seconds=collect.timeout)
            return cmd.Collected("", "timeout")
        if not text or not set(text) <= KEYS:
            raise SimulationInputError(f"{text!r} is not a key press: expected {self.expected}")
        if collect.terminator and text.endswith(collect.terminator):
            return cmd.Collected(text[: -len(collect.terminator)], "terminator")
        if len(text) >= collect.max_digits:
            return cmd.Collected(text[: collect.max_digits], "max_digits")
        self.now += timedelta(seconds=collect.inter_digit_timeout)
        return cmd.Collected(text, "inter_digit_timeout")

    def _describe_all(self, outputs: list[cmd.Output]) -> list[str]:
        lines = []
        for index, output in enumerate(outputs):
            if isinstance(output, cmd.NodeEntered):
                self._section = output.node
            last = index == len(outputs) - 1
            waiting = last and not self.interpreter.finished
            where = self.interpreter.position.removeprefix(self._scenario_prefix) if waiting else self._section
            marker = "· " if isinstance(output, cmd.Analytics) else ""
            lines.append(f"[{where}] {marker}{_describe(output)}")
        return lines


def simulate(program: Program, inputs: list[str] | None, variables: Mapping[str, object] | None = None, *,
             at: datetime, functions: Mapping[str, object] | None = None) -> list[str]:
    """Run a whole script of inputs; the caller hangs up when the script runs out."""
    simulation = Simulation(program, variables, at=at, functions=functions)
    lines = simulation.start()
    remaining = list(inputs or [])
    while not simulation.finished:
        if not remaining:
            lines.append("(no more inputs: the caller hangs up)")
            remaining = ["hangup"]
        lines += simulation.feed(remaining.pop(0))
    if remaining:
        lines.append(f"(inputs not used: {', '.join(remaining)})")
    return lines


# --- how each output reads ---------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    if value is None:
        return "no limit"
    return f"{value:g}s"


def describe_prompt(prompt: cmd.ResolvedPrompt) -> str:
    match prompt:
        case cmd.Recorded(name=name, language=language):
            return f"play {name} ({language})"
        case cmd.Speech(text=text, language=language, voice=voice):
            return f"say {text!r} ({language}{', ' + voice if voice else ''})"
        case cmd.Digits(text=text, language=language):
            return f"digits {text} ({language})"
        case cmd.Number(text=text, language=language):
            return f"number {text} ({language})"
        case cmd.Date(text=text, language=language):
            return f"date {text} ({language})"
        case cmd.Silence(seconds=seconds):
            return f"silence {seconds:g}s"
    return repr(prompt)


def _prompts(prompts: tuple[cmd.ResolvedPrompt, ...]) -> str:
    return ", ".join(describe_prompt(prompt) for prompt in prompts) or "no prompt"


def _describe(output: cmd.Output) -> str:
    match output:
        case cmd.Answer():
            return "answer"
        case cmd.Play(prompts=prompts, barge_in=barge_in):
            return _prompts(prompts) + ("" if barge_in else " (no barge-in)")
        case cmd.Collect():
            size = (f"{output.max_digits} digit{'s' if output.max_digits > 1 else ''}"
                    if output.min_digits == output.max_digits else f"{output.min_digits}-{output.max_digits} digits")
            ends = f", {output.terminator} ends" if output.terminator else ""
            sensitive = ", sensitive" if output.sensitive else ""
            ahead = f", typed ahead {output.typed_ahead}" if output.typed_ahead else ""
            return f"collect {size}{ends}, {_seconds(output.timeout)}{sensitive}{ahead}: {_prompts(output.prompts)}"
        case cmd.Wait(seconds=seconds):
            return f"wait {_seconds(seconds)}"
        case cmd.Enqueue(queue=queue, priority=priority, skills=skills, timeout=timeout):
            details = [f"priority {priority}"] + ([f"skills {', '.join(skills)}"] if skills else [])
            details += [f"timeout {_seconds(timeout)}"] if timeout is not None else []
            return f"queue {queue} ({'; '.join(details)})"
        case cmd.Dial(target=target, timeout=timeout, caller_id=caller_id):
            return f"dial {target} ({_seconds(timeout)}{', caller id ' + caller_id if caller_id else ''})"
        case cmd.Transfer(target=target):
            return f"transfer {target}"
        case cmd.Voicemail(mailbox=mailbox):
            return f"voicemail {mailbox}"
        case cmd.CallFunction(function=function, args=args, timeout=timeout):
            arguments = ", ".join(f"{name}={value!r}" for name, value in args.items())
            return f"call {function}({arguments}), {_seconds(timeout)}"
        case cmd.SetDisposition(value=value):
            return f"disposition {value}"
        case cmd.PauseRecording():
            return "pause recording"
        case cmd.ResumeRecording():
            return "resume recording"
        case cmd.Hangup(cause=cause):
            return f"hangup ({cause})"
        case cmd.Finished():
            return "end of scenario (hangup normal)"
        case cmd.NodeEntered(node=node, kind=kind):
            return f"enter {kind} {node}"
        case cmd.KeyChosen(key=key):
            return f"key {key}"
        case cmd.NoInput(attempt=attempt, variable=variable):
            return f"no input{' for ' + variable if variable else ''} (attempt {attempt})"
        case cmd.NoMatch(digits=digits, attempt=attempt, variable=variable):
            return f"no match {digits}{' for ' + variable if variable else ''} (attempt {attempt})"
        case cmd.AttemptsExhausted(reason=reason):
            return f"too many {reason}"
        case cmd.ScenarioFailed(reason=reason):
            return f"stopped: {reason}"
        case cmd.ScenarioExited(how=how):
            return f"exit: {how}"
    return repr(output)
