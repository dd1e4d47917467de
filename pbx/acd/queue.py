"""A queue: its settings (every rule, decoded from config) and its waiting list.

The waiting list is ordered by caller priority (higher first), then by the time
the caller took their place (`joined_at`, earlier first), then by arrival order.
An entry is a live caller or a virtual callback entry: a caller who asked to be
called back keeps their entry and its `joined_at`, so their place does not move
while they are off the line. A caller who abandoned and calls again within
`rejoin_window` seconds gets their old `joined_at` back (`resume_join_time`).

Penalty tiers widen with the wait: `penalty_steps` [(after_seconds, max_penalty)]
say which penalties may ring once a caller has waited that long (no steps: any).

This module holds data and answers questions about it; which caller meets which
agent is the dispatcher's business. It keeps no clock.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import msgspec

from .ewt import HandleTime
from .outputs import OverflowTarget
from .strategies import Strategy

EMPTY_MEANINGS = ("no-agents-logged-in", "no-agents-staffed")


class PenaltyStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """From `after_seconds` of waiting, agents with penalty <= `max_penalty` may be offered."""

    after_seconds: float
    max_penalty: int


class CallbackSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enabled: bool = False
    retries: int = 2  # attempts after the first
    retry_interval: float = 60.0


class QueueSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every rule of one queue. Seconds are floats; 0 turns a limit off."""

    name: str
    strategy: str = "ring-all"  # a name in the strategy registry
    max_length: int = 0  # waiting entries (callbacks included); 0: unlimited
    join_when_empty: bool = True  # False: refuse callers while the queue is empty (see empty_means)
    leave_when_empty: bool = False  # True: waiting callers leave ("left-empty") when it becomes empty
    empty_means: str = "no-agents-logged-in"  # or "no-agents-staffed" (paused agents do not count)
    max_wait: float = 0.0  # seconds of this call's waiting before timing out; 0: wait forever
    overflow: OverflowTarget | None = None  # where a timed-out caller goes; None: "timed-out"
    ring_timeout: float = 15.0  # seconds an offer rings before it counts as no answer
    retry_delay: float = 5.0  # before offering a caller again to agents that already failed them
    wrap_up: float = 0.0  # seconds of wrap-up after each call of this queue
    autopause_after: int = 0  # pause an agent after this many consecutive missed offers; 0: never
    penalty_steps: list[PenaltyStep] = []
    announce_position_every: float = 0.0  # 0: no position announcements
    whisper: bool = False  # play the queue name to the agent before bridging
    callback: CallbackSettings = CallbackSettings()
    rejoin_window: float = 0.0  # an abandoned caller calling again within this keeps their place
    initial_handle_seconds: float = 120.0  # the handle time EWT assumes before the first call

    def __post_init__(self) -> None:
        if self.empty_means not in EMPTY_MEANINGS:
            raise ValueError(f"queue {self.name!r}: empty_means must be one of {EMPTY_MEANINGS}")
        if self.overflow is not None and self.overflow.kind not in ("queue", "scenario", "voicemail"):
            raise ValueError(f"queue {self.name!r}: overflow kind must be queue, scenario or voicemail")
        if self.ring_timeout <= 0:
            raise ValueError(f"queue {self.name!r}: ring_timeout must be positive")

    def max_penalty(self, waited: float) -> int | None:
        """The highest penalty that may ring for a caller who has waited `waited` seconds
        (None: no limit). Before the first step applies, only penalty 0 rings."""
        if not self.penalty_steps:
            return None
        allowed = 0
        for step in sorted(self.penalty_steps, key=lambda s: s.after_seconds):
            if waited >= step.after_seconds:
                allowed = max(allowed, step.max_penalty)
        return allowed


class Entry:
    """One waiting caller, or a virtual callback entry, in one queue."""

    __slots__ = ("call_id", "queue", "caller_number", "priority", "skills", "joined_at", "arrived_at", "order",
                 "offers", "tried", "retry_at", "next_announcement", "callback_number", "is_virtual",
                 "is_dialing", "callback_attempts", "resumed", "preferred_agent")

    def __init__(self, call_id: str, queue: str, caller_number: str, priority: int, skills: dict[str, int],
                 joined_at: float, arrived_at: float, order: int) -> None:
        self.call_id = call_id
        self.queue = queue
        self.caller_number = caller_number
        self.priority = priority
        self.skills = skills  # required skill -> minimum level
        self.joined_at = joined_at  # the place in line (kept by callbacks and rejoins)
        self.arrived_at = arrived_at  # when this call arrived (max wait counts from here)
        self.order = order
        self.offers: set[str] = set()  # agents ringing for this caller now
        self.tried: set[str] = set()  # agents who failed this caller since the last retry
        self.retry_at: float | None = None
        self.next_announcement: float | None = None
        self.callback_number: str | None = None  # set once a callback was asked for
        self.is_virtual = False  # the customer is off the line, waiting for our call
        self.is_dialing = False  # PlaceCallback is out
        self.callback_attempts = 0
        self.resumed = False
        self.preferred_agent: str | None = None  # offered first whenever available (a CRM's account owner)

    @property
    def sort_key(self) -> tuple[int, float, int]:
        return (-self.priority, self.joined_at, self.order)

    @property
    def is_callback(self) -> bool:
        return self.callback_number is not None

    def __repr__(self) -> str:
        return f"Entry({self.call_id!r}, priority={self.priority}, joined_at={self.joined_at})"


def _key(entry: Entry) -> tuple[int, float, int]:
    return entry.sort_key


class WaitingList:
    """Entries in service order; O(log n) position lookups, O(n) inserts and removals."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._by_call: dict[str, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        """In service order. Do not add or remove while iterating; iterate over list(waiting) for that."""
        return iter(self._entries)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._by_call

    def get(self, call_id: str) -> Entry | None:
        return self._by_call.get(call_id)

    def add(self, entry: Entry) -> None:
        if entry.call_id in self._by_call:
            raise ValueError(f"call {entry.call_id!r} is already waiting in queue {entry.queue!r}")
        bisect.insort(self._entries, entry, key=_key)
        self._by_call[entry.call_id] = entry

    def remove(self, entry: Entry) -> int:
        """Take the entry out; return the position it had."""
        index = self._index(entry)
        del self._entries[index]
        del self._by_call[entry.call_id]
        return index + 1

    def position(self, entry: Entry) -> int:
        """1 is the next to be served."""
        return self._index(entry) + 1

    def head(self, count: int) -> list[Entry]:
        return self._entries[:count]

    def _index(self, entry: Entry) -> int:
        index = bisect.bisect_left(self._entries, entry.sort_key, key=_key)
        while self._entries[index] is not entry:
            index += 1
        return index


class Queue:
    """A queue's live state: settings, strategy instance, members in order, waiting list, handle time."""

    def __init__(self, settings: QueueSettings, strategy: Strategy) -> None:
        self.settings = settings
        self.name = settings.name
        self.strategy = strategy
        self.members: list[str] = []  # agent names in the order they were added (linear, round-robin)
        self.rank: dict[str, int] = {}
        self.waiting = WaitingList()
        self.handle_time = HandleTime(settings.initial_handle_seconds)
        self._abandoned: dict[str, float] = {}  # caller number -> joined_at, in the order they left
        self._abandoned_at: dict[str, float] = {}

    def add_member(self, agent: str) -> None:
        if agent not in self.rank:
            self.rank[agent] = len(self.members)
            self.members.append(agent)

    def is_full(self) -> bool:
        return 0 < self.settings.max_length <= len(self.waiting)

    def remember_abandon(self, caller_number: str, joined_at: float, now: float) -> None:
        if self.settings.rejoin_window <= 0 or not caller_number:
            return
        self._forget_expired(now)
        self._abandoned.pop(caller_number, None)
        self._abandoned_at.pop(caller_number, None)
        self._abandoned[caller_number] = joined_at
        self._abandoned_at[caller_number] = now

    def resume_join_time(self, caller_number: str, now: float) -> float | None:
        """The old place of a caller who abandoned within the rejoin window (used once), else None."""
        self._forget_expired(now)
        if caller_number in self._abandoned:
            del self._abandoned_at[caller_number]
            return self._abandoned.pop(caller_number)
        return None

    def _forget_expired(self, now: float) -> None:
        window = self.settings.rejoin_window
        while self._abandoned_at:
            number, left_at = next(iter(self._abandoned_at.items()))
            if now - left_at <= window:
                break
            del self._abandoned_at[number]
            del self._abandoned[number]
