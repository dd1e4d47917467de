"""Testing plugins: a fake PBX with a clock, the bus and the public API (a pytest plugin).

    async def test_vip_is_found(pbx_harness):
        async with pbx_harness(MyPlugin(), config={"url": ...}) as pbx:
            caller = await pbx.lookup_caller(pbx.new_call(caller="+48600100200"))
            assert caller.vip
            await pbx.feed(AgentConnected(at=pbx.now(), agent="1001", call_id=..., ...))
            pbx.assert_published(ScreenPop, agent="1001")

The harness runs the plugin through the same `PluginRunner` as the PBX (timeouts, worker
threads, PluginFailed), with a `FakeClock` that moves only when told (`advance`, which also
fires `api.call_later` timers), a real SQLite database in a temporary directory, and a
`FakeApi` that records every call action (`actions`) instead of touching calls. Installing
the `pbx` package registers the `pbx_harness` fixture with pytest (entry point `pytest11`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .api import DEFAULT_RING_TIMEOUT, ActionRefused, PbxApi, check_ring_timeout
from .database import Database, KeyValueStore, SqliteDatabase
from .events import Event, PluginFailed
from .plugins import decode_plugin_config, plugin_name
from .runner import LoadedPlugin, PluginRunner
from .types import AcdSnapshot, CallerInfo, CallInfo, RecordingDecision, RoutingInputs


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._timers: list[tuple[float, int, Callable[[], Any], _Timer]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], Any]) -> _Timer:
        timer = _Timer()
        heapq.heappush(self._timers, (self.now + delay, next(self._order), callback, timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, firing the timers that fall due, in order."""
        until = self.now + seconds
        while self._timers and self._timers[0][0] <= until:
            when, _, callback, timer = heapq.heappop(self._timers)
            self.now = when
            if not timer.cancelled:
                callback()
        self.now = until


class _Timer:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(frozen=True)
class Action:
    """A call action a plugin asked for: `name` ("hang_up", "play", "start_recording", ...),
    the call and the arguments."""

    plugin: str
    name: str
    call_id: str | None
    arguments: dict[str, Any]


@dataclass
class _World:
    clock: FakeClock
    database: Database
    data_root: Path
    calls: dict[str, CallInfo] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    recording: dict[str, str] = field(default_factory=dict)  # call id -> "recording" | "paused"
    snapshot: AcdSnapshot | None = None
    runner: PluginRunner | None = None
    tasks: set[asyncio.Task] = field(default_factory=set)


class FakeApi(PbxApi):
    """The PbxApi a plugin gets under test: actions are recorded, recordings tracked by state."""

    def __init__(self, world: _World, plugin: str, config: Any) -> None:
        self._world = world
        self.plugin = plugin
        self.config = config
        self.log = logging.getLogger(f"pbx.plugins.{plugin}")
        self.database = world.database
        self.store = KeyValueStore(world.database, plugin)
        self.data_dir = world.data_root / plugin
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def now(self) -> float:
        return self._world.clock()

    def publish(self, event: Event) -> None:
        self._world.published.append(event)
        if self._world.runner is not None:
            self._world.runner.deliver(event)

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str = "") -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work, name=name or None)
        self._world.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._world.tasks.discard(task)
        self._task_finished(task)  # as on the PBX: a background task that raised is a PluginFailed

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return self._world.clock.call_later(delay, callback)

    def call(self, call_id: str) -> CallInfo | None:
        return self._world.calls.get(call_id)

    def calls(self) -> list[CallInfo]:
        return list(self._world.calls.values())

    def queues(self) -> AcdSnapshot | None:
        return self._world.snapshot

    def _act(self, name: str, call_id: str | None, **arguments: Any) -> None:
        if call_id is not None and call_id not in self._world.calls:
            raise ActionRefused(f"no live call {call_id!r}")
        self._world.actions.append(Action(self.plugin, name, call_id, arguments))

    def hang_up(self, call_id: str, cause: str = "normal") -> None:
        self._act("hang_up", call_id, cause=cause)

    def play(self, call_id: str, prompts: Sequence[str]) -> None:
        self._act("play", call_id, prompts=list(prompts))

    def transfer(self, call_id: str, target: str) -> None:
        self._act("transfer", call_id, target=target)

    async def originate(self, number: str, *, connect_to: str, caller_id: str | None = None,
                        ring_timeout: float = DEFAULT_RING_TIMEOUT, amd: bool = False) -> str:
        ring_timeout = check_ring_timeout(ring_timeout)  # refused as the PBX refuses it
        self._act("originate", None, number=number, connect_to=connect_to, caller_id=caller_id,
                  ring_timeout=ring_timeout, amd=amd)
        return f"originated-{len(self._world.actions)}"

    def start_recording(self, call_id: str, *, layout: str | None = None, policy: str = "on-demand") -> None:
        if call_id in self._world.recording:
            raise ActionRefused(f"call {call_id} is already being recorded")
        self._act("start_recording", call_id, layout=layout, policy=policy)
        self._world.recording[call_id] = "recording"

    def pause_recording(self, call_id: str, reason: str = "on-demand") -> None:
        if self._world.recording.get(call_id) != "recording":
            raise ActionRefused(f"call {call_id} is not being recorded")
        self._act("pause_recording", call_id, reason=reason)
        self._world.recording[call_id] = "paused"

    def resume_recording(self, call_id: str) -> None:
        if self._world.recording.get(call_id) != "paused":
            raise ActionRefused(f"the recording of call {call_id} is not paused")
        self._act("resume_recording", call_id)
        self._world.recording[call_id] = "recording"

    def stop_recording(self, call_id: str) -> None:
        if self._world.recording.pop(call_id, None) is None:
            raise ActionRefused(f"call {call_id} is not being recorded")
        self._act("stop_recording", call_id)


class PluginHarness:
    """One or more plugins running on a fake PBX. Use as `async with`."""

    def __init__(self, *plugins: Any, config: dict[str, Any] | None = None, configs: dict[str, Any] | None = None,
                 timeout: float = 2.0, directory: str | Path | None = None, start: float = 1_800_000_000.0,
                 database: Database | None = None) -> None:
        """`database`: the plugins' database (a PostgresDatabase, say); it is left open at the end.
        Without one, a SQLite file in `directory` (closed at the end)."""
        self._temporary = None if directory is not None else tempfile.TemporaryDirectory(prefix="pbx-harness-")
        root = Path(directory if directory is not None else self._temporary.name)  # type: ignore[union-attr]
        self.clock = FakeClock(start)
        self._own_database = database is None
        self.world = _World(self.clock, database or SqliteDatabase(root / "pbx.sqlite"), root / "plugins")
        configs = dict(configs or {})
        loaded = []
        for hooks in plugins:
            name = plugin_name(hooks)
            raw = configs.get(name, config if len(plugins) == 1 else None)
            decoded = decode_plugin_config(hooks, raw or {}, where=f"plugins.{name}")
            loaded.append(LoadedPlugin(name, hooks, FakeApi(self.world, name, decoded), timeout=timeout))
        self.plugins = loaded
        self.runner = PluginRunner(loaded, self._report, clock=self.clock)
        self.world.runner = self.runner
        self._ids = itertools.count(1)

    # Life cycle ------------------------------------------------------------------------------------

    async def __aenter__(self) -> PluginHarness:
        for plugin in self.plugins:
            plugin.api.bind_loop(asyncio.get_running_loop())
        self.runner.start()
        for plugin in self.plugins:
            await self.runner.ask(plugin, "pbx_startup")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.runner.drain()  # as the PBX: events first, then pbx_shutdown
        for plugin in self.plugins:
            await self.runner.ask(plugin, "pbx_shutdown")
        await self.runner.drain()
        await self.runner.stop()
        for task in list(self.world.tasks):
            task.cancel()
        await asyncio.gather(*self.world.tasks, return_exceptions=True)
        if self._own_database:
            self.world.database.close()
        if self._temporary is not None:
            self._temporary.cleanup()

    # Driving ---------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def api(self, plugin: str | None = None) -> FakeApi:
        found = next((p for p in self.plugins if plugin in (None, p.name)), None)
        if found is None:
            raise KeyError(f"no plugin {plugin!r} in this harness")
        return found.api

    def new_call(self, caller: str = "1004", callee: str = "800", **fields: Any) -> CallInfo:
        """A live call the plugins can see and act on."""
        call = CallInfo(call_id=fields.pop("call_id", f"call-{next(self._ids)}"), caller=caller, callee=callee,
                        started_at=self.now(), **fields)
        self.world.calls[call.call_id] = call
        return call

    def update_call(self, call_id: str, **fields: Any) -> CallInfo:
        call = msgspec.structs.replace(self.world.calls[call_id], **fields)
        self.world.calls[call_id] = call
        return call

    def end_call(self, call_id: str) -> None:
        self.world.calls.pop(call_id, None)
        self.world.recording.pop(call_id, None)

    def set_queues(self, snapshot: AcdSnapshot | None) -> None:
        self.world.snapshot = snapshot

    async def feed(self, *events: Event) -> None:
        """Publish events as the PBX would and wait until every plugin has handled them."""
        for event in events:
            self.world.published.append(event)
            self.runner.deliver(event)
        await self.settle()

    async def advance(self, seconds: float) -> None:
        """Move the clock on, firing due timers, and let plugins handle what follows."""
        self.clock.advance(seconds)
        await self.settle()

    async def settle(self, timeout: float = 5.0) -> None:
        """Let spawned tasks and queued events run until nothing is left to do."""
        for _ in range(1000):
            await self.runner.drain(timeout)
            await asyncio.sleep(0)
            pending = [task for task in self.world.tasks if not task.done()]
            if not pending and not any(plugin.pending for plugin in self.plugins):
                return
            if pending:
                await asyncio.wait(pending, timeout=timeout)

    async def lookup_caller(self, call: CallInfo) -> CallerInfo | None:
        _, found = await self.runner.ask_first("pbx_lookup_caller", CallerInfo, call.call_id, call=call)
        return found

    async def routing_inputs(self, call: CallInfo, caller: CallerInfo | None = None) -> list[RoutingInputs]:
        answers = await self.runner.ask_all("pbx_routing_inputs", RoutingInputs, call.call_id, call=call,
                                            caller=caller)
        return [answer for _, answer in answers]

    async def recording_policy(self, call: CallInfo, moment: str = "answered") -> RecordingDecision | None:
        _, decision = await self.runner.ask_first("pbx_recording_policy", RecordingDecision, call.call_id,
                                                  call=call, moment=moment)
        return decision

    async def ivr_functions(self) -> dict[str, Any]:
        functions: dict[str, Any] = {}
        for _, answer in await self.runner.ask_all("pbx_ivr_functions"):
            functions.update(answer)
        return functions

    async def admin_routes(self) -> dict[str, list[Any]]:
        """Each plugin's `pbx_admin_routes`, by plugin name (serve them with aiohttp's test client)."""
        return {plugin.name: list(answer) for plugin, answer in await self.runner.ask_all("pbx_admin_routes")}

    # Looking ---------------------------------------------------------------------------------------

    @property
    def published(self) -> list[Event]:
        return list(self.world.published)

    @property
    def actions(self) -> list[Action]:
        return list(self.world.actions)

    @property
    def failures(self) -> list[PluginFailed]:
        return [event for event in self.world.published if isinstance(event, PluginFailed)]

    def assert_published(self, event_type: type[Event], **fields: Any) -> Event:
        """The first published event of `event_type` whose fields match; fails listing what was."""
        for event in self.world.published:
            if isinstance(event, event_type) and all(getattr(event, k, None) == v for k, v in fields.items()):
                return event
        seen = [event for event in self.world.published if isinstance(event, event_type)]
        raise AssertionError(f"no {event_type.__name__} with {fields}; published: {seen}")

    def assert_action(self, name: str, call_id: str | None = None, **arguments: Any) -> Action:
        for action in self.world.actions:
            if action.name == name and call_id in (None, action.call_id) and \
                    all(action.arguments.get(k) == v for k, v in arguments.items()):
                return action
        raise AssertionError(f"no action {name} on {call_id} with {arguments}; actions: {self.world.actions}")

    def _report(self, failure: PluginFailed) -> None:
        self.world.published.append(failure)
        self.runner.deliver(failure)


try:
    import pytest
except ImportError:  # the harness works without pytest; only the fixture needs it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def pbx_harness(tmp_path: Path) -> Callable[..., PluginHarness]:
        """A factory: `async with pbx_harness(plugin, config={...}) as pbx:` (see PluginHarness)."""
        count = itertools.count()

        def make(*plugins: Any, **options: Any) -> PluginHarness:
            options.setdefault("directory", tmp_path / f"harness-{next(count)}")
            return PluginHarness(*plugins, **options)

        return make
