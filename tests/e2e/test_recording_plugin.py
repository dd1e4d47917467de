"""The recording plugin on a live PBX: a policy records a payment line, the card number is never
in the file, the index finds the recording, retention deletes it, and legal hold keeps another.

The PBX runs the built-in `recording` plugin with one policy: record the calls that run
scenario `pay`, keep them 6 s, sweep every second. The scenario answers, plays a greeting,
collects a card number with `sensitive`, then queues the caller to agent 1001 (a baresip phone
that talks, answering by itself). The caller is the test's own UAC: it talks (an espeak-ng
voice) and keys the card number as in-band DTMF tones in its audio, so a recording that did not
pause would hold the tones.

1. Call A is recorded under the policy and put under legal hold (admin API) when indexed.
2. Call B goes through the whole line. Its WAV: the left channel holds what the caller sent,
   the right what the agent sent; where the index says the recording paused ("sensitive") the
   file is digital silence, every tone the caller keyed starts inside that stretch, and no card
   digit is anywhere in the file, the log or the database (the same detector finds all 17 keys
   in what the caller sent). The PBX completes the entry on detecting the terminator, while its
   tone still sounds; the recording resumes only after a guard (SENSITIVE_GUARD), so not even
   the terminator's tail is in the file.
   The index (admin API and `pbx recording show`) finds B by call id with its queue and agent.
3. After 6 s the sweep deletes B's file and index row (RecordingDeleted, an audit entry); A,
   past its retention too, stays while held, cannot be erased on request, and goes once released.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .calls import audio
from .calls.fixtures import bus_events, call_pbx, phones, wait_bus_event  # noqa: F401
from .harness import REPO_ROOT, PbxProcess
from .ivr.scenarios import ivr_config
from .ivr.tones import write_tone_prompts
from .recording.analysis import dtmf_tones, logged_at, read_stereo, zero_runs
from .recording.caller import TalkingCaller

pytestmark = pytest.mark.e2e

RETENTION = 6.0
CARD = "4111111111111111#"
PLUGIN = "/api/plugins/recording"
SCENARIO = """\
scenario "Payments"
  language en
  prompts "prompts"
end

block start
  answer
  play "greeting"
  collect card
    digits 12..19
    terminator "#"
    timeout 8s
    inter-digit timeout 3s
    retries 1
    sensitive
    prompt "enter"
  on failure
    disposition "no-card"
    hangup
  end
  disposition "card-taken"
  queue support timeout 30s
  on failure
    hangup
  end
end
"""


def recording_pbx(call_pbx, tmp_path: Path) -> PbxProcess:
    scenarios = tmp_path / "scenarios"
    write_tone_prompts(scenarios / "prompts" / "en")  # greeting: 400 Hz for 2 s, enter: 1100 Hz for 1.2 s
    (scenarios / "pay.ivr").write_text(SCENARIO)
    policy = {"name": "payments", "record": "scenario", "match": ["pay"], "retention": f"{RETENTION:g}s"}
    return call_pbx(
        data_dir=str(tmp_path / "data"), recording={"directory": str(tmp_path / "recordings")},
        ivr=ivr_config(scenarios, tmp_path / "tts"), routes=[{"match": "800", "scenario": "pay"}],
        agents={"1001": {}}, queues={"support": {"strategy": "linear", "ring_timeout": 5, "wrap_up": 0,
                                                 "members": [{"agent": "1001"}]}},
        plugins={"recording": {"config": {"sweep_every": 1, "policies": [policy]}}, "crm": {"enabled": False}},
    )  # fmt: skip


def admin(pbx: PbxProcess, method: str, path: str, body: object = None) -> tuple[int, object]:
    """A request with the test's admin token (the plugin's access audit names the token)."""
    request = pbx.admin_request(PLUGIN + path, method, body)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def cli(pbx: PbxProcess, *arguments: str) -> subprocess.CompletedProcess:
    """`pbx recording ...` against the running PBX's config (and so its database)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "pbx", "recording", *arguments, "--config", str(pbx.config_path)],
                          capture_output=True, text=True, timeout=30, cwd=REPO_ROOT, env=env)


def new_call_id(pbx: PbxProcess, known: set[str], timeout: float = 10.0) -> str:
    """The PBX's id of the call that just entered scenario `pay`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [event["call_id"] for event in bus_events(pbx, "IvrStarted") if event["call_id"] not in known]
        if fresh:
            return fresh[0]
        time.sleep(0.05)
    pytest.fail(f"no new IvrStarted within {timeout:.0f}s\n{pbx.log_tail(30)}")


@pytest.mark.timeout(150)
def test_a_recorded_payment_line_keeps_no_card_number_and_honours_retention_and_hold(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = recording_pbx(call_pbx, tmp_path)
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    voice = audio.read_wav(alpha)
    agent = phones("agent1001", "1001", pbx, source=bravo)
    wait_bus_event(pbx, "AgentStateChanged", timeout=10, agent="1001", new="available")

    with TalkingCaller(pbx.sip_address, "1004") as caller:
        # 1. Call A: recorded under the policy, hung up during the greeting, then put on legal hold.
        call_a, _ = caller.talk("800", voice)
        held = new_call_id(pbx, set())
        started_a = wait_bus_event(pbx, "RecordingStarted", timeout=5, call_id=held)
        assert started_a["policy"] == "payments", started_a
        caller.wait(1.0)
        caller.hangup(call_a)
        wait_bus_event(pbx, "RecordingIndexed", timeout=5, call_id=held)
        status, row_a = admin(pbx, "POST", f"/recordings/{held}/hold", {"hold": True})
        assert status == 200 and row_a["legal_hold"] is True, row_a
        kept_file = Path(row_a["path"])

        # 2. Call B: greeting, a sensitive card entry keyed in-band, then the agent.
        call_b, media = caller.talk("800", voice)
        call_id = new_call_id(pbx, {held})
        started = wait_bus_event(pbx, "RecordingStarted", timeout=5, call_id=call_id)
        assert (started["policy"], started["layout"]) == ("payments", "stereo"), started
        wait_bus_event(pbx, "RecordingPaused", timeout=10, call_id=call_id, reason="sensitive")
        caller.wait(1.0)  # the caller goes on talking for a second into the pause: not recorded either
        caller.set_speaking(media, False)
        caller.wait(0.5)  # the prompt "enter" (1.2 s) is over by now
        caller.key_in_band(media, CARD)
        wait_bus_event(pbx, "RecordingResumed", timeout=10, call_id=call_id)
        caller.set_speaking(media, True)
        wait_bus_event(pbx, "AgentConnected", timeout=10, call_id=call_id, agent="1001", queue="support")
        caller.wait(5.0)  # caller and agent talk
        caller.hangup(call_b)
        stopped = wait_bus_event(pbx, "RecordingStopped", timeout=5, call_id=call_id)
        indexed = wait_bus_event(pbx, "RecordingIndexed", timeout=5, call_id=call_id)
    left, right = read_stereo(stopped["path"])
    _, sent = media.sent_audio()
    keys = media.key_seconds()

    # The index finds B by call id, with its call's facts and the sensitive pause as an interval.
    status, found = admin(pbx, "GET", f"/recordings?call_id={call_id}")
    assert status == 200 and len(found) == 1, found
    row = found[0]
    assert (row["path"], row["policy"], row["state"], row["scenario"], row["queue"], row["agent"], row["caller"]) == (
        stopped["path"], "payments", "complete", "pay", "support", "1001", "1004"), row
    assert row["seconds"] == pytest.approx(float(stopped["seconds"]), abs=0.001)
    assert row["keep_until"] == pytest.approx(row["stopped_at"] + RETENTION, abs=0.01)
    assert float(indexed["keep_until"]) == pytest.approx(row["keep_until"], abs=0.01)
    [pause] = row["pauses"]
    assert pause["reason"] == "sensitive" and pause["end"] - pause["start"] > 2.5, pause
    request = pbx.admin_request(f"{PLUGIN}/recordings/{call_id}/audio")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == Path(stopped["path"]).read_bytes()
    shown = cli(pbx, "show", call_id, "--actor", "e2e-cli")
    assert shown.returncode == 0 and json.loads(shown.stdout)["pauses"] == [pause], shown.stderr

    # The file: the caller on the left, the agent on the right.
    assert abs(len(left) / 8000 - row["seconds"]) < 0.05
    agent_sent = agent.sent()
    audio.assert_heard(sent, left, unrelated=[agent_sent], what="left channel is the caller")
    audio.assert_heard(agent_sent, right, unrelated=[sent], what="right channel is the agent", align="end")

    # Digital silence exactly where the index says the recording paused, and the keys inside it.
    silent = max(zero_runs(left), key=lambda run: run[1] - run[0])
    measured = {"pause_start": silent[0] - pause["start"], "pause_end": silent[1] - pause["end"]}
    print(f"pause in the index {pause['start']:.3f}-{pause['end']:.3f} s, digital silence on the left "
          f"{silent[0]:.3f}-{silent[1]:.3f} s (differences {measured})")
    assert abs(measured["pause_start"]) <= 0.06 and 0 <= measured["pause_end"] <= 0.2, measured
    start, end = int(pause["start"] * 8000), int(pause["end"] * 8000)
    assert not right[start + 160 : end - 160].any(), "the right channel is not silent during the pause"
    offsets = [at - row["started_at"] for _, at in keys]
    card_digits = offsets[:-1]  # the tone of each card digit starts and ends (80 ms) inside the pause
    assert len(keys) == len(CARD) and pause["start"] < card_digits[0] and card_digits[-1] + 0.08 < pause["end"], (
        offsets, pause)
    assert pause["start"] < offsets[-1] < pause["end"]  # so does the start of the terminator's
    # No card digit anywhere in the file; the same detector finds every key in what the caller sent.
    assert [digit for _, digit in dtmf_tones(sent)] == list(CARD)
    in_file = dtmf_tones(left) + dtmf_tones(right)
    print(f"keys at {[round(offset, 3) for offset in offsets]} s into the file; DTMF found in the file: {in_file}")
    # The entry completes 20-40 ms into the terminator's 80 ms tone; the guard keeps the recording
    # paused past its end, so no tone at all is in the file (with `digits N` and no terminator
    # that tail would be the last card digit's).
    assert in_file == [], in_file
    number = CARD.rstrip("#").encode()
    assert number not in pbx.log_path.read_bytes(), "the card number reached the PBX log"
    for stored in (tmp_path / "data").rglob("*"):  # the database and its WAL, the plugins' files
        assert not stored.is_file() or number not in stored.read_bytes(), f"the card number is in {stored}"

    # 3. Retention: B goes (file, row; RecordingDeleted and an audit entry), A stays while held.
    deleted = wait_bus_event(pbx, "RecordingDeleted", timeout=RETENTION + 5, call_id=call_id)
    late = logged_at(pbx.log_text(), "RecordingDeleted", call_id) - row["keep_until"]
    print(f"deleted by the sweep {late:.3f} s after its keep_until (sweep_every 1 s)")
    assert deleted["reason"] == "retention" and not Path(stopped["path"]).exists() and 0 <= late < 1.5, deleted
    assert admin(pbx, "GET", f"/recordings/{call_id}")[0] == 404
    status, audit = admin(pbx, "GET", f"/audit?call_id={call_id}")
    assert [(entry["actor"], entry["action"], entry["reason"]) for entry in audit][:1] == [
        ("retention", "delete", "retention")], audit
    me = pbx.api("/api/me")["name"]  # the plugin's access audit names the API token
    assert {(entry["actor"], entry["action"]) for entry in audit} >= {
        (me, "list"), ("e2e-cli", "view"), (me, "download")}
    status, row_a = admin(pbx, "GET", f"/recordings/{held}")
    assert status == 200 and row_a["legal_hold"] and row_a["keep_until"] < time.time(), row_a
    assert kept_file.exists(), "the sweep deleted a recording under legal hold"
    assert held not in {event["call_id"] for event in bus_events(pbx, "RecordingDeleted")}
    status, body = admin(pbx, "DELETE", f"/recordings/{held}")
    assert status == 409 and "legal hold" in body["message"], body
    assert admin(pbx, "POST", f"/recordings/{held}/hold", {"hold": False})[0] == 200
    released = wait_bus_event(pbx, "RecordingDeleted", timeout=5, call_id=held)
    assert released["reason"] == "retention" and not kept_file.exists()
    audit_a = cli(pbx, "audit", "--call-id", held, "--json")
    assert audit_a.returncode == 0, audit_a.stderr
    assert [(entry["actor"], entry["action"]) for entry in json.loads(audit_a.stdout)] == [
        ("retention", "delete"), (me, "release"), (me, "delete-refused"), (me, "view"), (me, "hold")]
