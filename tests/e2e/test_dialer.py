"""The outbound dialer end to end: a carrier simulator behind the trunk, sipp agents, the dialer plugin.

First the simulators prove themselves without a PBX (when these pass and a dialer test fails,
the fault is on the PBX's side):
- the carrier (tests/e2e/sipp/carrier_uas.xml), called by a sipp probe that acts as the trunk,
  draws busy / no answer / human / machine in the configured shares over 200 calls, logs the
  truth for each call, and streams the human's short "hello?" as RTP to the offered address;
- the greetings are what answering-machine detection tells apart (short voice then silence,
  against long voice and a beep);
- the agents (carrier_agent_uas.xml) answer, talk around the AHT and hang up, or take the
  customer's BYE.

Then a PBX with a trunk to the carrier (identified by its address), ten agents in queue
`sales` and the dialer plugin running a progressive campaign of 28 leads with AMD: numbers on
the do-not-call lists and a lead whose local time is outside the calling window never reach
the carrier (its own log says so) and the explanation endpoint names the rule; a busy number is
tried again after the retry delay, then no more; an unanswered one rings the 15 s minimum and
waits an hour; every person reaches an agent; every machine is detected as one. About 16 s.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import threading
import time
import urllib.request
from collections import Counter

import numpy as np
import pytest

from .calls.fixtures import call_pbx  # noqa: F401 - fixture
from .dialer import Carrier, Mix, SippAgents, read_carrier_log, write_greetings
from .dialer.campaign import QUEUE, QUEUE_NUMBER, LeadRow, agent_numbers, attempts_seen_by_pbx, dialer_pbx_config, \
    write_leads, zone_at_local_hour
from .harness import LOOPBACK, require_binary, wait_for
from .sipp_runner import SCENARIOS, run_sipp

pytestmark = pytest.mark.e2e

PROBE = SCENARIOS / "carrier_uac_probe.xml"


def _probe(carrier: Carrier, ports, tmp_path, numbers: list[str], *, hold_ms: int, rtp_port: int, rate: int = 100,
           name: str = "probe") -> dict[str, tuple[str, str]]:
    """Call ``numbers`` at the carrier; each call's result by Call-ID: (result, number)."""
    csv_path = tmp_path / f"{name}.csv"
    csv_path.write_text("SEQUENTIAL\n" + "".join(f"{number}\n" for number in numbers))
    log_path = tmp_path / f"{name}.log"
    run = run_sipp(
        ["-sf", str(PROBE), "-inf", str(csv_path), "-r", str(rate), "-l", "400", "-trace_logs", "-log_file",
         str(log_path), "-set", "rtp_port", str(rtp_port), "-set", "hold_ms", str(hold_ms)],
        ports=ports, workdir=tmp_path, name=name, remote=carrier.address, calls=len(numbers), timeout=40,
        trace_messages=len(numbers) <= 5,
    )  # fmt: skip
    assert run.returncode == 0, run.describe() + "\n" + carrier.describe()
    results = {}
    for line in log_path.read_text().splitlines():
        _, result, call_id, number = line.strip().split(";")
        results[call_id] = (result, number)
    return results


@pytest.mark.timeout(60)
def test_carrier_draws_each_outcome_in_its_share_and_logs_the_truth(tmp_path, ports):
    require_binary("sipp", "sip-tester")
    mix = Mix(busy=0.3, no_answer=0.2, machine=0.2)  # humans 0.3
    numbers = [f"+4415550{index:04d}" for index in range(200)]
    forced = {"+4415559486": "busy", "+4415559480": "no_answer", "+4415559200": "human", "+4415559700": "machine"}
    with Carrier.start(ports=ports, workdir=tmp_path, mix=mix, ring_ms=(50, 150), lifetime=45) as carrier:
        results = _probe(carrier, ports, tmp_path, numbers + 3 * list(forced), hold_ms=100, rtp_port=ports.port())
        time.sleep(0.3)  # the last BYE's log line
    truth = read_carrier_log(carrier.log_path)
    assert len(truth) == len(numbers) + 3 * len(forced), carrier.describe()
    # a number ending in 9486/9480/9200/9700 gets the same outcome every time
    assert sorted((call.number, call.outcome) for call in truth.values() if call.number in forced) == \
        sorted(3 * list(forced.items()))
    assert sorted(call.number for call in truth.values() if call.number not in forced) == numbers
    counts = Counter(call.outcome for call in truth.values() if call.number not in forced)
    for outcome in ("busy", "no_answer", "human", "machine"):
        expected = mix.share(outcome) * len(numbers)
        spread = 4 * math.sqrt(len(numbers) * mix.share(outcome) * (1 - mix.share(outcome)))  # 4 sigma
        assert abs(counts[outcome] - expected) <= spread, f"{outcome}: {counts[outcome]} of {len(numbers)}: {counts}"
    # what the probe saw is what the carrier says it did, call by call
    seen_as = {"busy": "busy", "no_answer": "cancelled", "human": "answered", "machine": "answered"}
    for call_id, call in truth.items():
        assert results[call_id] == (seen_as[call.outcome], call.number), (call, results[call_id])
        expected_end = {"busy": "rejected", "no_answer": "cancelled"}.get(call.outcome, "bye_received")
        assert call.ended_by == expected_end, call
        if call.answered:
            assert 0.05 <= call.talk_seconds <= 1.0, call  # the probe's 100 ms hold, give or take
    assert carrier.peer.process.returncode in (0, 1), carrier.describe()  # SIGTERM ends it cleanly


class _RtpSink:
    """A UDP socket that keeps (arrival time, RTP payload type, payload) until closed."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[tuple[float, int, bytes]] = []
        self._running = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._running:
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            if len(data) > 12:
                self.packets.append((time.monotonic(), data[1] & 0x7F, data[12:]))

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        self.sock.close()


def _voiced_seconds(payloads: list[bytes]) -> float:
    """Seconds of 20 ms PCMU packets louder than about -40 dBFS."""
    return 0.020 * sum(float(np.sqrt(np.mean(np.square(_decode(payload))))) > 0.01 for payload in payloads)


@pytest.mark.timeout(30)
def test_carrier_plays_the_humans_hello_to_the_offered_rtp_address(tmp_path, ports):
    require_binary("sipp", "sip-tester")
    sink = _RtpSink()
    try:
        with Carrier.start(ports=ports, workdir=tmp_path, mix=Mix(busy=0, no_answer=0, machine=0),
                           ring_ms=(50, 0), lifetime=20) as carrier:
            results = _probe(carrier, ports, tmp_path, ["4415551234"], hold_ms=1800, rtp_port=sink.port)
    finally:
        sink.close()
    assert [result for result, _ in results.values()] == ["answered"]
    assert {payload_type for _, payload_type, _ in sink.packets} == {0}, "PCMU only"
    assert len(sink.packets) >= 80, f"{len(sink.packets)} packets in a 1.8 s call (50 per second)"
    arrivals = [at for at, _, _ in sink.packets]
    pace = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1)
    assert 0.018 <= pace <= 0.022, f"one packet every {pace * 1000:.1f} ms, not 20"
    voiced = _voiced_seconds([payload for _, _, payload in sink.packets])
    assert 0.5 <= voiced <= 0.9, f"the human said hello for {voiced:.2f} s"


def test_greetings_have_a_humans_and_a_machines_cadence(tmp_path):
    """What AMD keys on: the human's voice is short and followed by silence; the machine's is
    long, then a 1 kHz beep. Read back from the pcap files sipp plays."""
    greetings = write_greetings(tmp_path)
    human, machine = (_read_pcap_payloads(greetings[kind].pcap) for kind in ("human", "machine"))
    assert all(len(payload) == 160 for payload in human + machine), "20 ms PCMU packets"
    assert 0.5 <= _voiced_seconds(human) <= 0.9
    assert _voiced_seconds(human[60:]) == 0.0, "silence after the hello (from 1.2 s on)"
    assert _voiced_seconds(machine) >= 3.5 and greetings["machine"].voice_seconds >= 5.0
    beep_at = greetings["machine"].beep_at
    beep = _decode(b"".join(machine))[int((beep_at + 0.05) * 8000) : int((beep_at + 0.45) * 8000)]
    spectrum = np.abs(np.fft.rfft(beep))
    assert abs(np.argmax(spectrum) * 8000 / len(beep) - 1000) < 10, "the beep is at 1 kHz"
    assert greetings["machine"].voice_seconds > 4 * greetings["human"].voice_seconds


def _read_pcap_payloads(path) -> list[bytes]:
    data = path.read_bytes()
    offset, payloads = 24, []
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        frame = data[offset + 16 : offset + 16 + length]
        payloads.append(frame[14 + 20 + 8 + 12 :])  # Ethernet, IPv4, UDP, RTP headers
        offset += 16 + length
    return payloads


def _decode(payload: bytes) -> np.ndarray:
    """PCMU to float samples (ITU-T G.711 table 2a decoder, 16-bit scale)."""
    codes = ~np.frombuffer(payload, dtype=np.uint8) & 0xFF
    exponent, mantissa = (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa.astype(np.int32) << 3) + 0x84) << exponent) - 0x84
    return np.where(codes & 0x80, -magnitude, magnitude) / 32768.0


@pytest.mark.timeout(30)
def test_agents_talk_around_the_aht_and_take_the_customers_bye(tmp_path, ports):
    require_binary("sipp", "sip-tester")
    agents = SippAgents(ports=ports, workdir=tmp_path, registrar=(LOOPBACK, 9), extensions={"2001": "x"},
                        aht_ms=400)
    agents.start(lifetime=25)
    try:
        # 30 calls that stay on longer than any agent talks: the agent hangs up (sipp's default
        # behaviour answers the unexpected BYE, so the caller's calls count as failed)
        run_sipp(["-sn", "uac", "-s", "2001", "-r", "30", "-l", "40", "-d", "5000"], ports=ports, workdir=tmp_path,
                 name="long", remote=(LOOPBACK, agents.port), calls=30, timeout=20, trace_messages=False)
        # 5 calls whose customer hangs up after 100 ms, before an agent talking 400 ms on average would
        long_call_ids = {leg.call_id for leg in agents.legs()}
        run = run_sipp(["-sn", "uac", "-s", "2001", "-r", "10", "-d", "100"], ports=ports, workdir=tmp_path,
                       name="short", remote=(LOOPBACK, agents.port), calls=5, timeout=20, trace_messages=False)
        time.sleep(0.2)
    finally:
        agents.stop()
    legs = agents.legs()
    long_legs = [leg for leg in legs if leg.call_id in long_call_ids]
    short_legs = [leg for leg in legs if leg.call_id not in long_call_ids]
    assert len(long_legs) == 30 and all(leg.ended_by == "bye_sent" for leg in long_legs), legs
    talks = [leg.talk_seconds for leg in long_legs]
    assert 0.25 <= sum(talks) / len(talks) <= 0.6, f"mean talk {sum(talks) / len(talks):.2f} s for an AHT of 0.4 s"
    assert max(talks) - min(talks) > 0.1, "talk times are drawn, not fixed"
    assert run.returncode == 0, run.describe()
    assert len(short_legs) == 5 and all(leg.ended_by == "bye_received" for leg in short_legs), short_legs
    assert all(leg.agent == "2001" and leg.caller == "sipp" for leg in legs)


# --------------------------------------------------------------------------------------------
# the dialer through the PBX

CAMPAIGN = "spring"
RETRY_BUSY_SECONDS = 3.0


def _phone(tag: str, index: int) -> str:
    """+44 20 7946 xxxx (Ofcom's drama range); the carrier keys forced outcomes on the last four digits."""
    return f"+442079{index:02d}{tag}"


def _campaign_leads(now: float) -> tuple[list[LeadRow], dict[str, list[str]]]:
    """28 leads, by what the carrier does with them: 4 always busy, 2 never answer (dialled first,
    they ring the full 15 s), 12 humans, 6 machines, 3 on do-not-call lists, 1 whose local time
    is outside the calling window."""
    groups: dict[str, list[str]] = {
        "no_answer": [_phone("9480", index) for index in range(2)],
        "busy": [_phone("9486", index) for index in range(4)],
        "human": [_phone("9200", index) for index in range(12)],
        "machine": [_phone("9700", index) for index in range(6)],
        "dnc": [_phone("9200", 50 + index) for index in range(3)],
        "window": [_phone("9200", 60)],
    }
    in_window = zone_at_local_hour(12, now)  # the window is 09:00-18:00 in each lead's own time
    leads = []
    for kind, phones in groups.items():
        for index, phone in enumerate(phones):
            zone = zone_at_local_hour(2, now) if kind == "window" else in_window
            leads.append(LeadRow(id=f"{kind}-{index}", phone=phone, time_zone=zone,
                                 priority=9 if kind == "no_answer" else 0))
    return leads, groups


@pytest.mark.timeout(90)
def test_progressive_campaign_through_the_trunk(tmp_path, ports, call_pbx):  # noqa: F811
    require_binary("sipp", "sip-tester")
    leads, groups = _campaign_leads(time.time())
    campaign = {
        "id": CAMPAIGN, "mode": "progressive", "queue": QUEUE, "connect_to": QUEUE_NUMBER, "caller_id": "+442071230000",
        "windows": [{"start": "09:00", "end": "18:00"}], "max_attempts": 3, "ring_timeout": 15, "amd": True,
        "retry": {"busy": {"after": f"{RETRY_BUSY_SECONDS:g}s", "times": 1}, "no-answer": {"after": "1h", "times": 2},
                  "machine": {"after": "4h", "times": 1}},
        "dnc": groups["dnc"][2:], "leads": str(write_leads(tmp_path / "leads.csv", leads)), "paused": True,
    }
    agent_names = agent_numbers(10)
    carrier = Carrier.start(ports=ports, workdir=tmp_path / "carrier", mix=Mix(), ring_ms=(200, 400), lifetime=80)
    agents = None
    try:
        pbx = call_pbx(data_dir=str(tmp_path / "var"),
                       **dialer_pbx_config(carrier.address, agent_names, campaign, dnc=groups["dnc"][:2]))
        agents = SippAgents(ports=ports, workdir=tmp_path / "agents", registrar=pbx.sip_address,
                            extensions={name: f"secret{name}" for name in agent_names}, aht_ms=3500,
                            talk_min_ms=3000)
        agents.register()
        agents.start(lifetime=70)
        wait_for(lambda: sum(a["state"] == "available" for a in pbx.api("/api/agents")) == 10, timeout=10,
                 what="10 agents available")
        started = time.time()
        _post(pbx, f"/api/plugins/dialer/campaigns/{CAMPAIGN}/resume")
        answered_kinds = groups["human"] + groups["machine"]
        wait_for(lambda: _settled(carrier, answered_kinds + groups["no_answer"]), timeout=40, interval=0.3,
                 what="every answered and unanswered lead's call to end")
        # the busy leads' second attempts (retry after 3 s) have come by now; give the last one time to end
        _wait_quietly(lambda: all(sum(call.number == number for call in carrier.calls().values()) >= 2
                                  for number in groups["busy"]), timeout=RETRY_BUSY_SECONDS + 3)
        elapsed = time.time() - started
        why = {kind: pbx.api(f"/api/plugins/dialer/campaigns/{CAMPAIGN}/leads/{kind}-0/why")
               for kind in ("dnc", "window", "busy", "no_answer", "human")}
        view = pbx.api(f"/api/plugins/dialer/campaigns/{CAMPAIGN}")
    finally:
        carrier.stop()
        if agents is not None:
            agents.stop()
    truth = carrier.calls()
    dialled = Counter(call.number for call in truth.values())
    # DNC numbers (global list and the campaign's) and the lead outside its window never reach the carrier
    for number in groups["dnc"] + groups["window"]:
        assert dialled[number] == 0, f"{number} was dialled: {truth}"
    assert why["dnc"]["rule"] == "dnc" and not why["dnc"]["dialable"], why["dnc"]
    assert why["window"]["rule"] == "outside-window" and "calling window" in why["window"]["message"], why["window"]
    # retries: busy once more after RETRY_BUSY_SECONDS (times: 1), then finished; the others once
    for number in groups["busy"]:
        calls = sorted((call for call in truth.values() if call.number == number), key=lambda call: call.invited_at)
        assert [call.outcome for call in calls] == ["busy", "busy"], calls
        assert calls[1].invited_at - calls[0].invited_at >= RETRY_BUSY_SECONDS - 0.1, calls
    assert why["busy"]["rule"] == "finished", why["busy"]
    for number in groups["no_answer"]:
        [call] = [call for call in truth.values() if call.number == number]
        assert call.ended_by == "cancelled" and call.ended_at - call.invited_at >= 14.9, call  # 15 s minimum ring
    assert why["no_answer"]["rule"] == "retry-delay" and why["no_answer"]["until"] > time.time() + 3000, why
    for number in answered_kinds:
        assert dialled[number] == 1, (number, dialled[number])
    assert why["human"]["rule"] == "finished", why["human"]
    # every call out showed the campaign's caller id
    assert {call.caller for call in truth.values()} == {"+442071230000"}
    # what the PBX believed, beside the truth: humans reached agents, machines were detected
    seen = {attempt.number: attempt for attempt in attempts_seen_by_pbx(pbx.log_text()) if attempt.answered}
    reached = {leg.caller for leg in agents.legs() if leg.answered_at is not None}
    for number in groups["human"]:
        assert seen[number].agent is not None and number in reached, seen[number]
        assert seen[number].amd == "human", seen[number]
    for number in groups["machine"]:
        assert seen[number].amd == "machine", seen[number]
    assert view["abandonment"]["abandoned_24h"] == 0, view["abandonment"]  # progressive: an agent for every line
    print(f"dialer e2e: {len(truth)} calls out, all leads settled {elapsed:.1f} s after the resume")


def _settled(carrier: Carrier, numbers: list[str]) -> bool:
    """Every number in ``numbers`` was called, and its call is over."""
    return set(numbers) <= {call.number for call in carrier.calls().values() if call.ended_at is not None}


def _wait_quietly(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.2)


def _post(pbx, path: str, body: dict | None = None) -> dict:
    with urllib.request.urlopen(pbx.admin_request(path, method="POST", body=body or {}), timeout=5) as response:
        return json.loads(response.read())
