"""The scenario AST: what both surface forms (the `.ivr` DSL and `.yaml`) decode into.

Every node is a frozen msgspec Struct, so two forms of one scenario compare equal with `==`
and the YAML form is decoded straight into these types (tagged unions, unknown fields refused).
Nodes carry no source positions: the parsers return a `SourceMap` beside the tree, keyed by
the node's path from the root (e.g. ("blocks", 2, "body", 0)), so that equality ignores layout
while every error can still name file:line:col.

Durations are seconds (float). Digit keys are strings ("1", "*", "#", "11").
What this module does not do: parse, check or run anything.
"""

from __future__ import annotations

from typing import Literal, Union

import msgspec


class Node(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base of every AST node."""


# --- Expressions ---------------------------------------------------------------------------
# Variables are names: `caller`, `called`, `language`, `now`, `header.X-Customer-Id`,
# names set by `set`, `collect` and function results (`account.balance` reads a field).


class Value(Node, tag="literal"):
    value: str | int | float | bool | None


class Var(Node, tag="var"):
    name: str


class Compare(Node, tag="compare"):
    op: Literal["==", "!=", "<", "<=", ">", ">="]
    left: Expr
    right: Expr


class Matches(Node, tag="matches"):
    """Regular-expression full match of the subject's text."""

    subject: Expr
    pattern: str


class In(Node, tag="in"):
    subject: Expr
    items: list[Expr]


class And(Node, tag="and"):
    items: list[Expr]


class Or(Node, tag="or"):
    items: list[Expr]


class Not(Node, tag="not"):
    item: Expr


class IsOpen(Node, tag="is_open"):
    """True while the named calendar says open at the call's current time (`open(support_hours)`);
    `closed(x)` is written Not(IsOpen(x))."""

    calendar: str


class Concat(Node, tag="concat"):
    """Text built from parts: "Hello {caller}" becomes Concat([Value("Hello "), Var("caller")])."""

    parts: list[Expr]


Expr = Union[Value, Var, Compare, Matches, In, And, Or, Not, IsOpen, Concat]


# --- Prompts ---------------------------------------------------------------------------------


class PromptFile(Node, tag="file"):
    """A recorded prompt looked up as <prompts>/<language>/<name>.wav, falling back to the
    scenario's default language."""

    name: str


class Speak(Node, tag="speak"):
    """Text rendered by TTS; `language` overrides the call's current language for this prompt
    (a multi-language greeting speaks each phrase in its own language)."""

    text: Expr
    language: str | None = None
    voice: str | None = None


class SayDigits(Node, tag="say_digits"):
    value: Expr


class SayNumber(Node, tag="say_number"):
    value: Expr


class SayDate(Node, tag="say_date"):
    value: Expr


class Silence(Node, tag="silence"):
    seconds: float


Prompt = Union[PromptFile, Speak, SayDigits, SayNumber, SayDate, Silence]


# --- Statements ------------------------------------------------------------------------------


class Answer(Node, tag="answer"):
    pass


class Play(Node, tag="play"):
    prompts: list[Prompt]
    barge_in: bool = True


class Pause(Node, tag="pause"):
    seconds: float


HangupCause = Literal["normal", "busy", "rejected", "unavailable", "no_answer", "failure"]


class Hangup(Node, tag="hangup"):
    cause: HangupCause = "normal"


class Set(Node, tag="set"):
    name: str
    value: Expr


class SetLanguage(Node, tag="language"):
    language: Expr


class Branch(Node):
    condition: Expr
    body: list[Stmt]


class If(Node, tag="if"):
    branches: list[Branch]  # `if` then each `elif`, in order
    otherwise: list[Stmt] = []


class Goto(Node, tag="goto"):
    """Continue at another block or menu; control does not come back."""

    target: str


class Gosub(Node, tag="call"):
    """Run another block or menu as a sub-scenario and continue here when it says `return`."""

    target: str


class Return(Node, tag="return"):
    pass


class Back(Node, tag="back"):
    """Inside a menu: re-enter the menu that led here (sub-menu navigation)."""


class Top(Node, tag="top"):
    """Inside a menu: re-enter the scenario's first menu."""


class Collect(Node, tag="collect"):
    """Prompt and gather digits into `variable` (barge-in: a key stops the prompt)."""

    variable: str
    prompts: list[Prompt] = []
    min_digits: int = 1
    max_digits: int = 20
    terminator: str | None = "#"
    timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    retries: int = 3
    pattern: str | None = None
    invalid: list[Prompt] = []  # played when the input fails length or pattern
    sensitive: bool = False  # recordings pause while it runs; digits are not logged
    on_failure: list[Stmt] = []  # after `retries` failed attempts; falls through if empty


class Queue(Node, tag="queue"):
    """Hand the call to an ACD queue; `on_failure` runs if the queue refuses or is missing."""

    queue: str
    priority: int = 0
    skills: list[str] = []
    timeout: float | None = None
    on_failure: list[Stmt] = []


class Dial(Node, tag="dial"):
    """Ring an extension or external number; `on_failure` runs on busy/no answer/refusal."""

    target: Expr
    timeout: float = 30.0
    caller_id: Expr | None = None
    on_failure: list[Stmt] = []


class Transfer(Node, tag="transfer"):
    """Blind transfer to an extension, number or SIP URI; the scenario ends."""

    target: Expr


class Voicemail(Node, tag="voicemail"):
    """Placeholder until voicemail exists: the PBX answers it with a clear failure."""

    mailbox: Expr


class Disposition(Node, tag="disposition"):
    value: str


class Invoke(Node, tag="invoke"):
    """Call a function registered by a plugin, e.g. crm.lookup(account=account)."""

    function: str
    args: dict[str, Expr] = {}
    result: str | None = None
    timeout: float = 5.0
    on_error: list[Stmt] = []


Stmt = Union[
    Answer, Play, Pause, Hangup, Set, SetLanguage, If, Goto, Gosub, Return, Back, Top,
    Collect, Queue, Dial, Transfer, Voicemail, Disposition, Invoke,
]


# --- Blocks and menus ------------------------------------------------------------------------


class Block(Node, tag="block"):
    name: str
    body: list[Stmt]


class MenuOption(Node):
    key: str
    body: list[Stmt]


class Menu(Node, tag="menu"):
    """A FreeSWITCH/VoiceXML-style menu.

    Entering plays `greeting` (the long one first, `short_greeting` on later attempts, or the
    escalating `reprompts` in order when given) and waits `timeout` for a key; keys of several
    digits are completed within `inter_digit_timeout`. A key with no option plays `invalid`
    and counts a failure; silence plays `timeout_prompt` and counts a timeout. Reaching
    `max_failures` or `max_timeouts` runs `on_max_failures` / `on_max_timeouts` (hang up when
    those are empty). An option body that ends without a jump re-enters the menu.
    """

    name: str
    greeting: list[Prompt]
    options: list[MenuOption]
    short_greeting: list[Prompt] = []
    reprompts: list[list[Prompt]] = []
    invalid: list[Prompt] = []
    timeout_prompt: list[Prompt] = []
    timeout: float = 5.0
    inter_digit_timeout: float = 2.0
    max_failures: int = 3
    max_timeouts: int = 3
    on_max_failures: list[Stmt] = []
    on_max_timeouts: list[Stmt] = []


Section = Union[Block, Menu]


# --- Calendars -------------------------------------------------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class TimeRange(Node):
    start: str  # "08:00"
    end: str  # "18:00"; "24:00" allowed; end <= start is refused by the checker


class WeeklyHours(Node):
    days: list[Weekday]
    ranges: list[TimeRange]


class Holiday(Node):
    """Closed all day on `date` (YYYY-MM-DD), or every year on MM-DD."""

    date: str
    name: str | None = None


class Override(Node):
    """One-off hours for a date (YYYY-MM-DD): open only in `ranges`, closed all day if empty."""

    date: str
    ranges: list[TimeRange] = []
    name: str | None = None


class Calendar(Node):
    name: str
    timezone: str  # IANA name, e.g. "Europe/Warsaw"
    weekly: list[WeeklyHours] = []
    holidays: list[Holiday] = []
    overrides: list[Override] = []


# --- The scenario ----------------------------------------------------------------------------


class Scenario(Node):
    """One scenario. Execution starts at `start`, or the first section when it is None."""

    name: str
    sections: list[Section]
    language: str = "en"
    languages: list[str] = []  # every language the prompts exist in; [] means [language]
    prompts: str | None = None  # prompt directory, relative to the scenario file
    start: str | None = None
    calendars: list[Calendar] = []
    variables: dict[str, str | int | float | bool] = {}  # defaults, overridable per call


Path = tuple[str | int, ...]


class Position(msgspec.Struct, frozen=True):
    line: int  # 1-based
    column: int  # 1-based


class SourceMap(msgspec.Struct):
    """Where each node came from: node path -> position, for error messages."""

    file: str
    text: str
    positions: dict[Path, Position] = {}

    def find(self, path: Path) -> Position | None:
        """The position of `path`, or of its nearest ancestor that has one."""
        while True:
            if path in self.positions:
                return self.positions[path]
            if not path:
                return None
            path = path[:-1]
