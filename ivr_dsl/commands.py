"""The vocabulary between the IVR interpreter and whoever runs it on a call (the controller, the simulator).

Three families, all frozen tagged msgspec Structs:

- `Command` (imperative): what the interpreter asks the call to do. Some await an event,
  named beside each class below; `Hangup`, `Transfer` and `Finished` are terminal; the rest
  (`Answer`, `SetDisposition`, `PauseRecording`, `ResumeRecording`) are done and forgotten.
- `Event` (past tense): what happened, fed back with `Interpreter.handle(event, now)`.
  `CallerHungUp` may answer any wait.
- `Analytics` (past tense): records of the path taken (node entered, key chosen, no input,
  no match, exit), interleaved with the commands in the order they happened, for a bus.
  They carry no timestamp: the controller stamps them with its clock.

Prompts reach the controller resolved (`ResolvedPrompt`): text interpolated, language chosen;
the controller only renders them (and falls back to the scenario's default language when a
recorded prompt does not exist in the requested one).

What this module does not do: decide anything.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class _Frozen(msgspec.Struct, frozen=True, tag_field="type"):
    pass


# --- Resolved prompts ------------------------------------------------------------------------


class Recorded(_Frozen, tag="recorded"):
    """A recorded file: <prompts>/<language>/<name>.wav (fallback to the default language)."""

    name: str
    language: str


class Speech(_Frozen, tag="speech"):
    """Text to speak by TTS, already interpolated."""

    text: str
    language: str
    voice: str | None = None


class Digits(_Frozen, tag="digits"):
    """Read out digit by digit ("1 2 3")."""

    text: str
    language: str


class Number(_Frozen, tag="number"):
    """Read out as a number ("one hundred twenty-three")."""

    text: str
    language: str


class Date(_Frozen, tag="date"):
    """Read out as a date; `text` is ISO 8601 (a date or a date-time)."""

    text: str
    language: str


class Silence(_Frozen, tag="silence"):
    seconds: float


ResolvedPrompt = Recorded | Speech | Digits | Number | Date | Silence


# --- Commands --------------------------------------------------------------------------------


class Command(_Frozen):
    """Base of everything the interpreter asks the call to do."""


class Answer(Command, tag="answer"):
    """Answer the call if it is not answered yet. Awaits nothing."""


class Play(Command, tag="play"):
    """Play prompts in order. Awaits PlayFinished (with the keys that stopped it, if barge_in)."""

    prompts: tuple[ResolvedPrompt, ...]
    barge_in: bool = True


class Collect(Command, tag="collect"):
    """Play prompts (a key stops them when barge_in) and gather digits. Awaits Collected.

    Menus use it too: max_digits is the longest key and there is no terminator. The
    terminator is not part of the collected digits. `typed_ahead` holds keys the caller
    pressed to interrupt the Play just before: they count as the first digits collected
    (the prompts are then skipped).
    """

    prompts: tuple[ResolvedPrompt, ...]
    min_digits: int
    max_digits: int
    terminator: str | None
    timeout: float
    inter_digit_timeout: float
    sensitive: bool = False
    barge_in: bool = True
    typed_ahead: str = ""


class Wait(Command, tag="wait"):
    """Stay silent for `seconds`. Awaits WaitFinished."""

    seconds: float


class Enqueue(Command, tag="enqueue"):
    """Hand the call to an ACD queue. Awaits QueueJoined (the call left the IVR) or QueueFailed."""

    queue: str
    priority: int = 0
    skills: tuple[str, ...] = ()
    timeout: float | None = None


class Dial(Command, tag="dial"):
    """Ring a target. Awaits DialAnswered (the call is connected: the IVR is over) or DialFailed."""

    target: str
    timeout: float
    caller_id: str | None = None


class Transfer(Command, tag="transfer"):
    """Blind transfer. Terminal."""

    target: str


class Voicemail(Command, tag="voicemail"):
    """Send the caller to a mailbox. Awaits VoicemailRecorded (terminal) or VoicemailFailed."""

    mailbox: str


class CallFunction(Command, tag="call_function"):
    """Run a plugin function. Awaits FunctionReturned or FunctionFailed; the controller enforces
    `timeout` and reports FunctionFailed("timeout")."""

    function: str
    args: dict[str, object]
    timeout: float


class SetDisposition(Command, tag="set_disposition"):
    """Record the call's outcome for reporting. Awaits nothing."""

    value: str


class PauseRecording(Command, tag="pause_recording"):
    """Sent before a sensitive collect. Awaits nothing."""


class ResumeRecording(Command, tag="resume_recording"):
    """Sent when a sensitive collect is over. Awaits nothing."""


class Hangup(Command, tag="hangup"):
    """Hang up with a cause. Terminal."""

    cause: str = "normal"


class Finished(Command, tag="finished"):
    """The scenario ran off its end (or `return` with nothing to return to). Terminal: the
    controller hangs up with cause normal."""


TERMINAL = (Hangup, Transfer, Finished)


# --- Events ----------------------------------------------------------------------------------


class Event(_Frozen):
    """Base of everything fed back to the interpreter."""


class PlayFinished(Event, tag="play_finished"):
    interrupted_by: str = ""  # the keys that stopped a barge-in prompt, "" when it played out


class Collected(Event, tag="collected"):
    digits: str  # without the terminator; "" on a timeout with no key
    ended_by: Literal["terminator", "max_digits", "timeout", "inter_digit_timeout"]


class WaitFinished(Event, tag="wait_finished"):
    pass


class QueueJoined(Event, tag="queue_joined"):
    pass


class QueueFailed(Event, tag="queue_failed"):
    reason: str  # e.g. "queues not configured", "unknown queue", "closed", "timeout"


DialFailureReason = Literal["busy", "no_answer", "rejected", "unavailable", "failure"]


class DialAnswered(Event, tag="dial_answered"):
    pass


class DialFailed(Event, tag="dial_failed"):
    reason: DialFailureReason


class VoicemailRecorded(Event, tag="voicemail_recorded"):
    pass


class VoicemailFailed(Event, tag="voicemail_failed"):
    reason: str = "voicemail not available"


class FunctionReturned(Event, tag="function_returned"):
    value: object = None


class FunctionFailed(Event, tag="function_failed"):
    reason: str  # "timeout", "unknown function", the function's own error text


class CallerHungUp(Event, tag="caller_hung_up"):
    pass


# --- Analytics -------------------------------------------------------------------------------


class Analytics(_Frozen):
    """Base of the path records."""


class NodeEntered(Analytics, tag="node_entered"):
    node: str
    kind: Literal["block", "menu"]


class KeyChosen(Analytics, tag="key_chosen"):
    menu: str
    key: str


class NoInput(Analytics, tag="no_input"):
    node: str
    attempt: int
    variable: str | None = None  # set for a collect, None for a menu


class NoMatch(Analytics, tag="no_match"):
    node: str
    digits: str  # masked with "*" for a sensitive collect
    attempt: int
    variable: str | None = None


class AttemptsExhausted(Analytics, tag="attempts_exhausted"):
    node: str
    reason: Literal["failures", "timeouts"]
    variable: str | None = None


class ScenarioFailed(Analytics, tag="scenario_failed"):
    """The interpreter stopped the call to protect itself (a loop with no wait, runaway recursion)."""

    node: str
    reason: str


ExitHow = Literal["hangup", "finished", "transfer", "queue", "dial", "voicemail", "caller_hangup", "error"]


class ScenarioExited(Analytics, tag="scenario_exited"):
    how: ExitHow
    node: str


Output = Command | Analytics
