"""sipp 3.6.1 command lines and result parsing for the end-to-end tests.

sipp always runs in the foreground (never ``-bg``: it forks, so an outer timeout would bound only
the parent) with explicit ``-p``, ``-cp`` and ``-mp`` ports, and leaves its statistics, screen,
error and message traces in the test's directory.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .harness import LOOPBACK, BackgroundPeer, PeerResult, PortPicker, require_binary, run_peer

SCENARIOS = Path(__file__).resolve().parent / "sipp"


def write_users_csv(path: Path, users: dict[str, str], order: str = "SEQUENTIAL") -> Path:
    """An ``-inf`` file for reg_uac_*.xml: ``USER;[authentication username=USER password=PW]``.

    The whole keyword sits in the field because sipp 3.6.1 does not expand ``[field0]`` inside
    ``[authentication ...]``.
    """
    lines = [order] + [
        f"{user};[authentication username={user} password={password}]" for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_registrar_csv(path: Path, users: dict[str, str]) -> Path:
    """An ``-inf`` file for reg_uas_stub.xml: ``USER;PASSWORD``."""
    path.write_text("\n".join(["RANDOM"] + [f"{user};{password}" for user, password in users.items()]) + "\n")
    return path


@dataclass(frozen=True)
class SippStats:
    """The cumulative counters of the last line of sipp's ``-trace_stat`` CSV."""

    created: int
    successful: int
    failed: int
    retransmissions: int

    @classmethod
    def read(cls, path: Path) -> SippStats:
        with path.open(newline="") as stream:
            rows = list(csv.DictReader(stream, delimiter=";"))
        if not rows:
            raise ValueError(f"{path} has no statistics rows")
        last = rows[-1]
        return cls(
            created=int(last["TotalCallCreated"]),
            successful=int(last["SuccessfulCall(C)"]),
            failed=int(last["FailedCall(C)"]),
            retransmissions=int(last["Retransmissions(C)"]),
        )


@dataclass(frozen=True)
class SippRun:
    result: PeerResult
    workdir: Path
    name: str

    @property
    def returncode(self) -> int:
        return self.result.returncode

    @property
    def stat_path(self) -> Path:
        return self.workdir / f"{self.name}_stat.csv"

    @property
    def screen_path(self) -> Path:
        return self.workdir / f"{self.name}_screen.log"

    @property
    def error_path(self) -> Path:
        return self.workdir / f"{self.name}_errors.log"

    @property
    def message_path(self) -> Path:
        return self.workdir / f"{self.name}_messages.log"

    def stats(self) -> SippStats:
        return SippStats.read(self.stat_path)

    def describe(self) -> str:
        parts = [self.result.describe()]
        for path in (self.screen_path, self.error_path):
            if path.exists():
                parts.append(f"--- {path.name} ---\n{_tail(path.read_text(errors='replace'), 60)}")
        return "\n".join(parts)


def sipp_command(
    arguments: list[str],
    *,
    ports: PortPicker,
    workdir: Path,
    name: str,
    remote: tuple[str, int] | None = None,
    local_port: int | None = None,
    transport: str = "u1",
    timeout: float = 60.0,
    calls: int = 1,
    trace_messages: bool = True,
) -> list[str]:
    """The sipp command line for ``arguments`` (scenario, -inf, rate ...) with all our fixed options.

    ``remote`` is the peer for a UAC (omit it for a UAS).  ``transport`` is sipp's ``-t``
    (``u1`` UDP with one socket, ``t1`` one TCP connection).  sipp's own ``-timeout`` fires a few
    seconds before our hard kill, so a hung peer shows up as a sipp error, not a killed process.
    """
    command = [require_binary("sipp", "sip-tester")]
    if remote is not None:
        command.append(f"{remote[0]}:{remote[1]}")
    command += [
        *arguments,
        "-t", transport,
        "-i", LOOPBACK,
        "-p", str(local_port or ports.port()),
        "-cp", str(ports.port()),
        "-mi", LOOPBACK,
        "-mp", str(ports.block(4)),
        "-m", str(calls),
        "-nostdin",
        "-timeout", f"{max(5, int(timeout) - 5)}s",
        "-timeout_error",
        "-trace_stat", "-stf", str(workdir / f"{name}_stat.csv"), "-fd", "1",
        "-trace_screen", "-screen_file", str(workdir / f"{name}_screen.log"),
        "-trace_err", "-error_file", str(workdir / f"{name}_errors.log"),
    ]  # fmt: skip
    if trace_messages:
        command += ["-trace_msg", "-message_file", str(workdir / f"{name}_messages.log")]
    return command


def run_sipp(arguments: list[str], *, workdir: Path, name: str, timeout: float = 60.0, **options) -> SippRun:
    """Run sipp in the foreground (see ``sipp_command`` for the options) and keep its traces."""
    command = sipp_command(arguments, workdir=workdir, name=name, timeout=timeout, **options)
    result = run_peer(command, timeout=timeout, workdir=workdir, name=name)
    return SippRun(result=result, workdir=workdir, name=name)


def start_sipp(arguments: list[str], *, workdir: Path, name: str, timeout: float = 60.0, **options) -> BackgroundPeer:
    """Start sipp (a UAS stub) beside the test, bounded by ``timeout``; still in the foreground
    from sipp's point of view (no ``-bg``)."""
    command = sipp_command(arguments, workdir=workdir, name=name, timeout=timeout, **options)
    return BackgroundPeer(command, workdir=workdir, name=name, lifetime=timeout)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])
