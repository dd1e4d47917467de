"""A bridged call between two baresip phones is recorded: caller left, callee right, pause = silence.

1001 (marked `record: true`) calls 1002; each phone plays its own sentence. The PBX writes a
stereo WAV: the left channel must correlate with what 1001 sent and not with 1002's voice, the
right one the other way round. Midway the admin API pauses the recording for a second (that
stretch is silent in both channels) and resumes it; misuse of the API gets a JSON 4xx.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import wave

import numpy as np
import pytest

from .calls import audio
from .calls.fixtures import call_extensions, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .test_call_test_extensions import prompts  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


def post(pbx, path: str, body: object) -> tuple[int, dict]:
    request = pbx.admin_request(path, "POST", body)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def read_stereo(path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path)) as reader:
        assert (reader.getnchannels(), reader.getframerate(), reader.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    return frames[0::2], frames[1::2]


@pytest.mark.timeout(120)
def test_a_bridged_call_is_recorded_in_stereo_with_a_pause(tmp_path, call_pbx, phones):  # noqa: F811
    directory = tmp_path / "recordings"
    pbx = call_pbx(extensions=call_extensions(x1001={"record": True}), recording={"directory": str(directory)})
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    callee = phones("phone1002", "1002", pbx, source=bravo)
    caller.dial(dial_uri(pbx, "1002"))
    callee.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)
    started = wait_bus_event(pbx, "RecordingStarted", timeout=5, layout="stereo")
    call_id = started["call_id"]

    time.sleep(3.0)
    assert post(pbx, f"/api/calls/{call_id}/recording", {"action": "pause"}) == (
        200, {"call_id": call_id, "state": "paused", "path": started["path"], "layout": "stereo"})
    time.sleep(1.2)
    assert post(pbx, f"/api/calls/{call_id}/recording", {"action": "resume"})[1]["state"] == "recording"
    status, body = post(pbx, f"/api/calls/{call_id}/recording", {"action": "resume"})
    assert status == 409 and "not paused" in body["message"], body
    status, body = post(pbx, "/api/calls/nosuchcall/recording", {"action": "pause"})
    assert status == 404 and "nosuchcall" in body["message"], body
    status, body = post(pbx, f"/api/calls/{call_id}/recording", {"action": "rewind"})
    assert status == 400 and "action" in body["message"], body
    time.sleep(3.0)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    stopped = wait_bus_event(pbx, "RecordingStopped", timeout=5, call_id=call_id)
    wait_idle(pbx, timeout=5)
    assert stopped["failed"] == "False" and 1.0 <= float(stopped["paused_seconds"]) <= 1.6, stopped

    # The writer thread closes the file just after the event; wait for the final header.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            left, right = read_stereo(stopped["path"])
            break
        except (wave.Error, EOFError, AssertionError, FileNotFoundError):
            time.sleep(0.2)
    assert abs(len(left) / 8000 - float(stopped["seconds"])) < 0.1
    sent_by_caller, sent_by_callee = caller.sent(), callee.sent()
    audio.assert_heard(sent_by_caller, left, unrelated=[sent_by_callee], what="left channel is the caller")
    audio.assert_heard(sent_by_callee, right, unrelated=[sent_by_caller], what="right channel is the callee")
    # One second of silence in both channels where the recording was paused (from ~3 s on).
    windows = [(start, max(audio.rms(left[start:start + 4000]), audio.rms(right[start:start + 4000])))
               for start in range(8000, len(left) - 4000, 400)]
    assert min(level for _, level in windows) < 1e-4, "no silent stretch where the recording was paused"
    assert audio.active_seconds(left) > 4 and audio.active_seconds(right) > 4


@pytest.mark.timeout(120)
def test_a_call_the_pbx_answers_records_what_it_said_on_the_right(tmp_path, call_pbx, phones, prompts):  # noqa: F811
    pbx = call_pbx(extensions=call_extensions(x1001={"record": True}), prompts=str(prompts),
                   recording={"directory": str(tmp_path / "recordings"), "layout": "stereo"})
    alpha = audio.speech_wav(tmp_path / "wav", "alpha")
    caller = phones("phone1001", "1001", pbx, source=alpha)
    caller.dial(dial_uri(pbx, "601"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(5.0)
    caller.hangup()
    stopped = wait_bus_event(pbx, "RecordingStopped", timeout=10)
    wait_idle(pbx, timeout=5)
    time.sleep(0.5)
    left, right = read_stereo(stopped["path"])
    prompt = audio.read_wav(prompts / "playback-test.wav")
    audio.assert_heard(prompt, right, unrelated=[caller.sent()], what="right channel is the PBX's prompt")
    audio.assert_heard(caller.sent(), left, unrelated=[prompt], what="left channel is the caller")
