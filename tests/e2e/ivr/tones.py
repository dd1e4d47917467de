"""Tone prompts for the IVR tests, and telling from received audio which of them was heard.

Every recorded prompt of the test scenarios is a pure sine of its own frequency. The
frequencies are multiples of 100 Hz, so over any 20 ms window (160 samples at 8 kHz) two
different prompts are orthogonal: the energy of a window at each candidate frequency says
which prompt it belongs to, however the window is aligned with the packets. Pure: numbers in,
numbers out (numpy), plus writing the WAVs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..calls.audio import write_wav

RATE = 8000
FRAME = 160  # 20 ms
AMPLITUDE = 0.3  # about -10 dBFS

# prompt name -> (frequency Hz, seconds)
TONES: dict[str, tuple[int, float]] = {
    "greeting": (400, 2.0),
    "short": (500, 1.2),
    "sub": (600, 1.5),
    "invalid": (700, 1.0),
    "noinput": (800, 1.0),
    "goodbye": (900, 1.0),
    "closed": (1000, 1.5),
    "enter": (1100, 1.2),
    "accepted": (1200, 1.0),
    "rejected": (1300, 1.0),
    "v1": (1400, 1.0),
    "v2": (1500, 1.0),
}


def tone(frequency: float, seconds: float, amplitude: float = AMPLITUDE) -> np.ndarray:
    n = np.arange(int(seconds * RATE))
    return amplitude * np.sin(2 * np.pi * frequency * n / RATE)


def write_pcm16(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, samples)


def write_tone_prompts(directory: Path, tones: dict[str, tuple[int, float]] = TONES) -> Path:
    """``<directory>/<name>.wav`` for every tone prompt (8 kHz mono PCM16)."""
    for name, (frequency, seconds) in tones.items():
        write_pcm16(directory / f"{name}.wav", tone(frequency, seconds))
    return directory


def quiet_noise(seconds: float, level: float = 0.004, seed: int = 7) -> np.ndarray:
    """What a caller sends when it says nothing: faint noise (-48 dBFS), nothing tone-like."""
    return np.random.default_rng(seed).normal(0.0, level, int(seconds * RATE)).clip(-0.05, 0.05)


# --------------------------------------------------------------------------------------------
# mu-law (ITU-T G.711), for RTP payloads


def ulaw_encode(samples: np.ndarray) -> bytes:
    value = (np.asarray(samples).clip(-1.0, 32767 / 32768) * 32768.0).astype(np.int32)
    sign = np.where(value < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(value), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    byte = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float64) / 32768.0


# --------------------------------------------------------------------------------------------
# which tone is in a window


def _names_and_frequencies(tones: dict[str, tuple[int, float]]) -> tuple[list[str], np.ndarray]:
    names = list(tones)
    return names, np.array([tones[name][0] for name in names], dtype=np.float64)


def label_frames(frames: np.ndarray, tones: dict[str, tuple[int, float]] = TONES, *,
                 floor: float = 0.02, purity: float = 0.6) -> list[str | None]:
    """For each row of ``frames`` (windows of samples): the tone it carries, or None.

    A window belongs to a tone when its RMS is above ``floor`` and at least ``purity`` of its
    energy lies at that tone's frequency (a single-bin DFT at the exact frequency).
    """
    names, frequencies = _names_and_frequencies(tones)
    frames = np.atleast_2d(frames)
    size = frames.shape[1]
    n = np.arange(size)
    basis = np.exp(-2j * np.pi * np.outer(frequencies, n) / RATE)  # tones x samples
    projections = np.abs(frames @ basis.T) ** 2 * 2 / size  # frames x tones
    energy = np.sum(frames**2, axis=1)
    labels: list[str | None] = []
    for row, total in zip(projections, energy):
        if total <= 0 or np.sqrt(total / size) < floor:
            labels.append(None)
            continue
        best = int(np.argmax(row))
        labels.append(names[best] if row[best] / total >= purity else None)
    return labels


@dataclass(frozen=True)
class Heard:
    """A stretch of one prompt in the received audio, in seconds from the start of the recording."""

    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def heard_segments(samples: np.ndarray, tones: dict[str, tuple[int, float]] = TONES, *,
                   min_seconds: float = 0.1, merge_gap: float = 0.06) -> list[Heard]:
    """The prompts heard in order, from 20 ms windows; stretches shorter than ``min_seconds``
    (prompt boundaries, a packet lost) are dropped and a gap under ``merge_gap`` is bridged."""
    usable = len(samples) // FRAME * FRAME
    labels = label_frames(samples[:usable].reshape(-1, FRAME), tones) if usable else []
    return segments_from_labels(labels, [index * FRAME / RATE for index in range(len(labels))],
                                FRAME / RATE, min_seconds=min_seconds, merge_gap=merge_gap)


def segments_from_labels(labels: list[str | None], starts: list[float], frame_seconds: float, *,
                         min_seconds: float = 0.1, merge_gap: float = 0.06) -> list[Heard]:
    runs: list[list] = []
    for label, start in zip(labels, starts):
        if label is None:
            continue
        if runs and runs[-1][0] == label and start - runs[-1][2] <= merge_gap + 1e-9:
            runs[-1][2] = start + frame_seconds
        else:
            runs.append([label, start, start + frame_seconds])
    kept = [Heard(name, start, end) for name, start, end in runs if end - start >= min_seconds - 1e-9]
    merged: list[Heard] = []
    for segment in kept:  # a short blip dropped between two stretches of the same prompt
        if merged and merged[-1].name == segment.name and segment.start - merged[-1].end <= merge_gap + 1e-9:
            merged[-1] = Heard(segment.name, merged[-1].start, segment.end)
        else:
            merged.append(segment)
    return merged


def names(segments: list[Heard]) -> list[str]:
    return [segment.name for segment in segments]


# --------------------------------------------------------------------------------------------
# DTMF for in-band digits (ITU-T Q.23)

DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
    "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
    "0": (941, 1336), "#": (941, 1477),
}  # fmt: skip


def dtmf_tone(digit: str, seconds: float = 0.08, level: float = 0.25) -> np.ndarray:
    low, high = DTMF[digit]
    n = np.arange(int(seconds * RATE))
    return level * (np.sin(2 * np.pi * low * n / RATE) + np.sin(2 * np.pi * high * n / RATE))
