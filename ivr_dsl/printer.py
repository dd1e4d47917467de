"""Writing a scenario back out: `to_dsl` gives the `.ivr` form, `to_yaml` the YAML form.

Both are exact inverses of the parsers for every scenario they can express:
parse_dsl(to_dsl(s))[0] == s and parse_yaml(to_yaml(s))[0] == s. Settings equal to their
defaults are left out, so a converted file reads like one written by hand. The DSL layout is
here; the YAML one is in yaml_printer.py; how single values are written, in text_forms.py.

What this module does not do: keep comments or layout (the AST has none), or check anything.
A tree that no surface form can express (a Concat holding a comparison, say) raises ValueError.
"""

from __future__ import annotations

import re
from typing import Any

from ivr_dsl import ast
from ivr_dsl.text_forms import (
    NAME,
    compress_days,
    format_duration,
    format_expression,
    format_target,
    quote,
    ranges_text,
    spoken,
)
from ivr_dsl.yaml_printer import to_yaml

__all__ = ["format_duration", "format_expression", "to_dsl", "to_yaml"]

INDENT = "  "
_MENU_DEFAULTS = ast.Menu(name="", greeting=[], options=[])
_COLLECT_DEFAULTS = ast.Collect(variable="")


# --- The DSL form ----------------------------------------------------------------------------


def to_dsl(scenario: ast.Scenario) -> str:
    """The `.ivr` text of `scenario`."""
    out = [f"scenario {quote(scenario.name)}", f"{INDENT}language {scenario.language}"]
    if scenario.languages:
        out.append(f"{INDENT}languages {', '.join(scenario.languages)}")
    if scenario.prompts is not None:
        out.append(f"{INDENT}prompts {quote(scenario.prompts)}")
    if scenario.start is not None:
        out.append(f"{INDENT}start {scenario.start}")
    for name, value in scenario.variables.items():
        out.append(f"{INDENT}variable {name} = {_literal(value)}")
    out.append("end")
    for calendar in scenario.calendars:
        out += ["", *_calendar_lines(calendar)]
    for section in scenario.sections:
        out += ["", *_section_lines(section)]
    return "\n".join(out) + "\n"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    return repr(value)


def _calendar_lines(calendar: ast.Calendar) -> list[str]:
    out = [f"calendar {calendar.name} {quote(calendar.timezone)}"]
    for hours in calendar.weekly:
        out.append(f"{INDENT}{compress_days(hours.days)} {ranges_text(hours.ranges)}")
    for holiday in calendar.holidays:
        name = f" {quote(holiday.name)}" if holiday.name is not None else ""
        out.append(f"{INDENT}holiday {holiday.date}{name}")
    for override in calendar.overrides:
        name = f" {quote(override.name)}" if override.name is not None else ""
        out.append(f"{INDENT}override {override.date} {ranges_text(override.ranges) or 'closed'}{name}")
    out.append("end")
    return out


def _section_lines(section: ast.Section) -> list[str]:
    if isinstance(section, ast.Block):
        return [f"block {section.name}", *_body(section.body, 1), "end"]
    return _menu_lines(section)


def _menu_lines(menu: ast.Menu) -> list[str]:
    out = [f"menu {menu.name}"]
    pad = INDENT
    if menu.greeting:
        out.append(f"{pad}greeting {_prompts(menu.greeting)}")
    if menu.short_greeting:
        out.append(f"{pad}short greeting {_prompts(menu.short_greeting)}")
    for prompts in menu.reprompts:
        out.append(f"{pad}reprompt {_prompts(prompts)}")
    if menu.invalid:
        out.append(f"{pad}invalid {_prompts(menu.invalid)}")
    if menu.timeout_prompt:
        out.append(f"{pad}timeout prompt {_prompts(menu.timeout_prompt)}")
    if menu.timeout != _MENU_DEFAULTS.timeout:
        out.append(f"{pad}timeout {format_duration(menu.timeout)}")
    if menu.inter_digit_timeout != _MENU_DEFAULTS.inter_digit_timeout:
        out.append(f"{pad}inter-digit timeout {format_duration(menu.inter_digit_timeout)}")
    for words, count, body, default in (
        ("max failures", menu.max_failures, menu.on_max_failures, _MENU_DEFAULTS.max_failures),
        ("max timeouts", menu.max_timeouts, menu.on_max_timeouts, _MENU_DEFAULTS.max_timeouts),
    ):
        if body:
            out += _headed_body(f"{words} {count}", body, 1)
        elif count != default:
            out.append(f"{pad}{words} {count}")
    for option in menu.options:
        key = option.key if re.fullmatch(r"[0-9*]+", option.key) else quote(option.key)
        out += _headed_body(f"key {key}", option.body, 1, allow_empty=True)
    out.append("end")
    return out


def _headed_body(head: str, body: list[ast.Stmt], depth: int, allow_empty: bool = False) -> list[str]:
    """`head: statement` when the body is one single-line statement, else head, body, end."""
    pad = INDENT * depth
    if len(body) == 1:
        lines = _statement(body[0], 0)
        if len(lines) == 1:
            return [f"{pad}{head}: {lines[0]}"]
    return [f"{pad}{head}", *_body(body, depth + 1), f"{pad}end"]


def _body(body: list[ast.Stmt], depth: int) -> list[str]:
    return [line for statement in body for line in _statement(statement, depth)]


def _prompts(prompts: list[ast.Prompt]) -> str:
    return ", ".join(_prompt(prompt) for prompt in prompts)


def _prompt(prompt: ast.Prompt) -> str:
    if isinstance(prompt, ast.PromptFile):
        return quote(prompt.name)
    if isinstance(prompt, ast.Silence):
        return f"silence {format_duration(prompt.seconds)}"
    return "say " + _spoken_prompt(prompt)


def _spoken_prompt(prompt: ast.Prompt) -> str:
    if isinstance(prompt, ast.Speak):
        text = spoken(prompt.text)
        if prompt.language is not None:
            text += f" in {prompt.language}"
        if prompt.voice is not None:
            text += f" voice {prompt.voice}"
        return text
    word = {ast.SayDigits: "digits", ast.SayNumber: "number", ast.SayDate: "date"}[type(prompt)]
    return f"{word} {format_expression(prompt.value)}"  # type: ignore[union-attr]


def _clause(word: str, body: list[ast.Stmt], depth: int) -> list[str]:
    if not body:
        return []
    pad = INDENT * depth
    return [f"{pad}on {word}", *_body(body, depth + 1), f"{pad}end"]


def _statement(statement: ast.Stmt, depth: int) -> list[str]:
    """The lines of one statement, indented `depth` levels."""
    pad = INDENT * depth
    simple = _simple_statement(statement)
    if simple is not None:
        return [pad + simple]
    if isinstance(statement, ast.If):
        out = []
        for index, branch in enumerate(statement.branches):
            word = "if" if index == 0 else "elif"
            out.append(f"{pad}{word} {format_expression(branch.condition)}")
            out += _body(branch.body, depth + 1)
        if statement.otherwise:
            out.append(f"{pad}else")
            out += _body(statement.otherwise, depth + 1)
        return out + [f"{pad}end"]
    if isinstance(statement, ast.Collect):
        return [f"{pad}collect {statement.variable}", *(pad + INDENT + line for line in _collect_options(statement)),
                *_clause("failure", statement.on_failure, depth)]
    if isinstance(statement, ast.Queue):
        return [pad + _queue_line(statement), *_clause("failure", statement.on_failure, depth)]
    if isinstance(statement, ast.Dial):
        return [pad + _dial_line(statement), *_clause("failure", statement.on_failure, depth)]
    if isinstance(statement, ast.Invoke):
        return [pad + _invoke_line(statement), *_clause("error", statement.on_error, depth)]
    raise ValueError(f"cannot write {statement!r}")


def _simple_statement(statement: ast.Stmt) -> str | None:
    """The single line of a statement that never has a body; None for the others."""
    match statement:
        case ast.Answer():
            return "answer"
        case ast.Play(prompts=[prompt], barge_in=True) if not isinstance(prompt, (ast.PromptFile, ast.Silence)):
            return "say " + _spoken_prompt(prompt)
        case ast.Play():
            return f"play {_prompts(statement.prompts)}" + ("" if statement.barge_in else " no barge-in")
        case ast.Pause():
            return f"pause {format_duration(statement.seconds)}"
        case ast.Hangup():
            return "hangup" if statement.cause == "normal" else f"hangup {statement.cause}"
        case ast.Set():
            return f"set {statement.name} = {format_expression(statement.value)}"
        case ast.SetLanguage(language=ast.Value(value=str() as code)) if NAME.fullmatch(code):
            return f"language {code}"
        case ast.SetLanguage():
            return f"set language = {format_expression(statement.language)}"
        case ast.Goto():
            return f"goto {statement.target}"
        case ast.Gosub():
            return f"call {statement.target}"
        case ast.Return():
            return "return"
        case ast.Back():
            return "back"
        case ast.Top():
            return "top"
        case ast.Transfer():
            return f"transfer {format_target(statement.target)}"
        case ast.Voicemail():
            return f"voicemail {format_target(statement.mailbox)}"
        case ast.Disposition():
            return f"disposition {quote(statement.value)}"
        case ast.Queue(on_failure=[]):
            return _queue_line(statement)
        case ast.Dial(on_failure=[]):
            return _dial_line(statement)
        case ast.Invoke(on_error=[]):
            return _invoke_line(statement)
        case ast.Collect(on_failure=[]) if not _collect_options(statement):
            return f"collect {statement.variable}"
    return None


def _collect_options(collect: ast.Collect) -> list[str]:
    out = []
    default = _COLLECT_DEFAULTS
    if (collect.min_digits, collect.max_digits) != (default.min_digits, default.max_digits):
        digits = str(collect.min_digits) if collect.min_digits == collect.max_digits else f"{collect.min_digits}..{collect.max_digits}"
        out.append(f"digits {digits}")
    if collect.terminator != default.terminator:
        out.append("terminator none" if collect.terminator is None else f"terminator {quote(collect.terminator)}")
    if collect.timeout != default.timeout:
        out.append(f"timeout {format_duration(collect.timeout)}")
    if collect.inter_digit_timeout != default.inter_digit_timeout:
        out.append(f"inter-digit timeout {format_duration(collect.inter_digit_timeout)}")
    if collect.retries != default.retries:
        out.append(f"retries {collect.retries}")
    if collect.pattern is not None:
        out.append(f"pattern {quote(collect.pattern)}")
    if collect.sensitive:
        out.append("sensitive")
    if collect.prompts:
        out.append(f"prompt {_prompts(collect.prompts)}")
    if collect.invalid:
        out.append(f"invalid {_prompts(collect.invalid)}")
    return out


def _queue_line(queue: ast.Queue) -> str:
    line = f"queue {queue.queue}"
    if queue.priority:
        line += f" priority {queue.priority}"
    if queue.skills:
        line += f" skills {', '.join(queue.skills)}"
    if queue.timeout is not None:
        line += f" timeout {format_duration(queue.timeout)}"
    return line


def _dial_line(dial: ast.Dial) -> str:
    line = f"dial {format_target(dial.target)}"
    if dial.timeout != ast.Dial(target=dial.target).timeout:
        line += f" timeout {format_duration(dial.timeout)}"
    if dial.caller_id is not None:
        line += f" caller id {format_expression(dial.caller_id)}"
    return line


def _invoke_line(invoke: ast.Invoke) -> str:
    arguments = ", ".join(f"{name} = {format_expression(value)}" for name, value in invoke.args.items())
    line = f"invoke {invoke.function}({arguments})"
    if invoke.result is not None:
        line += f" into {invoke.result}"
    if invoke.timeout != ast.Invoke(function=invoke.function).timeout:
        line += f" timeout {format_duration(invoke.timeout)}"
    return line
