"""How values are written as text, in both directions, for both surface forms.

Reading: quoted text with escapes, spoken text with `{variable}` parts (a Value or a Concat),
durations like 500ms, numbers (a leading 0 keeps phone numbers as text), day ranges like
mon-fri, time ranges. Writing: the exact inverses, and expressions in the DSL's syntax with
parentheses exactly where the tree needs them. The YAML form writes its conditions in the
same expression syntax, so both forms share this module.

What this module does not do: parse a whole file (parser.py, yaml_form.py) or lay one out
(printer.py, yaml_printer.py).
"""

from __future__ import annotations

import re

from ivr_dsl import ast
from ivr_dsl.ast import Position

HANGUP_CAUSES = ("normal", "busy", "rejected", "unavailable", "no_answer", "failure")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*")


class Refusal(Exception):
    """A problem found while building the tree, at a 1-based line and column."""

    def __init__(self, message: str, line: int, column: int, hint: str | None = None):
        super().__init__(message)
        self.message, self.line, self.column, self.hint = message, line, column, hint


# --- Reading ---------------------------------------------------------------------------


def seconds_of_duration(text: str) -> float | None:
    """5s -> 5.0, 500ms -> 0.5, 2m -> 120.0, 1h -> 3600.0; None when it is not a duration."""
    found = _DURATION.match(text.strip())
    if not found:
        return None
    amount, unit = found.groups()
    if unit == "ms":
        return float(amount) / 1000  # divide, not multiply: 100ms is exactly the float 0.1
    return float(amount) * _UNIT_SECONDS[unit]


def unquote(token: str) -> str:
    """The text of a "quoted" token: \\" is a quote, \\\\ a backslash, other backslashes stay
    as written (so a pattern can say "^\\d+$")."""
    body, out, index = token[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body) and body[index + 1] in '"\\':
            out.append(body[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def interpolate(text: str, line: int = 0, column: int = 0, positions: dict | None = None) -> ast.Expr:
    """Spoken text with {variable} parts: a plain Value, or a Concat of Values and Vars.

    `{{` and `}}` stand for literal braces. `column` is where `text` starts on `line`; when
    `positions` is given, each Var's position is recorded there by id."""
    parts: list[ast.Expr] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if text.startswith("{{", index) or text.startswith("}}", index):
            literal.append(char)
            index += 2
            continue
        if char == "}":
            raise Refusal("a '}' with no '{' before it in the text", line, column + index,
                          "write }} for a literal brace")
        if char != "{":
            literal.append(char)
            index += 1
            continue
        close = text.find("}", index)
        if close < 0:
            raise Refusal("a '{' with no closing '}' in the text", line, column + index,
                          "write {{ for a literal brace")
        name = text[index + 1 : close].strip()
        if not _PLACEHOLDER.fullmatch(name):
            raise Refusal(f"'{{{text[index + 1:close]}}}' is not a variable name", line, column + index,
                          "inside {...} write a variable such as {caller} or {customer.name}")
        if literal:
            parts.append(ast.Value("".join(literal)))
            literal = []
        var = ast.Var(name)
        if positions is not None:
            positions[id(var)] = Position(line, column + index + 1)
        parts.append(var)
        index = close + 1
    if not parts:
        return ast.Value("".join(literal))
    if literal:
        parts.append(ast.Value("".join(literal)))
    return ast.Concat(parts)


def number_value(text: str) -> ast.Value:
    """A number as written: 3 and 2.5 are numbers; 0048... (a leading zero) is text, so that
    phone numbers keep their digits."""
    if "." in text:
        return ast.Value(float(text))
    digits = text.lstrip("-")
    if len(digits) > 1 and digits.startswith("0"):
        return ast.Value(text)
    return ast.Value(int(text))


def as_target(expr: ast.Expr) -> ast.Expr:
    """Dial, transfer and voicemail targets: a bare number is a number to call, i.e. text."""
    if isinstance(expr, ast.Value) and isinstance(expr.value, int) and not isinstance(expr.value, bool):
        return ast.Value(str(expr.value))
    return expr


def expand_days(spec: str) -> list[str]:
    """'mon-fri' -> mon..fri; 'sat-mon' wraps over the week's end; 'sat' -> [sat]."""
    first, _, last = spec.partition("-")
    if not last:
        return [first]
    start, stop = WEEKDAYS.index(first), WEEKDAYS.index(last)
    count = (stop - start) % 7 + 1
    return [WEEKDAYS[(start + step) % 7] for step in range(count)]


def time_range(text: str) -> ast.TimeRange:
    start, _, end = text.partition("-")
    return ast.TimeRange(start.strip(), end.strip())



_BARE_TARGET = re.compile(r"\+?[0-9]+")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*")


# --- Writing ---------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """5.0 -> 5s, 0.5 -> 500ms, 120.0 -> 2m, 3600.0 -> 1h, 1.25 -> 1250ms."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    milliseconds = seconds * 1000
    if abs(milliseconds - round(milliseconds)) < 1e-6 and round(milliseconds) / 1000 == seconds:
        return f"{round(milliseconds)}ms"
    return f"{seconds!r}s"


def quote(text: str, interpolated: bool = False) -> str:
    """A "quoted" token for `text`; in interpolated text, braces are doubled."""
    out = []
    for index, char in enumerate(text):
        if char == "\\":
            following = text[index + 1] if index + 1 < len(text) else ""
            out.append("\\\\" if following in ('"', "\\", "") else "\\")
        elif char == '"':
            out.append('\\"')
        elif interpolated and char in "{}":
            out.append(char * 2)
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def spoken(expr: ast.Expr) -> str:
    """The text of a Speak (or a text expression) with its {variable} parts, quoted."""
    if isinstance(expr, ast.Value) and isinstance(expr.value, str):
        return quote(expr.value, interpolated=True)
    parts = expr.parts if isinstance(expr, ast.Concat) else [expr]
    out = []
    for part in parts:
        if isinstance(part, ast.Value) and isinstance(part.value, str):
            out.append(quote(part.value, interpolated=True)[1:-1])
        elif isinstance(part, ast.Var):
            out.append("{" + part.name + "}")
        else:
            raise TypeError(f"spoken text cannot hold {type(part).__name__}")
    return '"' + "".join(out) + '"'


_LEVEL = {ast.Or: 1, ast.And: 2, ast.Not: 3, ast.Compare: 4, ast.Matches: 4, ast.In: 4}


def format_expression(expr: ast.Expr, level: int = 0) -> str:
    """An expression in the DSL's syntax, with parentheses exactly where the tree needs them."""
    own = _LEVEL.get(type(expr), 5)
    if isinstance(expr, ast.Not) and isinstance(expr.item, ast.IsOpen):
        own = 5
    text = _expression_text(expr)
    return f"({text})" if own < level else text


def _expression_text(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Or):
        return " or ".join(format_expression(item, 2) for item in expr.items)
    if isinstance(expr, ast.And):
        return " and ".join(format_expression(item, 3) for item in expr.items)
    if isinstance(expr, ast.Not):
        if isinstance(expr.item, ast.IsOpen):
            return f"closed({expr.item.calendar})"
        return "not " + format_expression(expr.item, 3)
    if isinstance(expr, ast.Compare):
        return f"{format_expression(expr.left, 5)} {expr.op} {format_expression(expr.right, 5)}"
    if isinstance(expr, ast.Matches):
        return f"{format_expression(expr.subject, 5)} matches {quote(expr.pattern)}"
    if isinstance(expr, ast.In):
        items = ", ".join(format_expression(item, 1) for item in expr.items)
        return f"{format_expression(expr.subject, 5)} in [{items}]"
    if isinstance(expr, ast.IsOpen):
        return f"open({expr.calendar})"
    if isinstance(expr, ast.Var):
        return expr.name
    if isinstance(expr, ast.Concat):
        return spoken(expr)
    if isinstance(expr, ast.Value):
        value = expr.value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, str):
            return quote(value, interpolated=True)
    raise ValueError(f"cannot write {expr!r} as an expression")


def format_target(expr: ast.Expr) -> str:
    """Dial/transfer/voicemail targets: a number to call is written bare (dial 1001)."""
    if isinstance(expr, ast.Value) and isinstance(expr.value, str) and _BARE_TARGET.fullmatch(expr.value):
        return expr.value
    return format_expression(expr)


def compress_days(days: list[str]) -> str:
    """[mon, tue, wed, thu, fri, sun] -> 'mon-fri, sun' (runs in week order become ranges)."""
    groups: list[list[str]] = []
    for day in days:
        if groups and WEEKDAYS.index(day) == WEEKDAYS.index(groups[-1][-1]) + 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    return ", ".join(group[0] if len(group) == 1 else f"{group[0]}-{group[-1]}" for group in groups)


def ranges_text(ranges: list[ast.TimeRange]) -> str:
    return ", ".join(f"{item.start}-{item.end}" for item in ranges)
