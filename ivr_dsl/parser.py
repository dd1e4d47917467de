"""The parser facade: `.ivr` text in, `(Scenario, SourceMap)` out, or a `ScenarioError`.

The grammar lives in grammar.lark and is parsed with Lark's LALR parser and contextual lexer;
parse_tree.py turns the tree into the AST. Lark's exceptions are translated here into plain
words ("expected a duration like 5s after 'timeout', found '5'", "unknown statement 'paly'",
"expected 'end' to close the menu 'main' opened at line 12") with file:line:col, the source
line and a caret. `load_scenario` picks the DSL or the YAML form by the file's extension.

What this module does not do: judge meaning (unknown menus, bad time zones: checker.py).
"""

from __future__ import annotations

import difflib
import functools
import re
from pathlib import Path as FilePath

import lark
import msgspec
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ivr_dsl import ast
from ivr_dsl.ast import Scenario, SourceMap
from ivr_dsl.errors import Diagnostic, ScenarioError, at_position, did_you_mean
from ivr_dsl.parse_tree import Builder
from ivr_dsl.text_forms import Refusal

__all__ = ["grammar_parser", "load_scenario", "parse_dsl", "parse_expression"]

STATEMENT_WORDS = (
    "answer", "play", "say", "pause", "hangup", "set", "language", "if", "goto", "call", "return",
    "back", "top", "collect", "queue", "dial", "transfer", "voicemail", "disposition", "invoke",
)
MENU_WORDS = ("greeting", "short", "reprompt", "invalid", "timeout", "inter-digit", "max", "key")
SECTION_WORDS = ("block", "menu", "calendar")


class _WholeWords:
    """Lark post-lexer whose only job is to make NAME acceptable in every lexer state: then
    `into` is read as one word where only the keyword `in` is expected (and refused with a
    clear message), instead of as `in` followed by `to`."""

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


@functools.cache
def grammar_parser() -> lark.Lark:
    """The LALR parser for grammar.lark, built once; start symbols `start` and `expr`."""
    grammar = (FilePath(__file__).parent / "grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True, start=["start", "expr"], postlex=_WholeWords())


def parse_dsl(text: str, file: str = "<string>") -> tuple[Scenario, SourceMap]:
    """Parse the `.ivr` form; raises ScenarioError (with line, column and caret) on bad syntax."""
    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = grammar_parser().parse(text, start="start")
    except UnexpectedInput as error:
        raise ScenarioError([explain_syntax_error(error, text, file)]) from None
    builder = Builder(file, text)
    try:
        scenario = builder.build(tree)
    except Refusal as refusal:
        raise ScenarioError([at_position(file, text, refusal.line, refusal.column, refusal.message,
                                         refusal.hint)]) from None
    return scenario, builder.source_map(scenario)


def parse_expression(text: str, file: str = "<string>", line: int = 1, column: int = 1) -> ast.Expr:
    """One expression in the DSL's syntax (the YAML form writes conditions this way).

    `line` and `column` say where `text` starts in `file`, so errors point into it."""
    try:
        tree = grammar_parser().parse(text, start="expr")
    except UnexpectedInput as error:
        diagnostic = explain_syntax_error(error, text, file, expression=True)
        raise ScenarioError([_shifted(diagnostic, line, column)]) from None
    try:
        return Builder(file, text).node(tree)
    except Refusal as refusal:
        diagnostic = at_position(file, text, refusal.line, refusal.column, refusal.message, refusal.hint)
        raise ScenarioError([_shifted(diagnostic, line, column)]) from None


def _shifted(diagnostic: Diagnostic, line: int, column: int) -> Diagnostic:
    """Move a diagnostic found in a one-line snippet to where the snippet sits in its file."""
    if diagnostic.line <= 1:
        return msgspec.structs.replace(diagnostic, line=line, column=column + max(diagnostic.column, 1) - 1,
                                       source_line=None)
    return msgspec.structs.replace(diagnostic, line=line + diagnostic.line - 1, source_line=None)


def load_scenario(path: str | FilePath) -> tuple[Scenario, SourceMap]:
    """Read a scenario file: `.ivr` is the DSL, `.yaml`/`.yml` the YAML form."""
    path = FilePath(path)
    suffix = path.suffix.lower()
    if suffix not in (".ivr", ".yaml", ".yml"):
        raise ScenarioError([Diagnostic("error", f"unknown scenario file type '{suffix or path.name}'",
                                        str(path), hint="scenario files end in .ivr or .yaml")])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError([Diagnostic("error", f"cannot read the scenario: {error.strerror}", str(path))]) from None
    if suffix == ".ivr":
        return parse_dsl(text, str(path))
    from ivr_dsl.yaml_form import parse_yaml

    return parse_yaml(text, str(path))


# --- Lark's errors in plain words --------------------------------------------------------------

_TERMINAL_WORDS = {
    "STRING": 'a quoted text like "welcome"',
    "NAME": "a name",
    "NUMBER": "a number",
    "PHONE": "a number",
    "DURATION": "a duration like 5s",
    "DIGIT_RANGE": "a range like 4..10",
    "DTMF": 'a key (0-9, *, or "#")',
    "DAYS": "weekdays like mon-fri",
    "DATE": "a date like 2026-12-25",
    "TIMERANGE": "hours like 08:00-18:00",
    "COMPARE": "a comparison like ==",
    "_NL": "the end of the line",
    "$END": "the end of the file",
}


def _describe_terminal(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = grammar_parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'" if isinstance(pattern, lark.lexer.PatternStr) else name.lower()


def _keyword_of(name: str) -> str | None:
    """The word a keyword terminal stands for ('PLAY' -> 'play'); None for other terminals."""
    if name in _TERMINAL_WORDS:
        return None
    try:
        pattern = grammar_parser().get_terminal(name).pattern
    except KeyError:
        return None
    if isinstance(pattern, lark.lexer.PatternStr) and re.fullmatch(r"[a-z][a-z\-]*", pattern.value):
        return pattern.value
    return None


@functools.cache
def _all_keywords() -> frozenset[str]:
    return frozenset(word for word in (_keyword_of(terminal.name) for terminal in grammar_parser().terminals) if word)


def _describe_expected(expected: set[str]) -> str:
    if {"NAME", "STRING", "NUMBER", "LPAR"} <= expected:  # where an expression starts
        return "a value (a variable, a number or a quoted text)"
    words = sorted({_describe_terminal(name) for name in expected})
    if not words:  # the parser had a complete expression and wanted nothing more
        return "nothing more"
    keywords = {_keyword_of(name) for name in expected} - {None}
    statements = keywords & set(STATEMENT_WORDS)
    if len(statements) > 5:  # at the start of a statement: say so rather than list twenty words
        others = sorted(f"'{word}'" for word in keywords - set(STATEMENT_WORDS))
        others += sorted(_describe_terminal(name) for name in expected if _keyword_of(name) is None)
        words = ["a statement (answer, play, say, goto, ...)"] + others
    if len(words) > 6:
        words = words[:6] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: lark.Token) -> str:
    if token.type == "_NL":
        return "the end of the line"
    if token.type == "$END":
        return "the end of the file"
    return f"'{token}'"


def _previous_word(text: str, line: int, column: int) -> str | None:
    source = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
    before = _without_comment(source[: column - 1]).split()
    if not before or '"' in before[-1]:  # after a text, quoting its tail would only confuse
        return None
    return before[-1]


def _without_comment(source: str) -> str:
    """The line up to a `#` that is not inside quotes."""
    quoted = False
    for index, char in enumerate(source):
        if char == '"' and (index == 0 or source[index - 1] != "\\"):
            quoted = not quoted
        elif char == "#" and not quoted:
            return source[:index]
    return source


def _is_first_on_line(text: str, line: int, column: int) -> bool:
    lines = text.splitlines()
    return 0 < line <= len(lines) and not lines[line - 1][: column - 1].strip()


def explain_syntax_error(error: UnexpectedInput, text: str, file: str, expression: bool = False) -> Diagnostic:
    """A Lark parse error as a Diagnostic in plain words."""
    if isinstance(error, UnexpectedCharacters):
        return _unexpected_character(error, text, file)
    if isinstance(error, UnexpectedEOF):
        token = lark.Token("$END", "", line=len(text.splitlines()) + 1, column=1)
        return _unexpected_token(token, set(error.expected), text, file, expression)
    assert isinstance(error, UnexpectedToken)
    # `accepts` is what the parser could take here; `expected` also holds what the lexer
    # merely tried (NAME is tried everywhere, see _WholeWords).
    expected = set(getattr(error, "accepts", None) or error.expected)
    return _unexpected_token(error.token, expected, text, file, expression)


def _unexpected_character(error: UnexpectedCharacters, text: str, file: str) -> Diagnostic:
    char = error.char
    line, column = error.line, error.column
    if char == '"':
        return at_position(file, text, line, column, "this text has no closing quote",
                           'texts are written on one line between double quotes: "like this"')
    if char == "{" or char == "}":
        return at_position(file, text, line, column, f"unexpected '{char}'",
                           'braces belong inside quoted text: "Hello {caller}"')
    expected = set(error.allowed or ())
    if expected:
        message = f"unexpected '{char}'; expected {_describe_expected(expected)}"
    else:
        message = f"unexpected '{char}'"
    return at_position(file, text, line, column, message)


def _unexpected_token(token: lark.Token, expected: set[str], text: str, file: str, expression: bool) -> Diagnostic:
    at_end = token.type == "$END"
    if at_end and expression:
        line, column = 1, len(text.rstrip("\n")) + 1
    elif at_end:
        line, column = len(text.splitlines()) + 1, 1
    else:
        line, column = token.line, token.column
    word = str(token)
    first_on_line = not at_end and _is_first_on_line(text, line, column)
    keywords = sorted({keyword for keyword in (_keyword_of(name) for name in expected) if keyword})

    if "SCENARIO" in expected:
        return at_position(file, text, line, column, f"a scenario file starts with its header, not '{word}'",
                           'begin with: scenario "Name" ... end')
    is_keyword = token.type != "NAME" or word in _all_keywords()
    if "END" in expected and not expression and (at_end or (first_on_line and is_keyword)):
        return _unclosed(token, word, line, column, text, file)
    if token.type == "NAME" and first_on_line and keywords:
        return at_position(file, text, line, column, *_unknown_line(word, keywords, expected))

    if not expected:  # a complete expression followed by more
        return at_position(file, text, line, column, f"unexpected {_found(token)} after a complete expression")
    previous = None if at_end else _previous_word(text, line, column)
    after = f" after '{previous}'" if previous else ""
    found = "the end of the condition" if at_end and expression else _found(token)
    message = f"expected {_describe_expected(expected)}{after}, found {found}"
    hint = None
    if "DURATION" in expected and re.fullmatch(r"[0-9]+(\.[0-9]+)?", word):
        hint = f"give the unit: {word}s, {word}ms or {word}m"
    elif "DTMF" in expected:
        hint = 'keys are 0-9 and *; write the pound key in quotes: key "#" (a bare # starts a comment)'
    elif token.type == "NAME" and keywords and difflib.get_close_matches(word, keywords, 1, 0.75):
        hint = did_you_mean(word, keywords)
    elif token.type == "NAME" and "STRING" in expected:
        hint = f'put texts and prompt names in double quotes: "{word}"'
    return at_position(file, text, line, column, message, hint)


def _unclosed(token: lark.Token, word: str, line: int, column: int, text: str, file: str) -> Diagnostic:
    """A block keyword (or the end of the file) where an `end` was still due."""
    at_end = token.type == "$END"
    opened = _innermost_open_block(text, None if at_end else line)
    hint = "every block, menu, if, key and 'on failure' ends with its own 'end'"
    if word in ("elif", "else") and (opened is None or opened[0] != "if"):
        return at_position(file, text, line, column, f"'{word}' without an 'if' before it")
    if opened is None:
        return at_position(file, text, line, column, f"unexpected '{word}'", hint)
    kind, opened_line, opened_column = opened
    if at_end:
        return at_position(file, text, opened_line, opened_column,
                           f"expected 'end' to close the {kind} opened at line {opened_line}", hint)
    return at_position(file, text, line, column,
                       f"expected 'end' to close the {kind} opened at line {opened_line} before '{word}'", hint)


def _unknown_line(word: str, keywords: list[str], expected: set[str]) -> tuple[str, str | None]:
    """An unknown word at the start of a line: what kind of line was expected there."""
    hint = did_you_mean(word, keywords)
    if "languages" in keywords:
        return f"unknown scenario setting '{word}'", hint
    if "holiday" in keywords:
        return (f"unknown calendar line '{word}'",
                "write weekdays as mon, tue, ... sun or a range like mon-fri, then hours; or 'holiday', 'override'")
    if set(keywords) & set(STATEMENT_WORDS):
        return f"unknown statement '{word}'", hint
    if set(keywords) & set(MENU_WORDS):
        return f"unknown menu line '{word}'", hint
    return f"unexpected '{word}'; expected {_describe_expected(expected)}", hint


_OPENERS = {"scenario": "scenario header", "calendar": "calendar", "block": "block", "menu": "menu"}


def _innermost_open_block(text: str, before_line: int | None) -> tuple[str, int, int] | None:
    """The innermost block still open at `before_line` (the whole text when None), found by
    a plain scan of first words; used only to word an error, so it may guess."""
    lines = text.splitlines()
    stop = len(lines) if before_line is None else before_line - 1
    stack: list[tuple[str, int, int]] = []
    for index in range(stop):
        source = lines[index].split("#", 1)[0] if '"' not in lines[index] else lines[index]
        words = source.split()
        if not words:
            continue
        first, column = words[0], len(source) - len(source.lstrip()) + 1
        if first in _OPENERS:
            label = _OPENERS[first] + (f" '{words[1]}'" if len(words) > 1 and first != "scenario" else "")
            stack.append((label, index + 1, column))
        elif first == "if":
            stack.append(("if", index + 1, column))
        elif first == "key" and ":" not in source:
            stack.append((f"key {words[1] if len(words) > 1 else ''}".strip(), index + 1, column))
        elif ":" not in source and (first == "on" or (first == "max" and _next_word(lines, index) in STATEMENT_WORDS)):
            stack.append(("'" + " ".join(words[:2]) + "'", index + 1, column))
        elif first == "end" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _next_word(lines: list[str], index: int) -> str | None:
    for source in lines[index + 1:]:
        words = source.split("#", 1)[0].split()
        if words:
            return words[0]
    return None
