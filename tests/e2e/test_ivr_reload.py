"""Reloading scenarios (SIGHUP) while 20 calls sit in a menu: none is dropped, each finishes on
the version it started with, new calls get the new version, broken files are refused.

Version 1 of the scenario answers key 1 with the tone prompt "v1" (1400 Hz) and disposition
"v1"; version 2 with "v2" (1500 Hz) and "v2". The test's asyncio caller (tests/e2e/ivr/caller.py)
holds the calls with real media, so what each call heard after its key proves which version
ran it, besides the IvrStarted version and the disposition the PBX logged for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import pytest

from .calls.fixtures import bus_events, call_pbx, wait_idle  # noqa: F401 - fixtures
from .ivr import IvrCaller, ivr_config, names, open_call, write_tone_prompts

pytestmark = pytest.mark.e2e
OLD_CALLS = 20
NEW_CALLS = 3

VERSION_1 = """\
scenario "Reload line"
  language en
  prompts "prompts"
end

menu main
  greeting "greeting"
  timeout 30s
  key 1
    play "v1"
    disposition "v1"
    hangup
  end
end
"""
VERSION_2 = VERSION_1.replace('play "v1"', 'play "v2"').replace('disposition "v1"', 'disposition "v2"')
BROKEN = 'scenario "Broken"\nend\n\nblock start\n  goto nowhere\nend\n'
TYPO = VERSION_2.replace('    play "v2"', '    paly "v2"')


def wait_for_log(pbx, needle: str, count: int = 1, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while (text := pbx.log_text()).count(needle) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{needle!r} not {count} times in the PBX log:\n{pbx.log_tail(30)}")
        time.sleep(0.05)
    return text


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def started_versions(pbx) -> Counter:
    return Counter(event["version"] for event in bus_events(pbx, "IvrStarted"))


@pytest.mark.timeout(90)
def test_reload_with_20_calls_in_the_menu(tmp_path, call_pbx):  # noqa: F811
    directory = tmp_path / "scenarios"
    write_tone_prompts(directory / "prompts" / "en")
    (directory / "line.ivr").write_text(VERSION_1)
    pbx = call_pbx(ivr=ivr_config(directory, tmp_path / "tts"), routes=[{"match": "800", "scenario": "line"}])
    wait_for_log(pbx, "event=scenarios_loaded loaded=['line']")

    async def scenario():
        uac = await IvrCaller.open(pbx.sip_address, "1001", "secret1001")
        media_of = {}
        try:
            old = await asyncio.gather(*(open_call(uac, "800") for _ in range(OLD_CALLS)))
            await wait_for(lambda: started_versions(pbx)["1"] == OLD_CALLS, 10, "20 calls in version 1")
            await wait_for(lambda: sum(e["node"] == "main" for e in bus_events(pbx, "IvrNodeEntered")) == OLD_CALLS,
                           10, "20 calls in the menu")
            await asyncio.sleep(0.5)  # the greetings play

            # Version 2, and a broken scenario beside it; then reload.
            (directory / "line.ivr").write_text(VERSION_2)
            (directory / "broken.ivr").write_text(BROKEN)
            os.kill(pbx.process.pid, signal.SIGHUP)
            text = wait_for_log(pbx, "event=scenario_refused scenario=broken")
            assert "broken.ivr:5:8: error" in text and "nowhere" in text, text[-2000:]
            wait_for_log(pbx, "event=scenarios_loaded loaded=['line']", count=2)
            assert "event=scenario_refused scenario=broken kept=False" in text

            new = await asyncio.gather(*(open_call(uac, "800") for _ in range(NEW_CALLS)))
            await wait_for(lambda: started_versions(pbx)["2"] == NEW_CALLS, 10, "3 calls in version 2")

            # A typo in the file now in service: refused, version 2 stays for the next call.
            (directory / "line.ivr").write_text(TYPO)
            os.kill(pbx.process.pid, signal.SIGHUP)
            text = wait_for_log(pbx, "event=scenario_refused scenario=line kept=True")
            assert "line.ivr:10:5: error" in text and "did you mean 'play'" in text, text[-2000:]
            late = await open_call(uac, "800")
            await wait_for(lambda: started_versions(pbx)["2"] == NEW_CALLS + 1, 10, "the next call in version 2")
            new.append(late)

            calls = [*old, *new]
            dropped = [call.call_id for call, _ in calls if call.ended_ns is not None]
            assert not dropped, f"{len(dropped)} calls ended before their key: {dropped}"
            await asyncio.sleep(0.3)
            for call, media in calls:
                media.press_rfc4733("1")
                media_of[call.call_id] = media
            await wait_for(lambda: all(call.ended_ns is not None for call, _ in calls), 15, "every call hung up")
            await asyncio.sleep(0.1)
            return old, new
        finally:
            for media in media_of.values():
                media.close()
            uac.close()

    old, new = asyncio.run(asyncio.wait_for(scenario(), 60))
    for label, calls, version in (("old", old, "v1"), ("new", new, "v2")):
        for call, media in calls:
            heard = media.heard()
            assert names(heard) == ["greeting", version] and heard[-1].seconds > 0.8, (label, call.call_id, heard)

    # What the PBX says: each call's disposition is the one of the version it started with.
    version_of = {e["call_id"]: e["version"] for e in bus_events(pbx, "IvrStarted")}
    disposition_of = {e["call_id"]: e["value"] for e in bus_events(pbx, "CallDisposition")}
    assert Counter(version_of.values()) == {"1": OLD_CALLS, "2": NEW_CALLS + 1}
    assert all(disposition_of.get(call_id) == f"v{version}" for call_id, version in version_of.items()), \
        (version_of, disposition_of)
    exits = bus_events(pbx, "IvrExited")
    assert len(exits) == OLD_CALLS + NEW_CALLS + 1 and {(e["how"], e["node"]) for e in exits} == {("hangup", "main")}
    ended = bus_events(pbx, "CallEnded")
    assert len(ended) == len(exits) and {e["hangup_by"] for e in ended} == {"system"}, ended
    assert {e["call_id"] for e in ended} == set(version_of)
    wait_idle(pbx, timeout=10)
