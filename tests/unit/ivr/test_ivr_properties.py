"""Properties of the interpreter on every example: random valid answers never break it, and silence ends every call.

The events fed are always answers to the command awaited (a valid controller); the
interpreter must never raise, must return something from every call until it is finished,
must end each list with the awaited command (or a terminal one), and must finish at once on
a hang-up. Feeding only timeouts (and failures) must reach a terminal command within
SILENT_CALL_LIMIT steps: no scenario keeps a silent caller forever.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr_dsl import commands as cmd
from ivr_dsl.compiler import compile_scenario
from ivr_dsl.expressions import compare
from ivr_dsl.interpreter import Interpreter
from ivr_dsl.parser import load_scenario

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
FILES = sorted(EXAMPLES.glob("*.ivr")) + sorted(EXAMPLES.glob("*.yaml"))
PROGRAMS = {path.name: compile_scenario(load_scenario(path)[0]) for path in FILES}
SILENT_CALL_LIMIT = 200
RANDOM_CALL_EVENTS = 300

KEYS = "0123456789*#"
FUNCTION_VALUES = st.one_of(
    st.none(), st.integers(), st.text(max_size=5), st.booleans(),
    st.fixed_dictionaries({"found": st.booleans(), "amount": st.floats(allow_nan=False), "currency": st.just("EUR")}),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
MOMENTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))
CALL_VARIABLES = st.fixed_dictionaries({
    "caller": st.text(alphabet="+0123456789", max_size=12),
    "header": st.fixed_dictionaries({
        "X-Customer-Tier": st.sampled_from(["", "gold", "silver"]),
        "Accept-Language": st.sampled_from(["", "pl-PL", "en-GB,en"]),
    }),
})


def answer(data: st.DataObject, pending: cmd.Command) -> cmd.Event:
    """A random event that is a valid answer to `pending`."""
    if data.draw(st.integers(0, 40)) == 0:
        return cmd.CallerHungUp()
    match pending:
        case cmd.Play():
            return cmd.PlayFinished(data.draw(st.sampled_from(["", "", "1", "#"])))
        case cmd.Wait():
            return cmd.WaitFinished()
        case cmd.Collect(max_digits=max_digits):
            digits = data.draw(st.text(alphabet=KEYS, max_size=max_digits))
            ended_by = "timeout" if not digits else data.draw(
                st.sampled_from(["terminator", "max_digits", "inter_digit_timeout"]))
            return cmd.Collected(digits, ended_by)
        case cmd.Enqueue():
            return data.draw(st.sampled_from([cmd.QueueJoined(), cmd.QueueFailed("queues not configured")]))
        case cmd.Dial():
            return data.draw(st.sampled_from([cmd.DialAnswered(), cmd.DialFailed("busy"), cmd.DialFailed("no_answer")]))
        case cmd.Voicemail():
            return data.draw(st.sampled_from([cmd.VoicemailRecorded(), cmd.VoicemailFailed()]))
        case cmd.CallFunction():
            if data.draw(st.booleans()):
                return cmd.FunctionFailed("timeout")
            return cmd.FunctionReturned(data.draw(FUNCTION_VALUES))
    raise AssertionError(f"nothing answers {pending!r}")


def silence(pending: cmd.Command) -> cmd.Event:
    """The answer of a caller who presses nothing, in a world where everything else fails."""
    match pending:
        case cmd.Play():
            return cmd.PlayFinished()
        case cmd.Wait():
            return cmd.WaitFinished()
        case cmd.Collect():
            return cmd.Collected("", "timeout")
        case cmd.Enqueue():
            return cmd.QueueFailed("queues not configured")
        case cmd.Dial():
            return cmd.DialFailed("no_answer")
        case cmd.Voicemail():
            return cmd.VoicemailFailed()
        case cmd.CallFunction():
            return cmd.FunctionFailed("timeout")
    raise AssertionError(f"nothing answers {pending!r}")


def check_outputs(interpreter: Interpreter, outputs: list) -> None:
    assert all(isinstance(output, (cmd.Command, cmd.Analytics)) for output in outputs)
    if interpreter.finished:
        assert outputs, "finishing must at least say how the scenario was left"
        assert isinstance(outputs[-1], (*cmd.TERMINAL, cmd.ScenarioExited))
        assert sum(isinstance(output, cmd.ScenarioExited) for output in outputs) == 1
    else:
        assert outputs and outputs[-1] is interpreter.pending
        assert not isinstance(outputs[-1], cmd.TERMINAL)
        assert not any(isinstance(output, cmd.ScenarioExited) for output in outputs)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), start=MOMENTS, variables=CALL_VARIABLES)
def test_random_valid_answers_never_break_a_call(name, data, start, variables):
    interpreter = Interpreter(PROGRAMS[name], variables)
    now = start
    check_outputs(interpreter, interpreter.start(now))
    for _ in range(RANDOM_CALL_EVENTS):
        if interpreter.finished:
            return
        now += timedelta(seconds=data.draw(st.integers(0, 30)))
        check_outputs(interpreter, interpreter.handle(answer(data, interpreter.pending), now))
    outputs = interpreter.handle(cmd.CallerHungUp(), now)
    assert interpreter.finished and outputs[-1].how == "caller_hangup"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=30, deadline=None)
@given(start=MOMENTS, variables=CALL_VARIABLES)
def test_a_silent_caller_always_reaches_the_end(name, start, variables):
    interpreter = Interpreter(PROGRAMS[name], variables)
    outputs = interpreter.start(start)
    for _ in range(SILENT_CALL_LIMIT):
        if interpreter.finished:
            break
        outputs = interpreter.handle(silence(interpreter.pending), start)
    assert interpreter.finished, f"{name}: still at {interpreter.position} after {SILENT_CALL_LIMIT} silent steps"
    assert isinstance(outputs[-1], cmd.TERMINAL)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(alphabet="0123456789.-+ab", max_size=6),
                   st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@given(op=st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), left=VALUES, right=VALUES)
def test_comparisons_never_raise(op, left, right):
    assert compare(op, left, right) in (True, False)
