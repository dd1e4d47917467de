"""Evaluate scenario expressions (`ivr_dsl.ast.Expr`) against a call's variables, calendars and clock.

Values are str, int, float, bool, None, or dict (a function result; `account.balance` reads a
field). Evaluation never raises on scenario data: a missing variable or field is None, an
ordering between values that do not order (text and None, say) is false, a pattern that does
not compile matches nothing. Our own misuse (a naive `now`) does raise.

Comparisons: when one side is a number and the other is text that looks like a number
("42", "-3.5"), both are compared as numbers, so `digits >= 5` works on collected digits.
Two texts compare as text ("007" != "7"; "09:30" < "18:00"), two numbers as numbers.
Truth is Python's: None, "", 0 and False are false.

Built-in variables, unless the call set a variable of the same name:
`now` (ISO text with offset), `date` ("2026-12-24"), `time` ("19:05"), `weekday` ("thu"),
all on the scope's local clock (the scenario's first calendar's zone, else `now`'s own zone).

What this module does not do: parse expressions, or check that names exist (the checker warns).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo

from ivr_dsl.ast import And, Calendar, Compare, Concat, Expr, In, IsOpen, Matches, Not, Or, Value, Var
from ivr_dsl.calendar import WEEKDAYS, is_open

NUMERIC_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class Scope:
    """What an expression can see: variables, calendars by name, and the current instant."""

    def __init__(self, variables: Mapping[str, object], calendars: Mapping[str, Calendar], now: datetime,
                 zone: tzinfo | None = None) -> None:
        if now.tzinfo is None:
            raise ValueError("expressions need an aware `now` (a datetime with a time zone)")
        self.variables = variables
        self.calendars = calendars
        self.now = now
        self.local_now = now.astimezone(zone) if zone is not None else now

    def lookup(self, name: str) -> object:
        """A variable's value: exact name first, then a dotted walk into dicts, then the clock built-ins."""
        if name in self.variables:
            return self.variables[name]
        head, dot, rest = name.partition(".")
        if dot and head in self.variables:
            value: object = self.variables[head]
            for field in rest.split("."):
                if not isinstance(value, Mapping) or field not in value:
                    return None
                value = value[field]
            return value
        return self._clock_variable(name)

    def _clock_variable(self, name: str) -> object:
        local = self.local_now
        if name == "now":
            return local.isoformat(timespec="seconds")
        if name == "date":
            return local.date().isoformat()
        if name == "time":
            return local.strftime("%H:%M")
        if name == "weekday":
            return WEEKDAYS[local.weekday()]
        return None


def evaluate(expr: Expr, scope: Scope) -> object:
    """The value of `expr` in `scope`."""
    match expr:
        case Value(value=value):
            return value
        case Var(name=name):
            return scope.lookup(name)
        case Compare(op=op, left=left, right=right):
            return compare(op, evaluate(left, scope), evaluate(right, scope))
        case Matches(subject=subject, pattern=pattern):
            return matches(pattern, text_of(evaluate(subject, scope)))
        case In(subject=subject, items=items):
            value = evaluate(subject, scope)
            return any(compare("==", value, evaluate(item, scope)) for item in items)
        case And(items=items):
            return all(is_true(evaluate(item, scope)) for item in items)
        case Or(items=items):
            return any(is_true(evaluate(item, scope)) for item in items)
        case Not(item=item):
            return not is_true(evaluate(item, scope))
        case IsOpen(calendar=name):
            calendar = scope.calendars.get(name)
            return calendar is not None and is_open(calendar, scope.now)
        case Concat(parts=parts):
            return "".join(text_of(evaluate(part, scope)) for part in parts)
    raise TypeError(f"not an expression: {expr!r}")


def is_true(value: object) -> bool:
    return bool(value)


def text_of(value: object) -> str:
    """How a value reads when interpolated into text: None is empty, booleans are true/false."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def compare(op: str, left: object, right: object) -> bool:
    """`left op right` with the numeric-text rule above; orderings that make no sense are false."""
    left, right = _comparable(left, right)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    try:
        if op == "<":
            return left < right  # type: ignore[operator]
        if op == "<=":
            return left <= right  # type: ignore[operator]
        if op == ">":
            return left > right  # type: ignore[operator]
        if op == ">=":
            return left >= right  # type: ignore[operator]
    except TypeError:
        return False
    raise ValueError(f"unknown comparison operator {op!r}")


def matches(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(text: str) -> int | float | None:
    if not NUMERIC_TEXT.fullmatch(text):
        return None
    return float(text) if "." in text else int(text)


def _comparable(left: object, right: object) -> tuple[object, object]:
    if _is_number(left) and isinstance(right, str):
        number = _as_number(right)
        return (left, number) if number is not None else (left, right)
    if isinstance(left, str) and _is_number(right):
        number = _as_number(left)
        return (number, right) if number is not None else (left, right)
    return left, right
