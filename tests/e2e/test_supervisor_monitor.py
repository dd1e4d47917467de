"""A supervisor listens to, whispers in and barges into a live call, with real phones and real audio.

Three baresip phones registered at a real PBX each play one steady tone and record what they
hear: the caller (1001) 500 Hz, the agent (1002) 900 Hz, the supervisor (1003) 1400 Hz. The
caller calls the agent; the supervisor joins. Each phone's recording is cut in 100 ms windows
and the level of every tone measured in each (a single-frequency DFT, as Goertzel does):

- listening, the supervisor hears the caller's and the agent's tones; the agent and the caller
  do not hear the supervisor's;
- whispering, the agent hears the supervisor's tone and the caller still does not;
- barging, the caller hears it too.

One test starts from the supervisor's phone (feature code *2221002, then key 5 to whisper) and
switches to barge through the admin API; the other starts whispering from the API (the PBX
rings the supervisor) and stops from the API.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import numpy as np
import pytest

from .calls import audio
from .calls.fixtures import FAST_TIMERS, bus_events, call_pbx, dial_uri, phones, wait_bus_event  # noqa: F401

pytestmark = pytest.mark.e2e

TONES = {"caller": 500, "agent": 900, "supervisor": 1400}
WINDOW = 0.1  # seconds
HEARD = 0.05  # a tone played at -12 dBFS (amplitude 0.25) arrives through G.711 at about 0.25
UNHEARD = 0.005  # -46 dBFS: G.711 noise and the phones' own leakage stay far below
MARGIN = 0.4  # seconds kept clear of each switch (the log is polled, the phones buffer)


def tone_levels(samples: np.ndarray, hz: float) -> np.ndarray:
    """The amplitude of the `hz` sine in each WINDOW of `samples` (full scale 1.0)."""
    size = int(WINDOW * audio.RATE)
    count = len(samples) // size
    frames = samples[: count * size].reshape(count, size)
    probe = np.exp(-2j * np.pi * hz * np.arange(size) / audio.RATE)
    return 2 * np.abs(frames @ probe) / size


def between(levels: np.ndarray, start: float, end: float) -> np.ndarray:
    """The windows of `levels` between `start` and `end` seconds into the recording."""
    first, last = int(np.ceil(start / WINDOW)), int(end / WINDOW)
    assert last - first >= 5, f"too short a stretch to judge: {start:.2f}-{end:.2f} s"
    return levels[first:last]


def api(pbx, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(pbx.admin_request(path, method, body), timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def start_call(tmp_path, call_pbx, phones, *, supervisor_answers: str = "auto"):  # noqa: F811
    pbx = call_pbx(sip=FAST_TIMERS, feature_codes={"supervisors": ["1003"]})
    wav = tmp_path / "wav"
    party = {
        name: phones(name, number, pbx, source=audio.tone_wav(wav, name, seconds=60, hz=TONES[name]),
                     answermode=supervisor_answers if name == "supervisor" else "auto")
        for name, number in (("caller", "1001"), ("agent", "1002"), ("supervisor", "1003"))
    }  # fmt: skip
    party["caller"].dial(dial_uri(pbx, "1002"))
    party["agent"].wait_event("CALL_ESTABLISHED", 10)
    agent_since = time.monotonic()  # the agent's recording starts here
    party["caller"].wait_event("CALL_ESTABLISHED", 10)
    caller_since = time.monotonic()
    return pbx, party, {"agent": agent_since, "caller": caller_since}


def hang_up_and_collect(pbx, party) -> dict[str, np.ndarray]:
    party["caller"].hangup()
    for name in ("caller", "agent", "supervisor"):
        party[name].wait_event("CALL_CLOSED", 10)  # the PBX hangs the supervisor up with the call
    wait_bus_event(pbx, "MonitorStopped", timeout=5)
    return {name: party[name].heard() for name in party}


@pytest.mark.timeout(60)
def test_a_supervisor_listens_by_code_whispers_by_key_and_barges_by_api(tmp_path, call_pbx, phones):  # noqa: F811
    pbx, party, since = start_call(tmp_path, call_pbx, phones)
    calls = pbx.api("/api/calls")
    assert len(calls) == 1, calls

    party["supervisor"].dial(dial_uri(pbx, "*2221002"))
    party["supervisor"].wait_event("CALL_ESTABLISHED", 10)
    since["supervisor"] = time.monotonic()
    started = wait_bus_event(pbx, "MonitorStarted", timeout=5)
    assert (started["agent"], started["supervisor"], started["mode"], started["source"]) == \
        ("1002", "1003", "listen", "phone"), started
    listen_at = time.monotonic()
    time.sleep(2.0)

    party["supervisor"].command("sndcode", "5")  # ChanSpy's key: whisper
    changed = wait_bus_event(pbx, "MonitorModeChanged", timeout=5)
    assert (changed["mode"], changed["previous"], changed["source"]) == ("whisper", "listen", "phone"), changed
    whisper_at = time.monotonic()
    time.sleep(2.0)

    status, monitors = api(pbx, "/api/monitors?state=active")
    assert status == 200 and len(monitors) == 1, (status, monitors)
    monitor = monitors[0]
    assert (monitor["call_id"], monitor["mode"], monitor["supervisor"]) == (calls[0]["id"], "whisper", "1003"), monitor
    status, switched = api(pbx, f"/api/monitors/{monitor['monitor_id']}", "PATCH", {"mode": "barge"})
    assert status == 200 and switched["mode"] == "barge", (status, switched)
    barge_at = time.monotonic()
    time.sleep(2.0)
    end_at = time.monotonic()

    heard = hang_up_and_collect(pbx, party)
    stopped = wait_bus_event(pbx, "MonitorStopped", timeout=1)
    assert (stopped["mode"], stopped["source"]) == ("barge", "system"), stopped

    def levels(listener: str, speaker: str, start: float, end: float) -> np.ndarray:
        return between(tone_levels(heard[listener], TONES[speaker]), start - since[listener], end - since[listener])

    listen = (listen_at + MARGIN, whisper_at - MARGIN)
    whisper = (whisper_at + MARGIN, barge_at - MARGIN)
    barge = (barge_at + MARGIN, end_at - MARGIN)
    report = {
        stretch: {f"{listener}<-{speaker}": round(float(np.median(levels(listener, speaker, *span))), 4)
                  for listener in TONES for speaker in TONES if listener != speaker}
        for stretch, span in (("listen", listen), ("whisper", whisper), ("barge", barge))
    }  # fmt: skip
    # The supervisor hears both parties all along.
    for span in (listen, whisper, barge):
        for speaker in ("caller", "agent"):
            assert np.mean(levels("supervisor", speaker, *span) > HEARD) > 0.9, report
    # Listening: nobody hears the supervisor.
    assert levels("agent", "supervisor", *listen).max() < UNHEARD, report
    assert levels("caller", "supervisor", *listen).max() < UNHEARD, report
    # Whispering: the agent hears the supervisor, the caller does not; the two still hear each other.
    assert np.mean(levels("agent", "supervisor", *whisper) > HEARD) > 0.9, report
    assert levels("caller", "supervisor", *whisper).max() < UNHEARD, report
    assert np.mean(levels("agent", "caller", *whisper) > HEARD) > 0.9, report
    assert np.mean(levels("caller", "agent", *whisper) > HEARD) > 0.9, report
    # Barging: everyone hears everyone.
    for listener, speaker in (("caller", "supervisor"), ("agent", "supervisor"), ("caller", "agent"),
                              ("agent", "caller")):
        assert np.mean(levels(listener, speaker, *barge) > HEARD) > 0.9, report


@pytest.mark.timeout(60)
def test_a_supervisor_rung_by_the_api_whispers_until_the_api_stops_it(tmp_path, call_pbx, phones):  # noqa: F811
    pbx, party, since = start_call(tmp_path, call_pbx, phones)
    call_id = pbx.api("/api/calls")[0]["id"]

    status, refused = api(pbx, f"/api/calls/{call_id}/monitor", "POST", {"mode": "spy", "supervisor": "1003"})
    assert status == 400 and refused["field"] == "body.mode", refused
    status, monitor = api(pbx, f"/api/calls/{call_id}/monitor", "POST", {"mode": "whisper", "supervisor": "1003"})
    assert status == 201 and monitor["state"] == "ringing", (status, monitor)
    party["supervisor"].wait_event("CALL_ESTABLISHED", 10)  # auto-answer
    since["supervisor"] = time.monotonic()
    started = wait_bus_event(pbx, "MonitorStarted", timeout=5)
    assert (started["mode"], started["source"], started["call_id"]) == ("whisper", "api", call_id), started
    whisper_at = time.monotonic()
    time.sleep(2.0)

    status, stopped = api(pbx, f"/api/monitors/{monitor['monitor_id']}", "DELETE")
    assert status == 200 and stopped["state"] == "stopped" and stopped["seconds"] > 1.5, (status, stopped)
    party["supervisor"].wait_event("CALL_CLOSED", 10)
    after_at = time.monotonic()
    assert wait_bus_event(pbx, "MonitorStopped", timeout=5)["source"] == "api"
    time.sleep(1.5)
    end_at = time.monotonic()
    party["caller"].hangup()
    party["agent"].wait_event("CALL_CLOSED", 10)
    party["caller"].wait_event("CALL_CLOSED", 10)
    heard = {name: party[name].heard() for name in ("caller", "agent")}

    def levels(listener: str, speaker: str, start: float, end: float) -> np.ndarray:
        return between(tone_levels(heard[listener], TONES[speaker]), start - since[listener], end - since[listener])

    whisper = (whisper_at + MARGIN, after_at - MARGIN)
    after = (after_at + MARGIN, end_at - MARGIN)
    report = {name: {f"{listener}<-{speaker}": round(float(np.median(levels(listener, speaker, *span))), 4)
                     for listener, speaker in (("agent", "supervisor"), ("caller", "supervisor"),
                                               ("agent", "caller"), ("caller", "agent"))}
              for name, span in (("whisper", whisper), ("after", after))}
    assert np.mean(levels("agent", "supervisor", *whisper) > HEARD) > 0.9, report
    assert levels("caller", "supervisor", *whisper).max() < UNHEARD, report
    # Stopped: the relay carries the call alone again, both ways.
    assert levels("agent", "supervisor", *after).max() < UNHEARD, report
    assert np.mean(levels("agent", "caller", *after) > HEARD) > 0.9, report
    assert np.mean(levels("caller", "agent", *after) > HEARD) > 0.9, report
    assert [event["source"] for event in bus_events(pbx, "MonitorStarted")] == ["api"]
