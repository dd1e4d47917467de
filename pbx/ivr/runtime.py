"""What every IVR call shares (`IvrRuntime`), and the interface the ACD implements for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pbx.calls.call import Call
from pbx.calls.leg import Leg

from .prompts import PromptLibrary


class QueueRefused(Exception):
    """The queue cannot take the call (unknown, full, closed, no agents logged in...): the reason
    becomes the scenario's QueueFailed and its on-failure branch runs."""


class QueueService(Protocol):
    """What the IVR needs from the ACD (the queues issue implements it).

    `enqueue` takes the call over: it replaces `call.controller` with its own and returns the
    actions that start the caller's wait, or raises QueueRefused. It plays on the IVR's media
    session (`media`) and calls `on_left(outcome, session, now)` when the call leaves the queue:
    "answered" and "abandoned" for the record, any other outcome hands the call (and the session)
    back to the scenario, whose on-failure branch runs.
    """

    def enqueue(self, call: Call, leg: Leg, queue: str, *, priority: int, skills: tuple[str, ...],
                timeout: float | None, now: float, media: Any = None,
                on_left: Callable[[str, Any, float], list[Any]] | None = None) -> list[Any]: ...


@dataclass
class IvrRuntime:
    """What every IVR call shares, built by the composition root."""

    media_clock: Any
    prompts: PromptLibrary
    execute: Callable[[list[Any]], None]  # run actions produced outside SIP handling
    new_ssrc: Callable[[], int]
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)  # plugin functions
    recordings: Any = None
    queues: QueueService | None = None  # the ACD, once it exists
    time_offset: float = 0.0  # seconds added to the clock for calendars (`pbx run --ivr-time`, for tests)
