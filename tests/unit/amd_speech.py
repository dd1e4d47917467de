"""Synthetic answers for the answering-machine detection tests: speech-like bursts over line noise.

A "word" is a voiced sound - a harmonic series on a pitch between 100 and 220 Hz, with
band-limited noise for the consonants - whose amplitude rises and falls at a syllable rate of
4 to 6 Hz and never quite stops inside the word (the dips between syllables are 10 dB down, as
in running speech). Between words only the line noise is heard. An `Answer` says when each word
starts and how long it is, the talker's level and the noise level, in dBFS of mean square as
pbx.media.amd measures them; `pcm` renders it as 8 kHz PCM16.

`human` and `machine` draw answers at random from a seeded `random.Random`: a person's short
"Hello?" (one to three words, at most 1.3 s) after picking up, and a recorded greeting of 3 to 8 s
with short gaps between words, as answering machines play them.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

import numpy as np

RATE = 8000
FRAME = 160  # 20 ms
BANKS = 4  # carriers of each kind to draw from
BANK_SECONDS = 10


@dataclass(frozen=True)
class Answer:
    words: list[tuple[float, float]]  # (start, seconds) from the answer
    level_dbfs: float = -20.0  # the talker, while speaking
    noise_dbfs: float = -65.0  # the line, always
    seconds: float = 5.0
    seed: int = 0
    kind: str = field(default="")

    @property
    def greeting_seconds(self) -> float:
        if not self.words:
            return 0.0
        return self.words[-1][0] + self.words[-1][1] - self.words[0][0]


def _band_noise(rng: np.random.Generator, n: int, low: float = 300.0, high: float = 3400.0) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequencies = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(frequencies < low) | (frequencies > high)] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise ** 2)) or 1.0)


def _voice(rng: np.random.Generator, n: int) -> np.ndarray:
    """A voiced carrier of RMS 1: harmonics of a slowly gliding pitch, and some breath."""
    t = np.arange(n) / RATE
    pitch = rng.uniform(100, 220) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 16))
    carrier = harmonics / np.sqrt(np.mean(harmonics ** 2)) + 0.5 * _band_noise(rng, n)
    return carrier / np.sqrt(np.mean(carrier ** 2))


@functools.cache
def _bank(kind: str, index: int) -> np.ndarray:
    """Ten seconds of one of a few carriers, made once: rendering stays cheap for hundreds of answers."""
    rng = np.random.default_rng(1000 * index + len(kind))
    return _voice(rng, BANK_SECONDS * RATE) if kind == "voice" else _band_noise(rng, BANK_SECONDS * RATE, 100, 3800)


def _carrier(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    bank = _bank(kind, int(rng.integers(BANKS)))
    offset = int(rng.integers(len(bank) - n))
    return bank[offset:offset + n]


def pcm(answer: Answer) -> bytes:
    """The answer as 8 kHz PCM16 little-endian, `answer.seconds` long (at most ten seconds)."""
    rng = np.random.default_rng(answer.seed)
    n = int(answer.seconds * RATE)
    t = np.arange(n) / RATE
    envelope = np.zeros(n)
    for start, length in answer.words:
        inside = (t >= start) & (t < start + length)
        local = t[inside] - start
        syllables = max(1, round(length * rng.uniform(4, 6)))
        rate = syllables / length
        # Syllables: peaks at full level, dips 10 dB down, soft edges at the word's ends.
        shape = 0.32 + 0.68 * np.sin(np.pi * rate * local) ** 2
        edges = np.minimum(1.0, np.minimum(local, length - local) / 0.02)
        envelope[inside] = shape * edges
    if answer.words:
        spoken = envelope > 0
        envelope /= np.sqrt(np.mean(envelope[spoken] ** 2))  # the talker's RMS while speaking
    signal = 32768 * 10 ** (answer.level_dbfs / 20) * envelope * _carrier("voice", rng, n)
    signal += 32768 * 10 ** (answer.noise_dbfs / 20) * _carrier("noise", rng, n)
    return np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()


def frames(audio: bytes) -> list[bytes]:
    size = 2 * FRAME
    return [audio[i:i + size] for i in range(0, len(audio) - size + 1, size)]


def _levels(rng: random.Random) -> tuple[float, float]:
    """A talker between -35 and -12 dBFS over line noise at least 20 dB under it."""
    level = rng.uniform(-35, -12)
    return level, rng.uniform(-80, min(-50, level - 20))


def human(rng: random.Random, seed: int) -> Answer:
    """Picks up, says "Hello?" (or "Hello, Jane speaking"), then waits for an answer."""
    at = rng.uniform(0.2, 1.0)
    words = []
    for _ in range(rng.randint(1, 3)):
        length = rng.uniform(0.15, 0.5)
        if words and at + length - words[0][0] > 1.3:
            break
        words.append((at, length))
        at += length + rng.uniform(0.1, 0.25)
    level, noise = _levels(rng)
    return Answer(words, level, noise, seconds=4.5, seed=seed, kind="human")


def machine(rng: random.Random, seed: int) -> Answer:
    """A recorded greeting of 3 to 8 s: words of 0.15-0.6 s, gaps of 0.05-0.35 s."""
    at = rng.uniform(0.05, 0.5)
    end = at + rng.uniform(3.0, 8.0)
    words = []
    while at < end:
        length = rng.uniform(0.15, 0.6)
        words.append((at, length))
        at += length + rng.uniform(0.05, 0.35)
    level, noise = _levels(rng)
    return Answer(words, level, noise, seconds=4.5, seed=seed, kind="machine")


def quiet(rng: random.Random, seed: int) -> Answer:
    """Nobody speaks: the line noise alone, at -80 to -40 dBFS."""
    return Answer([], noise_dbfs=rng.uniform(-80, -40), seconds=4.5, seed=seed, kind="silence")
