"""SIP over TLS with baresip 1.0.0, and the admin API over HTTPS and wss:, against a real PBX process.

The certificates come from a test CA made here (trustme): a leaf for 127.0.0.1 and localhost.
The PBX listens for SIP on UDP and TLS, and serves the admin API with the same certificate.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import trustme

from .baresip import Account, Baresip
from .calls.audio import tone_wav
from .calls.fixtures import call_extensions, free_rtp_range, media_counters
from .conftest import _test_failed
from .harness import ADMIN_TOKEN, LOOPBACK, PbxProcess, PortPicker, pbx_config, write_config

pytestmark = pytest.mark.e2e


class TlsPbx(PbxProcess):
    """A PBX whose listeners all come from its config: `--sip-listen` would replace the TLS one."""

    tls_port: int = 0

    def command(self) -> list[str]:
        return [*self.program, "run", "--config", str(self.config_path), "--sip-trace", *self.extra_args]

    @property
    def admin_url(self) -> str:
        return f"https://localhost:{self.admin_port}"


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    authority = trustme.CA()
    leaf = authority.issue_cert("127.0.0.1", "localhost")
    files = {"certificate": tmp_path / "pbx.pem", "private_key": tmp_path / "pbx.key", "ca": tmp_path / "ca.pem"}
    leaf.cert_chain_pems[0].write_to_path(files["certificate"])
    leaf.private_key_pem.write_to_path(files["private_key"])
    authority.cert_pem.write_to_path(files["ca"])
    return files


@pytest.fixture
def mediaenc(request) -> str | None:
    """How the phones' media is carried: plain RTP, or SRTP with SDES keys (RFC 4568) over TLS."""
    return getattr(request, "param", None)


@pytest.fixture
def tls_pbx(request, tmp_path: Path, ports: PortPicker, tls_files, mediaenc):
    sip_port, tls_port, admin_port = ports.port(), ports.port(), ports.port()
    low, high = free_rtp_range()
    pem = {"certificate": str(tls_files["certificate"]), "private_key": str(tls_files["private_key"])}
    config = pbx_config(
        sip_port, admin_port, call_extensions(x1002={"srtp": mediaenc is not None}),
        sip={"listen": [{"transport": "udp", "host": LOOPBACK, "port": sip_port},
                        {"transport": "tls", "host": LOOPBACK, "port": tls_port, **pem}]},
        admin={"listen": {"host": LOOPBACK, "port": admin_port}, "tls": pem},
        media={"rtp_host": LOOPBACK, "rtp_ports": {"low": low, "high": high}},
    )  # fmt: skip
    pbx = TlsPbx(config_path=write_config(tmp_path / "pbx.yaml", config), log_path=tmp_path / "pbx.log",
                 sip_port=sip_port, admin_port=admin_port)
    pbx.tls_port = tls_port
    pbx.start()
    yield pbx
    pbx.stop()
    if _test_failed(request.node):
        print(f"\n--- PBX log tail ---\n{pbx.log_tail(80)}")
    assert "Traceback (most recent call last)" not in pbx.log_text(), pbx.log_tail(80)


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def https_get(pbx: TlsPbx, path: str, ca: Path) -> dict:
    request = urllib.request.Request(pbx.admin_url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5, context=trusting(ca)) as response:
        return json.loads(response.read())


class EventStream(threading.Thread):
    """The admin event stream over wss:, read on its own loop; `events` fills as frames arrive."""

    def __init__(self, pbx: TlsPbx, ca: Path, types: str) -> None:
        super().__init__(daemon=True)
        self.url = f"wss://localhost:{pbx.admin_port}/api/events?types={types}&access_token={ADMIN_TOKEN}"
        self.context = trusting(ca)
        self.events: list[dict] = []
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._closing = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._read())
        except BaseException as error:  # reported by the test, not lost in a thread
            self.error = error
            self.connected.set()

    async def _read(self) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url, ssl=self.context) as socket:
            self.connected.set()
            while not self._closing.is_set():
                try:
                    message = await socket.receive(timeout=0.2)
                except asyncio.TimeoutError:
                    continue
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                self.events.extend(json.loads(line)["event"] for line in message.data.splitlines() if line)

    def stop(self) -> None:
        self._closing.set()
        self.join(5)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mediaenc", [None, "srtp-mand"], ids=["rtp", "srtp"], indirect=True)
def test_two_baresip_phones_register_over_tls_and_call_through_the_pbx(tls_pbx, tls_files, ports, tmp_path,
                                                                       mediaenc):
    stream = EventStream(tls_pbx, tls_files["ca"], "RegistrationAdded,CallAnswered")
    stream.start()
    assert stream.connected.wait(5) and stream.error is None, stream.error
    registrar = (LOOPBACK, tls_pbx.tls_port)
    # A tone as each microphone (aufile hangs up at its end, so it outlasts the call).
    source = f"aufile,{tone_wav(tmp_path / 'audio', seconds=30)}"
    caller = Baresip.start(tmp_path, ports, [Account("1001", "secret1001", registrar, transport="tls",
                                                     mediaenc=mediaenc)],
                           lifetime=40, name="caller", ca=tls_files["ca"], audio_source=source)
    callee = Baresip.start(tmp_path, ports, [Account("1002", "secret1002", registrar, transport="tls",
                                                     answermode="auto", mediaenc=mediaenc)],
                           lifetime=40, name="callee", ca=tls_files["ca"], audio_source=source)
    try:
        caller.wait_registered(1)
        callee.wait_registered(1)
        bindings = {entry["extension"]: entry for entry in https_get(tls_pbx, "/api/registrations", tls_files["ca"])}
        assert {bindings[number]["transport"] for number in ("1001", "1002")} == {"tls"}, bindings
        wait_until(lambda: len(stream.events) >= 2, 5, "two RegistrationAdded events over wss:")
        assert {(event["extension"], event["transport"]) for event in stream.events
                if event["type"] == "RegistrationAdded"} == {("1001", "tls"), ("1002", "tls")}

        caller.ctrl.command("dial", f"sip:1002@{LOOPBACK}:{tls_pbx.tls_port};transport=tls")
        for phone in (caller, callee):
            established = phone.ctrl.wait_event(lambda event: event.get("type") == "CALL_ESTABLISHED", 10)
            assert established is not None, phone.describe()
        time.sleep(1.0)  # a second of audio: 50 packets each way at 20 ms
        for phone in (caller, callee):
            counters = media_counters(phone)
            assert counters["sent"] >= 25 and counters["received"] >= 25, (phone.directory.name, counters)
        caller.ctrl.command("hangup")
        callee.ctrl.wait_event(lambda event: event.get("type") == "CALL_CLOSED", 10)
        # Every SIP message of the call went over TLS: the PBX's trace shows no other transport for it.
        trace = tls_pbx.log_text()
        assert re.search(r"INVITE sip:1002@[^\n]*SIP/2\.0\r?\nVia: SIP/2\.0/TLS", trace), tls_pbx.log_tail(40)
        if mediaenc:
            # Both legs SRTP (RTP/SAVP with a crypto line each way), and their keys went over TLS only.
            assert len(re.findall(r"m=audio \d+ RTP/SAVP", trace)) >= 4, tls_pbx.log_tail(60)
            assert "a=crypto:" in trace and "not TLS" not in trace, tls_pbx.log_tail(60)
    finally:
        stream.stop()
        caller.quit()
        callee.quit()


@pytest.mark.timeout(30)
def test_the_admin_api_is_served_over_https_only(tls_pbx, tls_files):
    status = https_get(tls_pbx, "/api/status", tls_files["ca"])
    assert "tcp_connections" in status
    page = urllib.request.urlopen(tls_pbx.admin_url + "/wallboard", timeout=5, context=trusting(tls_files["ca"]))
    assert page.status == 200
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://{LOOPBACK}:{tls_pbx.admin_port}/api/status", timeout=5)
    with pytest.raises(urllib.error.URLError) as untrusted:  # a client that does not trust our CA
        urllib.request.urlopen(tls_pbx.admin_url + "/api/status", timeout=5, context=ssl.create_default_context())
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
