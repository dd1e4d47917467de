"""The kpi plugin at work in a PBX: events folded into records, written off the event path,
figures kept live, schedules watched.

One `KpiCollector` per PbxApi. `on_event` is the only thing on the event stream: the fold
(pure, microseconds), pricing a finished journey, handing the rows to the `RecordWriter`
(which batches them into one transaction every `batch_seconds`: a completed call's record is
in the database within that time of its CallEnded), and the live window and adherence
monitor. A once-a-second tick raises the live alerts and adherence alerts as events.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from sdk import PbxApi
from sdk.events import AgentStateChanged, Event

from .adherence import AdherenceMonitor
from .config import Config
from .journey import JourneyFold
from .live import LiveFigures
from .rates import RateTable
from .records import Journey
from .report import Report
from .store import RecordStore, RecordWriter

log = logging.getLogger("pbx.plugins.kpi")
TICK_SECONDS = 1.0


class KpiCollector:
    def __init__(self, api: PbxApi) -> None:
        self.api = api
        self.config: Config = api.config if isinstance(api.config, Config) else Config()
        self.fold = JourneyFold(self.config.node)
        self.store = RecordStore(api.database)
        self.writer = RecordWriter(self.store, batch_seconds=self.config.batch_seconds, log=log)
        self.rates = RateTable(self.config.rates)
        self.live = LiveFigures(self.config)
        self.adherence = AdherenceMonitor(self.config)
        self.report = Report(api.database, self.config)
        self._ready = asyncio.Event()
        self._ticking: asyncio.Task | None = None

    async def start(self) -> None:
        await self.store.setup()
        self._ready.set()
        self._ticking = self.api.spawn(self._tick_every_second(), name="kpi-tick")

    async def ready(self) -> None:
        await self._ready.wait()

    async def on_event(self, event: Event) -> None:
        await self._ready.wait()
        rows = self.fold.handle(event)
        if rows:
            self.writer.submit([self._priced(row) if isinstance(row, Journey) else row for row in rows])
        now = event.at
        for alert in self.live.on_event(event, now):
            self.api.publish(alert)
        if isinstance(event, AgentStateChanged):
            self.adherence.on_state(event.agent, event.new, event.reason, now)

    def _priced(self, journey: Journey) -> Journey:
        if journey.state != "complete" or not self.config.rates:
            return journey
        cost = self.rates.cost(journey.direction, journey.caller, journey.callee, journey.talk_seconds)
        return msgspec.structs.replace(journey, cost=cost)

    async def _tick_every_second(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = self.api.now()
            for event in [*self.live.tick(now), *self.adherence.tick(now)]:
                self.api.publish(event)

    async def stop(self) -> None:
        """Every row folded so far reaches the database (a kill -9 loses at most one batch)."""
        if self._ticking is not None:
            self._ticking.cancel()
        await self.writer.close()
