"""The call-test harness proves itself without the PBX.

Two baresip phones call each other directly by IP, each plays its own espeak sentence and records
what it hears, and the correlation check finds each side's audio in the other's recording (and
not in its own).  The sipp caller runs against a digest-challenging stub, and the sipp callee
against sipp's built-in caller.  When these pass and a PBX call test fails, the fault is on the
PBX side.
"""

from __future__ import annotations

import time

import pytest

from .calls import audio
from .calls.fixtures import media_counters, phones  # noqa: F401 - fixture
from .calls.sipp_calls import ANSWER, AUTH_STUB, run_caller
from .harness import LOOPBACK
from .sipp_runner import run_sipp, start_sipp

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(60)
def test_baresip_direct_call_carries_audio_both_ways(tmp_path, phones):  # noqa: F811
    alpha, bravo, charlie = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo", "charlie"))
    caller = phones("caller", "a", None, source=alpha)
    callee = phones("callee", "b", None, source=bravo)

    caller.dial(callee.direct_uri)
    callee.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(4)
    caller.hangup()
    callee.wait_event("CALL_CLOSED", 10)
    caller.wait_event("CALL_CLOSED", 10)

    unrelated = audio.read_wav(charlie)
    audio.assert_heard(caller.sent(), callee.heard(), unrelated=[callee.sent(), unrelated], what="callee hears caller")
    audio.assert_heard(callee.sent(), caller.heard(), unrelated=[caller.sent(), unrelated], what="caller hears callee")


@pytest.mark.timeout(60)
def test_baresip_direct_hold_and_resume_counters(tmp_path, phones):  # noqa: F811
    """What test_hold_and_resume relies on: baresip 1.0.0 pauses RTP both ways while holding
    and the ``audio_debug`` counters grow again after ``resume``."""
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    caller = phones("caller", "a", None, source=alpha)
    callee = phones("callee", "b", None, source=bravo)
    caller.dial(callee.direct_uri)
    callee.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(1.0)

    caller.hold()
    time.sleep(1.0)
    held = media_counters(caller)["received"]
    time.sleep(1.0)
    assert media_counters(caller)["received"] - held < 20
    caller.resume()
    time.sleep(1.0)
    before = {phone.name: media_counters(phone)["received"] for phone in (caller, callee)}
    time.sleep(2.0)
    after = {phone.name: media_counters(phone)["received"] for phone in (caller, callee)}
    assert all(after[name] - before[name] > 50 for name in before), (before, after)
    caller.hangup()
    callee.wait_event("CALL_CLOSED", 10)


@pytest.mark.timeout(60)
def test_sipp_caller_against_challenging_stub(tmp_path, ports):
    stub_port = ports.port()
    users = tmp_path / "stub_users.csv"
    users.write_text("SEQUENTIAL\n1001;secret1001\n")
    with start_sipp(
        ["-sf", str(AUTH_STUB), "-inf", str(users), "-infindex", users.name, "0"],
        ports=ports, workdir=tmp_path, name="stub", local_port=stub_port, calls=100, timeout=30,
    ) as stub:  # fmt: skip
        time.sleep(0.3)
        run = run_caller(
            (LOOPBACK, stub_port), ports, tmp_path, caller="1001", password="secret1001", callee="1002",
            calls=100, rate=100, limit=50, pause_ms=100, timeout=30,
        )  # fmt: skip
        assert run.returncode == 0, run.describe() + "\n" + stub.describe()
        stats = run.stats()
        assert (stats.successful, stats.failed) == (100, 0), run.describe()
        assert stub.wait() == 0, stub.describe()


@pytest.mark.timeout(60)
def test_sipp_callee_against_builtin_caller(tmp_path, ports):
    callee_port = ports.port()
    with start_sipp(
        ["-sf", str(ANSWER)], ports=ports, workdir=tmp_path, name="uas", local_port=callee_port, calls=20, timeout=30
    ) as callee:
        time.sleep(0.3)
        run = run_sipp(
            ["-sn", "uac", "-r", "20", "-d", "100"],
            ports=ports, workdir=tmp_path, name="uac", remote=(LOOPBACK, callee_port), calls=20, timeout=30,
        )  # fmt: skip
        assert run.returncode == 0, run.describe()
        assert callee.wait() == 0, callee.describe()
