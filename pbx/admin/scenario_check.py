"""A scenario's text checked as the PBX would load it: parsed, checked and compiled, without
writing or loading anything.

`check_text(text, form, file, context)` answers every diagnostic as a `CheckMessage` (severity,
line, column, message, hint, and the formatted text with the source line and a caret), in the
order they appear in the file. `file` is where the scenario would live (the checker looks for a
scenario's own prompt directory beside it); messages name only its file name, not the server's
directories. A text the parsers cannot read at all (bytes YAML refuses, nesting too deep) is one
error at line 0, never an exception.

What this module does not do: choose the file, write it, or reload the library (scenarios_api.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import msgspec

from ivr_dsl.checker import CheckContext, check
from ivr_dsl.compiler import CompileError, compile_scenario
from ivr_dsl.errors import Diagnostic, ScenarioError
from ivr_dsl.parser import parse_dsl
from ivr_dsl.yaml_form import parse_yaml

__all__ = ["SUFFIX", "CheckMessage", "Form", "check_text"]

log = logging.getLogger("pbx.admin")

Form = Literal["dsl", "yaml"]
SUFFIX: dict[str, str] = {"dsl": ".ivr", "yaml": ".yaml"}


class CheckMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the checker found: where (1-based line and column; 0 when unknown), how bad,
    what, and how to fix it when that is obvious."""

    severity: Literal["error", "warning"]
    line: int
    column: int
    message: str
    hint: str | None = None
    formatted: str  # "support.ivr:12:5: error: ..." with the source line and a caret under the column


def _message(diagnostic: Diagnostic, name: str) -> CheckMessage:
    shown = msgspec.structs.replace(diagnostic, file=name)
    return CheckMessage(severity=diagnostic.severity, line=diagnostic.line, column=diagnostic.column,
                        message=diagnostic.message, hint=diagnostic.hint, formatted=shown.format())


def check_text(text: str, form: Form, file: Path, context: CheckContext | None) -> list[CheckMessage]:
    """Every error and warning of `text` read as `form`, as if it were the file `file`."""
    try:
        scenario, source_map = (parse_dsl if form == "dsl" else parse_yaml)(text, str(file))
        diagnostics = check(scenario, source_map, context)
        if not any(diagnostic.is_error for diagnostic in diagnostics):
            compile_scenario(scenario)  # what a reload does next; the checker should leave it nothing
    except ScenarioError as error:
        diagnostics = error.diagnostics
    except CompileError as error:
        diagnostics = [Diagnostic("error", str(error), str(file))]
    except Exception as error:  # noqa: BLE001 - the text's fault (a byte YAML refuses, a nesting too deep)
        log.info("event=scenario_unreadable file=%s reason=%r", file.name, str(error))
        diagnostics = [Diagnostic("error", f"the scenario cannot be read: {error}", str(file))]
    return [_message(diagnostic, file.name) for diagnostic in diagnostics]
