"""The kpi plugin at work in a PBX: events folded into records, written off the event path,
figures kept live, schedules watched.

One `KpiCollector` per PbxApi. `on_event` is the only thing on the event stream: the fold
(pure, microseconds, pricing each call as it ends), handing the rows at once to the writer
process (writer_process.py), which commits them in batches on its own core, so that writing
costs the PBX's core little and a completed call's record is out of the PBX 2 ms after its
CallEnded; and the live window and adherence monitor. A once-a-second tick raises the live alerts and adherence alerts as events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sdk import PbxApi
from sdk.events import AgentStateChanged, Event

from .adherence import AdherenceMonitor
from .config import Config
from .journey import JourneyFold
from .live import LiveKpis
from .prometheus import live_metrics
from .rates import RateTable
from .report import Report
from .store import RecordStore, RecordWriter
from .writer_process import ProcessRecordWriter

log = logging.getLogger("pbx.plugins.kpi")
TICK_SECONDS = 1.0


class KpiCollector:
    def __init__(self, api: PbxApi) -> None:
        self.api = api
        self.config: Config = api.config if isinstance(api.config, Config) else Config()
        self.rates = RateTable(self.config.rates)
        self.fold = JourneyFold(self.config.node, price=self._price if self.config.rates else None)
        self.store = RecordStore(api.database, self.config)
        target = getattr(api.database, "target", None)
        if self.config.writer == "process" and target and target != ":memory:":
            self.writer: RecordWriter | ProcessRecordWriter = ProcessRecordWriter(target, self.config, log=log)
        else:
            self.writer = RecordWriter(self.store, batch_seconds=self.config.batch_seconds, log=log)
        self.live = LiveKpis(self.config)
        self.adherence = AdherenceMonitor(self.config)
        self.report = Report(api.database, self.config)
        self._ready = asyncio.Event()
        self._ticking: Any = None
        self._stopped = False

    async def start(self) -> None:
        await self.store.setup()
        self._ready.set()
        self._ticking = self.api.call_later(TICK_SECONDS, self._tick)

    async def ready(self) -> None:
        await self._ready.wait()

    async def on_event(self, event: Event) -> None:
        await self._ready.wait()
        rows = self.fold.handle(event)
        if rows:
            self.writer.submit(rows)
        now = event.at
        for alert in self.live.on_event(event, now):
            self.api.publish(alert)
        if isinstance(event, AgentStateChanged):
            self.adherence.on_state(event.agent, event.new, event.reason, now)

    def _price(self, direction: str, number: str, seconds: float) -> float | None:
        return self.rates.cost(direction, number, number, seconds)

    def metrics(self) -> list:
        """The live window's figures for the Prometheus scrape (pbx_metrics)."""
        return live_metrics(self.live, self.api.now())

    def _tick(self) -> None:
        """Alerts that come with time passing (a wait growing, an agent late back from a break)."""
        if self._stopped:
            return
        now = self.api.now()
        for event in [*self.live.evaluate(now), *self.adherence.tick(now)]:
            self.api.publish(event)
        self._ticking = self.api.call_later(TICK_SECONDS, self._tick)

    async def stop(self) -> None:
        """Every row folded so far reaches the database (a kill -9 loses at most one batch)."""
        self._stopped = True
        if self._ticking is not None:
            self._ticking.cancel()
        await self.writer.close()
