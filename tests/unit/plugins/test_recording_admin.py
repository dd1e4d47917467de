"""The recording plugin's admin API and command line, on an index filled with known rows.

The routes come from the harness (`pbx_admin_routes`, through the runner) and are mounted the
way the PBX mounts them, under /api/plugins/recording, on aiohttp's test server. Every read and
change is audited under the X-Actor header; bad input is a 400 naming the field. The command
line runs `pbx recording ...` (pbx.cli.main) against a config file and the same database.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import plugins.recording as recording
from plugins.recording import Pause, RecordingIndex, RecordingRow, live
from sdk import SqliteDatabase
from sdk.events import RecordingDeleted

BASE = "/api/plugins/recording"
START = 1_800_000_000.0
CONFIG = {"sweep_every": 3600, "policies": [{"name": "payments", "record": "scenario", "match": ["pay"]}]}


def stereo_wav(path: Path, seconds: float = 0.5) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(4 * int(8000 * seconds)))
    return path


def rows(directory: Path) -> list[RecordingRow]:
    def row(call_id: str, started: float, queue: str | None, agent: str | None, **fields) -> RecordingRow:
        return RecordingRow(call_id=call_id, path=str(stereo_wav(directory / f"{call_id}.wav")), policy="payments",
                            layout="stereo", state="complete", started_at=started, caller="1004", callee="800",
                            scenario="pay", queue=queue, agent=agent, stopped_at=started + 30, seconds=30.0,
                            paused_seconds=2.5, keep_until=None, **fields)

    return [
        row("a1", START - 300, "support", "1001", pauses=[Pause(start=3.0, end=5.5, reason="sensitive")]),
        row("a2", START - 200, "support", "1002"),
        row("a3", START - 100, "sales", "1001"),
        row("a4", START - 50, None, None),
    ]


@pytest.fixture
async def admin(pbx_harness, tmp_path):
    async with pbx_harness(recording, config=CONFIG) as pbx:
        index = live(pbx.api()).index
        for row in rows(tmp_path / "recordings"):
            await index.save(row)
        [(_, routes)] = await pbx.runner.ask_all("pbx_admin_routes")
        app, plugin_app = web.Application(), web.Application()
        plugin_app.add_routes(routes)
        app.add_subapp(BASE, plugin_app)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            client.pbx = pbx
            yield client


async def get(client, path: str, actor: str | None = "auditor@example.com") -> tuple[int, object]:
    response = await client.get(BASE + path, headers={"X-Actor": actor} if actor else {})
    return response.status, await response.json()


async def test_the_index_is_listed_newest_first_and_filtered(admin):
    status, body = await get(admin, "/recordings")
    assert status == 200 and [row["call_id"] for row in body] == ["a4", "a3", "a2", "a1"]
    assert body[-1]["pauses"] == [{"start": 3.0, "end": 5.5, "reason": "sensitive"}]
    assert [row["call_id"] for row in (await get(admin, "/recordings?queue=support"))[1]] == ["a2", "a1"]
    assert [row["call_id"] for row in (await get(admin, "/recordings?agent=1001&queue=sales"))[1]] == ["a3"]
    assert [row["call_id"] for row in (await get(admin, "/recordings?call_id=a2"))[1]] == ["a2"]
    since, until = START - 250, START - 60
    assert [row["call_id"] for row in (await get(admin, f"/recordings?since={since}&until={until}"))[1]] == ["a3", "a2"]
    iso = "2027-01-15T07:58:20Z"  # START - 100
    assert [row["call_id"] for row in (await get(admin, f"/recordings?since={iso}"))[1]] == ["a4", "a3"]
    assert [row["call_id"] for row in (await get(admin, "/recordings?limit=1"))[1]] == ["a4"]


@pytest.mark.parametrize(("query", "field"), [
    ("since=yesterday", "since"), ("until=12:00", "until"), ("limit=0", "limit"), ("limit=many", "limit"),
    ("colour=red", "colour"), ("queue=", "queue"), (f"since={START}&until={START - 1}", "until"),
])  # fmt: skip
async def test_bad_filters_are_a_400_naming_the_field(admin, query, field):
    status, body = await get(admin, f"/recordings?{query}")
    assert status == 400 and body["field"] == field and body["error"], body


async def test_one_recording_its_audio_and_the_audit_of_who_looked(admin):
    status, row = await get(admin, "/recordings/a1", actor="alice")
    assert status == 200 and row["call_id"] == "a1" and row["queue"] == "support" and row["legal_hold"] is False
    response = await admin.get(f"{BASE}/recordings/a1/audio", headers={"X-Actor": "bob"})
    assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
    data = await response.read()
    assert data[:4] == b"RIFF" and len(data) == 44 + 4 * 4000
    assert (await get(admin, "/recordings/nope"))[0] == 404
    status, body = await get(admin, "/recordings/nope/audio")
    assert status == 404 and body == {"error": "no recording of call 'nope'", "field": "call_id"}
    await get(admin, "/recordings?queue=support", actor=None)
    status, audit = await get(admin, "/audit")
    assert status == 200
    assert [(entry["actor"], entry["action"], entry["call_id"]) for entry in audit[:3]] == [
        ("anonymous", "list", None), ("bob", "download", "a1"), ("alice", "view", "a1")]
    assert audit[0]["detail"] == "queue=support count=2"
    status, audit = await get(admin, "/audit?call_id=a1&action=download")
    assert [(entry["actor"], entry["detail"]) for entry in audit] == [("bob", row["path"])]
    assert (await get(admin, "/audit?who=me"))[1]["field"] == "who"


async def test_hold_release_and_gdpr_delete(admin):
    post = admin.post
    response = await post(f"{BASE}/recordings/a2/hold", json={"hold": True}, headers={"X-Actor": "legal"})
    assert response.status == 200 and (await response.json())["legal_hold"] is True
    response = await admin.delete(f"{BASE}/recordings/a2", headers={"X-Actor": "dpo"})
    body = await response.json()
    assert response.status == 409 and "legal hold" in body["error"] and body["field"] == "call_id"
    response = await post(f"{BASE}/recordings/a2/hold", json={"hold": False}, headers={"X-Actor": "legal"})
    assert (await response.json())["legal_hold"] is False
    path = Path((await get(admin, "/recordings/a2"))[1]["path"])
    response = await admin.delete(f"{BASE}/recordings/a2", headers={"X-Actor": "dpo"})
    assert response.status == 200 and await response.json() == {"deleted": "a2", "path": str(path), "reason": "request"}
    assert not path.exists() and (await get(admin, "/recordings/a2"))[0] == 404
    assert admin.pbx.assert_published(RecordingDeleted, call_id="a2").reason == "request"
    audit = (await get(admin, "/audit?call_id=a2"))[1]
    assert [(entry["actor"], entry["action"], entry["reason"]) for entry in audit] == [
        ("dpo", "delete", "request"), ("auditor@example.com", "view", None), ("legal", "release", None),
        ("dpo", "delete-refused", "request"), ("legal", "hold", None)]  # newest first; the 404 saw nothing


@pytest.mark.parametrize(("body", "field"), [
    (b"{", "body"), (b"[]", "body"), (b'{"hold": "yes"}', "hold"), (b"{}", "hold"), (b'{"hold": true, "x": 1}', "x"),
])  # fmt: skip
async def test_a_bad_hold_request_is_a_400_naming_the_field(admin, body, field):
    response = await admin.post(f"{BASE}/recordings/a1/hold", data=body, headers={"Content-Type": "application/json"})
    answer = await response.json()
    assert response.status == 400 and answer["field"] == field, answer


async def test_a_bad_actor_is_refused(admin):
    status, body = await get(admin, "/recordings", actor="x" * 101)
    assert status == 400 and body["field"] == "X-Actor"


# The command line -------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path) -> Path:
    """A PBX config whose database holds the four rows (the command line needs no live PBX)."""
    data = tmp_path / "data"
    database = SqliteDatabase(data / "pbx.sqlite")
    index = RecordingIndex(database)

    async def seed() -> None:
        await index.migrate()
        for row in rows(tmp_path / "recordings"):
            await index.save(row)

    import asyncio

    asyncio.run(seed())
    database.close()
    path = tmp_path / "pbx.yaml"
    path.write_text(yaml.safe_dump({
        "realm": "pbx.test", "data_dir": str(data),
        "plugins": {"recording": {"config": CONFIG}, "crm": {"enabled": False}},
    }))  # fmt: skip
    return path


def pbx(*argv: str) -> int:
    from pbx.cli import main

    return main(list(argv))


def test_the_command_line_lists_shows_holds_deletes_and_audits(config_file, capsys):
    config = ["--config", str(config_file)]
    assert pbx("recording", "list", *config, "--queue", "support", "--json", "--actor", "ops") == 0
    assert [row["call_id"] for row in json.loads(capsys.readouterr().out)] == ["a2", "a1"]
    assert pbx("recording", "list", *config) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("call id") and [line.split()[0] for line in table[1:]] == ["a4", "a3", "a2", "a1"]
    assert pbx("recording", "show", "a1", *config) == 0
    assert json.loads(capsys.readouterr().out)["pauses"] == [{"start": 3.0, "end": 5.5, "reason": "sensitive"}]
    assert pbx("recording", "hold", "a1", *config, "--actor", "legal") == 0
    assert capsys.readouterr().out == "a1: legal hold on\n"
    assert pbx("recording", "delete", "a1", *config) == 1
    assert "legal hold" in capsys.readouterr().err
    assert pbx("recording", "release", "a1", *config, "--actor", "legal") == 0
    assert pbx("recording", "delete", "a1", *config, "--actor", "dpo") == 0
    assert "deleted" in capsys.readouterr().out and not (config_file.parent / "recordings" / "a1.wav").exists()
    assert pbx("recording", "show", "a1", *config) == 1
    assert "no recording of call 'a1'" in capsys.readouterr().err
    assert pbx("recording", "list", *config, "--since", "soon") == 2
    assert "since" in capsys.readouterr().err
    assert pbx("recording", "sweep", *config) == 0  # nothing has a retention here
    assert capsys.readouterr().out.endswith("0 recording(s) past their retention deleted\n")
    assert pbx("recording", "audit", *config, "--call-id", "a1", "--json") == 0
    audit = [(entry["actor"], entry["action"], entry["reason"]) for entry in json.loads(capsys.readouterr().out)]
    assert audit[:2] == [("dpo", "delete", "request"), ("legal", "release", None)]
    assert audit[2][0].startswith("cli") and audit[2][1:] == ("delete-refused", "request")
    assert audit[3] == ("legal", "hold", None)
    assert audit[4][0].startswith("cli") and audit[4][1:] == ("view", None) and len(audit) == 5
