"""How many callers one PBX process keeps in IVR menus: prompts paced, and no key missed.

For N = 25, 50, 75, ... a fresh `pbx run` (uvloop, log level info, no SIP trace) routes
800 to a scenario whose menu greeting is a 30 s tone, so it is always playing; a key (1 or 2)
sets a disposition and plays the menu again from the start. N authenticated calls come from
a Python caller in this process (tests/e2e/ivr/caller.py, on tests/e2e/media/uac.py). Each
call's RTP socket is made here and handed to a capture process (tests/e2e/media/rtp_capture.py,
``sockets=``) that records what the PBX sends with kernel receive timestamps, while this
process SENDS from the same sockets: 20 ms PCMU frames of faint noise on every call, the
calls in four groups 5 ms apart as unsynchronised phones would (so the PBX decodes audio and
runs its in-band DTMF detector on every leg, as it does on every leg it answers itself), and
every ``--key-interval`` seconds (random phase per call) a key as an RFC 4733 event (PT 101,
60 ms, the end packet three times).

Measured once all N calls are up, for ``--seconds``: the PBX's prompt RTP on a 20 ms grid fitted
per stream (tests/e2e/media/timing.py; late = more than 5 ms after its slot, or missing), and
the keys: every key sent during the round against the PBX's DigitReceived and IvrKeyChosen
events (missed = sent - reported; in-band reports would be false detections of the noise).
Keys stop a second before hang-up so every event has ended. Printed per N: calls answered,
packets, late %, p50/p99 |arrival - slot|, keys sent / DigitReceived / IvrKeyChosen, missed,
false in-band digits, the PBX's CPU. It stops at the first N with 1 % late or more, a missed
key, a failed call or packets dropped by the capture, and prints the largest N that passed.

    .venv/bin/python benchmarks/bench_ivr_calls.py [--start 25] [--step 25] [--max 400] [--seconds 6]
        [--key-interval 2] [--no-audio]

``--no-audio``: the callers send only their keys, so the PBX decodes nothing and its in-band
detector never runs; the difference between the two runs is the cost of listening for tones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import NO_RATE_LIMITS, pbx_process
from tests.e2e.ivr.caller import DIGIT_CODES, EVENT_PT, IvrCaller
from tests.e2e.ivr.tones import FRAME, quiet_noise, tone, ulaw_encode, write_pcm16
from tests.e2e.media import RtpCapture, TimingSummary, analyse, summarise

CALLS_PER_SECOND = 200
RTP_LOW, RTP_HIGH = 20000, 32000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RTP_HEADER = struct.Struct("!BBHII")
EVENT_FRAMES = 3  # 60 ms key presses
SPREAD = 4  # callers send in 4 groups, 5 ms apart

SCENARIO = """\
scenario "Bench menu"
  language en
  prompts "prompts"
end

menu main
  greeting "greeting"
  timeout 30s
  max timeouts 100
  key 1: disposition "one"
  key 2: disposition "two"
end
"""


@dataclass
class Round:
    calls: int
    answered: int
    summary: TimingSummary
    keys_sent: int
    digits_rfc4733: int
    digits_inband: int
    keys_chosen: int
    pbx_cpu: float
    dropped_by_capture: int

    @property
    def missed(self) -> int:
        return max(self.keys_sent - self.digits_rfc4733, self.keys_sent - self.keys_chosen)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@contextmanager
def ivr_pbx(workdir: Path):
    scenarios = workdir / "scenarios"
    write_pcm16(scenarios / "prompts" / "en" / "greeting.wav", tone(400, 30.0))
    (scenarios / "bench.ivr").write_text(SCENARIO)
    config = workdir / "pbx.yaml"
    config.write_text(
        NO_RATE_LIMITS +
        "realm: pbx.test\nadmin: {listen: null}\nlog: {level: info, sip_trace: false}\n"
        f"media: {{rtp_host: 127.0.0.1, rtp_ports: {{low: {RTP_LOW}, high: {RTP_HIGH}}}}}\n"
        'extensions:\n  "1001": {password: secret1001}\n'
        f"ivr: {{scenarios: '{scenarios}', prompts: '{scenarios / 'prompts'}', tts_cache: '{workdir / 'tts'}'}}\n"
        "routes:\n  - {match: '800', scenario: bench}\n"
    )
    with pbx_process(config, workdir) as (port, pbx, log_path):
        yield port, pbx, log_path


class Senders:
    """Audio on every call, and keys by RFC 4733, from the calls' own sockets, on a 20 ms grid."""

    def __init__(self, sockets: list[socket.socket], key_interval: float, audio: bool = True) -> None:
        self.sockets = sockets
        self.audio = audio
        self.remotes: list[tuple[str, int] | None] = [None] * len(sockets)
        self.key_interval = key_interval
        self.noise = ulaw_encode(quiet_noise(2.0))
        self.state = [[random.randrange(2**32), random.randrange(2**16), random.randrange(2**32)] for _ in sockets]
        self.next_key: list[float] = [0.0] * len(sockets)
        self.events: dict[int, list] = {}  # call index -> [digit, frames sent, timestamp]
        self.pressing = False
        self.keys_sent = 0
        self.frames = 0

    def start_keys(self, now: float) -> None:
        self.next_key = [now + random.uniform(0.2, self.key_interval) for _ in self.sockets]
        self.pressing = True

    async def run(self) -> None:
        # Phones are not in step: each quarter of the calls sends 5 ms after the previous one,
        # so the PBX gets a steady flow rather than every call's packet at the same instant.
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        quarter = 0
        while True:
            self._tick(loop.time(), quarter)
            quarter = (quarter + 1) % SPREAD
            next_at += 0.020 / SPREAD
            delay = next_at - loop.time()
            if delay < -0.1:
                next_at = loop.time()
            await asyncio.sleep(max(delay, 0))

    def _tick(self, now: float, quarter: int) -> None:
        if quarter == 0:
            self.frames += 1
        offset = (self.frames * FRAME) % (len(self.noise) - FRAME)
        audio = self.noise[offset : offset + FRAME]
        for index in range(quarter, len(self.sockets), SPREAD):
            sock = self.sockets[index]
            remote = self.remotes[index]
            if remote is None:
                continue
            state = self.state[index]  # ssrc, sequence, timestamp
            packets = []
            if self.audio:
                state[1] = (state[1] + 1) & 0xFFFF
                packets.append(RTP_HEADER.pack(0x80, 0, state[1], state[2], state[0]) + audio)
            event = self.events.get(index)
            if event is None and self.pressing and now >= self.next_key[index]:
                digit = "1" if self.keys_sent % 2 == 0 else "2"
                event = self.events[index] = [digit, 0, state[2]]
                self.keys_sent += 1
                self.next_key[index] = now + self.key_interval
            if event is not None:
                event[1] += 1
                end = event[1] >= EVENT_FRAMES
                payload = struct.pack("!BBH", DIGIT_CODES[event[0]], (0x80 if end else 0) | 10, event[1] * FRAME)
                for _ in range(3 if end else 1):  # RFC 4733 2.5.1.4: the end packet three times
                    state[1] = (state[1] + 1) & 0xFFFF
                    packets.append(RTP_HEADER.pack(0x80, (0x80 if event[1] == 1 else 0) | EVENT_PT, state[1],
                                                   event[2], state[0]) + payload)
                if end:
                    del self.events[index]
            state[2] = (state[2] + FRAME) & 0xFFFFFFFF
            for packet in packets:
                try:
                    sock.sendto(packet, remote)
                except OSError:
                    pass


async def run_calls(port: int, pbx: subprocess.Popen, sockets: list[socket.socket], capture: RtpCapture,
                    seconds: float, settle: float, key_interval: float, audio: bool):
    uac = await IvrCaller.open(("127.0.0.1", port), "1001", "secret1001")
    senders = Senders(sockets, key_interval, audio)
    sending = asyncio.ensure_future(senders.run())
    try:
        async def one(index: int):
            call = await uac.call("800", sockets[index].getsockname()[1], capture.rtcp_port, timeout=30)
            if call.answered:
                senders.remotes[index] = uac.remote_media(call.call_id)
            return call

        pending = []
        for index in range(len(sockets)):
            pending.append(asyncio.ensure_future(one(index)))
            await asyncio.sleep(1 / CALLS_PER_SECOND)
        calls = await asyncio.gather(*pending)
        await asyncio.sleep(settle)
        senders.start_keys(asyncio.get_running_loop().time())
        cpu_before, window_start = cpu_seconds(pbx.pid), time.time_ns()
        await asyncio.sleep(seconds)
        window = (window_start, time.time_ns())
        cpu = (cpu_seconds(pbx.pid) - cpu_before) / ((window[1] - window[0]) / 1e9)
        senders.pressing = False
        await asyncio.sleep(1.0)  # the last events end, the PBX reports them
        sending.cancel()
        await asyncio.gather(*(uac.hangup(call) for call in calls))
        return calls, window, cpu, senders.keys_sent
    finally:
        sending.cancel()
        uac.close()


def count_events(log_path: Path) -> Counter:
    counts: Counter = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if "event=DigitReceived" in line:
            source = re.search(r"source='(\w+)'", line)
            counts[f"digit_{source[1] if source else '?'}"] += 1
        elif "event=IvrKeyChosen" in line:
            counts["chosen"] += 1
    return counts


def measure(calls: int, seconds: float, settle: float, key_interval: float, audio: bool) -> Round:
    with tempfile.TemporaryDirectory(prefix="bench_ivr_calls_") as name:
        workdir = Path(name)
        sockets = []
        for _ in range(calls):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            sockets.append(sock)
        try:
            with ivr_pbx(workdir) as (port, pbx, log_path), \
                    RtpCapture(calls, workdir, max_seconds=90 + calls / 20, sockets=sockets) as capture:  # fmt: skip
                results, window, cpu, keys_sent = asyncio.run(
                    run_calls(port, pbx, sockets, capture, seconds, settle, key_interval, audio))
                captured = capture.stop(timeout=60)
            counts = count_events(log_path)
        finally:
            for sock in sockets:
                sock.close()
        summary = summarise(analyse(captured, window_ns=window))
    answered = sum(call.answered for call in results)
    return Round(calls, answered, summary, keys_sent, counts["digit_rfc4733"], counts["digit_inband"],
                 counts["chosen"], cpu, captured.dropped_by_kernel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=25, help="first N")
    parser.add_argument("--step", type=int, default=25, help="N grows by this each round")
    parser.add_argument("--max", type=int, default=400, help="largest N to try")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per N, all calls up")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between the last answer and measuring")
    parser.add_argument("--key-interval", type=float, default=2.0, help="seconds between one caller's keys")
    parser.add_argument("--no-audio", dest="audio", action="store_false",
                        help="callers send only their keys (no audio, so no in-band detection): for comparison")
    args = parser.parse_args()

    began = time.monotonic()
    sends = "PCMU audio and an RFC 4733" if args.audio else "(no audio) an RFC 4733"
    print(f"N callers in an IVR menu (30 s greeting tone playing; each caller sends {sends} "
          f"key every {args.key_interval:g} s), {args.seconds:g} s measured with all up; "
          "late = more than 5 ms after the stream's 20 ms slot, or missing")
    print(f"{'N':>5}{'answered':>9}{'packets':>10}{'late>5ms':>9}{'late>10ms':>10}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'keys':>7}{'digits':>8}{'chosen':>8}{'missed':>7}{'inband':>7}{'PBX CPU':>8}")
    best = None
    calls = args.start
    while calls <= args.max:
        result = measure(calls, args.seconds, args.settle, args.key_interval, args.audio)
        s = result.summary
        print(f"{calls:>5}{result.answered:>9}{s.packets:>10,}{s.late_5ms_fraction:>9.2%}{s.late_10ms_fraction:>10.2%}"
              f"{s.p50_ms:>8.2f}{s.p99_ms:>8.2f}{result.keys_sent:>7}{result.digits_rfc4733:>8}"
              f"{result.keys_chosen:>8}{result.missed:>7}{result.digits_inband:>7}{result.pbx_cpu:>8.0%}", flush=True)
        problems = []
        if result.answered < calls:
            problems.append(f"{calls - result.answered} calls not answered")
        if result.dropped_by_capture:
            problems.append(f"the capture dropped {result.dropped_by_capture} packets")
        if s.late_5ms_fraction >= 0.01:
            problems.append("1 % or more late")
        if result.missed:
            problems.append(f"{result.missed} keys missed")
        if result.digits_inband:
            problems.append(f"{result.digits_inband} false in-band digits")
        if problems:
            print(f"  N={calls}: {'; '.join(problems)}")
            break
        best = calls
        calls += args.step
    print(f"largest N with < 1 % late packets and no missed key: {best if best is not None else 'none'} "
          f"({os.cpu_count()} cores shared by the PBX, the callers and the capture; {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    main()
