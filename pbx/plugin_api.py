"""The PbxApi each plugin gets, on live calls (sdk/api.py says what each method promises).

Plugins see calls as `sdk.CallInfo`, kept by `CallDirectory` from the bus (which scenario, queue
and agent a call is with), so nothing here reaches into a controller to read state. Actions go
through the same services the admin API uses and their SIP and media actions are executed at
once on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from pbx.calls.bridge import BridgeController
from pbx.calls.originate import OriginateController
from pbx.calls.recordings import NoSuchCall, RecordingConflict
from pbx.calls.signals import Cause, Party
from pbx.ivr.controller import IvrController
from pbx.ivr.prompts import PromptItem
from pbx.media.player import Player
from sdk import ActionRefused, CallInfo, PbxApi
from sdk.api import DEFAULT_RING_TIMEOUT, check_ring_timeout
from sdk.database import KeyValueStore
from sdk.events import AgentConnected, CallAnswered, CallEnded, CallStarted, Event, IvrStarted, QueueJoined
from sdk.types import AcdSnapshot

if TYPE_CHECKING:
    from pbx.app import Pbx

log = logging.getLogger("pbx.plugins")


class CallDirectory:
    """Live calls as plugins see them, folded from the bus."""

    def __init__(self) -> None:
        self.calls: dict[str, CallInfo] = {}

    def on_event(self, event: Event) -> None:
        replace = msgspec.structs.replace
        if isinstance(event, CallStarted):
            self.calls[event.call_id] = CallInfo(call_id=event.call_id, caller=event.caller, callee=event.callee,
                                                 caller_name=event.caller_name, started_at=event.at)
            return
        call = self.calls.get(getattr(event, "call_id", ""))
        if call is None:
            return
        if isinstance(event, CallEnded):
            del self.calls[event.call_id]
        elif isinstance(event, CallAnswered) and call.answered_at is None:
            self.calls[call.call_id] = replace(call, answered_at=event.at)
        elif isinstance(event, IvrStarted):
            self.calls[call.call_id] = replace(call, scenario=event.scenario)
        elif isinstance(event, QueueJoined):
            self.calls[call.call_id] = replace(call, queue=event.queue)
        elif isinstance(event, AgentConnected):
            self.calls[call.call_id] = replace(call, queue=event.queue, agent=event.agent)


class LiveApi(PbxApi):
    def __init__(self, pbx: Pbx, plugin: str, config: Any) -> None:
        self._pbx = pbx
        self.plugin = plugin
        self.config = config
        self.log = logging.getLogger(f"pbx.plugins.{plugin}")
        self.database = pbx.database
        self.store = KeyValueStore(pbx.database, plugin)
        self.data_dir = Path(pbx.config.data_dir) / "plugins" / plugin
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._tasks: set[asyncio.Task] = set()

    # Time, events, tasks ------------------------------------------------------------------------------

    def now(self) -> float:
        return self._pbx.clock()

    def publish(self, event: Event) -> None:
        self._pbx.bus.publish(event)

    def spawn(self, work: Coroutine[Any, Any, Any], *, name: str = "") -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work, name=name or f"plugin-{self.plugin}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._task_finished(task)

    def call_later(self, delay: float, callback: Callable[[], Any]) -> Any:
        return asyncio.get_running_loop().call_later(delay, callback)

    def cancel_tasks(self) -> list[asyncio.Task]:
        for task in self._tasks:
            task.cancel()
        return list(self._tasks)

    # Reading ------------------------------------------------------------------------------------------

    def call(self, call_id: str) -> CallInfo | None:
        return self._pbx.directory.calls.get(call_id)

    def calls(self) -> list[CallInfo]:
        return list(self._pbx.directory.calls.values())

    def queues(self) -> AcdSnapshot | None:
        acd = self._pbx.queues
        return acd.acd.snapshot(self.now()) if acd is not None else None

    # Acting -------------------------------------------------------------------------------------------

    def _live(self, call_id: str) -> Any:
        call = self._pbx.calls.calls.get(call_id)
        if call is None:
            raise ActionRefused(f"no live call {call_id!r}")
        return call

    def hang_up(self, call_id: str, cause: str = "normal") -> None:
        call = self._live(call_id)
        try:
            reason = Cause(cause)
        except ValueError:
            raise ActionRefused(f"unknown cause {cause!r}: one of {', '.join(c.value for c in Cause)}") from None
        self._pbx.transport.execute(self._pbx.hang_up(call, self.now(), reason))

    def play(self, call_id: str, prompts: Sequence[str]) -> None:
        call = self._live(call_id)
        session = call.caller_leg.own_media if call.legs else None
        if session is None:
            raise ActionRefused(f"call {call_id} is connected phone to phone: prompts play on calls the PBX "
                                f"answers (a scenario, a queue)")
        items = [PromptItem("speech", prompt[4:]) if prompt.startswith("say:") else PromptItem("file", prompt)
                 for prompt in prompts]

        async def render() -> None:
            clips = await self._pbx.ivr.prompts.clips(items, None, "en")
            if clips and call.caller_leg.own_media is session and not session.endpoint.closed:
                session.interject(Player(clips))

        self.spawn(render(), name=f"play-{call_id}")

    def transfer(self, call_id: str, target: str) -> None:
        call = self._live(call_id)
        controller = call.controller
        if isinstance(controller, IvrController) and not controller.interpreter.finished:
            self._pbx.transport.execute(controller.transfer(target, self.now()))
            return
        if isinstance(controller, BridgeController):
            try:
                actions = controller.transfer(call, target, self.now())
            except ValueError as error:
                raise ActionRefused(str(error)) from None
            self._pbx.transport.execute(actions)
            return
        raise ActionRefused(f"call {call_id} is neither in a scenario nor connected between two phones")

    async def originate(self, number: str, *, connect_to: str, caller_id: str | None = None,
                        ring_timeout: float = DEFAULT_RING_TIMEOUT, amd: bool = False) -> str:
        ring_timeout = check_ring_timeout(ring_timeout)
        problem = self._pbx.cannot_connect(connect_to)
        if problem is not None:  # refused before any phone rings
            raise ActionRefused(problem)
        controller = OriginateController(self._pbx.calls, connect_to, lambda: secrets.randbits(32),
                                         self._pbx.connect_answered, amd=bool(amd))
        shown = Party(caller_id or connect_to, None)
        now = self.now()
        call, actions = self._pbx.calls.originate_call(number, shown, connect_to, controller, now, caller_id=caller_id)
        if call is None:
            raise ActionRefused(f"cannot ring {number!r}: nothing registered there, no trunk free for it, "
                                f"or no RTP ports left")
        self._pbx.calls.start_ring_timer(call, now, ring_timeout)
        self._pbx.transport.execute(actions)
        return call.id

    def start_recording(self, call_id: str, *, layout: str | None = None, policy: str = "on-demand") -> None:
        self._recording(lambda recordings: recordings.start(call_id, layout, policy=policy))

    def pause_recording(self, call_id: str, reason: str = "on-demand") -> None:
        self._recording(lambda recordings: recordings.pause(call_id, reason))

    def resume_recording(self, call_id: str) -> None:
        self._recording(lambda recordings: recordings.resume(call_id))

    def stop_recording(self, call_id: str) -> None:
        self._recording(lambda recordings: recordings.stop(call_id))

    def _recording(self, action: Callable[[Any], Any]) -> None:
        try:
            action(self._pbx.recordings)
        except (NoSuchCall, RecordingConflict) as error:
            raise ActionRefused(str(error)) from None
