"""The recording plugin's admin endpoints and command line, on an index filled with known rows.

The endpoints come from the harness (`pbx_admin_routes`, through the runner) and are served as
the PBX serves them, behind the admin API's gate under /api/plugins/recording, on aiohttp's test
server (tests/unit/plugins/admin_app.py). Every read and change is in the plugin's access audit
under the API token's name; bad input is a 400 naming the field; the audio honours HTTP range
requests (RFC 9110 14). The command line runs `pbx recording ...` (pbx.cli.main) against a
config file and the same database.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
import yaml

import plugins.recording as recording
from plugins.recording import Pause, RecordingIndex, RecordingRow, live
from sdk import SqliteDatabase
from sdk.events import RecordingDeleted
from tests.unit.plugins.admin_app import serving

START = 1_800_000_000.0
CONFIG = {"sweep_every": 3600, "policies": [{"name": "payments", "record": "scenario", "match": ["pay"]}]}
SECONDS = 0.5
FILE_SIZE = 44 + 4 * 4000  # the RIFF header and half a second of 16-bit stereo at 8 kHz


def stereo_wav(path: Path, seconds: float = SECONDS) -> Path:
    """A real WAV file whose sample bytes count up (0, 1, ..., 255, 0, ...), so a range is recognisable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = 4 * int(8000 * seconds)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(index % 256 for index in range(frames)))
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
        [(_, endpoints)] = await pbx.runner.ask_all("pbx_admin_routes")
        async with serving("recording", endpoints) as api:
            api.pbx = pbx
            yield api


async def get(api, path: str, role: str | None = "read-only") -> tuple[int, object]:
    response = await api.get(path, role=role)
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


async def test_bad_filters_are_a_400_naming_the_field(admin):
    for query, field in [
        ("since=yesterday", "since"), ("until=12:00", "until"), ("since=nan", "since"), ("limit=0", "limit"),
        ("limit=many", "limit"), ("limit=1001", "limit"), ("colour=red", "colour"), ("queue=", "queue"),
        (f"since={START}&until={START - 1}", "until"), ("agent=%07", "agent"),
    ]:  # fmt: skip
        status, body = await get(admin, f"/recordings?{query}")
        assert status == 400 and body["field"] == field and body["code"] == "bad_request", (query, body)
    status, body = await get(admin, "/audit?who=me")
    assert status == 400 and body["field"] == "who"


async def test_one_recording_its_audio_and_the_audit_of_who_listened(admin):
    status, row = await get(admin, "/recordings/a1", role="supervisor")
    assert status == 200 and row["call_id"] == "a1" and row["queue"] == "support" and row["legal_hold"] is False
    response = await admin.get("/recordings/a1/audio", role="read-only")
    assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
    assert response.headers["Accept-Ranges"] == "bytes"
    data = await response.read()
    assert data[:4] == b"RIFF" and len(data) == FILE_SIZE and data == Path(row["path"]).read_bytes()
    assert (await get(admin, "/recordings/nope"))[0] == 404
    status, body = await get(admin, "/recordings/nope/audio")
    assert status == 404 and body == {"code": "not_found", "message": "no recording of call 'nope'", "field": "call_id"}
    await get(admin, "/recordings?queue=support", role="admin")
    status, audit = await get(admin, "/audit")
    assert status == 200
    assert [(entry["actor"], entry["action"], entry["call_id"]) for entry in audit[:3]] == [
        ("ada", "list", None), ("rita", "download", "a1"), ("sue", "view", "a1")]
    assert audit[0]["detail"] == "queue=support count=2"
    status, audit = await get(admin, "/audit?call_id=a1&action=download")
    assert [(entry["actor"], entry["detail"]) for entry in audit] == [("rita", row["path"])]


async def test_the_audio_answers_byte_ranges(admin):
    whole = Path((await get(admin, "/recordings/a2"))[1]["path"]).read_bytes()

    async def ranged(value: str):
        return await admin.get("/recordings/a2/audio", headers={"Range": value})

    first = await ranged("bytes=0-43")  # the RIFF header
    assert first.status == 206 and first.headers["Content-Range"] == f"bytes 0-43/{FILE_SIZE}"
    assert await first.read() == whole[:44] and whole[:4] == b"RIFF" and whole[8:12] == b"WAVE"
    middle = await ranged("bytes=8000-8999")
    assert middle.status == 206 and middle.headers["Content-Range"] == f"bytes 8000-8999/{FILE_SIZE}"
    body = await middle.read()
    assert len(body) == 1000 and body == whole[8000:9000]
    suffix = await ranged("bytes=-100")  # the last 100 bytes
    assert suffix.status == 206
    assert suffix.headers["Content-Range"] == f"bytes {FILE_SIZE - 100}-{FILE_SIZE - 1}/{FILE_SIZE}"
    assert await suffix.read() == whole[-100:]
    open_ended = await ranged(f"bytes={FILE_SIZE - 10}-")
    assert open_ended.status == 206 and await open_ended.read() == whole[-10:]
    past = await ranged(f"bytes={FILE_SIZE}-{FILE_SIZE + 100}")  # no byte of it is in the file
    assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{FILE_SIZE}"
    # an <audio> element cannot send the Authorization header: its URL carries the token
    response = await admin.client.get(f"{admin.prefix}/recordings/a2/audio?access_token={admin.secrets['read-only']}",
                                      headers={"Range": "bytes=0-3"})
    assert response.status == 206 and await response.read() == b"RIFF"


async def test_hold_release_and_gdpr_delete_are_for_admins(admin):
    refused = await admin.post("/recordings/a2/hold", role="supervisor", json={"hold": True})
    assert refused.status == 403 and (await refused.json())["code"] == "forbidden"
    assert (await admin.delete("/recordings/a2", role="read-only")).status == 403
    assert (await admin.get("/recordings", role="agent")).status == 403
    assert (await admin.get("/recordings", role=None)).status == 401
    response = await admin.post("/recordings/a2/hold", json={"hold": True})
    assert response.status == 200 and (await response.json())["legal_hold"] is True
    response = await admin.delete("/recordings/a2")
    body = await response.json()
    assert response.status == 409 and "legal hold" in body["message"] and body["field"] == "call_id"
    response = await admin.post("/recordings/a2/hold", json={"hold": False})
    assert (await response.json())["legal_hold"] is False
    path = Path((await get(admin, "/recordings/a2"))[1]["path"])
    response = await admin.delete("/recordings/a2")
    assert response.status == 200 and await response.json() == {"deleted": "a2", "path": str(path), "reason": "request"}
    assert not path.exists() and (await get(admin, "/recordings/a2"))[0] == 404
    assert admin.pbx.assert_published(RecordingDeleted, call_id="a2").reason == "request"
    audit = (await get(admin, "/audit?call_id=a2"))[1]
    assert [(entry["actor"], entry["action"], entry["reason"]) for entry in audit] == [
        ("ada", "delete", "request"), ("rita", "view", None), ("ada", "release", None),
        ("ada", "delete-refused", "request"), ("ada", "hold", None)]  # newest first; the refused roles saw nothing
    changes = [(record.actor, record.action, record.target, record.status) for record in admin.audit.records]
    prefix = "/api/plugins/recording/recordings/{call_id}"
    assert changes == [
        ("sue", f"POST {prefix}/hold", "/api/plugins/recording/recordings/a2/hold", 403),
        ("rita", f"DELETE {prefix}", "/api/plugins/recording/recordings/a2", 403),
        ("ada", f"POST {prefix}/hold", "recording a2", 200), ("ada", f"DELETE {prefix}", "recording a2", 409),
        ("ada", f"POST {prefix}/hold", "recording a2", 200), ("ada", f"DELETE {prefix}", "recording a2", 200)]


async def test_a_bad_hold_request_is_a_400_naming_the_field(admin):
    for body, field in [
        (b"{", "body"), (b"[]", "body"), (b'{"hold": "yes"}', "body.hold"), (b"{}", "body.hold"),
        (b'{"hold": true, "x": 1}', "body.x"),
    ]:  # fmt: skip
        response = await admin.post("/recordings/a1/hold", data=body, headers={"Content-Type": "application/json"})
        answer = await response.json()
        assert response.status == 400 and answer["field"] == field, (body, answer)


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
