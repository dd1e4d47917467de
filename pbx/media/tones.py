"""Call-progress tones, synthesised: what a caller hears while the PBX rings someone for them.

ITU-T E.180 and its national tables give the cadences; the North American ringback (440 +
480 Hz, 2 s on, 4 s off) and the European one (425 Hz, 1 s on, 4 s off) are the two phones
everywhere recognise. Pure: 8 kHz PCM16 bytes out, for a looping `Player`.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array

RATE = 8000
LEVEL = 0.1 * 32767  # about -20 dBm0 per tone: audible, never loud


def tone(frequencies: tuple[float, ...], seconds: float) -> bytes:
    samples = array("h", (
        int(LEVEL * sum(math.sin(2 * math.pi * f * n / RATE) for f in frequencies) / len(frequencies))
        for n in range(int(seconds * RATE))
    ))  # fmt: skip
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * RATE))


def ringback(style: str = "us") -> bytes:
    """One cadence of ringback: play it in a loop."""
    if style == "eu":
        return tone((425.0,), 1.0) + silence(4.0)
    return tone((440.0, 480.0), 2.0) + silence(4.0)


@functools.cache
def ringback_cadence() -> bytes:
    """The US ringback cadence, made once when first needed (not at import: it takes 15 ms)."""
    return ringback()


__all__ = ["ringback", "ringback_cadence", "silence", "tone"]
