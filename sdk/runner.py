"""Calls plugins' hooks without letting any of them break or delay a call.

The PBX (pbx/plugin_host.py) and the plugin-author harness (sdk.testing) both run plugins
through this one class, so a plugin's test sees the isolation the PBX gives it:

- Awaited hooks (`ask_first`, `ask_all`): each plugin's implementation is awaited with the
  plugin's timeout. A synchronous one runs in the plugin's own worker thread; while that thread
  is still stuck in an earlier call the plugin is skipped at once rather than waited for again.
- Events (`deliver`): queued per plugin and handed over in batches by one task per plugin, in
  order, synchronous implementations in the plugin's thread (one hand-off per batch, not per
  event). The publisher never waits. A queue over its limit drops its oldest events.
- Any failure (an exception, a timeout, a blocked thread, an answer of the wrong type, dropped
  events) becomes a `PluginFailed` event handed to `report`, and a log line.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .events import Event, PluginFailed

log = logging.getLogger("pbx.plugins")

MAX_IN_THREAD = 8  # synchronous calls one plugin may have waiting for its thread before it is skipped


@dataclass(frozen=True)
class Hook:
    """One implementation: the function, the argument names it asks for, whether it is async."""

    function: Callable[..., Any]
    wants: tuple[str, ...]
    is_async: bool
    event_types: tuple[type, ...] = (Event,)  # `sdk.subscribe(...)`: the events a pbx_event takes

    def arguments(self, available: dict[str, Any]) -> list[Any]:
        """The arguments it asked for, by name (as pluggy matches them)."""
        unknown = [name for name in self.wants if name not in available]
        if unknown:
            raise TypeError(f"asks for {', '.join(unknown)}, which this hook does not offer")
        return [available[name] for name in self.wants]


@dataclass(eq=False)
class LoadedPlugin:
    """A plugin the runner calls: its name, the object holding its hooks, the api it is handed."""

    name: str
    hooks: Any  # a module or an object with @hookimpl functions
    api: Any
    timeout: float = 2.0
    queue_limit: int = 10_000
    pending: deque = field(default_factory=deque)
    wakeup: asyncio.Event | None = None
    worker: asyncio.Task | None = None
    thread: ThreadPoolExecutor | None = None
    busy_since: float | None = None  # a synchronous call is running in the thread since then
    in_thread: int = 0  # synchronous calls handed to the thread and not finished
    handing_over: bool = False  # the event worker is handing a batch over (drain waits for it)
    dropped: int = 0
    delivered: int = 0
    _hooks: dict[str, Hook | None] = field(default_factory=dict)

    def implementation(self, hook: str) -> Callable[..., Any] | None:
        found = self.hook(hook)
        return found.function if found is not None else None

    def hook(self, name: str) -> Hook | None:
        """The plugin's implementation of hook `name`, with what it asks for (looked up once)."""
        if name not in self._hooks:
            function = getattr(self.hooks, name, None)
            if callable(function) and hasattr(function, "pbx_impl"):
                wants = tuple(parameter for parameter in inspect.signature(function).parameters if parameter != "self")
                types = tuple(getattr(function, "pbx_event_types", ())) or (Event,)
                self._hooks[name] = Hook(function, wants, inspect.iscoroutinefunction(function), types)
            else:
                self._hooks[name] = None
        return self._hooks[name]

    def executor(self) -> ThreadPoolExecutor:
        if self.thread is None:
            self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"plugin-{self.name}")
        return self.thread


class PluginRunner:
    def __init__(self, plugins: list[LoadedPlugin], report: Callable[[PluginFailed], None],
                 clock: Callable[[], float] = time.time, report_every: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic, batch_window: float = 0.005) -> None:
        self.plugins = plugins
        self.report = report
        self.clock = clock
        self.monotonic = monotonic  # rate limiting of reports (a test may pass its own)
        # A synchronous pbx_event gets its events in batches gathered over this long: one hand-off
        # to its thread per batch, not per event (events are after the fact; nobody waits on them).
        self.batch_window = batch_window
        # One PluginFailed per plugin, hook and kind of failure per `report_every` seconds: a CRM
        # that is down under load is one event with a count, not one per call.
        self.report_every = report_every
        self._last_report: dict[tuple[str, str, str], float] = {}
        self._suppressed: dict[tuple[str, str, str], int] = {}
        self._event_plugins = [plugin for plugin in plugins if plugin.implementation("pbx_event")]
        self._takers: dict[type, list[LoadedPlugin]] = {}  # event type -> the plugins that take it

    # Awaited hooks ---------------------------------------------------------------------------------

    async def ask(self, plugin: LoadedPlugin, hook: str, expect: Any = None, call_id: str | None = None,
                  **offered: Any) -> Any:
        """One plugin's answer to `hook`, or None when it has no implementation or failed."""
        found = plugin.hook(hook)
        if found is None:
            return None
        try:
            arguments = found.arguments({**offered, "api": plugin.api})
            if found.is_async:
                async with asyncio.timeout(plugin.timeout):  # no extra task, unlike wait_for
                    answer = await found.function(*arguments)
            else:
                answer = await self._in_thread(plugin, found.function, arguments)
            if expect is not None and answer is not None:
                answer = msgspec.convert(answer, expect, from_attributes=True)
            return answer
        except _Busy as busy:
            self._failed(plugin, hook, f"still blocked in an earlier call for {busy.seconds:.1f} s", call_id)
        except TimeoutError:
            self._failed(plugin, hook, f"timed out after {plugin.timeout:g} s", call_id)
        except msgspec.ValidationError as error:
            self._failed(plugin, hook, f"answered the wrong type: {error}", call_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._failed(plugin, hook, f"raised {type(error).__name__}: {error}", call_id)
        return None

    async def ask_first(self, hook: str, expect: Any = None, call_id: str | None = None,
                        **offered: Any) -> tuple[LoadedPlugin | None, Any]:
        """The first plugin (in order) that answers something other than None, and its answer.
        All are asked at once, so the wait is the slowest plugin's timeout, not the sum."""
        for plugin, answer in await self.ask_all(hook, expect, call_id, **offered):
            return plugin, answer
        return None, None

    async def ask_all(self, hook: str, expect: Any = None, call_id: str | None = None,
                      **offered: Any) -> list[tuple[LoadedPlugin, Any]]:
        """Every plugin's answer, asked at once (so the slowest sets the wait, not their sum)."""
        asking = [plugin for plugin in self.plugins if plugin.hook(hook) is not None]
        if len(asking) == 1:  # the common case: no task to gather
            answer = await self.ask(asking[0], hook, expect, call_id, **offered)
            return [(asking[0], answer)] if answer is not None else []
        answers = await asyncio.gather(*(self.ask(plugin, hook, expect, call_id, **offered) for plugin in asking))
        return [(plugin, answer) for plugin, answer in zip(asking, answers) if answer is not None]

    async def _in_thread(self, plugin: LoadedPlugin, function: Callable[..., Any], arguments: list[Any]) -> Any:
        # A plugin stuck in its thread is skipped at once, and so is one with a backlog: calls
        # must not queue up behind a block for their whole timeout each.
        if plugin.busy_since is not None and time.monotonic() - plugin.busy_since > plugin.timeout:
            raise _Busy(time.monotonic() - plugin.busy_since)
        if plugin.in_thread >= MAX_IN_THREAD:
            raise _Busy(time.monotonic() - (plugin.busy_since or time.monotonic()))
        loop = asyncio.get_running_loop()

        def run() -> Any:
            plugin.busy_since = time.monotonic()
            try:
                return function(*arguments)
            finally:
                plugin.busy_since = None

        plugin.in_thread += 1
        future = loop.run_in_executor(plugin.executor(), run)
        future.add_done_callback(lambda _: setattr(plugin, "in_thread", plugin.in_thread - 1))
        return await asyncio.wait_for(asyncio.shield(future), plugin.timeout)

    # Events ------------------------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """Queue `event` for every plugin that takes events of its type; returns at once."""
        takers = self._takers.get(type(event))
        if takers is None:
            takers = self._takers[type(event)] = [
                plugin for plugin in self._event_plugins
                if issubclass(type(event), plugin.hook("pbx_event").event_types)]  # type: ignore[union-attr]
        for plugin in takers:
            if len(plugin.pending) >= plugin.queue_limit:
                plugin.pending.popleft()
                plugin.dropped += 1
            plugin.pending.append(event)
            if plugin.wakeup is not None:
                plugin.wakeup.set()

    def start(self) -> None:
        for plugin in self._event_plugins:
            plugin.wakeup = asyncio.Event()
            if plugin.pending:
                plugin.wakeup.set()
            plugin.worker = asyncio.get_running_loop().create_task(self._deliver_loop(plugin),
                                                                   name=f"plugin-{plugin.name}-events")

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued event has been handed over (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while any(plugin.pending or plugin.busy_since is not None or plugin.handing_over or
                  (plugin.wakeup is not None and plugin.wakeup.is_set()) for plugin in self._event_plugins):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        for plugin in self._event_plugins:
            if plugin.worker is not None:
                plugin.worker.cancel()
        await asyncio.gather(*(plugin.worker for plugin in self._event_plugins if plugin.worker),
                             return_exceptions=True)
        for plugin in self.plugins:
            if plugin.thread is not None:
                plugin.thread.shutdown(wait=False, cancel_futures=True)

    async def _deliver_loop(self, plugin: LoadedPlugin) -> None:
        found = plugin.hook("pbx_event")
        assert found is not None and plugin.wakeup is not None
        function, is_async, wants = found.function, found.is_async, list(found.wants)
        while True:
            await plugin.wakeup.wait()
            if not is_async and self.batch_window > 0:
                await asyncio.sleep(self.batch_window)  # let the batch gather before the hand-off
            plugin.wakeup.clear()
            while plugin.pending:
                batch = list(plugin.pending)
                plugin.pending.clear()
                plugin.handing_over = True
                try:
                    if plugin.dropped:
                        self._failed(plugin, "pbx_event", f"fell behind: dropped {plugin.dropped} events")
                        plugin.dropped = 0
                    if is_async:
                        for event in batch:
                            await self._deliver_async(plugin, function, wants, event)
                    else:
                        await self._deliver_batch(plugin, function, wants, batch)
                finally:
                    plugin.handing_over = False
                plugin.delivered += len(batch)

    async def _deliver_async(self, plugin: LoadedPlugin, function: Callable[..., Any], wants: list[str],
                             event: Event) -> None:
        # Started eagerly: most event hooks fold the event and return without waiting for
        # anything, and for those a timer per event (asyncio.timeout) would cost more than the
        # hook. Only one that does wait is finished under the plugin's timeout.
        try:
            coroutine = function(*[event if name == "event" else plugin.api for name in wants])
            awaiting = coroutine.send(None)
        except StopIteration:
            return
        except Exception as error:
            self._failed(plugin, "pbx_event", f"raised {type(error).__name__}: {error} on {type(event).__name__}",
                         getattr(event, "call_id", None), event)
            return
        try:
            async with asyncio.timeout(plugin.timeout):
                await _finish(coroutine, awaiting)
        except TimeoutError:
            self._failed(plugin, "pbx_event", f"timed out after {plugin.timeout:g} s on {type(event).__name__}",
                         getattr(event, "call_id", None), event)
        except Exception as error:
            self._failed(plugin, "pbx_event", f"raised {type(error).__name__}: {error} on {type(event).__name__}",
                         getattr(event, "call_id", None), event)

    async def _deliver_batch(self, plugin: LoadedPlugin, function: Callable[..., Any], wants: list[str],
                             batch: list[Event]) -> None:
        def run() -> list[tuple[Event, Exception]]:
            plugin.busy_since = time.monotonic()
            failures = []
            try:
                for event in batch:
                    try:
                        function(*[event if name == "event" else plugin.api for name in wants])
                    except Exception as error:
                        failures.append((event, error))
            finally:
                plugin.busy_since = None
            return failures

        started = time.monotonic()
        future = asyncio.get_running_loop().run_in_executor(plugin.executor(), run)
        try:
            failures = await asyncio.wait_for(asyncio.shield(future), plugin.timeout)
        except TimeoutError:
            if not all(isinstance(event, PluginFailed) for event in batch):  # never feed a failure loop
                self._failed(plugin, "pbx_event", f"blocked for more than {plugin.timeout:g} s "
                             f"(in its own thread; events wait for it)")
            failures = await future  # keep the order: the next batch waits for this one
            log.warning("event=plugin_unblocked plugin=%s seconds=%.1f", plugin.name, time.monotonic() - started)
        for event, error in failures:
            self._failed(plugin, "pbx_event", f"raised {type(error).__name__}: {error} on {type(event).__name__}",
                         getattr(event, "call_id", None), event)

    # Failures ----------------------------------------------------------------------------------------

    def _failed(self, plugin: LoadedPlugin, hook: str, reason: str, call_id: str | None = None,
                event: Event | None = None) -> None:
        if isinstance(event, PluginFailed):
            log.debug("event=plugin_failed_on_failure plugin=%s reason=%r", plugin.name, reason)
            return  # a plugin failing on a failure report must not feed itself
        key = (plugin.name, hook, reason.split(" ", 1)[0])
        now = self.monotonic()
        last = self._last_report.get(key)
        if last is not None and now - last < self.report_every:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last_report[key] = now
        more = self._suppressed.pop(key, 0)
        if more:
            reason += f" (and {more} more like it in the last {now - last:.0f} s)"  # type: ignore[operator]
        log.warning("event=plugin_failed plugin=%s hook=%s call_id=%s reason=%r", plugin.name, hook, call_id, reason)
        self.report(PluginFailed(at=self.clock(), plugin=plugin.name, hook=hook, reason=reason, call_id=call_id))


class _Busy(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


async def _finish(coroutine: Any, awaiting: Any) -> None:
    """Drive a coroutine that `send(None)` started and that yielded `awaiting` (the future it
    waits for, or None for a bare yield) to its end, as the Task running it would. Its own
    `await` takes the future's result or exception (a cancellation included) when resumed."""
    while True:
        if awaiting is None:
            await asyncio.sleep(0)
        else:
            awaiting._asyncio_future_blocking = False
            try:
                await awaiting
            except BaseException:  # noqa: BLE001 - the coroutine sees it on resuming
                pass
        try:
            awaiting = coroutine.send(None)
        except StopIteration:
            return
