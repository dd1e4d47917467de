"""sipp as caller and callee for the call tests (scenarios ``tests/e2e/sipp/call_*.xml``).

A sipp callee is an extension like any phone: it REGISTERs first (``call_reg_auth.xml``) from
the very port the UAS scenario then listens on, so the PBX's INVITE reaches it.  sipp has no
"registered, now wait for calls" mode, so that is two runs on one ``-p`` port: the REGISTER run
exits, then the UAS starts.  After the test the same scenario with ``Expires: 0`` removes the
binding, so the PBX's registration count can return to zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..harness import BackgroundPeer, PortPicker
from ..sipp_runner import SCENARIOS, SippRun, run_sipp, start_sipp

CALLER = SCENARIOS / "call_uac_auth.xml"
REGISTER = SCENARIOS / "call_reg_auth.xml"
ANSWER = SCENARIOS / "call_uas.xml"
BUSY = SCENARIOS / "call_uas_busy.xml"
RING_FOREVER = SCENARIOS / "call_uas_ring_forever.xml"
AUTH_STUB = SCENARIOS / "call_uas_auth_stub.xml"


def write_calls_csv(path: Path, caller: str, password: str, callee: str, order: str = "SEQUENTIAL") -> Path:
    """``-inf`` for call_uac_auth.xml: ``USER;[authentication ...];CALLEE`` (one line is reused)."""
    path.write_text(f"{order}\n{caller};[authentication username={caller} password={password}];{callee}\n")
    return path


def write_register_csv(path: Path, user: str, password: str, expires: int) -> Path:
    """``-inf`` for call_reg_auth.xml: ``USER;[authentication ...];EXPIRES``."""
    path.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password={password}];{expires}\n")
    return path


@dataclass
class SippCallee:
    """A sipp UAS registered as ``extension`` on ``port``; ``peer`` runs the UAS scenario."""

    extension: str
    password: str
    port: int
    registrar: tuple[str, int]
    workdir: Path
    ports: PortPicker
    peer: BackgroundPeer | None = None
    name: str = "uas"

    def register(self, expires: int = 3600, timeout: float = 15.0) -> SippRun:
        csv_path = self.workdir / f"{self.name}_reg_{expires}.csv"
        write_register_csv(csv_path, self.extension, self.password, expires)
        run = run_sipp(
            ["-sf", str(REGISTER), "-inf", str(csv_path)],
            ports=self.ports, workdir=self.workdir, name=f"{self.name}_register_{expires}",
            remote=self.registrar, local_port=self.port, calls=1, timeout=timeout,
        )  # fmt: skip
        if run.returncode != 0:
            raise AssertionError(
                f"sipp callee {self.extension} could not REGISTER (Expires {expires}):\n{run.describe()}"
            )
        return run

    def start(self, scenario: Path, calls: int, timeout: float, extra: list[str] = ()) -> BackgroundPeer:
        self.peer = start_sipp(
            ["-sf", str(scenario), *extra],
            ports=self.ports, workdir=self.workdir, name=self.name, local_port=self.port, calls=calls,
            timeout=timeout, trace_messages=calls <= 20,
        )  # fmt: skip
        time.sleep(0.3)  # sipp has no ready signal; it binds within a few ms
        return self.peer

    def wait(self) -> int:
        return self.peer.wait() if self.peer else 0

    def stop(self) -> None:
        if self.peer is not None and self.peer.is_alive():
            self.peer.stop()

    def unregister(self) -> None:
        self.stop()
        self.register(expires=0)

    def describe(self) -> str:
        parts = [self.peer.describe(40) if self.peer else "uas not started"]
        for suffix in ("screen.log", "errors.log"):
            path = self.workdir / f"{self.name}_{suffix}"
            if path.exists():
                parts.append(f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(parts)


def sipp_callee(pbx, ports: PortPicker, workdir: Path, extension: str, name: str = "uas") -> SippCallee:
    """A callee on a fresh port, registered at ``pbx`` as ``extension`` (password ``secretNNNN``)."""
    callee = SippCallee(
        extension=extension, password=f"secret{extension}", port=ports.port(), registrar=pbx.sip_address,
        workdir=workdir, ports=ports, name=name,
    )  # fmt: skip
    callee.register()
    return callee


def run_caller(
    target: tuple[str, int],
    ports: PortPicker,
    workdir: Path,
    *,
    caller: str,
    password: str,
    callee: str,
    calls: int = 1,
    rate: int = 10,
    limit: int = 10,
    pause_ms: int = 500,
    timeout: float = 30.0,
    name: str = "uac",
) -> SippRun:
    """call_uac_auth.xml: ``calls`` authenticated calls from ``caller`` to ``callee`` at ``rate`` cps."""
    csv_path = write_calls_csv(workdir / f"{name}_calls.csv", caller, password, callee)
    return run_sipp(
        ["-sf", str(CALLER), "-inf", str(csv_path), "-r", str(rate), "-l", str(limit), "-d", str(pause_ms)],
        ports=ports, workdir=workdir, name=name, remote=target, calls=calls, timeout=timeout,
        trace_messages=calls <= 20,
    )  # fmt: skip
