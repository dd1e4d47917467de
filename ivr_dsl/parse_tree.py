"""From Lark's parse tree of an `.ivr` file to the AST, noting where each node came from.

`Builder.build(tree)` returns the `Scenario`; `Builder.source_map(scenario)` then walks it and
records, for every node path ("sections", 2, "body", 0, ...), the line and column the node (or
a named field of it, such as a `goto` target) was written at. How single tokens read (quoted
text, `{variable}` interpolation, durations like 500ms) is text_forms.py's business.

What this module does not do: parse text (parser.py does) or judge meaning (checker.py does).
Problems only this layer can see (a menu setting given twice, an unknown hangup cause) are
reported as `Refusal`s with their position.
"""

from __future__ import annotations

from typing import Any

import msgspec
from lark import Token, Tree

from ivr_dsl import ast
from ivr_dsl.ast import Path, Position, Scenario, SourceMap
from ivr_dsl.text_forms import (
    HANGUP_CAUSES,
    Refusal,
    as_target,
    expand_days,
    interpolate,
    number_value,
    seconds_of_duration,
    time_range,
    unquote,
)

# --- The builder -------------------------------------------------------------------------------


def _at(item: Tree | Token) -> Position:
    if isinstance(item, Token):
        return Position(item.line, item.column)
    return Position(item.meta.line, item.meta.column)


class Builder:
    """Builds one scenario; remembers positions by node identity until `source_map`."""

    def __init__(self, file: str, text: str):
        self.file, self.text = file, text
        self.node_positions: dict[int, Position] = {}
        self.field_positions: dict[int, dict[str, Position]] = {}
        self._alive: list[Any] = []  # keeps every node alive so no id() is reused meanwhile

    # Bookkeeping

    def _made(self, node: Any, where: Tree | Token, **fields: Tree | Token | None) -> Any:
        self._alive.append(node)
        self.node_positions[id(node)] = _at(where)
        marks = {name: _at(item) for name, item in fields.items() if item is not None}
        if marks:
            self.field_positions[id(node)] = marks
        return node

    def source_map(self, scenario: Scenario) -> SourceMap:
        positions: dict[Path, Position] = {}
        self._record(scenario, (), positions)
        return SourceMap(self.file, self.text, positions)

    def _record(self, item: Any, path: Path, positions: dict[Path, Position]) -> None:
        if isinstance(item, msgspec.Struct):
            for name, position in self.field_positions.get(id(item), {}).items():
                positions[path + tuple(name.split(".", 1))] = position
            if id(item) in self.node_positions:
                positions[path] = self.node_positions[id(item)]
            for name in item.__struct_fields__:
                self._record(getattr(item, name), path + (name,), positions)
        elif isinstance(item, list):
            for index, element in enumerate(item):
                self._record(element, path + (index,), positions)
        elif isinstance(item, dict):
            for key, element in item.items():
                self._record(element, path + (key,), positions)

    def node(self, tree: Tree) -> Any:
        return getattr(self, "build_" + tree.data)(tree)

    def nodes(self, items: list) -> list:
        return [self.node(item) for item in items if isinstance(item, Tree)]

    # The scenario

    def build(self, tree: Tree) -> Scenario:
        header, *sections = [child for child in tree.children if isinstance(child, Tree)]
        settings = self._header(header)
        calendars = [self.node(item) for item in sections if item.data == "calendar"]
        others = [self.node(item) for item in sections if item.data != "calendar"]
        return self._made(Scenario(sections=others, calendars=calendars, **settings), header,
                          **self._header_marks)

    def _header(self, tree: Tree) -> dict[str, Any]:
        name_token = tree.children[0]
        settings: dict[str, Any] = {"name": unquote(name_token)}
        self._header_marks: dict[str, Token | Tree | None] = {"name": name_token}
        variables: dict[str, Any] = {}
        for line in tree.children[1:]:
            key = line.data.removeprefix("header_")
            if key == "variable":
                name, value = line.children
                if name in variables:
                    raise Refusal(f"variable '{name}' is given twice", name.line, name.column)
                variables[str(name)] = self._literal(value)
                self._header_marks[f"variables.{name}"] = name
                continue
            field = {"language": "language", "languages": "languages", "prompts": "prompts", "start": "start"}[key]
            if field in settings:
                raise Refusal(f"the scenario's '{key}' is given twice", line.meta.line, line.meta.column)
            tokens = line.children
            if key == "languages":
                settings[field] = [str(token) for token in tokens]
            elif key == "prompts":
                settings[field] = unquote(tokens[0])
            else:
                settings[field] = str(tokens[0])
            self._header_marks[field] = line
        if variables:
            settings["variables"] = variables
        return settings

    def _literal(self, tree: Tree) -> str | int | float | bool:
        if tree.data == "literal_text":
            return unquote(tree.children[0])
        if tree.data == "literal_number":
            value = number_value(tree.children[0]).value
            return value  # type: ignore[return-value]
        return tree.data == "literal_true"

    # Calendars

    def build_calendar(self, tree: Tree) -> ast.Calendar:
        name, zone, *lines = tree.children
        weekly, holidays, overrides = [], [], []
        for line in lines:
            built = self.node(line)
            {"weekly": weekly, "holiday": holidays, "override": overrides}[line.data].append(built)
        calendar = ast.Calendar(str(name), unquote(zone), weekly, holidays, overrides)
        return self._made(calendar, tree, name=name, timezone=zone)

    def build_weekly(self, tree: Tree) -> ast.WeeklyHours:
        days = [day for token in tree.children if isinstance(token, Token) for day in expand_days(str(token))]
        return self._made(ast.WeeklyHours(days, self.build_time_ranges(tree.children[-1])), tree)

    def build_time_ranges(self, tree: Tree) -> list[ast.TimeRange]:
        return [self._made(time_range(str(token)), token) for token in tree.children]

    def build_holiday(self, tree: Tree) -> ast.Holiday:
        date, name = tree.children
        return self._made(ast.Holiday(str(date), unquote(name) if name else None), tree, date=date)

    def build_override(self, tree: Tree) -> ast.Override:
        date, hours, name = tree.children
        ranges = self.build_time_ranges(hours) if isinstance(hours, Tree) else []
        return self._made(ast.Override(str(date), ranges, unquote(name) if name else None), tree, date=date)

    # Sections

    def build_block(self, tree: Tree) -> ast.Block:
        name, *body = tree.children
        return self._made(ast.Block(str(name), self.nodes(body)), tree, name=name)

    def build_menu(self, tree: Tree) -> ast.Menu:
        name, *lines = tree.children
        settings: dict[str, Any] = {}
        marks: dict[str, Tree | Token] = {"name": name}
        options: list[ast.MenuOption] = []
        reprompts: list[list[ast.Prompt]] = []
        for line in lines:
            if line.data == "option":
                options.append(self.node(line))
                continue
            if line.data == "reprompt":
                reprompts.append(self.build_prompts(line.children[0]))
                continue
            field, value, extra = self._menu_setting(line)
            if field in settings:
                words = field.replace("_", " ")
                raise Refusal(f"menu '{name}' sets '{words}' twice", line.meta.line, line.meta.column)
            settings[field] = value
            marks[field] = line
            if extra is not None:
                settings[extra[0]] = extra[1]
                marks[extra[0]] = line
        if "greeting" not in settings:
            raise Refusal(f"menu '{name}' has no greeting", tree.meta.line, tree.meta.column,
                          'add a line such as: greeting "main-menu"')
        if reprompts:
            settings["reprompts"] = reprompts
        return self._made(ast.Menu(name=str(name), options=options, **settings), tree, **marks)

    def _menu_setting(self, line: Tree) -> tuple[str, Any, tuple[str, Any] | None]:
        kind, children = line.data, line.children
        if kind in ("greeting", "short_greeting", "menu_invalid", "timeout_prompt"):
            field = {"menu_invalid": "invalid"}.get(kind, kind)
            return field, self.build_prompts(children[0]), None
        if kind == "menu_timeout":
            return "timeout", self._duration(children[0]), None
        if kind == "menu_inter_digit":
            return "inter_digit_timeout", self._duration(children[-1]), None
        field = kind  # max_failures / max_timeouts
        count, *body = children
        return field, int(count), ("on_" + field, self.nodes(body))

    def build_option(self, tree: Tree) -> ast.MenuOption:
        key_tree, *body = tree.children
        token = key_tree.children[0]
        key = unquote(token) if token.type == "STRING" else str(token)
        return self._made(ast.MenuOption(key, self.nodes(body)), tree, key=token)

    # Prompts

    def build_prompts(self, tree: Tree) -> list[ast.Prompt]:
        return self.nodes(tree.children)

    def build_prompt_file(self, tree: Tree) -> ast.PromptFile:
        return self._made(ast.PromptFile(unquote(tree.children[0])), tree)

    def build_silence(self, tree: Tree) -> ast.Silence:
        return self._made(ast.Silence(self._duration(tree.children[0])), tree)

    def build_speak(self, tree: Tree) -> ast.Speak:
        text, language, voice = tree.children
        spoken = ast.Speak(self._text(text), str(language) if language else None, str(voice) if voice else None)
        return self._made(spoken, tree, text=text)

    def build_say_digits(self, tree: Tree) -> ast.SayDigits:
        return self._made(ast.SayDigits(self.node(tree.children[0])), tree)

    def build_say_number(self, tree: Tree) -> ast.SayNumber:
        return self._made(ast.SayNumber(self.node(tree.children[0])), tree)

    def build_say_date(self, tree: Tree) -> ast.SayDate:
        return self._made(ast.SayDate(self.node(tree.children[0])), tree)

    # Statements

    def build_answer(self, tree: Tree) -> ast.Answer:
        return self._made(ast.Answer(), tree)

    def build_play(self, tree: Tree) -> ast.Play:
        prompts, no_barge_in = tree.children
        return self._made(ast.Play(self.build_prompts(prompts), barge_in=no_barge_in is None), tree)

    def build_say(self, tree: Tree) -> ast.Play:
        return self._made(ast.Play(self.nodes(tree.children)), tree)

    def build_pause(self, tree: Tree) -> ast.Pause:
        return self._made(ast.Pause(self._duration(tree.children[0])), tree)

    def build_hangup(self, tree: Tree) -> ast.Hangup:
        (cause,) = tree.children
        if cause is None:
            return self._made(ast.Hangup(), tree)
        if str(cause) not in HANGUP_CAUSES:
            raise Refusal(f"unknown hangup cause '{cause}'", cause.line, cause.column,
                          "use one of: " + ", ".join(HANGUP_CAUSES))
        return self._made(ast.Hangup(str(cause)), tree, cause=cause)  # type: ignore[arg-type]

    def build_set(self, tree: Tree) -> ast.Set | ast.SetLanguage:
        name, value = tree.children
        if str(name) == "language":  # `set language = x` is how an expression picks the language
            return self._made(ast.SetLanguage(self.node(value)), tree)
        return self._made(ast.Set(str(name), self.node(value)), tree, name=name)

    def build_set_language(self, tree: Tree) -> ast.SetLanguage:
        (code,) = tree.children
        text = unquote(code) if code.type == "STRING" else str(code)
        return self._made(ast.SetLanguage(self._made(ast.Value(text), code)), tree)

    def build_if_stmt(self, tree: Tree) -> ast.If:
        condition, *rest = tree.children
        body = [item for item in rest if isinstance(item, Tree) and item.data not in ("elif_branch", "else_branch")]
        branches = [self._made(ast.Branch(self.node(condition), self.nodes(body)), tree)]
        otherwise: list[ast.Stmt] = []
        for item in rest:
            if isinstance(item, Tree) and item.data == "elif_branch":
                branch_condition, *branch_body = item.children
                branches.append(self._made(ast.Branch(self.node(branch_condition), self.nodes(branch_body)), item))
            elif isinstance(item, Tree) and item.data == "else_branch":
                otherwise = self.nodes(item.children)
        return self._made(ast.If(branches, otherwise), tree)

    def build_goto(self, tree: Tree) -> ast.Goto:
        return self._made(ast.Goto(str(tree.children[0])), tree, target=tree.children[0])

    def build_gosub(self, tree: Tree) -> ast.Gosub:
        return self._made(ast.Gosub(str(tree.children[0])), tree, target=tree.children[0])

    def build_return_stmt(self, tree: Tree) -> ast.Return:
        return self._made(ast.Return(), tree)

    def build_back(self, tree: Tree) -> ast.Back:
        return self._made(ast.Back(), tree)

    def build_top(self, tree: Tree) -> ast.Top:
        return self._made(ast.Top(), tree)

    def _options(self, statement: str, items: list) -> tuple[dict[str, Any], dict[str, Tree | Token]]:
        """Gather `name value` options of collect/queue/dial/invoke; each may appear once."""
        options: dict[str, Any] = {}
        marks: dict[str, Tree | Token] = {}
        for item in items:
            if not isinstance(item, Tree):
                continue
            field, value = self._option(item)
            if field in options:
                words = item.data.split("_", 1)[1].replace("_", " ")
                raise Refusal(f"'{words}' is given twice for this {statement}", item.meta.line, item.meta.column)
            options[field] = value
            marks[field] = item
        return options, marks

    def _option(self, item: Tree) -> tuple[str, Any]:
        kind, children = item.data, item.children
        if kind in ("on_failure", "on_error"):
            return kind, self.nodes(children)
        if kind == "collect_digits":
            low, _, high = str(children[0]).partition("..")
            return "digits", (int(low), int(high or low))
        if kind == "collect_terminator":
            return "terminator", unquote(children[0]) if children else None
        if kind in ("collect_timeout", "queue_timeout", "dial_timeout", "invoke_timeout"):
            return "timeout", self._duration(children[0])
        if kind == "collect_inter_digit":
            return "inter_digit_timeout", self._duration(children[-1])
        if kind == "collect_retries":
            return "retries", int(children[0])
        if kind == "collect_pattern":
            return "pattern", unquote(children[0])
        if kind == "collect_sensitive":
            return "sensitive", True
        if kind == "collect_prompt":
            return "prompts", self.build_prompts(children[0])
        if kind == "collect_invalid":
            return "invalid", self.build_prompts(children[0])
        if kind == "queue_priority":
            return "priority", int(children[0])
        if kind == "queue_skills":
            return "skills", [str(token) for token in children]
        if kind == "dial_caller_id":
            return "caller_id", self.node(children[0])
        if kind == "invoke_result":
            return "result", str(children[0])
        raise AssertionError(kind)

    def build_collect(self, tree: Tree) -> ast.Collect:
        name, *items = tree.children
        options, marks = self._options("collect", items)
        if "digits" in options:
            options["min_digits"], options["max_digits"] = options.pop("digits")
            marks["min_digits"] = marks["max_digits"] = marks.pop("digits")
        return self._made(ast.Collect(str(name), **options), tree, variable=name, **marks)

    def build_queue(self, tree: Tree) -> ast.Queue:
        name, *items = tree.children
        options, marks = self._options("queue", items)
        return self._made(ast.Queue(str(name), **options), tree, queue=name, **marks)

    def build_dial(self, tree: Tree) -> ast.Dial:
        target, *items = tree.children
        options, marks = self._options("dial", items)
        return self._made(ast.Dial(as_target(self.node(target)), **options), tree, **marks)

    def build_transfer(self, tree: Tree) -> ast.Transfer:
        return self._made(ast.Transfer(as_target(self.node(tree.children[0]))), tree)

    def build_voicemail(self, tree: Tree) -> ast.Voicemail:
        return self._made(ast.Voicemail(as_target(self.node(tree.children[0]))), tree)

    def build_disposition(self, tree: Tree) -> ast.Disposition:
        (value,) = tree.children
        text = unquote(value) if value.type == "STRING" else str(value)
        return self._made(ast.Disposition(text), tree)

    def build_invoke(self, tree: Tree) -> ast.Invoke:
        function, *items = tree.children
        arguments: dict[str, ast.Expr] = {}
        argument_marks: dict[str, Token] = {}
        for item in items:
            if isinstance(item, Tree) and item.data == "argument":
                name, value = item.children
                if str(name) in arguments:
                    raise Refusal(f"argument '{name}' is given twice", name.line, name.column)
                arguments[str(name)] = self.node(value)
                argument_marks[f"args.{name}"] = name
        options, marks = self._options("invoke", [item for item in items if not (
            isinstance(item, Tree) and item.data == "argument")])
        invoke = ast.Invoke(str(function), arguments, **options)
        return self._made(invoke, tree, function=function, **marks)

    # Expressions

    def build_or_expr(self, tree: Tree) -> ast.Or:
        return self._made(ast.Or(self.nodes(tree.children)), tree)

    def build_and_expr(self, tree: Tree) -> ast.And:
        return self._made(ast.And(self.nodes(tree.children)), tree)

    def build_not_expr(self, tree: Tree) -> ast.Not:
        return self._made(ast.Not(self.node(tree.children[0])), tree)

    def build_compare(self, tree: Tree) -> ast.Compare:
        left, op, right = tree.children
        return self._made(ast.Compare(str(op), self.node(left), self.node(right)), tree)  # type: ignore[arg-type]

    def build_matches(self, tree: Tree) -> ast.Matches:
        subject, pattern = tree.children
        return self._made(ast.Matches(self.node(subject), unquote(pattern)), tree, pattern=pattern)

    def build_in_list(self, tree: Tree) -> ast.In:
        subject, *items = tree.children
        return self._made(ast.In(self.node(subject), self.nodes(items)), tree)

    def build_text(self, tree: Tree) -> ast.Expr:
        return self._made(self._text(tree.children[0]), tree)

    def build_number(self, tree: Tree) -> ast.Value:
        return self._made(number_value(str(tree.children[0])), tree)

    def build_phone(self, tree: Tree) -> ast.Value:
        return self._made(ast.Value(str(tree.children[0])), tree)

    def build_true(self, tree: Tree) -> ast.Value:
        return self._made(ast.Value(True), tree)

    def build_false(self, tree: Tree) -> ast.Value:
        return self._made(ast.Value(False), tree)

    def build_var(self, tree: Tree) -> ast.Var:
        return self._made(ast.Var(str(tree.children[0])), tree)

    def build_is_open(self, tree: Tree) -> ast.IsOpen:
        return self._made(ast.IsOpen(str(tree.children[0])), tree, calendar=tree.children[0])

    def build_is_closed(self, tree: Tree) -> ast.Not:
        is_open = self._made(ast.IsOpen(str(tree.children[0])), tree, calendar=tree.children[0])
        return self._made(ast.Not(is_open), tree)

    # Tokens

    def _text(self, token: Token) -> ast.Expr:
        positions: dict[int, Position] = {}
        expr = interpolate(unquote(token), token.line, token.column + 1, positions)
        self.node_positions.update(positions)
        self._alive.append(expr)
        if isinstance(expr, ast.Concat):
            self._alive.extend(expr.parts)
        return expr

    def _duration(self, token: Token) -> float:
        seconds = seconds_of_duration(str(token))
        assert seconds is not None, token  # the DURATION token only matches durations
        return seconds
