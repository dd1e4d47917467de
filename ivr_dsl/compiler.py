"""Compile a scenario AST into a `Program` (see program.py for the instruction set and layout).

Deterministic: the output depends only on the AST (sections in source order, function
arguments and variable defaults sorted by name), so equal ASTs give equal programs.

The compiler expects a checked scenario, but refuses with `CompileError` what would make the
interpreter fail at run time: a jump to a section that does not exist, `top`/`back` in a
scenario without menus, a calendar whose time zone is unknown, no sections at all.
What it does not do: report style problems or warnings (the checker does).
"""

from __future__ import annotations

import msgspec

from ivr_dsl import ast
from ivr_dsl import program as ops
from ivr_dsl.calendar import zone_of


class CompileError(ValueError):
    """The scenario cannot run; the message names the section and the problem."""


def compile_scenario(scenario: ast.Scenario) -> ops.Program:
    if not scenario.sections:
        raise CompileError(f"scenario {scenario.name!r} has no blocks or menus")
    names = [section.name for section in scenario.sections]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CompileError(f"sections defined twice: {', '.join(duplicates)}")
    for calendar in scenario.calendars:
        try:
            zone_of(calendar)
        except ValueError as error:
            raise CompileError(str(error)) from None
    menus = [section.name for section in scenario.sections if isinstance(section, ast.Menu)]
    start = scenario.start or names[0]
    if start not in names:
        raise CompileError(f"start section {start!r} does not exist")
    sections = tuple(_SectionCompiler(section, set(names), bool(menus)).compile() for section in scenario.sections)
    return ops.Program(
        name=scenario.name,
        language=scenario.language,
        languages=tuple(scenario.languages) or (scenario.language,),
        prompts=scenario.prompts,
        start=start,
        first_menu=menus[0] if menus else None,
        sections=sections,
        calendars=tuple(scenario.calendars),
        variables=dict(sorted(scenario.variables.items())),
    )


class _SectionCompiler:
    """Emits one section's instructions; jumps are patched once their targets are known."""

    def __init__(self, section: ast.Section, section_names: set[str], has_menus: bool) -> None:
        self.section = section
        self.section_names = section_names
        self.has_menus = has_menus
        self.code: list[ops.Step] = []

    def compile(self) -> ops.SectionCode:
        section = self.section
        if isinstance(section, ast.Block):
            self.body(section.body)
            self.emit(ops.EndSection())
            return ops.SectionCode(section.name, "block", tuple(self.code))
        self.emit(ops.EndSection())  # placeholder for the Menu instruction, patched below
        keys = []
        for option in section.options:
            keys.append(ops.MenuKey(option.key, len(self.code)))
            self.body(option.body)
            self.emit(ops.GoTo(section.name))
        on_max_failures = self.exhausted(section.invalid, section.on_max_failures)
        on_max_timeouts = self.exhausted(section.timeout_prompt, section.on_max_timeouts)
        self.code[0] = ops.Menu(
            name=section.name,
            greeting=tuple(section.greeting),
            short_greeting=tuple(section.short_greeting),
            reprompts=tuple(tuple(prompts) for prompts in section.reprompts),
            invalid=tuple(section.invalid),
            timeout_prompt=tuple(section.timeout_prompt),
            timeout=float(section.timeout),
            inter_digit_timeout=float(section.inter_digit_timeout),
            max_failures=max(1, section.max_failures),
            max_timeouts=max(1, section.max_timeouts),
            max_digits=max((len(option.key) for option in section.options), default=1),
            keys=tuple(keys),
            on_max_failures=on_max_failures,
            on_max_timeouts=on_max_timeouts,
        )
        return ops.SectionCode(section.name, "menu", tuple(self.code))

    def exhausted(self, last_prompt: list[ast.Prompt], body: list[ast.Stmt]) -> int:
        """The code run when a menu's attempts are used up: the last invalid/timeout prompt, then
        the body, or a hang-up when the body is empty."""
        address = len(self.code)
        if last_prompt:
            self.emit(ops.Play(tuple(last_prompt), barge_in=False))
        if body:
            self.body(body)
            self.emit(ops.EndSection())
        else:
            self.emit(ops.Hangup("normal"))
        return address

    def emit(self, step: ops.Step) -> int:
        self.code.append(step)
        return len(self.code) - 1

    def patch(self, address: int, **fields: object) -> None:
        self.code[address] = msgspec.structs.replace(self.code[address], **fields)

    def target(self, name: str, verb: str) -> str:
        if name not in self.section_names:
            raise CompileError(f"{self.section.name}: {verb} {name}: no block or menu is called {name!r}")
        return name

    def body(self, statements: list[ast.Stmt]) -> None:
        for statement in statements:
            self.statement(statement)

    def failure_branch(self, body: list[ast.Stmt]) -> int:
        """Emit a failure branch right here; return the address after it."""
        self.body(body)
        return len(self.code)

    def statement(self, statement: ast.Stmt) -> None:
        match statement:
            case ast.Answer():
                self.emit(ops.Answer())
            case ast.Play(prompts=prompts, barge_in=barge_in):
                self.emit(ops.Play(tuple(prompts), barge_in))
            case ast.Pause(seconds=seconds):
                self.emit(ops.Pause(float(seconds)))
            case ast.Hangup(cause=cause):
                self.emit(ops.Hangup(cause))
            case ast.Set(name=name, value=value):
                self.emit(ops.SetVariable(name, value))
            case ast.SetLanguage(language=language):
                self.emit(ops.SetLanguage(language))
            case ast.If(branches=branches, otherwise=otherwise):
                ends = []
                for branch in branches:
                    test = self.emit(ops.JumpUnless(branch.condition, -1))
                    self.body(branch.body)
                    ends.append(self.emit(ops.Jump(-1)))
                    self.patch(test, to=len(self.code))
                self.body(otherwise)
                for end in ends:
                    self.patch(end, to=len(self.code))
            case ast.Goto(target=target):
                self.emit(ops.GoTo(self.target(target, "goto")))
            case ast.Gosub(target=target):
                self.emit(ops.CallSection(self.target(target, "call")))
            case ast.Return():
                self.emit(ops.Return())
            case ast.Back() | ast.Top():
                if not self.has_menus:
                    raise CompileError(f"{self.section.name}: `back` and `top` need a menu in the scenario")
                self.emit(ops.Back() if isinstance(statement, ast.Back) else ops.Top())
            case ast.Collect():
                address = self.emit(ops.EndSection())  # placeholder
                after = self.failure_branch(statement.on_failure)
                self.code[address] = ops.Collect(
                    variable=statement.variable, prompts=tuple(statement.prompts),
                    min_digits=statement.min_digits, max_digits=statement.max_digits,
                    terminator=statement.terminator, timeout=float(statement.timeout),
                    inter_digit_timeout=float(statement.inter_digit_timeout), retries=max(1, statement.retries),
                    pattern=statement.pattern, invalid=tuple(statement.invalid), sensitive=statement.sensitive,
                    on_success=after,
                )
            case ast.Queue():
                timeout = None if statement.timeout is None else float(statement.timeout)
                self.emit(ops.Enqueue(statement.queue, statement.priority, tuple(statement.skills), timeout))
                self.body(statement.on_failure)
            case ast.Dial(target=target, timeout=timeout, caller_id=caller_id, on_failure=on_failure):
                self.emit(ops.Dial(target, float(timeout), caller_id))
                self.body(on_failure)
            case ast.Transfer(target=target):
                self.emit(ops.Transfer(target))
            case ast.Voicemail(mailbox=mailbox):
                self.emit(ops.Voicemail(mailbox))
            case ast.Disposition(value=value):
                self.emit(ops.SetDisposition(value))
            case ast.Invoke():
                address = self.emit(ops.EndSection())  # placeholder
                after = self.failure_branch(statement.on_error)
                arguments = tuple(ops.Argument(name, value) for name, value in sorted(statement.args.items()))
                self.code[address] = ops.CallFunction(
                    statement.function, arguments, statement.result, float(statement.timeout), on_success=after,
                )
            case _:
                raise CompileError(f"{self.section.name}: cannot compile {type(statement).__name__}")
