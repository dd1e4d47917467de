"""What the PBX hands a plugin: `PbxApi`, one per plugin, passed to every hook that names `api`.

It is the whole of what a plugin may do to the PBX: read calls and the queues, act on live
calls (hang up, play, transfer, record), place calls, publish events and metrics, and keep
data in its own corner of the PBX database. The PBX implements it on live calls
(pbx/plugin_host.py); `sdk.testing` implements it with a fake clock for plugin tests.

Call actions are synchronous and take effect at once on the event loop; one that cannot be
done (the call has ended, nothing to record) raises `ActionRefused` saying why.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .database import Database, KeyValueStore
from .events import Event
from .types import AcdSnapshot, CallInfo


class ActionRefused(Exception):
    """A call action cannot be carried out: no such live call, wrong state. The message says why."""


THREAD_CALL_TIMEOUT = 5.0  # seconds a plugin's thread waits for the event loop to carry out its call

# `originate`'s ring time: a dialer may not give up before 15 s of ringing (47 CFR 64.1200(a)(6));
# past five minutes nobody is coming to the phone.
DEFAULT_RING_TIMEOUT = 30.0
MIN_RING_TIMEOUT = 15.0
MAX_RING_TIMEOUT = 300.0


def check_ring_timeout(ring_timeout: float) -> float:
    """`originate`'s `ring_timeout`, or ActionRefused naming it (both implementations ask here)."""
    try:
        seconds = float(ring_timeout)
    except (TypeError, ValueError):
        raise ActionRefused(f"ring_timeout must be a number of seconds, not {ring_timeout!r}") from None
    if not MIN_RING_TIMEOUT <= seconds <= MAX_RING_TIMEOUT:  # NaN fails both comparisons
        raise ActionRefused(f"ring_timeout {ring_timeout!r} is out of range: a call must ring at least "
                            f"{MIN_RING_TIMEOUT:g} s (47 CFR 64.1200(a)(6)) and at most {MAX_RING_TIMEOUT:g} s")
    return seconds


def on_loop(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run an api method on the PBX's event loop even when a plugin calls it from its worker thread
    (a plain `def` hook runs there): the call is handed to the loop and its result, or its
    exception, handed back. On the loop itself it is a plain call."""

    @functools.wraps(method)
    def call(self: PbxApi, *arguments: Any, **keywords: Any) -> Any:
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            return method(self, *arguments, **keywords)

        async def run() -> Any:
            return method(self, *arguments, **keywords)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(THREAD_CALL_TIMEOUT)

    return call


class PbxApi(abc.ABC):
    """The PBX as one plugin sees it."""

    plugin: str  # this plugin's name, as in the config's `plugins:` section
    config: Any  # this plugin's section, decoded into its `Config` Struct (None without one)
    log: logging.Logger  # "pbx.plugins.<name>"
    store: KeyValueStore  # this plugin's keys and values, in the PBX database
    database: Database  # the PBX database, for plugins that keep tables of their own
    data_dir: Path  # a directory of this plugin's own for files
    _loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int | None = None

    # What a plugin's worker thread may call: each implementation of these is run on the loop.
    LOOP_METHODS = ("publish", "spawn", "call_later", "call", "calls", "queues", "hang_up", "play", "transfer",
                    "start_recording", "pause_recording", "resume_recording", "stop_recording")

    def __init_subclass__(cls, **keywords: Any) -> None:
        super().__init_subclass__(**keywords)
        for name in cls.LOOP_METHODS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__isabstractmethod__", False):
                setattr(cls, name, on_loop(method))

    def _task_finished(self, task: asyncio.Task) -> None:
        """A background task (`spawn`) ended: one that raised is reported as PluginFailed."""
        if task.cancelled() or task.exception() is None:
            return
        from .events import PluginFailed

        error = task.exception()
        logging.getLogger("pbx.plugins").warning("event=plugin_task_failed plugin=%s task=%s reason=%r",
                                                 self.plugin, task.get_name(), str(error))
        self.publish(PluginFailed(at=self.now(), plugin=self.plugin, hook="spawn",
                                  reason=f"task {task.get_name()} raised {type(error).__name__}: {error}"))

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the PBX runs on (called by the PBX from it): calls from other threads go there."""
        self._loop, self._loop_thread = loop, threading.get_ident()

    # Time, events, tasks ---------------------------------------------------------------------

    @abc.abstractmethod
    def now(self) -> float:
        """The PBX clock, seconds since the epoch (a fake clock under sdk.testing)."""

    @abc.abstractmethod
    def publish(self, event: Event) -> None:
        """Publish an event on the bus (every plugin and the admin stream see it)."""

    @abc.abstractmethod
    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str = "") -> Any:
        """Run `work` in the background; a failure is reported as PluginFailed, and the PBX
        cancels what is still running at shutdown."""

    @abc.abstractmethod
    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        """Run `callback` after `delay` seconds of the PBX clock; returns a handle with `cancel()`."""

    def publish_metric(self, name: str, value: float, *, kind: str = "gauge",
                       labels: dict[str, str] | None = None) -> None:
        """Publish a figure (MetricPublished): a gauge's value, or a counter's increment."""
        from .events import MetricPublished

        self.publish(MetricPublished(at=self.now(), plugin=self.plugin, name=name, value=float(value), kind=kind,
                                     labels=dict(labels or {})))

    # Reading ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def call(self, call_id: str) -> CallInfo | None:
        """A live call, or None once it has ended."""

    @abc.abstractmethod
    def calls(self) -> list[CallInfo]:
        """Every live call."""

    @abc.abstractmethod
    def queues(self) -> AcdSnapshot | None:
        """Queues with their waiting callers, and agents with their states (None without queues)."""

    # Acting on live calls ------------------------------------------------------------------------

    @abc.abstractmethod
    def hang_up(self, call_id: str, cause: str = "normal") -> None:
        """End a live call on every leg."""

    @abc.abstractmethod
    def play(self, call_id: str, prompts: Sequence[str]) -> None:
        """Play prompts (names of recorded prompts, or "say:<text>" for speech) to the caller of a
        call the PBX answered (in a scenario, or waiting in a queue), over what it plays now; what
        was playing goes on afterwards. A call connected phone to phone is refused."""

    @abc.abstractmethod
    def transfer(self, call_id: str, target: str) -> None:
        """Send the caller to `target` (an extension or a routed number); the current far end is
        released."""

    @abc.abstractmethod
    async def originate(self, number: str, *, connect_to: str, caller_id: str | None = None,
                        ring_timeout: float = DEFAULT_RING_TIMEOUT, amd: bool = False) -> str:
        """Ring `number` (an extension, or an outside number the outbound routes send to a trunk);
        when it answers, connect it to `connect_to` at once (an extension, or any number the
        inbound routes know: a scenario, a queue). Returns the call id: CallStarted (direction
        "outbound"), CallAnswered and CallEnded carry it.

        `ring_timeout`: seconds it may ring before the PBX gives up (CallEnded, cause
        "no_answer"); at least 15 (the FCC's minimum ring for dialers, 47 CFR 64.1200(a)(6)) and
        at most 300, or ActionRefused. `amd`: run answering-machine detection on what the called
        party sends; the call is connected without waiting for it, and its verdict comes as
        MachineDetectionFinished a few seconds after the answer."""

    @abc.abstractmethod
    def start_recording(self, call_id: str, *, layout: str | None = None, policy: str = "on-demand") -> None:
        """Start recording an answered call (RecordingStarted)."""

    @abc.abstractmethod
    def pause_recording(self, call_id: str, reason: str = "on-demand") -> None:
        """Record silence from now on, keeping the timeline (RecordingPaused)."""

    @abc.abstractmethod
    def resume_recording(self, call_id: str) -> None:
        """RecordingResumed."""

    @abc.abstractmethod
    def stop_recording(self, call_id: str) -> None:
        """Close the recording (RecordingStopped)."""


@dataclass(frozen=True)
class PluginContext:
    """What a plugin's CLI command gets: its config and its data, but no live PBX."""

    plugin: str
    config: Any
    store: KeyValueStore
    database: Database
    data_dir: Path
    log: logging.Logger

    def now(self) -> float:
        """The wall clock: a command runs outside the PBX, so there is no PBX clock to share."""
        return time.time()


@dataclass(frozen=True)
class CliCommand:
    """A command a plugin adds to `pbx`: `pbx <plugin> <name> ...`. `arguments` adds its options to
    an argparse parser; `run(args, context)` returns the exit status (a coroutine is awaited).
    `top_level` also offers it as `pbx <name> ...` when no other command has that name (the kpi
    plugin's `pbx report`)."""

    name: str
    help: str
    arguments: Callable[[Any], None]
    run: Callable[[Any, PluginContext], int | Awaitable[int]]
    top_level: bool = False
