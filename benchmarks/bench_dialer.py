"""Predictive dialling against a simulated telephone network: abandonment, occupancy, AMD accuracy.

A real PBX (`pbx run`) has a trunk to the carrier simulator (tests/e2e/sipp/carrier_uas.xml: one
sipp UAS whose called parties are busy, never answer, or answer as a person saying "hello?" or
as an answering machine with a long greeting and a beep, in the shares given), ten agents
(tests/e2e/sipp/carrier_agent_uas.xml: one sipp process registered as extensions 2001-2010,
static members of queue `sales`, talking a gamma-drawn time around `--aht`), and the dialer
plugin with one predictive campaign over fresh leads, answering-machine detection on. It runs
`--duration` seconds of real time, then pauses the campaign and lets the calls in progress end.

Printed, each from the dialer's own figures and recomputed from the simulators' logs:
- attempts and the answer rate (the carrier's INVITEs; answered = a person or a machine);
- abandonment: the dialer's figure (its 24 h ledger: abandoned / live answers, AMD's measured
  false positives included), and the truth: people the carrier put on the line who never
  reached an agent (hung up on after the safe-harbor message, or taken for a machine), over
  all the people who answered;
- agent occupancy: the agents' talk time over their logged-in time (the agents' own log);
- AMD accuracy: the PBX's verdict (MachineDetectionFinished) against who really answered.
The issue's target (issue 14): abandonment at most 3 % with occupancy at least 80 %.

    .venv/bin/python benchmarks/bench_dialer.py [--duration 150] [--aht 10] [--agents 10]
        [--busy 0.15] [--no-answer 0.15] [--machine 0.2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.calls.fixtures import free_rtp_range  # noqa: E402
from tests.e2e.dialer import Carrier, Mix, SippAgents  # noqa: E402
from tests.e2e.dialer.campaign import (  # noqa: E402
    QUEUE, QUEUE_NUMBER, LeadRow, agent_numbers, attempts_seen_by_pbx, dialer_pbx_config, write_leads,
    zone_at_local_hour)
from tests.e2e.harness import LOOPBACK, PbxProcess, PortPicker, pbx_config, write_config  # noqa: E402

CAMPAIGN = "bench"


class QuietPbx(PbxProcess):
    """`pbx run` without --sip-trace: minutes of calls would fill the log with every message."""

    def command(self) -> list[str]:
        return [argument for argument in super().command() if argument != "--sip-trace"]


def campaign_spec(leads: Path, args: argparse.Namespace) -> dict:
    return {
        "id": CAMPAIGN, "mode": "predictive", "queue": QUEUE, "connect_to": QUEUE_NUMBER,
        "caller_id": "+442071230000", "windows": [{"start": "00:00", "end": "24:00"}], "max_attempts": 3,
        "ring_timeout": 15, "amd": True, "abandonment_cap": 0.03, "paused": True,
        # each lead once in a run: every retry waits hours
        "retry": {outcome: {"after": "6h", "times": 1} for outcome in ("busy", "no-answer", "machine", "hung-up")},
        "leads": str(leads),
    }


def make_leads(path: Path, count: int, seed: int) -> Path:
    rng = random.Random(seed)
    zone = zone_at_local_hour(12, time.time())
    numbers = set()
    while len(numbers) < count:
        number = f"+4479{rng.randrange(10**8):08d}"
        if number[-4:] not in ("9486", "9480", "9200", "9700"):  # those have a fixed outcome at the carrier
            numbers.add(number)
    return write_leads(path, [LeadRow(id=f"lead-{index}", phone=number, time_zone=zone)
                              for index, number in enumerate(sorted(numbers))])


def post(pbx: PbxProcess, path: str) -> None:
    with urllib.request.urlopen(pbx.admin_request(path, method="POST", body={}), timeout=5) as response:
        response.read()


def available_agents(pbx: PbxProcess) -> int:
    return sum(agent["state"] == "available" for agent in pbx.api("/api/agents"))


def run(workdir: Path, args: argparse.Namespace) -> dict:
    ports = PortPicker()
    mix = Mix(busy=args.busy, no_answer=args.no_answer, machine=args.machine)
    lifetime = args.duration + 120
    carrier = Carrier.start(ports=ports, workdir=workdir / "carrier", mix=mix, ring_ms=(1000, 4000), lifetime=lifetime)
    names = agent_numbers(args.agents)
    leads = make_leads(workdir / "leads.csv", int(args.duration * args.agents), args.seed)
    sip_port, admin_port = ports.port(), ports.port()
    low, high = free_rtp_range(400)
    sections = dialer_pbx_config(carrier.address, names, campaign_spec(leads, args))
    config = pbx_config(sip_port, admin_port, sections.pop("extensions"), data_dir=str(workdir / "var"),
                        # the simulated people fall silent after their hello: real phones keep sending RTP
                        media={"rtp_host": LOOPBACK, "rtp_ports": {"low": low, "high": high}, "inactivity_timeout": 0},
                        **sections)
    pbx = QuietPbx(config_path=write_config(workdir / "pbx.yaml", config), log_path=workdir / "pbx.log",
                     sip_port=sip_port, admin_port=admin_port)
    agents = None
    try:
        pbx.start()
        agents = SippAgents(ports=ports, workdir=workdir / "agents", registrar=pbx.sip_address,
                            extensions={name: f"secret{name}" for name in names}, aht_ms=int(args.aht * 1000),
                            talk_min_ms=min(3000, int(args.aht * 1000)))
        agents.register()
        agents.start(lifetime=lifetime)
        deadline = time.monotonic() + 10
        while available_agents(pbx) < args.agents:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {available_agents(pbx)} of {args.agents} agents are available")
            time.sleep(0.1)
        started = time.time()
        post(pbx, f"/api/plugins/dialer/campaigns/{CAMPAIGN}/resume")
        while time.time() - started < args.duration:
            time.sleep(min(10.0, args.duration - (time.time() - started)))
            print(f"  {time.time() - started:5.0f} s: {len(carrier.calls())} calls out", flush=True)
        post(pbx, f"/api/plugins/dialer/campaigns/{CAMPAIGN}/pause")
        ended = time.time()
        settle = time.monotonic() + 25  # calls in progress end (agents talk, the last ones ring 15 s)
        while time.monotonic() < settle and any(call.ended_at is None for call in carrier.calls().values()):
            time.sleep(0.5)
        view = pbx.api(f"/api/plugins/dialer/campaigns/{CAMPAIGN}")
        report = pbx.api(f"/api/plugins/dialer/campaigns/{CAMPAIGN}/report")
        return figures(carrier, agents, pbx, view, report, started, ended)
    finally:
        if agents is not None:
            agents.stop()
        carrier.stop()
        pbx.stop()


def figures(carrier: Carrier, agents: SippAgents, pbx: PbxProcess, view: dict, report: dict, started: float,
            ended: float) -> dict:
    truth = sorted(carrier.calls().values(), key=lambda call: call.invited_at)
    legs = agents.legs()
    answered = [call for call in truth if call.answered]
    people = [call for call in answered if call.outcome == "human"]
    # a person reached an agent when an agent leg with their number was answered while their call was up
    reached = []
    for person in people:
        leg = next((leg for leg in legs if leg.caller == person.number and leg.answered_at is not None
                    and person.answered_at - 1 <= leg.answered_at <= (person.ended_at or ended + 60)), None)
        reached.append((person, leg))
    not_reached = [person for person, leg in reached if leg is None]
    late = [person for person, leg in reached if leg is not None and leg.answered_at - person.answered_at > 3.1]
    # AMD: the PBX's verdict for each answered call, by number in call order
    verdicts: dict[str, list[str | None]] = {}
    for attempt in attempts_seen_by_pbx(pbx.log_text()):
        if attempt.answered:
            verdicts.setdefault(attempt.number, []).append(attempt.amd)
    judged = correct = missing = 0
    false_machine = false_human = 0
    for call in answered:
        queue = verdicts.get(call.number) or [None]
        verdict = queue.pop(0)
        if verdict is None or verdict not in ("human", "machine"):
            missing += 1
            continue
        judged += 1
        correct += verdict == call.outcome
        false_machine += call.outcome == "human" and verdict == "machine"
        false_human += call.outcome == "machine" and verdict == "human"
    machines = {call.number for call in answered if call.outcome == "machine"}
    machine_talk = sum(leg.talk_within(started, ended) for leg in legs if leg.caller in machines)
    abandonment = view["abandonment"]
    return {
        "seconds": round(ended - started, 1),
        "attempts": len(truth),
        "outcomes": {outcome: sum(call.outcome == outcome for call in truth) for outcome in
                     ("busy", "no_answer", "human", "machine")},
        "answer_rate": len(answered) / len(truth) if truth else 0.0,
        "dialer_attempts": report["total"]["attempts"],
        "dialer_abandonment": abandonment["rate_24h"],
        "dialer_live": abandonment["live_24h"],
        "dialer_abandoned": abandonment["abandoned_24h"],
        "people": len(people),
        "people_not_reached": len(not_reached),
        "people_reached_late": len(late),
        "true_abandonment": len(not_reached) / len(people) if people else 0.0,
        "occupancy": agents.occupancy(started, ended),
        # of which talking to answering machines (connected at once, before AMD's verdict)
        "occupancy_with_machines": machine_talk / (len(agents.extensions) * (ended - started)),
        "agent_legs": sum(leg.answered_at is not None for leg in legs),
        "amd_judged": judged,
        "amd_accuracy": correct / judged if judged else 0.0,
        "amd_false_machine": false_machine,
        "amd_false_human": false_human,
        "amd_no_verdict": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of dialling (real time)")
    parser.add_argument("--aht", type=float, default=45.0, help="the agents' average talk time, seconds")
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--busy", type=float, default=0.15, help="share of busy numbers at the carrier")
    parser.add_argument("--no-answer", type=float, default=0.15, help="share of numbers that never answer")
    parser.add_argument("--machine", type=float, default=0.2, help="share answered by a machine (the rest: people)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep", type=Path, help="keep the logs in this directory")
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args.keep, args)
    else:
        with tempfile.TemporaryDirectory() as name:
            result = run(Path(name), args)
    print(json.dumps(result, indent=1))
    print(f"predictive, {args.agents} agents, AHT {args.aht:g} s, {result['seconds']:.0f} s: "
          f"{result['attempts']} attempts, answer rate {result['answer_rate']:.1%}; "
          f"abandonment {result['dialer_abandonment']:.2%} (dialer) / {result['true_abandonment']:.2%} "
          f"({result['people_not_reached']} of {result['people']} people never reached an agent); "
          f"occupancy {result['occupancy']:.1%} ({result['occupancy_with_machines']:.1%} with machines); "
          f"AMD accuracy {result['amd_accuracy']:.1%} "
          f"({result['amd_judged']} verdicts, {result['amd_no_verdict']} calls without one)")
    target = result["true_abandonment"] <= 0.03 and result["dialer_abandonment"] <= 0.03 and result["occupancy"] >= 0.8
    print(f"issue 14 target (abandonment <= 3 %, occupancy >= 80 %): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
