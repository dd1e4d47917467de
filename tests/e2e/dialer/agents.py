"""N agent phones in one sipp process: registered extensions that answer and talk around an AHT.

Every agent's extension REGISTERs (``call_reg_auth.xml``, one CSV line per agent) from the one
port that ``carrier_agent_uas.xml`` then listens on, so the PBX's INVITE to any of them reaches
that process, which answers as the agent named in the Request-URI (as
``benchmarks/bench_acd_calls.py`` does).  Each leg's offer, answer and end are logged;
``SippAgents.legs()`` reads them back as ``AgentLeg`` records, from which the test and the
benchmark take the talk time, the occupancy and which customers reached an agent.

Not here: the agents' membership of a queue or their login state (PBX config), any audio.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

from ..harness import BackgroundPeer, PortPicker
from ..sipp_runner import SCENARIOS, SippRun, run_sipp, sipp_command
from .carrier import UNLIMITED, wait_until_bound

SCENARIO = SCENARIOS / "carrier_agent_uas.xml"
REGISTER = SCENARIOS / "call_reg_auth.xml"


@dataclass
class AgentLeg:
    """One call offered to an agent (times are Unix seconds)."""

    call_id: str
    agent: str
    caller: str
    offered_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None  # "bye_sent" (the agent), "bye_received" (the PBX), "cancelled"

    @property
    def talk_seconds(self) -> float:
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return self.ended_at - self.answered_at

    def talk_within(self, start: float, end: float) -> float:
        """The part of this leg's talk time that falls in [start, end]."""
        if self.answered_at is None:
            return 0.0
        stop = self.ended_at if self.ended_at is not None else end
        return max(0.0, min(stop, end) - max(self.answered_at, start))


def read_agent_log(path: Path) -> list[AgentLeg]:
    """``agent;EVENT;CALL-ID;AGENT;CALLER;SECONDS;MICROSECONDS`` lines, one leg per Call-ID."""
    legs: dict[str, AgentLeg] = {}
    if not path.exists():
        return []
    for line in path.read_text(errors="replace").splitlines():
        fields = line.strip().split(";")
        if len(fields) != 7 or fields[0] != "agent":
            continue
        _, event, call_id, agent, caller, seconds, micros = fields
        at = float(seconds) + float(micros) / 1e6
        leg = legs.get(call_id)
        if leg is None:
            leg = legs[call_id] = AgentLeg(call_id=call_id, agent=agent, caller=caller, offered_at=at)
        if event == "answered":
            leg.answered_at = at
        elif event in ("bye_sent", "bye_received", "cancelled"):
            leg.ended_at, leg.ended_by = at, event
    return list(legs.values())


class SippAgents:
    """Agents ``extensions`` (number -> password) on one sipp port, registered at ``registrar``."""

    def __init__(self, *, ports: PortPicker, workdir: Path, registrar: tuple[str, int], extensions: dict[str, str],
                 aht_ms: int = 3000, talk_min_ms: int = 0, name: str = "agents") -> None:
        if not 0 <= talk_min_ms <= aht_ms:
            raise ValueError(f"talk_min_ms {talk_min_ms} must be between 0 and aht_ms {aht_ms}")
        self.ports = ports
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.registrar = registrar
        self.extensions = dict(extensions)
        self.aht_ms = aht_ms
        self.talk_min_ms = talk_min_ms
        self.name = name
        self.port = ports.port()
        self.log_path = workdir / f"{name}.log"
        self.peer: BackgroundPeer | None = None
        self.started_at: float | None = None

    def register(self, expires: int = 3600, timeout: float = 15.0) -> SippRun:
        """REGISTER every agent's extension, Contact ``sip:NUMBER@127.0.0.1:PORT``."""
        users = self.workdir / f"{self.name}_register_{expires}.csv"
        users.write_text("SEQUENTIAL\n" + "".join(
            f"{number};[authentication username={number} password={password}];{expires}\n"
            for number, password in self.extensions.items()))
        run = run_sipp(
            ["-sf", str(REGISTER), "-inf", str(users), "-r", "50"],
            ports=self.ports, workdir=self.workdir, name=f"{self.name}_register_{expires}",
            remote=self.registrar, local_port=self.port, calls=len(self.extensions), timeout=timeout,
        )  # fmt: skip
        if run.returncode != 0:
            raise AssertionError(f"agents could not REGISTER (Expires {expires}):\n{run.describe()}")
        return run

    def start(self, lifetime: float = 60.0) -> None:
        """Answer calls from now on (register first), for at most ``lifetime`` seconds."""
        command = sipp_command(
            ["-sf", str(SCENARIO), "-trace_logs", "-log_file", str(self.log_path), "-set", "aht_ms", str(self.aht_ms),
             "-set", "talk_min_ms", str(self.talk_min_ms)],
            ports=self.ports, workdir=self.workdir, name=self.name, local_port=self.port, calls=UNLIMITED,
            timeout=lifetime, trace_messages=False,
        )  # fmt: skip
        self.peer = BackgroundPeer(command, workdir=self.workdir, name=self.name, lifetime=lifetime)
        self.started_at = time.time()
        wait_until_bound(self.peer, self.port, timeout=5.0, what="the agents' sipp")

    def legs(self) -> list[AgentLeg]:
        return read_agent_log(self.log_path)

    def occupancy(self, start: float, end: float) -> float:
        """Talk time / logged-in time over [start, end], all agents together (0..1)."""
        talk = sum(leg.talk_within(start, end) for leg in self.legs())
        return talk / (len(self.extensions) * (end - start)) if end > start else 0.0

    def stop(self) -> None:
        if self.peer is not None and self.peer.is_alive():
            self.peer.stop(first=signal.SIGTERM, grace=3.0)

    def unregister(self) -> None:
        self.stop()
        self.register(expires=0)

    def describe(self) -> str:
        parts = [self.peer.describe(30) if self.peer else "agents not started"]
        for suffix in ("_screen.log", "_errors.log"):
            path = self.workdir / f"{self.name}{suffix}"
            if path.exists():
                parts.append(f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)
