"""The recording plugin on a running PBX: one `LiveRecordings` per PbxApi.

It answers the recording-policy hook (policy.py), folds the bus into the index (fold.py,
index.py), announces consent where it can, and sweeps expired recordings every `sweep_every`
seconds of the PBX clock (`api.call_later`, so the harness's fake clock drives it in tests).

Consent is announced with `api.play`, over what the PBX plays the caller (a scenario's prompt,
hold music), when a policy chooses a call the PBX answered, and again when the call joins a queue
(the policy it will be connected under is known then). A call between two phones has no PBX
audio to play it on (`api.play` refuses) and hears nothing. What was played is kept in the index
(`consent`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from sdk import ActionRefused, CallInfo, PbxApi, RecordingDecision
from sdk.events import CallEnded, Event, QueueJoined, RecordingIndexed, RecordingStopped

from .archive import RecordingArchive
from .config import Config
from .fold import RecordingFold
from .index import AuditLog, RecordingIndex
from .policy import choose
from .policy import decide as decision_for


class LiveRecordings:
    def __init__(self, api: PbxApi) -> None:
        self.api = api
        self.config: Config = api.config if api.config is not None else Config()
        self.fold = RecordingFold(self.config.retention_for)
        self.index = RecordingIndex(api.database)
        self.archive = RecordingArchive(self.index, AuditLog(api.database), log=api.log, publish=api.publish)
        self.announced: set[str] = set()
        self._migrated: asyncio.Future[int] | None = None
        self._timer: Any = None
        self._sweeping = False

    async def ready(self) -> None:
        """The tables exist (the first caller migrates; the others wait for it)."""
        if self._migrated is None:
            self._migrated = asyncio.ensure_future(self.index.migrate())
        await asyncio.shield(self._migrated)

    # Life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.ready()
        await self._recover()
        self._sweep_now()  # what expired while the PBX was down
        self._timer = self.api.call_later(self.config.sweep_every, self._sweep_due)

    async def _recover(self) -> None:
        """Rows still "recording" whose call is gone: the PBX stopped before their RecordingStopped
        reached us. The file holds what was written; it gets its policy's retention from now."""
        now = self.api.now()
        for row in await self.index.unfinished():
            if self.api.call(row.call_id) is None:
                keep = self.config.retention_for(row.policy)
                await self.index.save(msgspec.structs.replace(
                    row, state="interrupted", keep_until=None if keep is None else round(now + keep, 3)))
                self.api.log.warning("event=recording_interrupted call_id=%s path=%s", row.call_id, row.path)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep_due(self) -> None:
        self._timer = self.api.call_later(self.config.sweep_every, self._sweep_due)
        self._sweep_now()

    def _sweep_now(self) -> None:
        if self._sweeping:  # the last sweep is still deleting: let it finish
            return
        self._sweeping = True
        self.api.spawn(self._sweep(), name="recording-retention-sweep")

    async def _sweep(self) -> None:
        try:
            deleted = await self.archive.sweep(self.api.now())
            if deleted:
                self.api.log.info("event=recording_sweep deleted=%d", len(deleted))
        finally:
            self._sweeping = False

    # The recording-policy hook -------------------------------------------------------------------

    def decide(self, call: CallInfo, moment: str) -> RecordingDecision | None:
        decision = decision_for(self.config.policies, call, moment)
        policy = self.config.policy_named(decision.policy) if decision is not None else None
        if policy is not None and policy.consent is not None:
            self._announce(call.call_id, policy.consent)
        return decision

    def _announce(self, call_id: str, prompt: str) -> None:
        if call_id in self.announced:
            return
        try:
            self.api.play(call_id, [prompt])
        except ActionRefused as refused:  # phone to phone: no PBX audio to play it on (tried again if queued)
            self.api.log.debug("event=consent_not_played call_id=%s reason=%r", call_id, str(refused))
            return
        self.announced.add(call_id)
        self.fold.note_consent(call_id, prompt)

    # Events ----------------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        if isinstance(event, QueueJoined):
            self._queue_joined(event)
        elif isinstance(event, CallEnded):
            self.announced.discard(event.call_id)
        row = self.fold.handle(event)
        if row is None:
            return
        await self.ready()
        await self.index.save(row)
        if isinstance(event, RecordingStopped):
            self.api.publish(RecordingIndexed(at=self.api.now(), call_id=row.call_id, path=row.path,
                                              policy=row.policy, keep_until=row.keep_until))

    def _queue_joined(self, event: QueueJoined) -> None:
        call = self.api.call(event.call_id)
        if call is None:
            return
        policy = choose(self.config.policies, msgspec.structs.replace(call, queue=event.queue), "connected")
        if policy is not None and policy.consent is not None:
            self._announce(event.call_id, policy.consent)
