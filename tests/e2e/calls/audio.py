"""Test audio for the call tests: espeak-ng/sox prompts, WAV I/O, and proof that audio crossed a call.

Every file is made fresh in the test's own directory (espeak-ng is deterministic, so two runs
give the same samples).  The format is the one baresip's ``aufile`` accepts with G.711 only:
8 kHz, mono, 16-bit signed PCM.  sipp's ``rtp_stream`` wants raw mu-law (``.ulaw``).

"The other side heard me" is proven by normalized cross-correlation, not by non-silence: windows
of what phone A sent are searched, over every lag, in what phone B recorded.  G.711 keeps the
waveform, so a window that crossed the call matches at ~0.9+; a window of unrelated audio
(B's own voice, another sentence) stays well below 0.5.  Short windows keep the match robust to
the jitter buffer adding or dropping a frame somewhere in the call.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

RATE = 8000

# Distinct sentences, one per phone, so each side's audio is recognisably its own.
SENTENCES = {
    "alpha": "Alpha calling. The quick brown fox jumps over the lazy dog, one two three four five.",
    "bravo": "Bravo answering. She sells sea shells by the sea shore, six seven eight nine ten.",
    "charlie": "Charlie here. Peter Piper picked a peck of pickled peppers, eleven twelve thirteen.",
    "delta": "Delta speaking. How much wood would a woodchuck chuck, fourteen fifteen sixteen.",
}


def _require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found on PATH (apt-get install espeak-ng sox)")
    return path


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def speech_wav(directory: Path, name: str, text: str | None = None, seconds: float = 20.0) -> Path:
    """``name.wav``: an espeak-ng sentence repeated (with a short gap) up to ``seconds`` long.

    Long enough that baresip's aufile, which hangs the call up at end of file, never reaches the
    end before the test hangs up itself.
    """
    espeak, sox = _require("espeak-ng"), _require("sox")
    directory.mkdir(parents=True, exist_ok=True)
    raw = directory / f"{name}_once.wav"
    _run([espeak, "-v", "en-us", "-s", "160", "-w", str(raw), text or SENTENCES[name]])
    once = directory / f"{name}_once_8k.wav"
    _run([sox, str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(once), "pad", "0", "0.3"])
    repeats = max(1, int(seconds / max(0.5, duration(once))) + 1)
    out = directory / f"{name}.wav"
    _run([sox, str(once), str(out), "repeat", str(repeats - 1), "trim", "0", str(seconds)])
    return out


def noise_wav(directory: Path, name: str, seconds: float = 60.0, seed: int = 1) -> Path:
    """Band-limited white noise (-12 dBFS-ish); ideal for correlation, a "voice" for callees."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, 0.15, int(seconds * RATE)).clip(-0.9, 0.9)
    path = directory / f"{name}.wav"
    write_wav(path, samples)
    return path


def tone_wav(directory: Path, name: str = "tone_60s", seconds: float = 60.0, hz: int = 440) -> Path:
    """A steady sine (sox ``synth``), the usual long source for an answering phone."""
    sox = _require("sox")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.wav"
    _run([
        sox, "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(path),
        "synth", str(seconds), "sine", str(hz), "gain", "-12",
    ])  # fmt: skip
    return path


def ulaw(wav: Path) -> Path:
    """Raw mu-law next to ``wav`` (what sipp's ``rtp_stream`` plays)."""
    out = wav.with_suffix(".ulaw")
    _run([_require("sox"), str(wav), "-t", "ul", str(out)])
    return out


def duration(path: Path) -> float:
    with wave.open(str(path)) as reader:
        return reader.getnframes() / reader.getframerate()


def read_wav(path: Path) -> np.ndarray:
    """Mono float samples in [-1, 1) from an 8 kHz 16-bit PCM WAV (baresip's sndfile dumps)."""
    with wave.open(str(path)) as reader:
        if reader.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * reader.getsampwidth()}-bit")
        frames = reader.readframes(reader.getnframes())
        channels = reader.getnchannels()
        rate = reader.getframerate()
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate != RATE:
        raise ValueError(f"{path}: expected {RATE} Hz, got {rate}")
    return samples


def write_wav(path: Path, samples: np.ndarray) -> Path:
    pcm = (np.asarray(samples).clip(-1.0, 32767 / 32768) * 32768.0).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(pcm.tobytes())
    return path


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0


def active_seconds(samples: np.ndarray, threshold: float = 0.01, frame: int = 160) -> float:
    """Seconds of 20 ms frames whose RMS is above ``threshold`` (about -40 dBFS)."""
    usable = len(samples) // frame * frame
    if usable == 0:
        return 0.0
    frames = samples[:usable].reshape(-1, frame)
    loud = np.sqrt(np.mean(np.square(frames), axis=1)) > threshold
    return float(loud.sum() * frame / RATE)


# --------------------------------------------------------------------------------------------
# correlation


def best_match(template: np.ndarray, signal: np.ndarray) -> tuple[float, int]:
    """Peak normalized cross-correlation of ``template`` over every lag in ``signal``, and its lag.

    ``sum(t * s[lag:lag+n]) / (|t| * |s[lag:lag+n]|)``, computed with FFTs, so 1.0 means the
    template occurs verbatim (up to gain) at that lag.  Windows of ``signal`` that are near silent
    are skipped: a tiny window would otherwise normalize any noise up to a high score.
    """
    n = len(template)
    if n == 0 or len(signal) < n:
        return 0.0, 0
    t = template - template.mean()
    t_norm = np.linalg.norm(t)
    if t_norm == 0:
        return 0.0, 0
    size = 1 << int(np.ceil(np.log2(len(signal) + n)))
    dot = np.fft.irfft(np.fft.rfft(signal, size) * np.conj(np.fft.rfft(t, size)), size)[: len(signal) - n + 1]
    cumulative = np.concatenate(([0.0], np.cumsum(signal)))
    cumulative_sq = np.concatenate(([0.0], np.cumsum(np.square(signal))))
    window_sum = cumulative[n:] - cumulative[:-n]
    window_energy = np.maximum(cumulative_sq[n:] - cumulative_sq[:-n] - window_sum**2 / n, 0.0)
    floor = n * (0.003**2)  # about -50 dBFS: treat quieter windows as silence
    scores = np.where(window_energy > floor, dot / (t_norm * np.sqrt(np.maximum(window_energy, 1e-12))), 0.0)
    lag = int(np.argmax(scores))
    return float(scores[lag]), lag


@dataclass(frozen=True)
class Correlation:
    """How well windows of a sent signal are found in a received one."""

    scores: tuple[float, ...]
    lags: tuple[int, ...]

    @property
    def peak(self) -> float:
        return max(self.scores, default=0.0)

    @property
    def median(self) -> float:
        return float(np.median(self.scores)) if self.scores else 0.0

    def __str__(self) -> str:
        shown = ", ".join(f"{score:.2f}@{lag / RATE:.2f}s" for score, lag in zip(self.scores, self.lags))
        return f"peak={self.peak:.2f} median={self.median:.2f} [{shown}]"


def correlate(sent: np.ndarray, received: np.ndarray, *, window: float = 0.5, count: int = 6) -> Correlation:
    """Search ``count`` loud ``window``-second pieces of ``sent`` in ``received`` (any lag)."""
    size = int(window * RATE)
    starts = _loud_windows(sent, size, count)
    results = [best_match(sent[start : start + size], received) for start in starts]
    return Correlation(tuple(score for score, _ in results), tuple(lag for _, lag in results))


def _loud_windows(samples: np.ndarray, size: int, count: int) -> list[int]:
    """Start indexes of up to ``count`` non-overlapping windows with speech-level energy, spread out."""
    candidates = [
        start for start in range(0, len(samples) - size + 1, size) if rms(samples[start : start + size]) > 0.02
    ]
    if len(candidates) <= count:
        return candidates
    picks = np.linspace(0, len(candidates) - 1, count).round().astype(int)
    return [candidates[index] for index in picks]


def assert_heard(
    sent: np.ndarray, heard: np.ndarray, *, unrelated: list[np.ndarray], what: str, align: str = "start"
) -> Correlation:
    """Fail unless ``heard`` contains ``sent`` and clearly not the ``unrelated`` signals.

    ``sent`` is trimmed to the length of ``heard`` (both recordings start when the call's audio
    starts; with ``align="end"`` both end when it ends), then 1 s windows of it are searched in
    ``heard``.  Thresholds, from direct baresip calls: a window that crossed the call scores ~1.0
    (G.711 keeps the waveform); espeak speech that did not scores 0.1-0.45 (same synthetic voice).
    """
    # align="end" when the listener joined late (a transfer target): both recordings end together
    keep = max(len(heard) - RATE // 2, RATE)
    usable = sent[:keep] if align == "start" else sent[-keep:]
    match = correlate(usable, heard, window=1.0)
    controls = [correlate(signal[: len(usable)], heard, window=1.0) for signal in unrelated]
    details = f"{what}: heard {len(heard) / RATE:.1f}s, match {match}; unrelated: " + "; ".join(map(str, controls))
    assert match.scores, f"{what}: nothing loud enough to correlate in what was sent\n{details}"
    assert match.peak > 0.8, f"{what}: the sent audio is not in the recording\n{details}"
    assert match.median > 0.5, f"{what}: most of the sent audio is missing from the recording\n{details}"
    for control in controls:
        assert control.peak < match.peak - 0.3, f"{what}: an unrelated signal matches as well\n{details}"
    return match
