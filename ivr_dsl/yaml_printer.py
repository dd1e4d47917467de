"""Writing a scenario in the YAML form (`to_yaml`), the inverse of yaml_form.py.

Settings equal to their defaults are left out; conditions and values are written in the DSL's
expression syntax, spoken text with its {variable} parts, as yaml_form.py reads them.
What this module does not do: keep comments (the tree has none) or check anything.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ivr_dsl import ast
from ivr_dsl.text_forms import compress_days, format_duration, format_expression, format_target, ranges_text

__all__ = ["to_yaml"]

_MENU_DEFAULTS = ast.Menu(name="", greeting=[], options=[])
_COLLECT_DEFAULTS = ast.Collect(variable="")


# --- The scenario ---------------------------------------------------------------------------


def to_yaml(scenario: ast.Scenario) -> str:
    """The YAML text of `scenario`."""
    data: dict[str, Any] = {"scenario": scenario.name, "language": scenario.language}
    if scenario.languages:
        data["languages"] = list(scenario.languages)
    if scenario.prompts is not None:
        data["prompts"] = scenario.prompts
    if scenario.start is not None:
        data["start"] = scenario.start
    if scenario.variables:
        data["variables"] = dict(scenario.variables)
    if scenario.calendars:
        data["calendars"] = {calendar.name: _yaml_calendar(calendar) for calendar in scenario.calendars}
    data["sections"] = [_yaml_section(section) for section in scenario.sections]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)


def _yaml_calendar(calendar: ast.Calendar) -> dict[str, Any]:
    data: dict[str, Any] = {"timezone": calendar.timezone}
    if calendar.weekly:
        data["hours"] = [f"{compress_days(hours.days)} {ranges_text(hours.ranges)}" for hours in calendar.weekly]
    if calendar.holidays:
        data["holidays"] = {holiday.date: holiday.name for holiday in calendar.holidays}
    if calendar.overrides:
        data["overrides"] = {
            override.date: (ranges_text(override.ranges) or "closed") if override.name is None
            else {"hours": ranges_text(override.ranges) or "closed", "name": override.name}
            for override in calendar.overrides
        }
    return data


def _yaml_section(section: ast.Section) -> dict[str, Any]:
    if isinstance(section, ast.Block):
        return {"block": section.name, "do": _yaml_body(section.body)}
    menu, default = section, _MENU_DEFAULTS
    data: dict[str, Any] = {"menu": menu.name, "greeting": _yaml_prompts(menu.greeting)}
    for field in ("short_greeting", "invalid", "timeout_prompt"):
        if getattr(menu, field):
            data[field] = _yaml_prompts(getattr(menu, field))
    if menu.reprompts:
        data["reprompts"] = [_yaml_prompts(prompts) for prompts in menu.reprompts]
    for field in ("timeout", "inter_digit_timeout"):
        if getattr(menu, field) != getattr(default, field):
            data[field] = format_duration(getattr(menu, field))
    for field in ("max_failures", "max_timeouts"):
        if getattr(menu, field) != getattr(default, field):
            data[field] = getattr(menu, field)
        if getattr(menu, "on_" + field):
            data["on_" + field] = _yaml_body(getattr(menu, "on_" + field))
    data["options"] = {option.key: _yaml_body(option.body) for option in menu.options}
    return data


def _yaml_body(body: list[ast.Stmt]) -> list[Any]:
    return [_yaml_statement(statement) for statement in body]


def _yaml_prompts(prompts: list[ast.Prompt]) -> Any:
    items = [_yaml_prompt(prompt) for prompt in prompts]
    return items[0] if len(items) == 1 else items


def _yaml_prompt(prompt: ast.Prompt) -> Any:
    if isinstance(prompt, ast.PromptFile):
        return prompt.name
    if isinstance(prompt, ast.Silence):
        return {"silence": format_duration(prompt.seconds)}
    if isinstance(prompt, ast.Speak):
        data: dict[str, Any] = {"say": _yaml_spoken(prompt.text)}
        if prompt.language is not None:
            data["language"] = prompt.language
        if prompt.voice is not None:
            data["voice"] = prompt.voice
        return data
    kind = {ast.SayDigits: "say_digits", ast.SayNumber: "say_number", ast.SayDate: "say_date"}[type(prompt)]
    return {kind: _yaml_expression(prompt.value)}  # type: ignore[union-attr]


def _yaml_spoken(expr: ast.Expr) -> str:
    """Spoken text for YAML: {variable} parts and doubled braces, no quoting."""
    parts = expr.parts if isinstance(expr, ast.Concat) else [expr]
    out = []
    for part in parts:
        if isinstance(part, ast.Value) and isinstance(part.value, str):
            out.append(part.value.replace("{", "{{").replace("}", "}}"))
        elif isinstance(part, ast.Var):
            out.append("{" + part.name + "}")
        else:
            raise TypeError(f"spoken text cannot hold {type(part).__name__}")
    return "".join(out)


def _yaml_expression(expr: ast.Expr) -> Any:
    if isinstance(expr, ast.Value) and isinstance(expr.value, (bool, int, float)):
        return expr.value
    return format_expression(expr)


def _yaml_target(expr: ast.Expr) -> Any:
    if isinstance(expr, ast.Value) and isinstance(expr.value, str) and re.fullmatch(r"[1-9][0-9]*", expr.value):
        return int(expr.value)
    return format_target(expr)


def _yaml_statement(statement: ast.Stmt) -> Any:
    match statement:
        case ast.Answer() | ast.Return() | ast.Back() | ast.Top():
            return {ast.Answer: "answer", ast.Return: "return", ast.Back: "back", ast.Top: "top"}[type(statement)]
        case ast.Hangup():
            return "hangup" if statement.cause == "normal" else {"hangup": statement.cause}
        case ast.Play(prompts=[prompt], barge_in=True) if not isinstance(prompt, (ast.PromptFile, ast.Silence)):
            return _yaml_prompt(prompt)
        case ast.Play():
            data: dict[str, Any] = {"play": _yaml_prompts(statement.prompts)}
            if not statement.barge_in:
                data["barge_in"] = False
            return data
        case ast.Pause():
            return {"pause": format_duration(statement.seconds)}
        case ast.Set():
            return {"set": {statement.name: _yaml_expression(statement.value)}}
        case ast.SetLanguage(language=ast.Value(value=str() as code)):
            return {"language": code}
        case ast.SetLanguage():
            return {"set": {"language": _yaml_expression(statement.language)}}
        case ast.If():
            first, *others = statement.branches
            data = {"if": _yaml_expression(first.condition), "then": _yaml_body(first.body)}
            if others:
                data["elif"] = [{"if": _yaml_expression(branch.condition), "then": _yaml_body(branch.body)} for branch in others]
            if statement.otherwise:
                data["else"] = _yaml_body(statement.otherwise)
            return data
        case ast.Goto():
            return {"goto": statement.target}
        case ast.Gosub():
            return {"call": statement.target}
        case ast.Collect():
            return _yaml_collect(statement)
        case ast.Queue():
            data = {"queue": statement.queue}
            if statement.priority:
                data["priority"] = statement.priority
            if statement.skills:
                data["skills"] = list(statement.skills)
            if statement.timeout is not None:
                data["timeout"] = format_duration(statement.timeout)
            if statement.on_failure:
                data["on_failure"] = _yaml_body(statement.on_failure)
            return data
        case ast.Dial():
            data = {"dial": _yaml_target(statement.target)}
            if statement.timeout != ast.Dial(target=statement.target).timeout:
                data["timeout"] = format_duration(statement.timeout)
            if statement.caller_id is not None:
                data["caller_id"] = _yaml_expression(statement.caller_id)
            if statement.on_failure:
                data["on_failure"] = _yaml_body(statement.on_failure)
            return data
        case ast.Transfer():
            return {"transfer": _yaml_target(statement.target)}
        case ast.Voicemail():
            return {"voicemail": _yaml_target(statement.mailbox)}
        case ast.Disposition():
            return {"disposition": statement.value}
        case ast.Invoke():
            data = {"invoke": statement.function}
            if statement.args:
                data["args"] = {name: _yaml_expression(value) for name, value in statement.args.items()}
            if statement.result is not None:
                data["result"] = statement.result
            if statement.timeout != ast.Invoke(function=statement.function).timeout:
                data["timeout"] = format_duration(statement.timeout)
            if statement.on_error:
                data["on_error"] = _yaml_body(statement.on_error)
            return data
    raise ValueError(f"cannot write {statement!r}")


def _yaml_collect(collect: ast.Collect) -> dict[str, Any]:
    default = _COLLECT_DEFAULTS
    data: dict[str, Any] = {"collect": collect.variable}
    if collect.prompts:
        data["prompt"] = _yaml_prompts(collect.prompts)
    for field in ("min_digits", "max_digits", "terminator", "retries", "pattern", "sensitive"):
        if getattr(collect, field) != getattr(default, field):
            data[field] = getattr(collect, field)
    for field in ("timeout", "inter_digit_timeout"):
        if getattr(collect, field) != getattr(default, field):
            data[field] = format_duration(getattr(collect, field))
    if collect.invalid:
        data["invalid"] = _yaml_prompts(collect.invalid)
    if collect.on_failure:
        data["on_failure"] = _yaml_body(collect.on_failure)
    return data
