"""G.711 encode and decode throughput of `pbx.media.g711`, with `audioop` as the yardstick when present.

Each of mu-law and A-law is encoded and decoded over and over for a few
seconds (default 3 s per figure), in 20 ms frames of 160 samples (what the
media path does per RTP packet) and in one-second blocks (what a prompt
loader does). Printed: samples per second and real-time channels per core
(samples/s / 8000). When `audioop` is importable (Python <= 3.12), its
figure and our ratio to it come from the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_g711.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pbx.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # type: ignore[import-not-found]  # removed in Python 3.13
    except ImportError:
        audioop = None

RATE = 8000


def speech_like(samples: int) -> bytes:
    """A deterministic mix of tones at speech-like levels, as PCM16 little-endian."""
    values = (
        int(6000 * math.sin(2 * math.pi * 440 * n / RATE) + 3000 * math.sin(2 * math.pi * 1230 * n / RATE))
        for n in range(samples)
    )
    return b"".join(v.to_bytes(2, "little", signed=True) for v in values)


Codec = Callable[[bytes], bytes]


def throughput(function: Codec, blocks: list[bytes], samples_per_block: int, seconds: float) -> float:
    """Samples per second of ``function`` applied to ``blocks`` in turn for about ``seconds``."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for block in blocks:
            function(block)
        done += len(blocks) * samples_per_block
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def report(label: str, ours: float, reference: float | None) -> None:
    line = f"  {label:<26} {ours / 1e6:8.2f} Msamples/s  {ours / RATE:9.0f} channels/core"
    if reference is not None:
        line += f"   audioop {reference / 1e6:8.2f} Msamples/s  ours/audioop {ours / reference:6.3f}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per figure")
    args = parser.parse_args()

    second = speech_like(RATE)
    frame_pcm = [second[i : i + 320] for i in range(0, len(second), 320)]
    cases: list[tuple[str, Codec, Codec | None, bool]] = [
        ("mu-law encode", ulaw_encode, (lambda p: audioop.lin2ulaw(p, 2)) if audioop else None, True),
        ("mu-law decode", ulaw_decode, (lambda u: audioop.ulaw2lin(u, 2)) if audioop else None, False),
        ("A-law encode", alaw_encode, (lambda p: audioop.lin2alaw(p, 2)) if audioop else None, True),
        ("A-law decode", alaw_decode, (lambda a: audioop.alaw2lin(a, 2)) if audioop else None, False),
    ]
    presence = "present" if audioop else "absent"
    print(f"Python {sys.version.split()[0]}, {args.seconds:g} s per figure, audioop {presence}")
    for size_label, blocks_pcm, samples in (("20 ms frames", frame_pcm, 160), ("1 s blocks", [second], RATE)):
        print(f"{size_label}:")
        for label, ours, theirs, takes_pcm in cases:
            encoder = ulaw_encode if label.startswith("mu") else alaw_encode
            blocks = blocks_pcm if takes_pcm else [encoder(block) for block in blocks_pcm]
            our_rate = throughput(ours, blocks, samples, args.seconds)
            their_rate = throughput(theirs, blocks, samples, args.seconds) if theirs else None
            report(label, our_rate, their_rate)


if __name__ == "__main__":
    main()
