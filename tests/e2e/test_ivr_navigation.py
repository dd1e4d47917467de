"""IVR on live calls: callers dial the routed number 800, press keys and end where the scenario says.

The scenario (tests/e2e/ivr/scenarios.py) is a support line whose recorded prompts are pure
tones of distinct frequencies, so what the caller received proves which prompts it heard, in
order. Callers: baresip (RFC 4733 by ``sndcode``; it records what it hears), sipp (SIP INFO and
a shipped RFC 2833 pcap), and the test's own asyncio caller (tests/e2e/ivr/caller.py: PCMU
audio on a 20 ms grid, RFC 4733 events or in-band DTMF tones, kernel receive timestamps) for
barge-in timing, timeouts, failures, in-band digits and the calendar. The PBX runs with
``--ivr-time`` so the calendar branch does not depend on when the test runs.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from .calls import audio
from .calls.fixtures import bus_events, call_pbx, dial_uri, phones, wait_bus_event, wait_idle  # noqa: F401
from .harness import require_binary
from .ivr import (
    HOLIDAY_TIME, OPEN_TIME, IvrCaller, example_dir, heard_segments, ivr_config, names, open_call, tone_line_dir,
    write_pcm16,
)
from .ivr.tones import quiet_noise

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
BARGE_IN_LIMIT_MS = 100.0


def tone_pbx(call_pbx, tmp_path: Path, at: str = OPEN_TIME):
    directory = tone_line_dir(tmp_path)
    return call_pbx(ivr=ivr_config(directory, tmp_path / "tts"), routes=[{"match": "800", "scenario": "tones"}],
                    extra_args=["--ivr-time", at])


def quiet_wav(tmp_path: Path) -> Path:
    """A caller's microphone: faint noise, nothing the in-band detector could take for a key."""
    return write_pcm16(tmp_path / "wav" / "quiet.wav", quiet_noise(60.0))


def events_of(pbx, name: str, call_id: str) -> list[dict[str, str]]:
    return [event for event in bus_events(pbx, name) if event.get("call_id") == call_id]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 50))


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def has_event(pbx, name: str, **expected: str) -> bool:
    return any(all(event.get(key) == value for key, value in expected.items()) for event in bus_events(pbx, name))


async def wait_event(pbx, name: str, timeout: float = 8.0, **expected: str) -> None:
    await wait_for(lambda: has_event(pbx, name, **expected), timeout, f"event={name} {expected}")


async def wait_heard(media, prompt: str, seconds: float, timeout: float = 8.0) -> None:
    """Until ``prompt`` has been arriving for ``seconds`` (its latest stretch)."""
    def playing() -> bool:
        heard = media.heard()
        return bool(heard) and heard[-1].name == prompt and heard[-1].seconds >= seconds
    await wait_for(playing, timeout, f"{prompt!r} playing for {seconds}s (heard {names(media.heard())})")


async def ended(uac: IvrCaller, call, timeout: float = 10.0) -> None:
    await wait_for(lambda: call.ended_ns is not None, timeout, "the PBX's BYE")


# --------------------------------------------------------------------------------------------
# the test's own caller: barge-in timing, in-band, timeouts, failures, calendar


@pytest.mark.timeout(60)
def test_rfc4733_key_barges_in_within_100ms_and_a_collect_ends_the_call(tmp_path, call_pbx):  # noqa: F811
    """Key 4 (RFC 4733, a 40 ms event) during the greeting cuts it; the account collect takes
    1234# by RFC 4733; "accepted" plays, disposition account-ok, the PBX hangs up."""
    pbx = tone_pbx(call_pbx, tmp_path)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            await wait_heard(media, "greeting", 0.8)
            media.press_rfc4733("4", frames=2)
            await wait_heard(media, "enter", 0.3)
            for digit in "1234#":
                media.press_rfc4733(digit)
                await asyncio.sleep(0.15)
            await ended(uac, call)
            await asyncio.sleep(0.1)
            media.close()
            return call, media
        finally:
            uac.close()

    call, media = run(scenario())
    cut = media.cut_latency_ms("greeting", key_index=0)
    print(f"barge-in (RFC 4733, 40 ms event): greeting stopped {cut:.1f} ms after the first event packet")
    heard = media.heard()
    assert names(heard) == ["greeting", "enter", "accepted"] and heard[-1].seconds > 0.8, heard
    assert cut < BARGE_IN_LIMIT_MS, f"the greeting went on {cut:.1f} ms after the key"
    call_id = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="account")["call_id"]
    assert [e["digit"] for e in events_of(pbx, "DigitReceived", call_id)] == list("41234#")
    assert {e["source"] for e in events_of(pbx, "DigitReceived", call_id)} == {"rfc4733"}
    assert [e["key"] for e in events_of(pbx, "IvrKeyChosen", call_id)] == ["4"]
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["account-ok"]
    assert events_of(pbx, "IvrStarted", call_id)[0]["scenario"] == "tones"
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_inband_key_barges_in_and_inband_digits_fill_the_collect(tmp_path, call_pbx):  # noqa: F811
    """Key 4 as an 80 ms in-band tone in the caller's audio cuts the greeting (measured from the
    tone's first frame, so detection time included); 9999# in-band: the account is unknown."""
    pbx = tone_pbx(call_pbx, tmp_path)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            await wait_heard(media, "greeting", 0.8)
            media.press_inband("4")
            await wait_heard(media, "enter", 0.3)
            await media.press_all_inband("9999#")
            await ended(uac, call)
            media.close()
            return call, media
        finally:
            uac.close()

    call, media = run(scenario())
    cut = media.cut_latency_ms("greeting", key_index=0)
    print(f"barge-in (in-band, 80 ms tone): greeting stopped {cut:.1f} ms after the tone's first frame")
    heard = media.heard()
    assert names(heard) == ["greeting", "enter", "rejected"] and heard[-1].seconds > 0.8, heard
    assert cut < BARGE_IN_LIMIT_MS, f"the greeting went on {cut:.1f} ms after the tone started"
    call_id = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="account")["call_id"]
    digits = events_of(pbx, "DigitReceived", call_id)
    assert [(e["digit"], e["source"]) for e in digits] == [(d, "inband") for d in "49999#"], digits
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["account-unknown"]
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_silence_ends_at_max_timeouts(tmp_path, call_pbx):  # noqa: F811
    pbx = tone_pbx(call_pbx, tmp_path)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            await ended(uac, call, timeout=20)
            media.close()
            return call, media
        finally:
            uac.close()

    call, media = run(scenario())
    assert names(media.heard()) == ["greeting", "noinput", "short", "noinput", "goodbye"], media.heard()
    call_id = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="main")["call_id"]
    assert [e["attempt"] for e in events_of(pbx, "IvrNoInput", call_id)] == ["1", "2"]
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["no-input"]
    assert not events_of(pbx, "DigitReceived", call_id), "the caller's quiet audio was taken for a key"
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_invalid_keys_end_at_max_failures(tmp_path, call_pbx):  # noqa: F811
    pbx = tone_pbx(call_pbx, tmp_path)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            await wait_heard(media, "greeting", 0.5)
            media.press_rfc4733("7")
            await wait_heard(media, "short", 0.3)
            media.press_rfc4733("8")
            await ended(uac, call)
            media.close()
            return call, media
        finally:
            uac.close()

    call, media = run(scenario())
    assert names(media.heard()) == ["greeting", "invalid", "short", "invalid", "goodbye"], media.heard()
    call_id = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="main")["call_id"]
    no_match = events_of(pbx, "IvrNoMatch", call_id)
    assert [(e["digits"], e["attempt"]) for e in no_match] == [("7", "1"), ("8", "2")], no_match
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["too-many-failures"]
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("at, heard, disposition", [
    (HOLIDAY_TIME, ["closed"], "closed"),
    (OPEN_TIME, ["greeting", "goodbye"], "bye"),
])  # fmt: skip
def test_calendar_branch_at_a_fixed_time(tmp_path, call_pbx, at, heard, disposition):  # noqa: F811
    """Christmas Day 10:00 Warsaw is a holiday: the closed prompt, then hang-up; a Tuesday at the
    same hour is open: the menu, where key 3 says goodbye."""
    pbx = tone_pbx(call_pbx, tmp_path, at=at)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            if at == OPEN_TIME:
                await wait_heard(media, "greeting", 0.5)
                media.press_rfc4733("3")
            await ended(uac, call)
            media.close()
            return call, media
        finally:
            uac.close()

    call, media = run(scenario())
    assert names(media.heard()) == heard, media.heard()
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup")
    assert exited["node"] == ("start" if at == HOLIDAY_TIME else "main"), exited
    assert [e["value"] for e in events_of(pbx, "CallDisposition", exited["call_id"])] == [disposition]
    entered = [e["node"] for e in events_of(pbx, "IvrNodeEntered", exited["call_id"])]
    assert ("main" in entered) == (at == OPEN_TIME), entered
    wait_idle(pbx, timeout=5)


# --------------------------------------------------------------------------------------------
# baresip: RFC 4733 from a real softphone, what it heard recorded by the phone itself


def wait_entries(pbx, node: str, count: int, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(event.get("node") == node for event in bus_events(pbx, "IvrNodeEntered")) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"menu {node} not entered {count} times: {bus_events(pbx, 'IvrNodeEntered')}")
        time.sleep(0.05)


@pytest.mark.timeout(90)
def test_baresip_walks_the_sub_menu_back_and_top_then_hangs_up(tmp_path, call_pbx, phones):  # noqa: F811
    """1 → sub-menu, * → back to main, 1 → sub-menu, 9 → top (main), 3 → goodbye and hang-up;
    the phone's recording holds the prompts in exactly that order."""
    pbx = tone_pbx(call_pbx, tmp_path)
    phone = phones("phone1001", "1001", pbx, source=quiet_wav(tmp_path))
    phone.dial(dial_uri(pbx, "800"))
    phone.wait_event("CALL_ESTABLISHED", 10)
    for key, node, count in [("1", "sub", 1), ("*", "main", 2), ("1", "sub", 2), ("9", "main", 3), ("3", None, 0)]:
        time.sleep(0.7)  # let the prompt play a while
        phone.command("sndcode", key)
        if node is not None:
            wait_entries(pbx, node, count)
    phone.wait_event("CALL_CLOSED", 15)
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="main")
    call_id = exited["call_id"]
    keys = [(e["menu"], e["key"]) for e in events_of(pbx, "IvrKeyChosen", call_id)]
    assert keys == [("main", "1"), ("sub", "*"), ("main", "1"), ("sub", "9"), ("main", "3")], keys
    assert {e["source"] for e in events_of(pbx, "DigitReceived", call_id)} == {"rfc4733"}
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["bye"]
    wait_idle(pbx, timeout=5)
    heard = heard_segments(phone.heard())
    assert names(heard) == ["greeting", "sub", "greeting", "sub", "greeting", "goodbye"], heard
    assert heard[-1].seconds > 0.8, f"goodbye was cut short: {heard[-1]}"


@pytest.mark.timeout(90)
def test_baresip_key_2_dials_extension_1002_which_answers(tmp_path, call_pbx, phones):  # noqa: F811
    """Key 2 dials 1002; its phone answers and the caller then hears 1002's tone (1700 Hz)."""
    pbx = tone_pbx(call_pbx, tmp_path)
    tones = {"greeting": (400, 0), "callee": (1700, 0)}
    callee_wav = audio.tone_wav(tmp_path / "wav", "callee", hz=1700)
    caller = phones("phone1001", "1001", pbx, source=quiet_wav(tmp_path))
    callee = phones("phone1002", "1002", pbx, source=callee_wav)
    caller.dial(dial_uri(pbx, "800"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    wait_entries(pbx, "main", 1)
    time.sleep(0.7)
    caller.command("sndcode", "2")
    callee.wait_event("CALL_ESTABLISHED", 10)
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="dial", node="main")
    time.sleep(2.0)
    caller.hangup()
    callee.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "CallEnded", timeout=5, call_id=exited["call_id"])
    wait_idle(pbx, timeout=5)
    heard = heard_segments(caller.heard(), tones)
    assert names(heard) == ["greeting", "callee"] and heard[-1].seconds > 1.0, heard


# --------------------------------------------------------------------------------------------
# sipp: a shipped RFC 2833 pcap, then SIP INFO


@pytest.mark.timeout(60)
def test_sipp_rfc2833_pcap_and_sip_info_keys(tmp_path, ports, call_pbx):  # noqa: F811
    require_binary("sipp", "sip-tester")
    pbx = tone_pbx(call_pbx, tmp_path)
    host, port = pbx.sip_address
    result = subprocess.run(
        ["sipp", f"{host}:{port}", "-sf", str(ROOT / "tests/e2e/sipp/ivr_keys_info.xml"), "-s", "800",
         "-au", "1001", "-ap", "secret1001", "-i", "127.0.0.1", "-p", str(ports.port()), "-cp", str(ports.port()),
         "-mi", "127.0.0.1", "-mp", str(ports.port()), "-m", "1", "-nostdin", "-timeout", "40s", "-timeout_error"],
        cwd=tmp_path, capture_output=True, text=True, timeout=50,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="account")
    call_id = exited["call_id"]
    digits = [(e["digit"], e["source"]) for e in events_of(pbx, "DigitReceived", call_id)]
    assert digits == [("4", "rfc4733")] + [(d, "info") for d in "1234#"], digits
    assert [e["key"] for e in events_of(pbx, "IvrKeyChosen", call_id)] == ["4"]
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["account-ok"]
    wait_idle(pbx, timeout=5)


# --------------------------------------------------------------------------------------------
# the shipped example: examples/scenarios/support.ivr (TTS prompts, so checked by events)


@pytest.fixture
def example_prompts(tmp_path) -> Path:
    require_binary("espeak-ng", "espeak-ng")
    rendered = tmp_path / "rendered"
    subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(ROOT / "examples/prompts/en.txt"),
                    str(rendered / "en")], check=True, capture_output=True, timeout=100)
    return rendered


def support_pbx(call_pbx, tmp_path: Path, prompts: Path, at: str):
    directory = example_dir(tmp_path / "example", "support", prompts)
    return call_pbx(ivr=ivr_config(directory, tmp_path / "tts", prompts=str(tmp_path / "example" / "var" / "prompts")),
                    routes=[{"match": "800", "scenario": "support"}], extra_args=["--ivr-time", at])


@pytest.mark.timeout(90)
def test_example_support_line_billing_back_and_operator(tmp_path, call_pbx, phones, example_prompts):  # noqa: F811
    """examples/scenarios/support.ivr in hours: 1 → billing, * → back to main, 0 → dial 1001,
    whose phone answers."""
    pbx = support_pbx(call_pbx, tmp_path, example_prompts, OPEN_TIME)
    operator = phones("phone1001", "1001", pbx, source=quiet_wav(tmp_path))
    caller = phones("phone1002", "1002", pbx, source=quiet_wav(tmp_path))
    caller.dial(dial_uri(pbx, "800"))
    caller.wait_event("CALL_ESTABLISHED", 10)
    started = wait_bus_event(pbx, "IvrStarted", timeout=5, scenario="support", version="1")
    for key, node, count in [("1", "billing", 1), ("*", "main", 2), ("0", None, 0)]:
        time.sleep(1.0)
        caller.command("sndcode", key)
        if node is not None:
            wait_entries(pbx, node, count, timeout=15)
        else:
            wait_entries(pbx, "main", 1)
    wait_entries(pbx, "main", 1)
    operator.wait_event("CALL_ESTABLISHED", 15)
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="dial", node="main")
    assert exited["call_id"] == started["call_id"]
    keys = [(e["menu"], e["key"]) for e in events_of(pbx, "IvrKeyChosen", started["call_id"])]
    assert keys == [("main", "1"), ("billing", "*"), ("main", "0")], keys
    time.sleep(1.0)
    caller.hangup()
    operator.wait_event("CALL_CLOSED", 10)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_example_support_line_is_closed_on_christmas(tmp_path, call_pbx, example_prompts):  # noqa: F811
    pbx = support_pbx(call_pbx, tmp_path, example_prompts, HOLIDAY_TIME)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            await ended(uac, call, timeout=30)
            media.close()
            return media
        finally:
            uac.close()

    media = run(scenario())
    exited = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="start")
    assert [e["value"] for e in events_of(pbx, "CallDisposition", exited["call_id"])] == ["closed"]
    assert not any(e["node"] == "main" for e in events_of(pbx, "IvrNodeEntered", exited["call_id"]))
    assert len(media.received.payloads) > 100, "the closed message was not played"
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_sip_info_keys_from_the_python_caller(tmp_path, call_pbx):  # noqa: F811
    """Key 4 and the account 1234# by SIP INFO, with the caller's audio flowing."""
    pbx = tone_pbx(call_pbx, tmp_path)

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        try:
            call, media = await open_call(uac, "800")
            await wait_heard(media, "greeting", 0.5)
            assert await uac.info(call, "4") == 200
            await wait_heard(media, "enter", 0.3)
            for digit in "1234#":
                assert await uac.info(call, digit) == 200
                await asyncio.sleep(0.1)
            await ended(uac, call)
            media.close()
            return media
        finally:
            uac.close()

    media = run(scenario())
    heard = media.heard()
    assert names(heard) == ["greeting", "enter", "accepted"] and heard[-1].seconds > 0.8, heard
    call_id = wait_bus_event(pbx, "IvrExited", timeout=5, how="hangup", node="account")["call_id"]
    digits = [(e["digit"], e["source"]) for e in events_of(pbx, "DigitReceived", call_id)]
    assert digits == [(d, "info") for d in "41234#"], digits
    assert [e["value"] for e in events_of(pbx, "CallDisposition", call_id)] == ["account-ok"]
    wait_idle(pbx, timeout=5)
