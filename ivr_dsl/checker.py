"""The checker: what is wrong with a scenario that parsed, as errors and warnings.

Each rule is one small function taking a `Walk` (check_walk.py: the scenario, its source map,
the context, every statement, prompt and expression with its path, and the flow graph) and
returning diagnostics; this module holds the rules about names and values, check_flow.py
those about where a call can go. Errors
make a scenario unusable (a `goto` to no menu, a bad time zone); warnings are worth a look
(a block nothing leads to, a prompt before `answer`). What the PBX config knows (queues,
plugin functions, the prompt directory) comes in a `CheckContext`: given, an unknown name is
an error; not given (None), it is only a warning, since the checker cannot know.

What this module does not do: parse, compile or run anything; it reads prompt files' existence
only, never their content.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path as FilePath
from zoneinfo import ZoneInfo

import msgspec

from ivr_dsl import ast
from ivr_dsl.ast import Path, Scenario, SourceMap
from ivr_dsl.check_flow import FLOW_RULES
from ivr_dsl.check_walk import Walk
from ivr_dsl.errors import Diagnostic, did_you_mean

__all__ = ["BUILTIN_VARIABLES", "CheckContext", "check"]

BUILTIN_VARIABLES = frozenset(
    {"caller", "called", "caller_name", "language", "now", "date", "time", "weekday", "call_id", "customer"}
)
DTMF_KEYS = frozenset("0123456789*#")
_CLOCK = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")


class CheckContext(msgspec.Struct):
    """What the PBX knows; None means unknown (unknown names are then warnings)."""

    queues: set[str] | None = None
    functions: set[str] | None = None
    prompt_root: str | None = None  # a directory holding <language>/<name>.wav


def check(scenario: Scenario, source_map: SourceMap, context: CheckContext | None = None) -> list[Diagnostic]:
    """Every problem found, errors and warnings, in the order they appear in the file."""
    walk = Walk(scenario, source_map, context or CheckContext())
    found = [diagnostic for rule in RULES for diagnostic in rule(walk)]
    return sorted(found, key=lambda item: (item.line, item.column, item.severity != "error"))


def _kind(section: ast.Section) -> str:
    return "menu" if isinstance(section, ast.Menu) else "block"


# --- Rules: names --------------------------------------------------------------------------


def duplicate_sections(walk: Walk) -> list[Diagnostic]:
    seen: dict[str, int] = {}
    found = []
    for index, section in enumerate(walk.scenario.sections):
        if section.name in seen:
            first = walk.source_map.find(("sections", seen[section.name]))
            where = f" (first at line {first.line})" if first else ""
            found.append(walk.error(("sections", index, "name"),
                                    f"there is already a {_kind(walk.scenario.sections[seen[section.name]])} named '{section.name}'{where}",
                                    "give each block and menu its own name"))
        else:
            seen[section.name] = index
    return found


def _unknown_section(walk: Walk, path: Path, target: str) -> Diagnostic:
    close = did_you_mean(target, walk.sections)
    if close:
        name = close.split("'")[1]
        close = f"did you mean {_kind(walk.sections[name])} '{name}'?"
    return walk.error(path, f"unknown block or menu '{target}'", close)


def undefined_targets(walk: Walk) -> list[Diagnostic]:
    found = []
    for path, statement, _ in walk.statements:
        if isinstance(statement, (ast.Goto, ast.Gosub)) and statement.target not in walk.sections:
            found.append(_unknown_section(walk, path + ("target",), statement.target))
    start = walk.scenario.start
    if start is not None and start not in walk.sections:
        found.append(_unknown_section(walk, ("start",), start))
    if not walk.scenario.sections:
        found.append(walk.error((), "the scenario has no block or menu to run", "add a block, e.g. 'block start'"))
    return found


def duplicate_keys(walk: Walk) -> list[Diagnostic]:
    found = []
    for index, section in enumerate(walk.scenario.sections):
        if not isinstance(section, ast.Menu):
            continue
        seen: set[str] = set()
        for number, option in enumerate(section.options):
            path = ("sections", index, "options", number, "key")
            if not option.key or not set(option.key) <= DTMF_KEYS:
                found.append(walk.error(path, f"'{option.key}' is not a key on a phone's keypad",
                                        'keys are made of 0-9, * and "#"'))
            elif option.key in seen:
                found.append(walk.error(path, f"key {option.key} is given twice in menu '{section.name}'"))
            seen.add(option.key)
    return found


def unknown_calendars(walk: Walk) -> list[Diagnostic]:
    names = {calendar.name for calendar in walk.scenario.calendars}
    found = []
    for path, expr in walk.expressions:
        if isinstance(expr, ast.IsOpen) and expr.calendar not in names:
            found.append(walk.error(path + ("calendar",), f"unknown calendar '{expr.calendar}'",
                                    did_you_mean(expr.calendar, names, "calendar")
                                    or "define it with: calendar NAME \"Europe/Warsaw\" ... end"))
    return found


def unknown_variables(walk: Walk) -> list[Diagnostic]:
    assigned = set(BUILTIN_VARIABLES) | set(walk.scenario.variables)
    for _, statement, _ in walk.statements:
        if isinstance(statement, ast.Set):
            assigned.add(statement.name)
        elif isinstance(statement, ast.Collect):
            assigned.add(statement.variable)
        elif isinstance(statement, ast.Invoke) and statement.result is not None:
            assigned.add(statement.result)
    found = []
    for path, expr in walk.expressions:
        if not isinstance(expr, ast.Var):
            continue
        base = expr.name.split(".", 1)[0]
        if base == "header" and "." in expr.name:
            continue
        if base not in assigned:
            found.append(walk.error(path, f"unknown variable '{expr.name}': nothing sets it",
                                    did_you_mean(base, assigned) or
                                    "set it with 'set', 'collect' or 'invoke ... into', or give it a default"))
    return found


def menu_navigation(walk: Walk) -> list[Diagnostic]:
    """`back` and `top` only mean something inside a menu."""
    found = []
    has_menu = any(isinstance(section, ast.Menu) for section in walk.scenario.sections)
    for path, statement, section in walk.statements:
        if not isinstance(statement, (ast.Back, ast.Top)):
            continue
        word = "back" if isinstance(statement, ast.Back) else "top"
        if isinstance(walk.scenario.sections[section], ast.Block):
            found.append(walk.error(path, f"'{word}' can only be used inside a menu",
                                    "use 'goto NAME' to continue at a menu from a block"))
        elif word == "top" and not has_menu:  # pragma: no cover - a menu contains it
            found.append(walk.error(path, "'top' needs a menu to go to"))
    return found


def unknown_queues_and_functions(walk: Walk) -> list[Diagnostic]:
    found = []
    for path, statement, _ in walk.statements:
        if isinstance(statement, ast.Queue):
            found += _known(walk, path + ("queue",), "queue", statement.queue, walk.context.queues)
        elif isinstance(statement, ast.Invoke):
            found += _known(walk, path + ("function",), "function", statement.function, walk.context.functions)
    return found


def _known(walk: Walk, path: Path, kind: str, name: str, known: set[str] | None) -> list[Diagnostic]:
    if known is None:
        return [walk.warning(path, f"cannot tell whether {kind} '{name}' exists without the PBX config")]
    if name in known:
        return []
    where = "in the PBX config" if kind == "queue" else "registered by any plugin"
    return [walk.error(path, f"unknown {kind} '{name}': not {where}", did_you_mean(name, known, kind))]


def _prompt_directory(walk: Walk) -> tuple[FilePath | None, bool]:
    """Where prompts live, and whether a missing file is an error (the config said so)."""
    if walk.context.prompt_root is not None:
        return FilePath(walk.context.prompt_root), True
    if walk.scenario.prompts is not None and walk.source_map.file not in ("", "<string>"):
        guess = FilePath(walk.source_map.file).parent / walk.scenario.prompts
        if guess.is_dir():
            return guess, False
    return None, False


def missing_prompts(walk: Walk) -> list[Diagnostic]:
    directory, strict = _prompt_directory(walk)
    if directory is None:
        return []
    found = []
    for path, prompt in walk.prompts:
        if not isinstance(prompt, ast.PromptFile):
            continue
        missing = [language for language in walk.languages
                   if not (directory / language / f"{prompt.name}.wav").is_file()]
        if missing:
            message = f"prompt '{prompt.name}' has no recording for {', '.join(missing)}"
            hint = f"record {missing[0]}/{prompt.name}.wav, or speak the text with 'say'"
            found.append(walk.error(path, message, hint) if strict else walk.warning(path, message, hint))
    return found


def unknown_languages(walk: Walk) -> list[Diagnostic]:
    languages = set(walk.languages)
    hint = "list it in the scenario's 'languages'"
    found = [walk.warning(path, f"language '{prompt.language}' is not one of the scenario's languages", hint)
             for path, prompt in walk.prompts if isinstance(prompt, ast.Speak)
             and prompt.language is not None and prompt.language not in languages]
    for path, statement, _ in walk.statements:
        if (isinstance(statement, ast.SetLanguage) and isinstance(statement.language, ast.Value)
                and statement.language.value not in languages):
            found.append(walk.warning(path, f"language '{statement.language.value}' is not one of the scenario's languages", hint))
    return found


# --- Rules: values ---------------------------------------------------------------------------


def bad_patterns(walk: Walk) -> list[Diagnostic]:
    found = []
    candidates = [(path + ("pattern",), expr.pattern) for path, expr in walk.expressions if isinstance(expr, ast.Matches)]
    candidates += [(path + ("pattern",), statement.pattern) for path, statement, _ in walk.statements
                   if isinstance(statement, ast.Collect) and statement.pattern is not None]
    for path, pattern in candidates:
        try:
            re.compile(pattern)
        except re.error as error:
            found.append(walk.error(path, f"the pattern \"{pattern}\" is not a valid regular expression: {error.msg}"))
    return found


def collect_limits(walk: Walk) -> list[Diagnostic]:
    found = []
    for path, statement, _ in walk.statements:
        if not isinstance(statement, ast.Collect):
            continue
        if statement.min_digits < 1:
            found.append(walk.error(path + ("min_digits",), "a collect needs at least 1 digit"))
        elif statement.min_digits > statement.max_digits:
            found.append(walk.error(path + ("min_digits",),
                                    f"at least {statement.min_digits} digits but at most {statement.max_digits}",
                                    f"write digits {statement.max_digits}..{statement.min_digits}"))
        terminator = statement.terminator
        if terminator is not None and (len(terminator) != 1 or terminator not in DTMF_KEYS):
            found.append(walk.error(path + ("terminator",), f"the terminator \"{terminator}\" is not a key",
                                    'use one key: "#", "*" or a digit, or "terminator none"'))
        if statement.retries < 0:
            found.append(walk.error(path + ("retries",), "retries cannot be negative"))
    return found


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*")


def bad_names(walk: Walk) -> list[Diagnostic]:
    """Names the DSL could not write (the YAML form accepts any text): `goto: my menu`."""
    named: list[tuple[Path, str, str]] = [
        (("sections", index, "name"), section.name, _kind(section)) for index, section in enumerate(walk.scenario.sections)
    ]
    named += [(("calendars", index, "name"), calendar.name, "calendar") for index, calendar in enumerate(walk.scenario.calendars)]
    named += [(("variables", name), name, "variable") for name in walk.scenario.variables]
    for path, statement, _ in walk.statements:
        if isinstance(statement, ast.Set):
            named.append((path + ("name",), statement.name, "variable"))
        elif isinstance(statement, ast.Collect):
            named.append((path + ("variable",), statement.variable, "variable"))
        elif isinstance(statement, ast.Invoke) and statement.result is not None:
            named.append((path + ("result",), statement.result, "variable"))
        elif isinstance(statement, ast.Queue):
            named.append((path + ("queue",), statement.queue, "queue"))
            named += [(path + ("skills",), skill, "skill") for skill in statement.skills]
    found = [walk.error(path, f"'{name}' cannot be the name of a {kind}", "use letters, digits, _ and -, starting with a letter")
             for path, name, kind in named if not _NAME.fullmatch(name)]
    found += [walk.error(path + ("function",), f"'{statement.function}' cannot be the name of a function",
                         "write it as words joined by dots, e.g. crm.lookup")
              for path, statement, _ in walk.statements
              if isinstance(statement, ast.Invoke) and not _DOTTED_NAME.fullmatch(statement.function)]
    return found


def menu_limits(walk: Walk) -> list[Diagnostic]:
    found = []
    for index, section in enumerate(walk.scenario.sections):
        if isinstance(section, ast.Menu):
            for field in ("max_failures", "max_timeouts"):
                if getattr(section, field) < 1:
                    found.append(walk.error(("sections", index, field), f"{field.replace('_', ' ')} must be at least 1"))
    return found


def _clock_seconds(text: str, allow_24: bool) -> int | None:
    found = _CLOCK.match(text)
    if not found:
        return None
    hours, minutes = int(found.group(1)), int(found.group(2))
    if (hours, minutes) == (24, 0) and allow_24:
        return 24 * 3600
    if hours > 23 or minutes > 59:
        return None
    return hours * 3600 + minutes * 60


def _range_problems(walk: Walk, path: Path, ranges: list[ast.TimeRange]) -> list[Diagnostic]:
    found = []
    for index, item in enumerate(ranges):
        start, end = _clock_seconds(item.start, False), _clock_seconds(item.end, True)
        where = path + (index,)
        if start is None:
            found.append(walk.error(where, f"'{item.start}' is not a time of day", "write times as HH:MM, 00:00 to 23:59"))
        elif end is None:
            found.append(walk.error(where, f"'{item.end}' is not a time of day", "write times as HH:MM; 24:00 ends a day"))
        elif end <= start:
            found.append(walk.error(where, f"the range {item.start}-{item.end} ends before it starts",
                                    "split a range over midnight in two, e.g. 22:00-24:00 and 00:00-06:00"))
    return found


def _date_problem(text: str, yearly: bool) -> str | None:
    try:
        date.fromisoformat(text if len(text) == 10 else f"2000-{text}")  # 2000 is a leap year
    except ValueError:
        return "YYYY-MM-DD or, every year, MM-DD" if yearly else "YYYY-MM-DD"
    if len(text) != 10 and not yearly:
        return "YYYY-MM-DD"
    return None


def calendars(walk: Walk) -> list[Diagnostic]:
    found = []
    seen: set[str] = set()
    for index, calendar in enumerate(walk.scenario.calendars):
        path = ("calendars", index)
        if calendar.name in seen:
            found.append(walk.error(path + ("name",), f"there is already a calendar named '{calendar.name}'"))
        seen.add(calendar.name)
        try:
            ZoneInfo(calendar.timezone)
        except (ValueError, KeyError, OSError):
            found.append(walk.error(path + ("timezone",), f"unknown time zone '{calendar.timezone}'",
                                    "use an IANA name such as Europe/Warsaw or America/New_York"))
        for number, hours in enumerate(calendar.weekly):
            found += _range_problems(walk, path + ("weekly", number, "ranges"), hours.ranges)
        for number, holiday in enumerate(calendar.holidays):
            problem = _date_problem(holiday.date, yearly=True)
            if problem:
                found.append(walk.error(path + ("holidays", number, "date"), f"'{holiday.date}' is not a date", f"write {problem}"))
        for number, override in enumerate(calendar.overrides):
            problem = _date_problem(override.date, yearly=False)
            if problem:
                found.append(walk.error(path + ("overrides", number, "date"), f"'{override.date}' is not a date", f"write {problem}"))
            found += _range_problems(walk, path + ("overrides", number, "ranges"), override.ranges)
    return found


RULES: list[Callable[[Walk], list[Diagnostic]]] = [
    duplicate_sections, undefined_targets, duplicate_keys, unknown_calendars, unknown_variables,
    menu_navigation, unknown_queues_and_functions, missing_prompts, unknown_languages,
    bad_names, bad_patterns, collect_limits, menu_limits, calendars, *FLOW_RULES,
]
