"""What the checker's rules look at: every statement, prompt and expression of a scenario, each
with its path, and the flow graph between sections (which section can continue at which).

`Walk` computes all of it once, so each rule is a plain loop and the whole check stays linear
in the size of the scenario (a 1,000-menu scenario checks in milliseconds).

What this module does not do: decide what is wrong (checker.py and check_flow.py do).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import msgspec

from ivr_dsl import ast
from ivr_dsl.ast import Path, Scenario, SourceMap
from ivr_dsl.errors import Diagnostic, at_node

if TYPE_CHECKING:
    from ivr_dsl.checker import CheckContext

# Statements after which the call has left the scenario's menus (or may have: `return`).
EXIT_STATEMENTS = (ast.Hangup, ast.Queue, ast.Dial, ast.Transfer, ast.Voicemail, ast.Return)


class Walk:
    """The scenario with everything a rule needs, each item found once with its path."""

    def __init__(self, scenario: Scenario, source_map: SourceMap, context: CheckContext):
        self.scenario, self.source_map, self.context = scenario, source_map, context
        self.sections = {section.name: section for section in scenario.sections}
        # (path, statement, index of its section)
        self.statements = [
            item for index, section in enumerate(scenario.sections)
            for item in _section_statements(section, ("sections", index), index)
        ]
        self.prompts = list(_all_prompts(self))
        self.expressions = list(_all_expressions(self))
        self.index_of = {section.name: index for index, section in reversed(list(enumerate(scenario.sections)))}
        self.gotos: list[set[int]] = [set() for _ in scenario.sections]  # goto, back, top
        self.calls: list[set[int]] = [set() for _ in scenario.sections]
        self.has_exit_statement = [False] * len(scenario.sections)
        self._build_graph()

    def _build_graph(self) -> None:
        """Edges: `goto`/`call` targets, `top` (the first menu) and, for `back`, the menus
        that lead to the section (approximated by every menu with an edge to it)."""
        first_menu = next((index for index, item in enumerate(self.scenario.sections) if isinstance(item, ast.Menu)), None)
        backs: list[int] = []
        for _, statement, section in self.statements:
            if isinstance(statement, (ast.Goto, ast.Gosub)) and statement.target in self.index_of:
                (self.gotos if isinstance(statement, ast.Goto) else self.calls)[section].add(self.index_of[statement.target])
            elif isinstance(statement, ast.Top) and first_menu is not None:
                self.gotos[section].add(first_menu)
            elif isinstance(statement, ast.Back):
                backs.append(section)
            elif isinstance(statement, EXIT_STATEMENTS):
                self.has_exit_statement[section] = True
        for section in backs:
            self.gotos[section] |= {index for index, targets in enumerate(self.gotos) if section in targets}

    def successors(self, index: int, follow_calls: bool = True) -> set[int]:
        return self.gotos[index] | self.calls[index] if follow_calls else self.gotos[index]

    def closure(self, starts: set[int], follow_calls: bool = True) -> set[int]:
        """Every section reachable from `starts` (included)."""
        seen, todo = set(starts), list(starts)
        while todo:
            for target in self.successors(todo.pop(), follow_calls):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    def error(self, path: Path, message: str, hint: str | None = None) -> Diagnostic:
        return at_node(self.source_map, path, message, hint, "error")

    def warning(self, path: Path, message: str, hint: str | None = None) -> Diagnostic:
        return at_node(self.source_map, path, message, hint, "warning")

    @property
    def languages(self) -> list[str]:
        return self.scenario.languages or [self.scenario.language]

    def start_index(self) -> int | None:
        if self.scenario.start is not None:
            return self.index_of.get(self.scenario.start)
        return 0 if self.scenario.sections else None


def _bodies(statement: ast.Stmt, path: Path) -> Iterator[tuple[Path, list[ast.Stmt]]]:
    """The statement lists nested in one statement, with their paths."""
    if isinstance(statement, ast.If):
        for index, branch in enumerate(statement.branches):
            yield path + ("branches", index, "body"), branch.body
        yield path + ("otherwise",), statement.otherwise
    elif isinstance(statement, (ast.Collect, ast.Queue, ast.Dial)):
        yield path + ("on_failure",), statement.on_failure
    elif isinstance(statement, ast.Invoke):
        yield path + ("on_error",), statement.on_error


def _statements(body: list[ast.Stmt], path: Path, section: int) -> Iterator[tuple[Path, ast.Stmt, int]]:
    for index, statement in enumerate(body):
        yield path + (index,), statement, section
        for inner_path, inner in _bodies(statement, path + (index,)):
            yield from _statements(inner, inner_path, section)


def _section_bodies(section: ast.Section, path: Path) -> Iterator[tuple[Path, list[ast.Stmt]]]:
    if isinstance(section, ast.Block):
        yield path + ("body",), section.body
        return
    yield path + ("on_max_failures",), section.on_max_failures
    yield path + ("on_max_timeouts",), section.on_max_timeouts
    for index, option in enumerate(section.options):
        yield path + ("options", index, "body"), option.body


def _section_statements(section: ast.Section, path: Path, index: int) -> Iterator[tuple[Path, ast.Stmt, int]]:
    for body_path, body in _section_bodies(section, path):
        yield from _statements(body, body_path, index)


def _prompt_lists(walk: Walk) -> Iterator[tuple[Path, list[ast.Prompt]]]:
    for index, section in enumerate(walk.scenario.sections):
        if isinstance(section, ast.Menu):
            path = ("sections", index)
            for field in ("greeting", "short_greeting", "invalid", "timeout_prompt"):
                yield path + (field,), getattr(section, field)
            for number, prompts in enumerate(section.reprompts):
                yield path + ("reprompts", number), prompts
    for path, statement, _ in walk.statements:
        if isinstance(statement, ast.Play):
            yield path + ("prompts",), statement.prompts
        elif isinstance(statement, ast.Collect):
            yield path + ("prompts",), statement.prompts
            yield path + ("invalid",), statement.invalid


def _all_prompts(walk: Walk) -> Iterator[tuple[Path, ast.Prompt]]:
    for path, prompts in _prompt_lists(walk):
        for index, prompt in enumerate(prompts):
            yield path + (index,), prompt


def _sub_expressions(expr: ast.Expr, path: Path) -> Iterator[tuple[Path, ast.Expr]]:
    yield path, expr
    for name in expr.__struct_fields__:
        value = getattr(expr, name)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, msgspec.Struct):
                    yield from _sub_expressions(item, path + (name, index))
        elif isinstance(value, msgspec.Struct):
            yield from _sub_expressions(value, path + (name,))


def _top_expressions(walk: Walk) -> Iterator[tuple[Path, ast.Expr]]:
    for path, prompt in walk.prompts:
        if isinstance(prompt, ast.Speak):
            yield path + ("text",), prompt.text
        elif isinstance(prompt, (ast.SayDigits, ast.SayNumber, ast.SayDate)):
            yield path + ("value",), prompt.value
    for path, statement, _ in walk.statements:
        if isinstance(statement, ast.If):
            for index, branch in enumerate(statement.branches):
                yield path + ("branches", index, "condition"), branch.condition
        elif isinstance(statement, ast.Set):
            yield path + ("value",), statement.value
        elif isinstance(statement, ast.SetLanguage):
            yield path + ("language",), statement.language
        elif isinstance(statement, (ast.Dial, ast.Transfer)):
            yield path + ("target",), statement.target
            if isinstance(statement, ast.Dial) and statement.caller_id is not None:
                yield path + ("caller_id",), statement.caller_id
        elif isinstance(statement, ast.Voicemail):
            yield path + ("mailbox",), statement.mailbox
        elif isinstance(statement, ast.Invoke):
            for name, value in statement.args.items():
                yield path + ("args", name), value


def _all_expressions(walk: Walk) -> Iterator[tuple[Path, ast.Expr]]:
    for path, expr in _top_expressions(walk):
        yield from _sub_expressions(expr, path)


