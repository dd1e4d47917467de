"""Calls per second end to end through IVR -> queue -> agent, with sipp callers and sipp agents.

sipp's authenticated caller (tests/e2e/sipp/acd_caller.xml, extension 1001) dials 800: an IVR
scenario answers (200) and queues the caller in ``support`` (``--strategy``, wrap-up 0, no max
wait); the ACD offers the call to one of ``--agents`` agents (2001, 2002, ...), all answered by
one sipp process (tests/e2e/sipp/acd_agent_uas.xml) from whose port every agent's extension
registered (one Contact per agent). The agent answers, talks ``--hold-ms`` and hangs up; the
PBX passes the BYE on to the caller, whose call then ends successfully. Nothing else ends a
caller's call, so a successful call is one that reached an agent. Every call is two SIP legs,
the IVR's answer, a queue entry, an offer, the bridge and the agent's wrap-up (0 s).

Then the same caller scenario as bench_calls.py runs against a sipp stub that challenges and
answers by itself (call_uas_auth_stub.xml, hold ``--hold-ms``): "sipp alone". Printed: completed
calls per second both ways, failed calls, the agents' completed legs (with ring-all, also
the legs answered too late and hung up by the PBX), and the ratio.

The agents bound the rate: each takes one call at a time for about hold + 20 ms, so 20 agents
talking 500 ms top out near 38 calls/s whatever the PBX does (ring-all the same). Give more
agents than rate x hold (the defaults: 40 agents, 60 calls/s) to measure the PBX, not the agents.

    .venv/bin/python benchmarks/bench_acd_calls.py [--calls 1000] [--rate 60] [--concurrent 100]
        [--agents 40] [--hold-ms 500] [--strategy round-robin]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import NO_RATE_LIMITS, SIPP_DIR, free_port, run_sipp, running_pbx  # noqa: E402

SCENARIO = """scenario "Line"
end
block start
  answer
  queue support
end
"""


SECRET = "pbx_bench-acd-calls"  # the admin API token this benchmark's PBX knows (read-only)


def write_config(workdir: Path, args: argparse.Namespace, admin_port: int) -> Path:
    agents = [str(2001 + index) for index in range(args.agents)]
    extensions = "".join(f'  "{number}": {{password: secret{number}}}\n' for number in ["1001", *agents])
    (workdir / "scenarios").mkdir()
    (workdir / "scenarios" / "line.ivr").write_text(SCENARIO)
    members = ", ".join(f"{{agent: '{name}'}}" for name in agents)
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        f"realm: pbx.test\nadmin: {{listen: {{host: 127.0.0.1, port: {admin_port}}}, tokens: [{{name: bench, "
        f"role: read-only, sha256: {hashlib.sha256(SECRET.encode()).hexdigest()}}}]}}\nlog: {{level: warning}}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: 30000, high: {30000 + 8 * args.concurrent + 100}}}}}\n"
        f"extensions:\n{extensions}"
        "agents:\n" + "".join(f'  "{name}": {{login: static}}\n' for name in agents) +
        f"queues:\n  support: {{strategy: {args.strategy}, wrap_up: 0, ring_timeout: 5, retry_delay: 1,"
        f" members: [{members}]}}\n"
        'routes:\n  - {match: "800", scenario: line}\n'
        f"ivr: {{scenarios: {workdir / 'scenarios'}, prompts: {workdir}, tts_cache: {workdir / 'tts'}}}\n"
    )
    return config


def available_agents(admin_port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{admin_port}/api/agents",
                                     headers={"Authorization": f"Bearer {SECRET}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        agents = json.load(response)
    return sum(agent["state"] == "available" for agent in agents)


def caller_arguments(port: int, users: Path, args: argparse.Namespace, scenario: str, hold: bool) -> list[str]:
    arguments = [f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / scenario), "-inf", str(users), "-i", "127.0.0.1",
                 "-p", str(free_port()), "-cp", str(free_port()), "-mp", str(free_port()), "-m", str(args.calls),
                 "-r", str(args.rate), "-l", str(args.concurrent), "-timeout", "300s"]
    return arguments + (["-d", str(args.hold_ms)] if hold else [])


def write_caller(workdir: Path, callee: str) -> Path:
    users = workdir / "caller.csv"
    users.write_text(f"SEQUENTIAL\n1001;[authentication username=1001 password=secret1001];{callee}\n")
    return users


def completed_calls(screen: Path) -> int:
    text = screen.read_text(errors="replace") if screen.exists() else ""
    found = re.search(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return int(found.group(1)) if found else -1


def quit_sipp(process: subprocess.Popen, control_port: int) -> None:
    """Ask a sipp to quit once its calls have ended ("q" on its control port): unlike SIGTERM,
    this leaves its final screen in -screen_file. With -m reached it has exited already."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(2):  # the second "q" forces the exit
            try:
                process.wait(5)
                return
            except subprocess.TimeoutExpired:
                sock.sendto(b"q", ("127.0.0.1", control_port))
        process.wait(10)


def through_pbx(workdir: Path, args: argparse.Namespace) -> tuple[float, int, int]:
    admin_port = free_port()
    config = write_config(workdir, args, admin_port)
    agent_users = workdir / "agents.csv"
    agent_users.write_text("SEQUENTIAL\n" + "".join(
        f"{number};[authentication username={number} password=secret{number}];3600\n"
        for number in (str(2001 + index) for index in range(args.agents))))
    agent_port = free_port()
    with running_pbx(config, workdir) as port:
        run_sipp([f"127.0.0.1:{port}", "-sf", str(SIPP_DIR / "call_reg_auth.xml"), "-inf", str(agent_users),
                  "-i", "127.0.0.1", "-p", str(agent_port), "-cp", str(free_port()), "-m", str(args.agents),
                  "-r", "100"], workdir, "register")
        deadline = time.monotonic() + 10
        while available_agents(admin_port) < args.agents:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {available_agents(admin_port)} of {args.agents} agents logged in")
            time.sleep(0.1)
        agents_screen = workdir / "agents.screen"
        scenario = workdir / "acd_agent_uas.xml"  # the agents' talk time is the BYE's recv timeout
        scenario.write_text((SIPP_DIR / "acd_agent_uas.xml").read_text().replace(
            'request="BYE" timeout="500"', f'request="BYE" timeout="{args.hold_ms}"'))
        # ring-all rings every available agent for each caller: more agent legs than calls
        legs = args.calls * (args.agents if args.strategy == "ring-all" else 1)
        control_port = free_port()
        agents = subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(agent_port),
             "-cp", str(control_port), "-mp", str(free_port()), "-m", str(legs),
             "-nostdin", "-timeout", "300s", "-trace_screen", "-screen_file", str(agents_screen)],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            elapsed, failed = run_sipp(caller_arguments(port, write_caller(workdir, "800"), args, "acd_caller.xml",
                                                        hold=False), workdir, "caller", timeout=400)
            quit_sipp(agents, control_port)
        finally:
            if agents.poll() is None:
                agents.kill()
                agents.wait(10)
    return args.calls / elapsed, failed, completed_calls(agents_screen)


def sipp_alone(workdir: Path, args: argparse.Namespace) -> tuple[float, int]:
    stub_users = workdir / "stub_users.csv"
    stub_users.write_text("RANDOM\n1001;secret1001\n")
    port = free_port()
    stub = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "call_uas_auth_stub.xml"), "-inf", str(stub_users), "-infindex",
         stub_users.name, "0", "-i", "127.0.0.1", "-p", str(port), "-cp", str(free_port()), "-mp", str(free_port()),
         "-nostdin", "-timeout", "300s"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        elapsed, failed = run_sipp(caller_arguments(port, write_caller(workdir, "1002"), args, "call_uac_auth.xml",
                                                    hold=True), workdir, "direct", timeout=400)
    finally:
        stub.kill()
        stub.wait(10)
    return args.calls / elapsed, failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=60, help="calls started per second")
    parser.add_argument("--concurrent", type=int, default=100, help="sipp -l: most calls up at once")
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--hold-ms", type=int, default=500, help="how long an agent talks before hanging up")
    parser.add_argument("--strategy", default="round-robin")
    args = parser.parse_args()
    if not shutil.which("sipp"):
        raise SystemExit("sipp is not installed (apt-get install sip-tester)")
    with tempfile.TemporaryDirectory() as name:
        pbx_rate, pbx_failed, agent_calls = through_pbx(Path(name), args)
    with tempfile.TemporaryDirectory() as name:
        direct_rate, direct_failed = sipp_alone(Path(name), args)
    print(f"sipp -> IVR -> queue ({args.strategy}, {args.agents} agents) -> sipp agent: {pbx_rate:,.1f} calls/s "
          f"({args.calls} calls at -r {args.rate}, -l {args.concurrent}, agents talk {args.hold_ms} ms), "
          f"{pbx_failed} failed, {agent_calls} agent legs completed")
    print(f"sipp -> sipp stub:   {direct_rate:,.1f} calls/s, {direct_failed} failed")
    print(f"ratio pbx / sipp alone: {pbx_rate / direct_rate:.2f}")


if __name__ == "__main__":
    main()
