"""The harness proves itself against known-good peers, without the PBX.

The REGISTER scenarios run against sipp's own digest registrar stub (reg_uas_stub.xml), and the
hand-rolled digest client in sipmsg.py against the same stub.  When these pass and a PBX test
fails, the fault is on the PBX side.
"""

from __future__ import annotations

import time

import pytest

from .harness import LOOPBACK, PortPicker
from .sipmsg import UdpSipClient
from .sipp_runner import SCENARIOS, run_sipp, start_sipp, write_registrar_csv, write_users_csv

pytestmark = pytest.mark.e2e

USERS = {str(n): f"pw-{n}" for n in range(2000, 2010)}


def _start_stub(tmp_path, ports: PortPicker, transport: str, calls: int):
    stub_port = ports.port()
    csv_path = write_registrar_csv(tmp_path / "registrar_users.csv", USERS)
    stub = start_sipp(
        ["-sf", str(SCENARIOS / "reg_uas_stub.xml"), "-inf", str(csv_path), "-infindex", csv_path.name, "0"],
        ports=ports, workdir=tmp_path, name="stub", local_port=stub_port, transport=transport,
        calls=calls, timeout=30,
    )  # fmt: skip
    time.sleep(0.5)  # sipp has no "ready" signal; it binds within a few ms
    return stub, stub_port


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_register_scenario_against_sipp_stub(tmp_path, ports, transport):
    stub, stub_port = _start_stub(tmp_path, ports, transport, calls=len(USERS))
    with stub:
        users_csv = write_users_csv(tmp_path / "users.csv", USERS)
        run = run_sipp(
            ["-sf", str(SCENARIOS / "reg_uac_auth.xml"), "-inf", str(users_csv), "-r", "50", "-l", "20"],
            ports=ports, workdir=tmp_path, name="uac", remote=(LOOPBACK, stub_port), transport=transport,
            calls=len(USERS), timeout=30,
        )  # fmt: skip
        assert run.returncode == 0, run.describe()
        stats = run.stats()
        assert (stats.successful, stats.failed) == (len(USERS), 0), run.describe()


@pytest.mark.timeout(60)
def test_wrong_password_scenario_against_sipp_stub(tmp_path, ports):
    stub, stub_port = _start_stub(tmp_path, ports, "u1", calls=1)
    with stub:
        users_csv = write_users_csv(tmp_path / "users.csv", {"2000": "not-the-password"})
        run = run_sipp(
            ["-sf", str(SCENARIOS / "reg_uac_wrong_password.xml"), "-inf", str(users_csv)],
            ports=ports, workdir=tmp_path, name="uac", remote=(LOOPBACK, stub_port), calls=1, timeout=30,
        )  # fmt: skip
        assert run.returncode == 0, run.describe()
        assert run.stats().successful == 1


@pytest.mark.timeout(60)
def test_hand_rolled_register_against_sipp_stub(tmp_path, ports):
    stub, stub_port = _start_stub(tmp_path, ports, "u1", calls=1)
    with stub:
        with UdpSipClient((LOOPBACK, stub_port)) as client:
            first, final = client.register("2003", USERS["2003"])
        assert first is not None and first.status == 401, stub.describe()
        assert final is not None and final.status == 200, f"{final}\n{stub.describe()}"
