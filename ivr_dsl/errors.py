"""Diagnostics: what is wrong with a scenario, where, and how to fix it.

A `Diagnostic` names file:line:col, shows the source line with a caret under the column and,
when the fix is obvious, a hint ("did you mean menu 'billing'?"). `ScenarioError` carries the
diagnostics that stop a scenario from loading (syntax errors, or errors found by the checker
when the caller chooses to raise them).

What this module does not do: find problems (the parsers and the checker do) or print them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

import msgspec

from ivr_dsl.ast import Path, SourceMap

Severity = Literal["error", "warning"]


class Diagnostic(msgspec.Struct, frozen=True):
    severity: Severity
    message: str
    file: str
    line: int = 0  # 1-based; 0 when unknown
    column: int = 0  # 1-based; 0 when unknown
    hint: str | None = None
    source_line: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def headline(self) -> str:
        """The first line: `file:line:col: severity: message`."""
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return f"{where}: {self.severity}: {self.message}"

    def format(self) -> str:
        """The headline, the source line with a caret under the column, and the hint."""
        lines = [self.headline()]
        if self.line and self.source_line is not None:
            gutter = f"{self.line:>5} | "
            lines.append(gutter + self.source_line.expandtabs(4).rstrip())
            if self.column:
                # Tabs before the column widen exactly as they did on the line above.
                prefix = self.source_line[: self.column - 1].expandtabs(4)
                lines.append(" " * (len(gutter) - 2) + "| " + " " * len(prefix) + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ScenarioError(Exception):
    """A scenario that cannot be used; `str()` is every diagnostic, formatted."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(diagnostic.format() for diagnostic in self.diagnostics))


def line_of(text: str, line: int) -> str | None:
    """The 1-based `line` of `text`, without its newline; None when out of range."""
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


def at_position(
    file: str, text: str, line: int, column: int, message: str,
    hint: str | None = None, severity: Severity = "error",
) -> Diagnostic:
    """A diagnostic at a known line and column of `text`."""
    return Diagnostic(severity, message, file, line, column, hint, line_of(text, line) if line else None)


def at_node(
    source_map: SourceMap, path: Path, message: str,
    hint: str | None = None, severity: Severity = "error",
) -> Diagnostic:
    """A diagnostic at the node `path` points to (or its nearest ancestor with a position)."""
    position = source_map.find(path)
    if position is None:
        return Diagnostic(severity, message, source_map.file, hint=hint)
    return at_position(source_map.file, source_map.text, position.line, position.column, message, hint, severity)


def did_you_mean(word: str, choices: Iterable[str], kind: str = "") -> str | None:
    """'did you mean menu 'billing'?' for the closest of `choices`, or None when none is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    if not close:
        return None
    return f"did you mean {kind + ' ' if kind else ''}'{close[0]}'?"
