"""What a recording holds: its two channels, stretches of digital silence, and DTMF tones.

Pure numpy on samples (floats in [-1, 1), 8 kHz), plus reading the PBX's stereo WAV once the
writer thread has finalised its header.
"""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np

from ..ivr.tones import DTMF

RATE = 8000
FRAME = 160  # 20 ms


def read_stereo(path: str | Path, timeout: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) of a 2-channel 8 kHz PCM16 WAV; waits for the writer to close it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with wave.open(str(path)) as reader:
                shape = (reader.getnchannels(), reader.getframerate(), reader.getsampwidth())
                data = reader.readframes(reader.getnframes())
            if shape != (2, RATE, 2) or not data:
                raise ValueError(f"{path}: {shape}, {len(data)} bytes")
            frames = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
            return frames[0::2], frames[1::2]
        except (wave.Error, EOFError, ValueError, FileNotFoundError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def zero_runs(samples: np.ndarray, min_seconds: float = 0.2) -> list[tuple[float, float]]:
    """(start, end) in seconds of every run of exactly-zero samples at least `min_seconds` long.

    A phone's audio through G.711 is never exactly 0 for long (even faint noise is not): such a
    run is what the recorder wrote while it was paused, or while a channel had nothing at all."""
    zero = np.concatenate(([False], samples == 0, [False]))
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    runs = [(start / RATE, end / RATE) for start, end in zip(edges[0::2], edges[1::2])]
    return [(start, end) for start, end in runs if end - start >= min_seconds]


_LOW = sorted({low for low, _ in DTMF.values()})
_HIGH = sorted({high for _, high in DTMF.values()})
_DIGIT = {pair: digit for digit, pair in DTMF.items()}


def _power(frames: np.ndarray, frequencies: list[int]) -> np.ndarray:
    n = np.arange(frames.shape[1])
    basis = np.exp(-2j * np.pi * np.outer(frequencies, n) / RATE)
    return np.abs(frames @ basis.T) ** 2 * 2 / frames.shape[1]


def dtmf_tones(samples: np.ndarray, *, floor: float = 0.02, share: float = 0.6) -> list[tuple[float, str]]:
    """(start in seconds, digit) of each DTMF tone in `samples` (ITU-T Q.23 pairs).

    A 20 ms frame holds a tone when it is louder than `floor` (RMS) and its strongest low-group
    and high-group frequencies carry at least `share` of its energy; consecutive frames of the
    same digit are one tone."""
    usable = len(samples) // FRAME * FRAME
    if usable == 0:
        return []
    frames = samples[:usable].reshape(-1, FRAME)
    energy = np.sum(frames**2, axis=1)
    low, high = _power(frames, _LOW), _power(frames, _HIGH)
    tones: list[tuple[float, str]] = []
    previous = None
    for index, total in enumerate(energy):
        digit = None
        if total > 0 and np.sqrt(total / FRAME) >= floor:
            best_low, best_high = int(np.argmax(low[index])), int(np.argmax(high[index]))
            if (low[index, best_low] + high[index, best_high]) / total >= share:
                digit = _DIGIT.get((_LOW[best_low], _HIGH[best_high]))
        if digit is not None and digit != previous:
            tones.append((index * FRAME / RATE, digit))
        previous = digit
    return tones


def logged_at(log_text: str, event: str, call_id: str) -> float:
    """When the PBX logged `event=<event> call_id='<call_id>'` (the line's UTC timestamp, seconds since the epoch)."""
    from datetime import datetime

    needle = f"event={event} call_id='{call_id}'"
    for line in log_text.splitlines():
        if needle in line:
            return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00")).timestamp()
    raise AssertionError(f"no {needle} in the PBX log")
