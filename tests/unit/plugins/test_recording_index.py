"""The recording plugin folds the bus into its index, and keeps recordings as long as they should be.

Through the plugin harness (fake clock, real SQLite, real files in a temporary directory):
a realistic call (IVR with a sensitive card entry, then a queue and an agent) is indexed with
its pause as an interval of the file; the retention sweep on the fake clock deletes the file,
the row, publishes RecordingDeleted and leaves an audit entry, unless the recording is under
legal hold; a GDPR request deletes at once; consent is announced once and remembered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import plugins.recording as recording
from plugins.recording import RecordingNotFound, RecordingRefused, live
from sdk.events import (
    AgentConnected,
    CallAnswered,
    CallEnded,
    CallStarted,
    DigitReceived,
    IvrStarted,
    QueueJoined,
    RecordingDeleted,
    RecordingIndexed,
    RecordingPaused,
    RecordingResumed,
    RecordingStarted,
    RecordingStopped,
)

CONFIG = {
    "sweep_every": 60,
    "policies": [
        {"name": "payments", "record": "scenario", "match": ["pay"], "retention": "1h"},
        {"name": "support", "record": "queue", "match": ["support"], "retention": "2h",
         "consent": "say:This call is recorded."},
    ],
}


def wav_file(directory: Path, call_id: str) -> Path:
    path = directory / "2027-01-15" / f"{call_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + bytes(40) + bytes(640 * 50))  # the header and one second, as far as we care
    return path


def call_until_stopped(at: float, call_id: str, path: Path, *, policy: str = "payments", seconds: float = 30.0,
                       pause: tuple[float, float] | None = (4.2, 11.7)) -> list:
    """A caller in scenario `pay` keys a card number (recording paused), then waits in `support`
    and talks to agent 1001; the recording starts 50 ms after the answer and stops with the call."""
    started = at + 0.05
    events = [
        CallStarted(at=at, call_id=call_id, caller="1004", callee="800", caller_name="Ann"),
        IvrStarted(at=at + 0.01, call_id=call_id, scenario="pay", version=3),
        CallAnswered(at=at + 0.02, call_id=call_id, callee="800", codec="PCMU", ring_seconds=0.0),
        RecordingStarted(at=started, call_id=call_id, path=str(path), layout="stereo", policy=policy),
    ]
    if pause is not None:
        events += [RecordingPaused(at=started + pause[0], call_id=call_id, reason="sensitive")]
        events += [DigitReceived(at=started + pause[0] + 1 + index * 0.2, call_id=call_id, digit="?",
                                 source="inband", sensitive=True) for index in range(16)]
        events += [RecordingResumed(at=started + pause[1], call_id=call_id)]
    paused = pause[1] - pause[0] if pause else 0.0
    return events + [
        QueueJoined(at=started + 12, call_id=call_id, queue="support", caller_number="1004", priority=0, position=1),
        AgentConnected(at=started + 13, agent="1001", call_id=call_id, queue="support", wait_seconds=1.0,
                       ring_seconds=0.8),
        # The PBX publishes CallEnded first; the recorder stops on it and publishes RecordingStopped.
        CallEnded(at=started + seconds, call_id=call_id, caller="1004", callee="800", cause="normal", status=200,
                  hangup_by="caller", answered=True, total_seconds=seconds, ring_seconds=0.0, talk_seconds=seconds),
        RecordingStopped(at=started + seconds, call_id=call_id, path=str(path), layout="stereo", seconds=seconds,
                         paused_seconds=paused, failed=False),
    ]


async def test_a_call_with_a_sensitive_entry_is_indexed_with_its_pause(pbx_harness, tmp_path):
    async with pbx_harness(recording, config=CONFIG) as pbx:
        path = wav_file(tmp_path, "c1")
        events = call_until_stopped(pbx.now(), "c1", path)
        await pbx.feed(*events[:4])  # up to RecordingStarted: the file is in the index already
        archive = live(pbx.api()).archive
        during = await archive.index.get("c1")
        assert (during.state, during.scenario, during.keep_until) == ("recording", "pay", None)
        await pbx.feed(*events[4:])
        row = await archive.index.get("c1")
        stopped = events[-1]
        assert row.call_id == "c1" and row.path == str(path) and row.policy == "payments"
        assert (row.caller, row.callee, row.scenario, row.queue, row.agent) == ("1004", "800", "pay", "support", "1001")
        assert (row.state, row.layout, row.seconds, row.paused_seconds) == ("complete", "stereo", 30.0, 7.5)
        assert row.started_at == events[3].at and row.stopped_at == stopped.at
        assert [(p.start, p.end, p.reason) for p in row.pauses] == [(4.2, 11.7, "sensitive")]
        assert row.keep_until == pytest.approx(stopped.at + 3600) and row.legal_hold is False
        indexed = pbx.assert_published(RecordingIndexed, call_id="c1")
        assert (indexed.path, indexed.policy, indexed.keep_until) == (str(path), "payments", row.keep_until)
        assert not pbx.failures


async def test_a_pause_still_open_at_the_end_closes_with_the_file_and_a_failed_write_is_indexed(pbx_harness, tmp_path):
    async with pbx_harness(recording, config=CONFIG) as pbx:
        at = pbx.now()
        path = wav_file(tmp_path, "c2")
        await pbx.feed(
            CallStarted(at=at, call_id="c2", caller="1005", callee="1002"),
            RecordingStarted(at=at + 1, call_id="c2", path=str(path), layout="mixed", policy="on-demand"),
            RecordingPaused(at=at + 3, call_id="c2", reason="on-demand"),
            RecordingResumed(at=at + 4, call_id="c2"),
            RecordingPaused(at=at + 6.5, call_id="c2", reason="on-demand"),
            RecordingStopped(at=at + 9, call_id="c2", path=str(path), layout="mixed", seconds=8.0, paused_seconds=3.5,
                             failed=True),
            CallEnded(at=at + 9, call_id="c2", caller="1005", callee="1002", cause="normal", status=200,
                      hangup_by="callee", answered=True, total_seconds=9, ring_seconds=1, talk_seconds=8),
        )
        row = await live(pbx.api()).archive.index.get("c2")
        assert [(p.start, p.end) for p in row.pauses] == [(2.0, 3.0), (5.5, 8.0)]
        assert (row.state, row.layout, row.policy, row.keep_until) == ("failed", "mixed", "on-demand", None)
        assert (row.caller, row.scenario, row.queue) == ("1005", None, None)
        assert live(pbx.api()).fold.calls == {} and live(pbx.api()).fold.recordings == {}  # nothing left behind


async def test_retention_deletes_the_file_and_the_row_and_audits_it(pbx_harness, tmp_path, database):
    async with pbx_harness(recording, config=CONFIG, database=database) as pbx:
        path = wav_file(tmp_path, "c3")
        await pbx.feed(*call_until_stopped(pbx.now(), "c3", path))
        archive = live(pbx.api()).archive
        keep_until = (await archive.index.get("c3")).keep_until
        await pbx.advance(keep_until - pbx.now() - 1)  # sweeps ran every minute, one second too early
        assert path.exists() and await archive.index.get("c3") is not None
        await pbx.advance(61)
        assert not path.exists(), "the sweep left the file"
        assert await archive.index.get("c3") is None
        deleted = pbx.assert_published(RecordingDeleted, call_id="c3")
        assert (deleted.path, deleted.reason) == (str(path), "retention") and deleted.at >= keep_until
        [entry] = await archive.audit_entries(call_id="c3")
        assert (entry.actor, entry.action, entry.reason, entry.detail) == ("retention", "delete", "retention", str(path))
        assert not pbx.failures


async def test_legal_hold_keeps_a_recording_past_its_retention_until_released(pbx_harness, tmp_path, database):
    async with pbx_harness(recording, config=CONFIG, database=database) as pbx:
        held, other = wav_file(tmp_path, "held"), wav_file(tmp_path, "other")
        await pbx.feed(*call_until_stopped(pbx.now(), "held", held), *call_until_stopped(pbx.now(), "other", other))
        archive = live(pbx.api()).archive
        row = await archive.hold("held", True, actor="legal@example.com", now=pbx.now())
        assert row.legal_hold is True
        await pbx.advance(3 * 3600)
        assert held.exists() and not other.exists()
        assert (await archive.index.get("held")).legal_hold
        with pytest.raises(RecordingRefused, match="legal hold"):
            await archive.delete("held", actor="someone", now=pbx.now())
        await archive.hold("held", False, actor="legal@example.com", now=pbx.now())
        await pbx.advance(60)
        assert not held.exists() and await archive.index.get("held") is None
        actions = [(entry.actor, entry.action) for entry in reversed(await archive.audit_entries(call_id="held"))]
        assert actions == [("legal@example.com", "hold"), ("someone", "delete-refused"), ("legal@example.com", "release"),
                           ("retention", "delete")]


async def test_a_gdpr_request_deletes_at_once_and_not_while_recording(pbx_harness, tmp_path, database):
    async with pbx_harness(recording, config=CONFIG, database=database) as pbx:
        path = wav_file(tmp_path, "c4")
        events = call_until_stopped(pbx.now(), "c4", path)
        await pbx.feed(*events[:4])
        archive = live(pbx.api()).archive
        with pytest.raises(RecordingRefused, match="still being recorded"):
            await archive.delete("c4", actor="dpo", now=pbx.now())
        await pbx.feed(*events[4:])
        row = await archive.delete("c4", actor="dpo", now=pbx.now())
        assert row.call_id == "c4" and not path.exists() and await archive.index.get("c4") is None
        assert pbx.assert_published(RecordingDeleted, call_id="c4").reason == "request"
        [entry] = await archive.audit_entries(call_id="c4", action="delete")
        assert (entry.actor, entry.reason) == ("dpo", "request")
        with pytest.raises(RecordingNotFound):
            await archive.delete("c4", actor="dpo", now=pbx.now())
        path.parent.joinpath("c5.wav").unlink(missing_ok=True)  # a file already gone is no obstacle
        await pbx.feed(*call_until_stopped(pbx.now(), "c5", path.parent / "c5.wav"))
        await archive.delete("c5", actor="dpo", now=pbx.now())
        assert await archive.index.get("c5") is None


async def test_consent_is_announced_once_to_a_caller_in_a_recorded_queue(pbx_harness, tmp_path):
    async with pbx_harness(recording, config=CONFIG) as pbx:
        call = pbx.new_call(call_id="q1", caller="1004", callee="700")
        pbx.update_call("q1", queue="support")
        await pbx.feed(QueueJoined(at=pbx.now(), call_id="q1", queue="support", caller_number="1004", priority=0,
                                   position=1))
        pbx.assert_action("play", "q1", prompts=["say:This call is recorded."])
        connected = pbx.update_call(call.call_id, agent="1001")
        decision = await pbx.recording_policy(connected, "connected")
        assert decision.policy == "support"
        assert [action.name for action in pbx.actions] == ["play"]  # not twice
        path = wav_file(tmp_path, "q1")
        await pbx.feed(RecordingStarted(at=pbx.now(), call_id="q1", path=str(path), layout="stereo", policy="support"))
        row = await live(pbx.api()).archive.index.get("q1")
        assert row.consent == "say:This call is recorded."


async def test_a_call_that_ended_is_not_announced_to(pbx_harness):
    async with pbx_harness(recording, config=CONFIG) as pbx:
        call = pbx.new_call(call_id="gone", queue="support", agent="1001")
        pbx.end_call("gone")
        assert (await pbx.recording_policy(call, "connected")).policy == "support"  # ActionRefused is no failure
        assert pbx.actions == [] and not pbx.failures


async def test_a_recording_the_pbx_never_stopped_is_kept_for_its_retention_from_the_next_start(pbx_harness, tmp_path):
    """The PBX stopped mid-call (its RecordingStopped never reached the plugin): at the next start
    the row is "interrupted" and the retention counts from then, so the file is not kept forever."""
    directory = tmp_path / "pbx"
    path = wav_file(tmp_path, "cut")
    async with pbx_harness(recording, config=CONFIG, directory=directory) as first:
        await first.feed(*call_until_stopped(first.now(), "cut", path)[:4])
    async with pbx_harness(recording, config=CONFIG, directory=directory, start=first.now() + 600) as pbx:
        archive = live(pbx.api()).archive
        row = await archive.index.get("cut")
        assert (row.state, row.keep_until, row.scenario) == ("interrupted", pbx.now() + 3600, "pay")
        await pbx.advance(3600)
        assert not path.exists() and await archive.index.get("cut") is None
        assert pbx.assert_published(RecordingDeleted, call_id="cut").reason == "retention"
