"""The YAML form of a scenario: read it into exactly the AST the `.ivr` form gives.

The YAML is composed into nodes (which carry line and column marks), reshaped into the
Structs' dict form (tag field "type") while noting each node's position under its AST path,
and typed by `msgspec.convert`, whose errors (`$.sections[1].max_failures`) are mapped back to
the line and column they came from. Scalars are read as written: `08:00` and `2026-12-25`
stay text (YAML 1.1 would make them a number and a date), and yes/no/on/off are words.

The shape, for people writing it (docs/ivr-language.md has every construct):

    scenario: Support line
    language: en
    calendars:
      support_hours:
        timezone: Europe/Warsaw
        hours: ["mon-fri 08:00-18:00"]
        holidays: {2026-12-25: Christmas}
    sections:
      - block: start
        do:
          - answer
          - if: closed(support_hours)
            then: [{play: goodbye}, hangup]
          - goto: main
      - menu: main
        greeting: {say: "Press 1 for billing"}
        options:
          "1": [{queue: billing, priority: 5}]

Conditions and values are written in the DSL's expression syntax ("caller in [\\"100\\"]");
spoken text is text with {variable} parts, as in the DSL.

What this module does not do: write YAML (printer.py) or judge meaning (checker.py).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import yaml

from ivr_dsl import ast
from ivr_dsl.ast import Path, Position, Scenario, SourceMap
from ivr_dsl.errors import Diagnostic, ScenarioError, at_position, did_you_mean, line_of
from ivr_dsl.text_forms import HANGUP_CAUSES, Refusal, expand_days, interpolate, seconds_of_duration, time_range

__all__ = ["parse_yaml"]

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_WEEKLY = re.compile(r"^\s*((?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?"
                     r"(?:\s*,\s*(?:mon|tue|wed|thu|fri|sat|sun)(?:-(?:mon|tue|wed|thu|fri|sat|sun))?)*)"
                     r"\s+(.+)$")
_TIME_RANGE = re.compile(r"^[0-9]{1,2}:[0-9]{2}-[0-9]{1,2}:[0-9]{2}$")

SCENARIO_FIELDS = ("scenario", "language", "languages", "prompts", "start", "variables", "calendars", "sections")
CALENDAR_FIELDS = ("timezone", "hours", "holidays", "overrides")
MENU_FIELDS = (
    "menu", "greeting", "short_greeting", "reprompts", "invalid", "timeout_prompt", "timeout",
    "inter_digit_timeout", "max_failures", "max_timeouts", "on_max_failures", "on_max_timeouts", "options",
)
BARE_STATEMENTS = {"answer": "answer", "hangup": "hangup", "return": "return", "back": "back", "top": "top"}
# Each statement: its first key, then the other keys it accepts.
STATEMENT_FIELDS: dict[str, tuple[str, ...]] = {
    "answer": (), "play": ("barge_in",), "say": ("language", "voice"), "say_digits": (), "say_number": (),
    "say_date": (), "pause": (), "hangup": (), "set": (), "language": (), "if": ("then", "elif", "else"),
    "goto": (), "call": (), "return": (), "back": (), "top": (),
    "collect": ("prompt", "min_digits", "max_digits", "terminator", "timeout", "inter_digit_timeout",
                "retries", "pattern", "invalid", "sensitive", "on_failure"),
    "queue": ("priority", "skills", "timeout", "on_failure"),
    "dial": ("timeout", "caller_id", "on_failure"),
    "transfer": (), "voicemail": (), "disposition": (),
    "invoke": ("args", "result", "timeout", "on_error"),
}
PROMPT_KINDS = ("say", "say_digits", "say_number", "say_date", "silence")


def parse_yaml(text: str, file: str = "<string>") -> tuple[Scenario, SourceMap]:
    """Read the YAML form; raises ScenarioError with line and column on any problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = error.problem or "this is not valid YAML"
        raise ScenarioError([at_position(file, text, line, column, f"not valid YAML: {problem}")]) from None
    reader = _Reader(file, text)
    try:
        if root is None:
            raise Refusal("the file is empty; a scenario starts with 'scenario: Name'", 1, 1)
        shaped = reader.scenario(root)
        scenario = msgspec.convert(shaped, Scenario)
    except Refusal as refusal:
        raise ScenarioError([at_position(file, text, refusal.line, refusal.column, refusal.message,
                                         refusal.hint)]) from None
    except msgspec.ValidationError as error:
        raise ScenarioError([reader.explain(error)]) from None
    return scenario, SourceMap(file, text, reader.positions)


def _where(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Reader:
    """Reshapes composed YAML nodes into the Structs' dict form, noting positions."""

    def __init__(self, file: str, text: str):
        self.file, self.source = file, text
        self.positions: dict[Path, Position] = {}

    # Plumbing

    def mark(self, path: Path, node: yaml.Node) -> None:
        self.positions[path] = Position(*_where(node))

    def refuse(self, node: yaml.Node, message: str, hint: str | None = None) -> Refusal:
        return Refusal(message, *_where(node), hint=hint)

    def scalar(self, node: yaml.Node) -> Any:
        """A scalar as written: numbers, true/false and null are typed; everything else is text."""
        if not isinstance(node, yaml.ScalarNode):
            return self._not_scalar(node)
        value, plain = node.value, node.style is None
        if not plain:
            return value
        if _INT.fullmatch(value):
            return int(value)
        if _FLOAT.fullmatch(value):
            return float(value)
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        if value in ("", "~", "null", "Null", "NULL"):
            return None
        return value

    def _not_scalar(self, node: yaml.Node) -> Any:
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        raise self.refuse(node, f"expected a single value here, found {kind}")

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node)
        if value is None or isinstance(value, (list, dict)):
            raise self.refuse(node, f"expected {what} here")
        return str(value) if not isinstance(value, bool) else str(value).lower()

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """key -> (key node, value node); refuses duplicates and, given `allowed`, unknown keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.refuse(node, f"expected {what} (a mapping of 'name: value' lines) here")
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                raise self.refuse(key_node, "a key must be a single word")
            if key in found:
                raise self.refuse(key_node, f"'{key}' is given twice in {what}")
            if allowed is not None and key not in allowed:
                raise self.refuse(key_node, f"unknown field '{key}' in {what}",
                                  did_you_mean(key, allowed) or "the fields allowed here are: " + ", ".join(allowed))
            found[key] = (key_node, value_node)
        return found

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        raise self.refuse(node, f"expected a list of {what} here (lines starting with '- ')")

    def duration(self, node: yaml.Node) -> float:
        value = self.scalar(node)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        seconds = seconds_of_duration(str(value)) if isinstance(value, str) else None
        if seconds is None:
            raise self.refuse(node, f"expected a duration like 5s, 500ms or 2m, found '{value}'")
        return seconds

    def expression(self, node: yaml.Node, path: Path) -> dict:
        from ivr_dsl.parser import parse_expression

        value = self.scalar(node)
        line, column = _where(node)
        if isinstance(value, str):
            offset = 1 if node.style in ('"', "'") else 0
            try:
                expr = parse_expression(value, self.file, line, column + offset)
            except ScenarioError as error:  # show the YAML line under the message
                raise ScenarioError([msgspec.structs.replace(item, source_line=line_of(self.source, item.line))
                                     for item in error.diagnostics]) from None
        else:
            expr = ast.Value(value)
        self._mark_tree(expr, path, node)
        return msgspec.to_builtins(expr)

    def target(self, node: yaml.Node, path: Path) -> dict:
        """Dial/transfer/voicemail target: a bare number is a number to call (text)."""
        value = self.scalar(node)
        if isinstance(value, int) and not isinstance(value, bool):
            self.mark(path, node)
            return {"type": "literal", "value": str(value)}
        shaped = self.expression(node, path)
        if shaped.get("type") == "literal" and isinstance(shaped["value"], int) and not isinstance(shaped["value"], bool):
            shaped["value"] = str(shaped["value"])
        return shaped

    def spoken_text(self, node: yaml.Node, path: Path) -> dict:
        line, column = _where(node)
        expr = interpolate(self.text(node, "a text to speak"), line, column)
        self._mark_tree(expr, path, node)
        return msgspec.to_builtins(expr)

    def _mark_tree(self, item: Any, path: Path, node: yaml.Node) -> None:
        """Every node of an expression written as one YAML scalar points at that scalar."""
        self.mark(path, node)
        if isinstance(item, msgspec.Struct):
            for name in item.__struct_fields__:
                self._mark_tree(getattr(item, name), path + (name,), node)
        elif isinstance(item, list):
            for index, element in enumerate(item):
                self._mark_tree(element, path + (index,), node)

    # The scenario

    def scenario(self, root: yaml.Node) -> dict:
        fields = self.mapping(root, "the scenario", SCENARIO_FIELDS)
        self.mark((), root)
        if "scenario" not in fields:
            raise self.refuse(root, "the scenario has no name", "start the file with a line such as 'scenario: Support line'")
        shaped: dict[str, Any] = {"name": self.text(fields["scenario"][1], "the scenario's name")}
        self.mark(("name",), fields["scenario"][1])
        for key in ("language", "prompts", "start"):
            if key in fields:
                shaped[key] = self.text(fields[key][1], f"the scenario's {key}")
                self.mark((key,), fields[key][1])
        if "languages" in fields:
            node = fields["languages"][1]
            items = self.sequence(node, "languages") if isinstance(node, yaml.SequenceNode) else [node]
            shaped["languages"] = [self.text(item, "a language code like en") for item in items]
            self.mark(("languages",), node)
        if "variables" in fields:
            shaped["variables"] = {}
            for name, (key_node, value_node) in self.mapping(fields["variables"][1], "the variables").items():
                shaped["variables"][name] = self.scalar(value_node)
                self.mark(("variables", name), key_node)
        if "calendars" in fields:
            shaped["calendars"] = [
                self.calendar(name, key_node, value_node, ("calendars", index))
                for index, (name, (key_node, value_node)) in enumerate(self.mapping(fields["calendars"][1], "the calendars").items())
            ]
        sections = self.sequence(fields["sections"][1], "blocks and menus") if "sections" in fields else []
        shaped["sections"] = [self.section(node, ("sections", index)) for index, node in enumerate(sections)]
        return shaped

    # Calendars

    def calendar(self, name: str, key_node: yaml.Node, node: yaml.Node, path: Path) -> dict:
        fields = self.mapping(node, f"calendar '{name}'", CALENDAR_FIELDS)
        self.mark(path, key_node)
        self.mark(path + ("name",), key_node)
        if "timezone" not in fields:
            raise self.refuse(key_node, f"calendar '{name}' has no timezone", "add a line such as 'timezone: Europe/Warsaw'")
        shaped: dict[str, Any] = {"name": name, "timezone": self.text(fields["timezone"][1], "a time zone like Europe/Warsaw")}
        self.mark(path + ("timezone",), fields["timezone"][1])
        if "hours" in fields:
            shaped["weekly"] = []
            for index, item in enumerate(self.sequence(fields["hours"][1], "weekly hours like 'mon-fri 08:00-18:00'")):
                shaped["weekly"].append(self.weekly(item, path + ("weekly", index)))
        if "holidays" in fields:
            shaped["holidays"] = []
            for index, (date, (date_node, name_node)) in enumerate(self.mapping(fields["holidays"][1], "the holidays").items()):
                holiday_name = self.scalar(name_node)
                shaped["holidays"].append({"date": date, "name": None if holiday_name is None else str(holiday_name)})
                self.mark(path + ("holidays", index), date_node)
                self.mark(path + ("holidays", index, "date"), date_node)
        if "overrides" in fields:
            shaped["overrides"] = []
            for index, (date, (date_node, value_node)) in enumerate(self.mapping(fields["overrides"][1], "the overrides").items()):
                shaped["overrides"].append(self.override(date, date_node, value_node, path + ("overrides", index)))
        return shaped

    def weekly(self, node: yaml.Node, path: Path) -> dict:
        line = self.text(node, "weekly hours like 'mon-fri 08:00-18:00'")
        found = _WEEKLY.match(line)
        if not found:
            raise self.refuse(node, f"'{line}' is not weekly hours", "write days then hours, e.g. 'mon-fri 08:00-12:00, 13:00-17:00'")
        days = [day for spec in found.group(1).split(",") for day in expand_days(spec.strip())]
        self.mark(path, node)
        return {"days": days, "ranges": self.ranges(found.group(2), node, path + ("ranges",))}

    def ranges(self, text: str, node: yaml.Node, path: Path) -> list[dict]:
        shaped = []
        for index, part in enumerate(piece.strip() for piece in text.split(",")):
            if not _TIME_RANGE.match(part):
                raise self.refuse(node, f"'{part}' is not a time range", "write hours like 08:00-18:00")
            shaped.append(msgspec.to_builtins(time_range(part)))
            self.mark(path + (index,), node)
        return shaped

    def override(self, date: str, date_node: yaml.Node, node: yaml.Node, path: Path) -> dict:
        self.mark(path, date_node)
        self.mark(path + ("date",), date_node)
        name = None
        hours_node = node
        if isinstance(node, yaml.MappingNode):
            fields = self.mapping(node, f"the override for {date}", ("hours", "name"))
            if "name" in fields:
                name = self.text(fields["name"][1], "a name")
            hours_node = fields.get("hours", (None, None))[1]
        hours = "closed" if hours_node is None else self.text(hours_node, "hours like 08:00-14:00 or 'closed'")
        ranges = [] if hours == "closed" else self.ranges(hours, hours_node, path + ("ranges",))
        return {"date": date, "ranges": ranges, "name": name}

    # Sections

    def section(self, node: yaml.Node, path: Path) -> dict:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            raise self.refuse(node, "expected a block or a menu here", "start it with 'block: name' or 'menu: name'")
        kind = node.value[0][0].value
        self.mark(path, node)
        if kind == "block":
            fields = self.mapping(node, "a block", ("block", "do"))
            self.mark(path + ("name",), fields["block"][1])
            body = self.statements(fields["do"][1], path + ("body",)) if "do" in fields else []
            return {"type": "block", "name": self.text(fields["block"][1], "the block's name"), "body": body}
        if kind == "menu":
            return self.menu(node, path)
        raise self.refuse(node.value[0][0], f"expected 'block:' or 'menu:' here, found '{kind}:'",
                          did_you_mean(kind, ("block", "menu")))

    def menu(self, node: yaml.Node, path: Path) -> dict:
        fields = self.mapping(node, "a menu", MENU_FIELDS)
        name = self.text(fields["menu"][1], "the menu's name")
        self.mark(path + ("name",), fields["menu"][1])
        shaped: dict[str, Any] = {"type": "menu", "name": name, "options": []}
        if "greeting" not in fields:
            raise self.refuse(node, f"menu '{name}' has no greeting", "add a line such as 'greeting: main-menu'")
        for key in ("greeting", "short_greeting", "invalid", "timeout_prompt"):
            if key in fields:
                shaped[key] = self.prompts(fields[key][1], path + (key,))
        if "reprompts" in fields:
            items = self.sequence(fields["reprompts"][1], "reprompts")
            shaped["reprompts"] = [self.prompts(item, path + ("reprompts", index)) for index, item in enumerate(items)]
        for key in ("timeout", "inter_digit_timeout"):
            if key in fields:
                shaped[key] = self.duration(fields[key][1])
                self.mark(path + (key,), fields[key][1])
        for key in ("max_failures", "max_timeouts"):
            if key in fields:
                shaped[key] = self.scalar(fields[key][1])
                self.mark(path + (key,), fields[key][1])
        for key in ("on_max_failures", "on_max_timeouts"):
            if key in fields:
                self.mark(path + (key,), fields[key][0])
                shaped[key] = self.statements(fields[key][1], path + (key,))
        if "options" in fields:
            options = self.mapping(fields["options"][1], f"the options of menu '{name}'")
            for index, (key, (key_node, body_node)) in enumerate(options.items()):
                option_path = path + ("options", index)
                self.mark(option_path, key_node)
                self.mark(option_path + ("key",), key_node)
                shaped["options"].append({"key": key, "body": self.statements(body_node, option_path + ("body",))})
        return shaped

    # Prompts

    def prompts(self, node: yaml.Node, path: Path) -> list[dict]:
        items = list(node.value) if isinstance(node, yaml.SequenceNode) else [node]
        self.mark(path, node)
        return [self.prompt(item, path + (index,)) for index, item in enumerate(items)]

    def prompt(self, node: yaml.Node, path: Path) -> dict:
        self.mark(path, node)
        if isinstance(node, yaml.ScalarNode):
            return {"type": "file", "name": self.text(node, "a prompt name")}
        if not isinstance(node, yaml.MappingNode) or not node.value:
            raise self.refuse(node, "expected a prompt name or {say: ...} here")
        kind = node.value[0][0].value
        if kind not in PROMPT_KINDS:
            raise self.refuse(node.value[0][0], f"unknown kind of prompt '{kind}'",
                              did_you_mean(kind, PROMPT_KINDS) or "use a prompt name, or say, say_digits, say_number, say_date, silence")
        fields = self.mapping(node, f"a '{kind}' prompt", ("say", "language", "voice") if kind == "say" else (kind,))
        value_node = fields[kind][1]
        if kind == "silence":
            return {"type": "silence", "seconds": self.duration(value_node)}
        if kind == "say":
            shaped = {"type": "speak", "text": self.spoken_text(value_node, path + ("text",))}
            for key in ("language", "voice"):
                if key in fields:
                    shaped[key] = self.text(fields[key][1], f"a {key}")
            return shaped
        return {"type": kind, "value": self.expression(value_node, path + ("value",))}

    # Statements

    def statements(self, node: yaml.Node, path: Path) -> list[dict]:
        if isinstance(node, yaml.ScalarNode) and node.value == "" and node.style is None:
            return []
        items = self.sequence(node, "steps")
        return [self.statement(item, path + (index,)) for index, item in enumerate(items)]

    def statement(self, node: yaml.Node, path: Path) -> dict:
        self.mark(path, node)
        if isinstance(node, yaml.ScalarNode):
            word = node.value
            if word in BARE_STATEMENTS:
                return {"type": BARE_STATEMENTS[word]}
            if word in STATEMENT_FIELDS:
                raise self.refuse(node, f"'{word}' needs a value, e.g. '{word}: ...'")
            raise self.refuse(node, f"unknown statement '{word}'", did_you_mean(word, STATEMENT_FIELDS))
        if not isinstance(node, yaml.MappingNode) or not node.value:
            raise self.refuse(node, "expected a statement here, e.g. '- play: welcome'")
        kind = node.value[0][0].value
        if kind not in STATEMENT_FIELDS:
            raise self.refuse(node.value[0][0], f"unknown statement '{kind}'", did_you_mean(kind, STATEMENT_FIELDS))
        fields = self.mapping(node, f"a '{kind}' step", (kind,) + STATEMENT_FIELDS[kind])
        value_node = fields[kind][1]
        return getattr(self, "statement_" + kind)(value_node, fields, path)

    def statement_answer(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "answer"}

    def statement_play(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        shaped: dict[str, Any] = {"type": "play", "prompts": self.prompts(value, path + ("prompts",))}
        if "barge_in" in fields:
            shaped["barge_in"] = self.scalar(fields["barge_in"][1])
        return shaped

    def statement_say(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("prompts", 0), value)
        spoken: dict[str, Any] = {"type": "speak", "text": self.spoken_text(value, path + ("prompts", 0, "text"))}
        for key in ("language", "voice"):
            if key in fields:
                spoken[key] = self.text(fields[key][1], f"a {key}")
        return {"type": "play", "prompts": [spoken]}

    def _say_kind(self, kind: str, value: yaml.Node, path: Path) -> dict:
        self.mark(path + ("prompts", 0), value)
        return {"type": "play", "prompts": [{"type": kind, "value": self.expression(value, path + ("prompts", 0, "value"))}]}

    def statement_say_digits(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return self._say_kind("say_digits", value, path)

    def statement_say_number(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return self._say_kind("say_number", value, path)

    def statement_say_date(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return self._say_kind("say_date", value, path)

    def statement_pause(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "pause", "seconds": self.duration(value)}

    def statement_hangup(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        cause = self.scalar(value)
        if cause is None:
            return {"type": "hangup"}
        if cause not in HANGUP_CAUSES:
            raise self.refuse(value, f"unknown hangup cause '{cause}'", "use one of: " + ", ".join(HANGUP_CAUSES))
        self.mark(path + ("cause",), value)
        return {"type": "hangup", "cause": cause}

    def statement_set(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        pairs = self.mapping(value, "a 'set' step")
        if len(pairs) != 1:
            raise self.refuse(value, "'set' takes exactly one 'name: value'", "write one set step per variable")
        ((name, (key_node, value_node)),) = pairs.items()
        if name == "language":
            return {"type": "language", "language": self.expression(value_node, path + ("language",))}
        self.mark(path + ("name",), key_node)
        return {"type": "set", "name": name, "value": self.expression(value_node, path + ("value",))}

    def statement_language(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("language",), value)
        return {"type": "language", "language": {"type": "literal", "value": self.text(value, "a language code like pl")}}

    def statement_if(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        branches = [self._branch(value, fields, path + ("branches", 0))]
        if "elif" in fields:
            for index, item in enumerate(self.sequence(fields["elif"][1], "'if:' / 'then:' pairs"), start=1):
                branch_fields = self.mapping(item, "an 'elif' branch", ("if", "then"))
                if "if" not in branch_fields:
                    raise self.refuse(item, "an 'elif' branch needs its own 'if:' condition")
                branches.append(self._branch(branch_fields["if"][1], branch_fields, path + ("branches", index)))
        shaped: dict[str, Any] = {"type": "if", "branches": branches}
        if "else" in fields:
            shaped["otherwise"] = self.statements(fields["else"][1], path + ("otherwise",))
        return shaped

    def _branch(self, condition: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path, condition)
        body = self.statements(fields["then"][1], path + ("body",)) if "then" in fields else []
        return {"condition": self.expression(condition, path + ("condition",)), "body": body}

    def statement_goto(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("target",), value)
        return {"type": "goto", "target": self.text(value, "a block or menu name")}

    def statement_call(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("target",), value)
        return {"type": "call", "target": self.text(value, "a block or menu name")}

    def statement_return(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "return"}

    def statement_back(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "back"}

    def statement_top(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "top"}

    def _plain_options(self, fields: dict, path: Path, durations: tuple[str, ...], values: tuple[str, ...]) -> dict:
        shaped: dict[str, Any] = {}
        for key in durations:
            if key in fields:
                shaped[key] = self.duration(fields[key][1])
                self.mark(path + (key,), fields[key][1])
        for key in values:
            if key in fields:
                node = fields[key][1]
                shaped[key] = [self.scalar(item) for item in node.value] if isinstance(node, yaml.SequenceNode) else self.scalar(node)
                self.mark(path + (key,), node)
        return shaped

    def statement_collect(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("variable",), value)
        shaped: dict[str, Any] = {"type": "collect", "variable": self.text(value, "a variable name")}
        shaped.update(self._plain_options(fields, path, ("timeout", "inter_digit_timeout"),
                                          ("min_digits", "max_digits", "terminator", "retries", "pattern", "sensitive")))
        if isinstance(shaped.get("terminator"), int):
            shaped["terminator"] = str(shaped["terminator"])
        if "prompt" in fields:
            shaped["prompts"] = self.prompts(fields["prompt"][1], path + ("prompts",))
        if "invalid" in fields:
            shaped["invalid"] = self.prompts(fields["invalid"][1], path + ("invalid",))
        if "on_failure" in fields:
            shaped["on_failure"] = self.statements(fields["on_failure"][1], path + ("on_failure",))
        return shaped

    def statement_queue(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("queue",), value)
        shaped: dict[str, Any] = {"type": "queue", "queue": self.text(value, "a queue name")}
        shaped.update(self._plain_options(fields, path, ("timeout",), ("priority", "skills")))
        if isinstance(shaped.get("skills"), str):
            shaped["skills"] = [skill.strip() for skill in shaped["skills"].split(",")]
        if "on_failure" in fields:
            shaped["on_failure"] = self.statements(fields["on_failure"][1], path + ("on_failure",))
        return shaped

    def statement_dial(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        shaped: dict[str, Any] = {"type": "dial", "target": self.target(value, path + ("target",))}
        shaped.update(self._plain_options(fields, path, ("timeout",), ()))
        if "caller_id" in fields:
            shaped["caller_id"] = self.expression(fields["caller_id"][1], path + ("caller_id",))
        if "on_failure" in fields:
            shaped["on_failure"] = self.statements(fields["on_failure"][1], path + ("on_failure",))
        return shaped

    def statement_transfer(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "transfer", "target": self.target(value, path + ("target",))}

    def statement_voicemail(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "voicemail", "mailbox": self.target(value, path + ("mailbox",))}

    def statement_disposition(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        return {"type": "disposition", "value": self.text(value, "a disposition such as sold")}

    def statement_invoke(self, value: yaml.Node, fields: dict, path: Path) -> dict:
        self.mark(path + ("function",), value)
        shaped: dict[str, Any] = {"type": "invoke", "function": self.text(value, "a function name like crm.lookup")}
        if "args" in fields:
            shaped["args"] = {
                name: self.expression(value_node, path + ("args", name))
                for name, (_, value_node) in self.mapping(fields["args"][1], "the arguments").items()
            }
        if "result" in fields:
            shaped["result"] = self.text(fields["result"][1], "a variable name")
            self.mark(path + ("result",), fields["result"][1])
        shaped.update(self._plain_options(fields, path, ("timeout",), ()))
        if "on_error" in fields:
            shaped["on_error"] = self.statements(fields["on_error"][1], path + ("on_error",))
        return shaped

    # msgspec's errors in plain words

    def explain(self, error: msgspec.ValidationError) -> Diagnostic:
        message = str(error)
        found = re.match(r"(.*) - at `\$(.*)`$", message)
        problem, where = (found.group(1), found.group(2)) if found else (message, "")
        path: Path = tuple(int(index) if index else name for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", where))
        field = next((part for part in reversed(path) if isinstance(part, str)), None)
        problem = _plain_problem(problem)
        if field:
            problem = f"'{field}': {problem}"
        position = SourceMap(self.file, self.source, self.positions).find(path)
        if position is None:
            return Diagnostic("error", problem, self.file)
        return at_position(self.file, self.source, position.line, position.column, problem)


_TYPE_WORDS = {"int": "a whole number", "float": "a number", "str": "text", "bool": "true or false",
               "array": "a list", "object": "a mapping", "null": "nothing"}


def _plain_problem(problem: str) -> str:
    found = re.match(r"Expected `(.+?)`, got `(.+?)`", problem)
    if not found:
        return problem[:1].lower() + problem[1:]
    wanted = " or ".join(_TYPE_WORDS.get(kind.strip(), kind.strip()) for kind in found.group(1).split("|"))
    return f"expected {wanted}, found {_TYPE_WORDS.get(found.group(2), found.group(2))}"
