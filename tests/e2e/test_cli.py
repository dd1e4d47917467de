"""The command line: ``pbx check`` validates configs, ``pbx run`` honours --sip-listen and signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import LOOPBACK, REPO_ROOT, PbxProcess, pbx_config, write_config
from .sipmsg import UdpSipClient, build_request, new_branch, new_call_id, new_tag

pytestmark = pytest.mark.e2e

# The contract's example config, comments included; {sip} and {admin} are free ports.
EXAMPLE_CONFIG = """\
realm: pbx.test                 # digest realm
sip:
  listen:
    - {{transport: udp, host: 127.0.0.1, port: {sip}}}
    - {{transport: tcp, host: 127.0.0.1, port: {sip}}}
registrar:
  min_expires: 60               # shorter REGISTER expiry gets 423 Interval Too Brief with Min-Expires
  max_expires: 7200
  default_expires: 3600
auth:
  nonce_lifetime: 300           # seconds; expired nonce -> new 401 with stale=true
admin:
  listen: {{host: 127.0.0.1, port: {admin}}}
extensions:
  "1001": {{password: secret1001, name: Alice}}
  "1002": {{password: secret1002}}
"""


def _pbx_check(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "pbx", "check", "--config", str(config)],
        check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def _example(tmp_path: Path, ports, name: str = "example.yaml", text: str | None = None) -> Path:
    path = tmp_path / name
    path.write_text(text if text is not None else EXAMPLE_CONFIG.format(sip=ports.port(), admin=ports.port()))
    return path


@pytest.mark.timeout(30)
def test_check_accepts_the_example_config(tmp_path, ports):
    result = _pbx_check(_example(tmp_path, ports))
    assert result.returncode == 0, result
    assert "ok" in result.stdout.lower(), result


@pytest.mark.timeout(30)
def test_check_accepts_the_shipped_example(tmp_path):
    shipped = REPO_ROOT / "config.example.yaml"
    if not shipped.exists():
        pytest.skip("no config.example.yaml in the repository root yet")
    result = _pbx_check(shipped)
    assert result.returncode == 0, result
    assert "ok" in result.stdout.lower(), result


def _line_of(text: str, needle: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


TYPOS = [
    # (id, original fragment, typo fragment, key that must be named)
    ("top-level", "registrar:\n", "registar:\n", "registar"),
    ("nested", "  max_expires: 7200", "  max_expire: 7200", "max_expire"),  # not the first key
    ("in-a-list", "{transport: tcp, host: 127.0.0.1,", "{transport: tcp, hots: 127.0.0.1,", "hots"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("original", "typo", "key"), [t[1:] for t in TYPOS], ids=[t[0] for t in TYPOS])
def test_check_names_a_typo_key_and_its_line(tmp_path, ports, original, typo, key):
    text = EXAMPLE_CONFIG.format(sip=ports.port(), admin=ports.port())
    assert original in text
    text = text.replace(original, typo, 1)
    line = _line_of(text, key + ":")
    result = _pbx_check(_example(tmp_path, ports, "typo.yaml", text))
    output = result.stdout + result.stderr
    assert result.returncode == 2, result
    assert "Traceback" not in output, output
    assert key in output, output
    assert re.search(rf"(?i)(line[ :]*{line}\b|:{line}(:|\b))", output), f"line {line} not named:\n{output}"


@pytest.mark.timeout(30)
def test_check_rejects_a_wrongly_typed_value(tmp_path, ports):
    text = EXAMPLE_CONFIG.format(sip=ports.port(), admin=ports.port()).replace("min_expires: 60", "min_expires: sixty")
    result = _pbx_check(_example(tmp_path, ports, "badtype.yaml", text))
    output = result.stdout + result.stderr
    assert result.returncode == 2, result
    assert "min_expires" in output and "Traceback" not in output, output
    assert re.search(rf"(?i)(line[ :]*{_line_of(text, 'sixty')}\b|:{_line_of(text, 'sixty')}(:|\b))", output), output


def _options(port: int) -> bytes:
    return build_request(
        f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0",
        [
            ("Via", f"SIP/2.0/UDP {LOOPBACK}:9;branch={new_branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:probe@{LOOPBACK}>;tag={new_tag()}"),
            ("To", f"<sip:{LOOPBACK}:{port}>"),
            ("Call-ID", new_call_id()),
            ("CSeq", "1 OPTIONS"),
        ],
    )


@pytest.mark.timeout(60)
def test_sip_listen_replaces_the_configured_listeners(tmp_path, ports):
    configured, overridden, admin = ports.port(), ports.port(), ports.port()
    config = pbx_config(configured, admin, {"1001": {"password": "secret1001"}})
    pbx = PbxProcess(
        config_path=write_config(tmp_path / "pbx.yaml", config),
        log_path=tmp_path / "pbx.log",
        sip_port=overridden,
        admin_port=admin,
    )
    try:
        pbx.start()
        with UdpSipClient((LOOPBACK, overridden)) as client:
            response = client.request(_options(overridden))
        assert response is not None, "no answer on the --sip-listen UDP port"
        with socket.create_connection((LOOPBACK, overridden), timeout=2):
            pass  # TCP listens on the same port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, configured))  # the configured port stayed free
    finally:
        pbx.stop()


@pytest.mark.timeout(60)
def test_run_names_a_database_it_cannot_reach_without_its_password(tmp_path, ports):
    unused = ports.port()  # nothing listens there
    config = pbx_config(ports.port(), ports.port(), {"1001": {"password": "secret1001"}},
                        database=f"postgresql://pbx:hunter2@{LOOPBACK}:{unused}/pbx")
    pbx = PbxProcess(config_path=write_config(tmp_path / "pbx.yaml", config), log_path=tmp_path / "pbx.log",
                     sip_port=ports.port(), admin_port=ports.port())
    result = subprocess.run(pbx.command(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 2, result.stderr
    assert f"cannot open the database postgresql://pbx:***@{LOOPBACK}:{unused}/pbx" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stops_cleanly_on_signal(start_pbx, signum):
    pbx = start_pbx()
    started = time.monotonic()
    rc = pbx.stop(signum=signum, grace=5.0)
    elapsed = time.monotonic() - started
    assert rc == 0, f"rc={rc}\n{pbx.log_tail()}"
    assert elapsed < 3.0, f"took {elapsed:.1f}s to stop"
    assert "Traceback" not in pbx.log_text(), pbx.log_tail()
