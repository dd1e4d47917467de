"""What watching a leg costs per RTP packet: receive statistics, RFC 4733 and (optionally) in-band DTMF.

Every packet a phone sends on a bridged call passes through its leg's `LegMonitor` on top of the
relay's own work (bench_relay.py measures that). Prints microseconds per 20 ms PCMU packet.
"""

from __future__ import annotations

import math
import struct
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbx.media.g711 import CODECS  # noqa: E402
from pbx.media.leg_monitor import LegMonitor  # noqa: E402
from pbx.media.rtp import RtpPacket  # noqa: E402

PACKETS = 10_000


def packets(pcm_frame: bytes) -> list[bytes]:
    payload = CODECS["PCMU"].encode(pcm_frame)
    return [RtpPacket(0, n & 0xFFFF, 160 * n, 7, payload).serialize() for n in range(PACKETS)]


def cost(monitor: LegMonitor, stream: list[bytes]) -> float:
    def run() -> None:
        for n, packet in enumerate(stream):
            now = 100.0 + n * 0.02
            monitor.receive(packet, now)
            monitor.flush(now)

    return timeit.timeit(run, number=5) / (5 * PACKETS) * 1e6


def main() -> None:
    speech = struct.pack("<160h", *(int(6000 * math.sin(2 * math.pi * 300 * n / 8000)) for n in range(160)))
    rows = [
        ("bridged leg, telephone-event offered (the usual case)", LegMonitor(events=[101]), bytes(320)),
        ("in-band detection on, silence", LegMonitor(inband=True), bytes(320)),
        ("in-band detection on, audible signal", LegMonitor(inband=True), speech),
    ]
    print("| leg | us per packet |\n| --- | ---: |")
    for label, monitor, frame in rows:
        print(f"| {label} | {cost(monitor, packets(frame)):.1f} |")


if __name__ == "__main__":
    main()
