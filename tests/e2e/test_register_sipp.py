"""sipp registers 100 distinct users with digest auth, over UDP and over TCP; a wrong password gets 403."""

from __future__ import annotations

import pytest

from .harness import LOOPBACK, extensions_config, wait_for
from .sipp_runner import SCENARIOS, run_sipp, write_users_csv

pytestmark = pytest.mark.e2e

EXTENSIONS = range(2000, 2100)


def _password(number: int) -> str:
    return f"pw{number}-{number * 7919 % 10007:05d}"


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("transport", "sipp_transport"), [("udp", "u1"), ("tcp", "t1")])
def test_sipp_registers_100_users(start_pbx, ports, tmp_path, transport, sipp_transport):
    pbx = start_pbx(extensions=extensions_config(EXTENSIONS, password=_password))
    users_csv = write_users_csv(tmp_path / "users.csv", {str(n): _password(n) for n in EXTENSIONS})

    run = run_sipp(
        ["-sf", str(SCENARIOS / "reg_uac_auth.xml"), "-inf", str(users_csv), "-r", "100", "-l", "50"],
        ports=ports, workdir=tmp_path, name=f"register_{transport}", remote=pbx.sip_address,
        transport=sipp_transport, calls=len(EXTENSIONS), timeout=60,
    )  # fmt: skip

    assert run.returncode == 0, run.describe()
    stats = run.stats()
    assert (stats.created, stats.successful, stats.failed) == (100, 100, 0), run.describe()

    registrations = pbx.registrations()
    by_extension = {entry["extension"]: entry for entry in registrations}
    assert sorted(by_extension) == [str(n) for n in EXTENSIONS], registrations
    assert len(registrations) == 100
    for number in EXTENSIONS:
        entry = by_extension[str(number)]
        assert entry["aor"] == f"sip:{number}@pbx.test", entry
        assert entry["transport"] == transport, entry
        assert f"sip:{number}@{LOOPBACK}:" in entry["contact"], entry
        assert entry["source"].startswith(f"{LOOPBACK}:"), entry
        assert entry["user_agent"] == "sipp-e2e", entry
        assert 0 < entry["expires_in"] <= 3600, entry
    status = pbx.api("/api/status")
    assert status["registrations"] == 100, status
    if transport == "tcp":
        # RFC 3261 17.2.2: Timer J is 0 on reliable transports, so nothing may linger
        wait_for(lambda: pbx.api("/api/status")["transactions"] == 0, timeout=3, what="TCP transactions to end")
    else:
        # UDP server transactions stay Completed for Timer J (64*T1 = 32 s): at most one per request
        assert status["transactions"] <= 2 * len(EXTENSIONS) + stats.retransmissions, status


@pytest.mark.timeout(60)
def test_sipp_wrong_password_gets_403(start_pbx, ports, tmp_path):
    pbx = start_pbx()
    users_csv = write_users_csv(tmp_path / "users.csv", {"1001": "not-secret1001"})

    run = run_sipp(
        ["-sf", str(SCENARIOS / "reg_uac_wrong_password.xml"), "-inf", str(users_csv)],
        ports=ports, workdir=tmp_path, name="wrong_password", remote=pbx.sip_address, calls=1, timeout=30,
    )  # fmt: skip

    assert run.returncode == 0, run.describe()
    assert run.stats().successful == 1, run.describe()
    assert pbx.registrations() == []
