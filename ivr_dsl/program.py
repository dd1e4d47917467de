"""A compiled scenario: numbered instructions per section, ready for the interpreter.

A `Program` is a frozen msgspec Struct that round-trips through msgspec.json and holds
everything a call needs (calendars, variable defaults, prompt directory), so a running call
keeps the version it started with while a new one is loaded. Equal scenarios (the DSL and
the YAML form of one file) compile to equal programs.

Each section keeps its name and its own instruction list; jumps inside a section are indexes
into that list, jumps between sections name the section. So a position reads "main, step 3".
Control flow inside a section:

- `JumpUnless`/`Jump` implement if/elif/else.
- Statements with a failure branch (`Collect`, `Enqueue`, `Dial`, `Voicemail`, `CallFunction`)
  are followed by that branch; on failure execution continues with the next instruction, on
  success of a `Collect`/`CallFunction` it continues at `on_success` (after the branch).
  A successful queue, dial or voicemail ends the scenario, so it needs no address.
- A `Menu` is instruction 0 of its section; `keys` point at the option bodies, each of which
  ends with `GoTo(menu)` (re-enter); `on_max_failures`/`on_max_timeouts` point at those bodies.
- `EndSection` returns to the caller after `call`, or finishes the scenario.

Expressions and prompts are kept as AST nodes (`ivr_dsl.ast`), evaluated at run time.
What this module does not do: compile (compiler.py) or run (interpreter.py) anything.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ivr_dsl.ast import Calendar, Expr, Prompt

FORMAT = 1  # bumped when a Program's shape changes incompatibly


class Instruction(msgspec.Struct, frozen=True, tag_field="op", forbid_unknown_fields=True):
    """Base of every instruction."""


class Answer(Instruction, tag="answer"):
    pass


class Play(Instruction, tag="play"):
    prompts: tuple[Prompt, ...]
    barge_in: bool = True


class Pause(Instruction, tag="pause"):
    seconds: float


class Hangup(Instruction, tag="hangup"):
    cause: str = "normal"


class SetVariable(Instruction, tag="set"):
    name: str
    value: Expr


class SetLanguage(Instruction, tag="language"):
    language: Expr


class Jump(Instruction, tag="jump"):
    to: int


class JumpUnless(Instruction, tag="jump_unless"):
    condition: Expr
    to: int


class GoTo(Instruction, tag="goto"):
    section: str


class CallSection(Instruction, tag="call"):
    section: str


class Return(Instruction, tag="return"):
    pass


class Back(Instruction, tag="back"):
    pass


class Top(Instruction, tag="top"):
    pass


class EndSection(Instruction, tag="end"):
    pass


class MenuKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    key: str
    to: int


class Menu(Instruction, tag="menu"):
    name: str
    greeting: tuple[Prompt, ...]
    short_greeting: tuple[Prompt, ...]
    reprompts: tuple[tuple[Prompt, ...], ...]
    invalid: tuple[Prompt, ...]
    timeout_prompt: tuple[Prompt, ...]
    timeout: float
    inter_digit_timeout: float
    max_failures: int
    max_timeouts: int
    max_digits: int
    keys: tuple[MenuKey, ...]
    on_max_failures: int
    on_max_timeouts: int


class Collect(Instruction, tag="collect"):
    variable: str
    prompts: tuple[Prompt, ...]
    min_digits: int
    max_digits: int
    terminator: str | None
    timeout: float
    inter_digit_timeout: float
    retries: int
    pattern: str | None
    invalid: tuple[Prompt, ...]
    sensitive: bool
    on_success: int


class Enqueue(Instruction, tag="queue"):
    queue: str
    priority: int
    skills: tuple[str, ...]
    timeout: float | None


class Dial(Instruction, tag="dial"):
    target: Expr
    timeout: float
    caller_id: Expr | None


class Transfer(Instruction, tag="transfer"):
    target: Expr


class Voicemail(Instruction, tag="voicemail"):
    mailbox: Expr


class SetDisposition(Instruction, tag="disposition"):
    value: str


class Argument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    value: Expr


class CallFunction(Instruction, tag="invoke"):
    function: str
    args: tuple[Argument, ...]  # sorted by name
    result: str | None
    timeout: float
    on_success: int


Step = (
    Answer | Play | Pause | Hangup | SetVariable | SetLanguage | Jump | JumpUnless | GoTo | CallSection | Return | Back
    | Top | EndSection | Menu | Collect | Enqueue | Dial | Transfer | Voicemail | SetDisposition | CallFunction
)


class SectionCode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    kind: Literal["block", "menu"]
    code: tuple[Step, ...]


class Program(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    language: str
    languages: tuple[str, ...]
    prompts: str | None
    start: str
    first_menu: str | None  # the target of `top`
    sections: tuple[SectionCode, ...]
    calendars: tuple[Calendar, ...] = ()
    variables: dict[str, str | int | float | bool] = {}  # defaults, sorted by name
    format: int = FORMAT

    def section(self, name: str) -> SectionCode:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(f"no section {name!r} in program {self.name!r}")


def encode(program: Program) -> bytes:
    return msgspec.json.encode(program)


def decode(data: bytes | str) -> Program:
    return msgspec.json.decode(data, type=Program)
