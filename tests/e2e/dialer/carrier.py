"""The carrier simulator: one sipp UAS (``tests/e2e/sipp/carrier_uas.xml``) as the telephone network.

The PBX's trunk points at it; every INVITE is a call to an outside number whose called party is
busy, never answers, or answers as a human or as an answering machine, in the shares given
(``Mix``).  The simulator logs what it did to each call, and ``Carrier.calls()`` reads that log
back as ``CarrierCall`` records: the truth the dialer's own figures are checked against (which
numbers were dialled at all, which answers were machines, who hung up and when).

It does not register anywhere or challenge the PBX: a trunk identified by source address, or one
that registers (the simulator answers REGISTER with 200), both work.  Not here: the agents
(``agents.py``), the greetings' audio (``audio.py``).
"""

from __future__ import annotations

import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..harness import LOOPBACK, BackgroundPeer, PortPicker
from ..sipp_runner import SCENARIOS, sipp_command
from .audio import Greeting, write_greetings

SCENARIO = SCENARIOS / "carrier_uas.xml"
OUTCOMES = ("busy", "no_answer", "human", "machine")
UNLIMITED = 10_000_000  # sipp -m for a UAS that runs until stopped (-m 0 would mean none at all)


@dataclass(frozen=True)
class Mix:
    """The share of each outcome among the carrier's calls; humans take what is left."""

    busy: float = 0.2
    no_answer: float = 0.2
    machine: float = 0.2

    def __post_init__(self) -> None:
        for name in ("busy", "no_answer", "machine"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Mix.{name} must be between 0 and 1, not {getattr(self, name)}")
        if self.busy + self.no_answer + self.machine > 1.0 + 1e-9:
            raise ValueError(f"Mix shares add up to more than 1: {self}")

    @property
    def human(self) -> float:
        return max(0.0, 1.0 - self.busy - self.no_answer - self.machine)

    def share(self, outcome: str) -> float:
        return {"busy": self.busy, "no_answer": self.no_answer, "machine": self.machine, "human": self.human}[outcome]


@dataclass
class CarrierCall:
    """One INVITE the carrier received, as its log tells it (times are Unix seconds)."""

    call_id: str
    number: str
    caller: str
    outcome: str
    invited_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    # how the call ended: "cancelled" (the PBX gave up ringing), "rejected" (486 or 480),
    # "bye_received" (the PBX hung up), "bye_sent" (nobody did for 10 minutes)
    ended_by: str | None = None
    events: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def talk_seconds(self) -> float:
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return self.ended_at - self.answered_at


def read_carrier_log(path: Path) -> dict[str, CarrierCall]:
    """``carrier;EVENT;CALL-ID;NUMBER;CALLER;OUTCOME;SECONDS;MICROSECONDS`` lines, by Call-ID."""
    calls: dict[str, CarrierCall] = {}
    if not path.exists():
        return calls
    for line in path.read_text(errors="replace").splitlines():
        fields = line.strip().split(";")
        if len(fields) != 8 or fields[0] != "carrier":
            continue
        _, event, call_id, number, caller, outcome, seconds, micros = fields
        at = float(seconds) + float(micros) / 1e6
        call = calls.get(call_id)
        if call is None:
            call = calls[call_id] = CarrierCall(call_id=call_id, number=number, caller=caller, outcome=outcome,
                                                invited_at=at)
        call.events.append(event)
        if event == "answered":
            call.answered_at = at
        elif event in ("cancelled", "rejected", "bye_received", "bye_sent"):
            call.ended_at, call.ended_by = at, event
        elif event == "invite" and outcome == "busy":  # the 486 goes out at once
            call.ended_at, call.ended_by = at, "rejected"
    return calls


class Carrier:
    """A running carrier simulator on ``address``: start it with ``Carrier.start(...)``."""

    def __init__(self, peer: BackgroundPeer, *, address: tuple[str, int], log_path: Path, mix: Mix,
                 greetings: dict[str, Greeting], workdir: Path, name: str) -> None:
        self.peer = peer
        self.address = address
        self.log_path = log_path
        self.mix = mix
        self.greetings = greetings
        self.workdir = workdir
        self.name = name

    @classmethod
    def start(cls, *, ports: PortPicker, workdir: Path, mix: Mix = Mix(), ring_ms: tuple[int, int] = (500, 1500),
              lifetime: float = 60.0, name: str = "carrier", trace_messages: bool = False) -> Carrier:
        """Write the greetings into ``workdir`` and start sipp there.

        ``ring_ms`` is (least, spread): an answered call rings least + uniform(0, spread) ms first.
        """
        greetings = write_greetings(workdir)
        port = ports.port()
        log_path = workdir / f"{name}.log"
        command = sipp_command(
            ["-sf", str(SCENARIO), "-trace_logs", "-log_file", str(log_path),
             "-set", "busy", f"{mix.busy:.4f}", "-set", "no_answer", f"{mix.no_answer:.4f}",
             "-set", "machine", f"{mix.machine:.4f}",
             "-set", "ring_min_ms", str(ring_ms[0]), "-set", "ring_spread_ms", str(ring_ms[1]),
             "-set", "ring_limit_ms", "120000"],
            ports=ports, workdir=workdir, name=name, local_port=port, calls=UNLIMITED, timeout=lifetime,
            trace_messages=trace_messages,
        )  # fmt: skip
        peer = BackgroundPeer(command, workdir=workdir, name=name, lifetime=lifetime)
        carrier = cls(peer, address=(LOOPBACK, port), log_path=log_path, mix=mix, greetings=greetings,
                      workdir=workdir, name=name)
        carrier.wait_listening()
        return carrier

    def wait_listening(self, timeout: float = 5.0) -> None:
        wait_until_bound(self.peer, self.address[1], timeout=timeout, what="the carrier simulator")

    def calls(self) -> dict[str, CarrierCall]:
        return read_carrier_log(self.log_path)

    def numbers_dialled(self) -> set[str]:
        return {call.number for call in self.calls().values()}

    def stop(self) -> int:
        """SIGTERM: sipp ends its calls' bookkeeping, writes its last screen and exits."""
        return self.peer.stop(first=signal.SIGTERM, grace=3.0)

    def __enter__(self) -> Carrier:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def describe(self) -> str:
        parts = [self.peer.describe(30)]
        for suffix in ("_screen.log", "_errors.log"):
            path = self.workdir / f"{self.name}{suffix}"
            if path.exists():
                parts.append(f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)


def wait_until_bound(peer: BackgroundPeer, port: int, *, timeout: float, what: str) -> None:
    """sipp has no ready signal: wait until its UDP SIP port is bound, or fail if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not peer.is_alive():
            raise RuntimeError(f"{what} exited at start:\n{peer.describe()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not bind port {port} within {timeout:.0f}s")
