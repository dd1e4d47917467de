"""SIP trunks against a sipp "provider" on loopback (pbx/trunks/, docs/trunks.md).

1. The provider is our registrar: it challenges our REGISTER (401), checks the digest, grants
   3 s, and checks the refresh that comes at half of it.
2. The provider calls a DID from its address: not challenged, routed by the inbound routes to
   a scenario that answers and speaks; sipp echoes the audio, so the PBX receives back what it
   sent (audio flowed both ways).
3. Extension 1001 dials 0033123456789: the route `_00X.` strips 00 and prepends +, the provider
   sees sip:+33123456789 with our caller id in From, challenges the INVITE (401) and accepts the
   trunk's credentials.
4. Extension 1002 (no outbound permission) gets 403; a stranger's INVITE to the same number is
   challenged and goes nowhere; the provider sees nothing of either.
"""

from __future__ import annotations

import time

import pytest

from .calls.fixtures import call_extensions, call_pbx, wait_bus_event, wait_idle  # noqa: F401 - fixtures
from .calls.sipp_calls import CALLER, write_calls_csv
from .harness import require_binary
from .sipp_runner import SCENARIOS, run_sipp, start_sipp

pytestmark = pytest.mark.e2e

REGISTRAR = SCENARIOS / "trunk_registrar.xml"
PROVIDER_CALL = SCENARIOS / "trunk_provider_call.xml"
PROVIDER_UAS = SCENARIOS / "trunk_provider_uas.xml"
REFUSED = SCENARIOS / "trunk_caller_refused.xml"
STRANGER = SCENARIOS / "trunk_stranger.xml"
CREDENTIALS = ["-key", "user", "acme", "-key", "password", "s3cret"]

SUPPORT = """\
scenario "Support"
  language en
end

block start
  answer
  say "Welcome to support. All our agents are busy, please hold the line while we find one."
  hangup
end
"""


def trunk_config(provider_port: int, **trunk) -> dict:
    """A trunk to the sipp provider on loopback, recognised by its address and port."""
    return {"provider": {"host": f"127.0.0.1:{provider_port}", "caller_id": "+33100000000", "channels": 2,
                         "auth": {"username": "acme", "password": "s3cret"}, **trunk}}


def outbound(pbx_trunks: dict) -> dict:
    return {
        "trunks": pbx_trunks,
        "outbound_routes": [{"name": "international", "match": "_00X.", "trunks": ["provider"], "strip": 2,
                             "prepend": "+"}],
        "extensions": call_extensions(x1001={"outbound": ["international"]}),
    }


@pytest.mark.timeout(30)
def test_we_register_to_the_provider_answer_its_challenge_and_refresh(tmp_path, ports, call_pbx):  # noqa: F811
    provider_port = ports.port()
    registrar = start_sipp(["-sf", str(REGISTRAR), *CREDENTIALS], ports=ports, workdir=tmp_path, name="registrar",
                           local_port=provider_port, timeout=20)
    time.sleep(0.3)  # sipp binds within a few ms
    started = time.monotonic()
    pbx = call_pbx(trunks={"provider": {"register": {"servers": [f"127.0.0.1:{provider_port}"], "username": "acme",
                                                     "password": "s3cret", "expires": 60}}})
    first = wait_bus_event(pbx, "TrunkRegistered", timeout=5, trunk="provider", refresh="False")
    assert first["expires"] == "3"  # what the provider granted, not the 60 s we asked for
    assert pbx.api("/api/status")["trunks"]["provider"]["registration"]["state"] == "registered"
    wait_bus_event(pbx, "TrunkRegistered", timeout=5, trunk="provider", refresh="True", expires="60")
    assert registrar.wait() == 0, registrar.describe()
    assert time.monotonic() - started < 10
    messages = (tmp_path / "registrar_messages.log").read_text()
    assert messages.count("REGISTER sip:127.0.0.1") == 3  # first, with credentials, the refresh
    assert "403 Forbidden" not in messages


@pytest.mark.timeout(30)
def test_a_provider_call_to_a_did_reaches_the_support_scenario_and_audio_flows(tmp_path, ports, call_pbx):  # noqa: F811
    require_binary("espeak-ng", "espeak-ng")  # the scenario speaks its greeting
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "support.ivr").write_text(SUPPORT)
    provider_port = ports.port()
    pbx = call_pbx(trunks=trunk_config(provider_port),
                   ivr={"scenarios": str(scenarios), "tts_cache": str(tmp_path / "tts")},
                   routes=[{"match": "33123000000", "scenario": "support"}])  # the DID arrives as +33123000000
    run = run_sipp(["-sf", str(PROVIDER_CALL), "-s", "+33123000000", "-rtp_echo"], ports=ports, workdir=tmp_path,
                   name="provider", remote=pbx.sip_address, local_port=provider_port, timeout=20)
    assert run.returncode == 0, run.describe()
    messages = (tmp_path / "provider_messages.log").read_text()
    assert "407 Proxy" not in messages and "SIP/2.0 200 OK" in messages  # a provider is not challenged
    started = wait_bus_event(pbx, "IvrStarted", timeout=5, scenario="support")
    quality = wait_bus_event(pbx, "CallQuality", timeout=5, call_id=started["call_id"], party="caller")
    assert int(quality["packets"]) > 50, quality  # 2.5 s of our speech came back from the provider
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(30)
def test_an_extension_calls_out_with_our_caller_id_and_the_trunks_credentials(tmp_path, ports, call_pbx):  # noqa: F811
    provider_port = ports.port()
    provider = start_sipp(["-sf", str(PROVIDER_UAS), *CREDENTIALS], ports=ports, workdir=tmp_path, name="provider",
                          local_port=provider_port, timeout=20)
    time.sleep(0.3)
    pbx = call_pbx(**outbound(trunk_config(provider_port)))
    calls = write_calls_csv(tmp_path / "calls.csv", "1001", "secret1001", "0033123456789")
    run = run_sipp(["-sf", str(CALLER), "-inf", str(calls), "-d", "500"], ports=ports, workdir=tmp_path,
                   name="caller", remote=pbx.sip_address, timeout=20)
    assert run.returncode == 0, run.describe()
    assert provider.wait() == 0, provider.describe()
    messages = (tmp_path / "provider_messages.log").read_text()
    invites = [block for block in messages.split("\n\n") if "INVITE sip:" in block and "CSeq: 2 INVITE" in block]
    assert invites, messages
    assert f"INVITE sip:+33123456789@127.0.0.1:{provider_port} SIP/2.0" in invites[0]
    assert "From: <sip:+33100000000@pbx.test>" in invites[0]
    assert 'Authorization: Digest username="acme"' in invites[0]
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(30)
def test_no_permission_and_strangers_are_refused_before_any_trunk_is_tried(tmp_path, ports, call_pbx):  # noqa: F811
    provider_port = ports.port()
    provider = start_sipp(["-sf", str(PROVIDER_UAS), *CREDENTIALS], ports=ports, workdir=tmp_path, name="provider",
                          local_port=provider_port, timeout=20)
    time.sleep(0.3)
    pbx = call_pbx(**outbound(trunk_config(provider_port)))
    calls = write_calls_csv(tmp_path / "refused.csv", "1002", "secret1002", "0033123456789")
    refused = run_sipp(["-sf", str(REFUSED), "-inf", str(calls)], ports=ports, workdir=tmp_path, name="refused",
                       remote=pbx.sip_address, timeout=15)
    assert refused.returncode == 0, refused.describe()
    assert "may not call out" in (tmp_path / "refused_messages.log").read_text()  # the 403's Warning
    stranger = run_sipp(["-sf", str(STRANGER), "-s", "0033123456789"], ports=ports, workdir=tmp_path,
                        name="stranger", remote=pbx.sip_address, timeout=15)
    assert stranger.returncode == 0, stranger.describe()
    time.sleep(0.5)  # anything sent to the provider would be there by now
    provider.stop()
    log = tmp_path / "provider_messages.log"
    assert not log.exists() or "INVITE" not in log.read_text()
    assert "event=outbound_refused extension=1002" in pbx.log_text()
    assert "event=CallStarted" in pbx.log_text() and "event=trunk_dialled" not in pbx.log_text()
