"""Prompts and playlists: 20 ms frames of 8 kHz mono PCM16 for the media clock to send.

`PromptCache` loads PCM WAV files once, converting other sample rates and
channel counts to 8 kHz mono (averaged channels, linear interpolation) and
keeps the result. `Player` walks a playlist frame by frame, can loop (music
on hold) and stops at once on barge-in. Encoding to G.711 and RTP pacing are
the caller's: the player only says what the next 20 ms sound like.

Pure apart from reading the WAV files the cache is asked for; no clock.
"""

from __future__ import annotations

import sys
import wave
from array import array
from pathlib import Path

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_BYTES = 2 * FRAME_SAMPLES
SILENCE = bytes(FRAME_BYTES)


class PromptError(Exception):
    """A prompt file is missing or not a PCM WAV; the message names the file and why."""


class PromptCache:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._loaded: dict[str, bytes] = {}

    def get(self, name: str) -> bytes:
        """8 kHz mono PCM16 (little-endian) of prompt `name` (a file stem or a path)."""
        pcm = self._loaded.get(name)
        if pcm is None:
            path = Path(name) if Path(name).suffix else self.directory / f"{name}.wav"
            pcm = self._loaded[name] = load_wav(path)
        return pcm

    def __contains__(self, name: str) -> bool:
        return name in self._loaded or (self.directory / f"{name}.wav").exists()


def load_wav(path: Path) -> bytes:
    try:
        with wave.open(str(path), "rb") as reader:
            width, channels, rate = reader.getsampwidth(), reader.getnchannels(), reader.getframerate()
            raw = reader.readframes(reader.getnframes())
    except FileNotFoundError:
        raise PromptError(f"{path}: no such prompt file") from None
    except (wave.Error, EOFError) as error:
        raise PromptError(f"{path}: not a PCM WAV file ({error})") from None
    if width != 2:
        raise PromptError(f"{path}: {8 * width}-bit samples; prompts must be 16-bit PCM")
    samples = array("h")
    samples.frombytes(raw)
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    if channels > 1:
        samples = array("h", (sum(samples[i : i + channels]) // channels for i in range(0, len(samples), channels)))
    if rate != RATE:
        samples = _resample(samples, rate)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def _resample(samples: array, rate: int) -> array:
    """Linear interpolation to 8 kHz; done once per prompt, at load time."""
    if not samples:
        return samples
    count = max(1, len(samples) * RATE // rate)
    step = rate / RATE
    last = len(samples) - 1
    out = array("h", bytes(2 * count))
    for index in range(count):
        position = index * step
        left = int(position)
        right = min(left + 1, last)
        fraction = position - left
        out[index] = int(samples[min(left, last)] * (1 - fraction) + samples[right] * fraction)
    return out


class Player:
    """Plays a list of PCM clips one 20 ms frame at a time."""

    def __init__(self, clips: list[bytes], *, loop: bool = False) -> None:
        self.clips = [clip for clip in clips if clip]
        self.loop = loop
        self._clip = 0
        self._offset = 0
        self.stopped = not self.clips

    @property
    def finished(self) -> bool:
        return self.stopped

    def stop(self) -> None:
        """Barge-in: the caller pressed a key, stop now."""
        self.stopped = True

    def next_frame(self) -> bytes | None:
        """The next 20 ms (padded with silence at the end of the last clip), or None when done."""
        if self.stopped:
            return None
        frame = bytearray()
        while len(frame) < FRAME_BYTES:
            clip = self.clips[self._clip]
            take = clip[self._offset : self._offset + FRAME_BYTES - len(frame)]
            frame += take
            self._offset += len(take)
            if self._offset >= len(clip):
                self._clip, self._offset = self._clip + 1, 0
                if self._clip == len(self.clips):
                    if not self.loop:
                        self.stopped = True
                        break
                    self._clip = 0
        return bytes(frame) + SILENCE[len(frame) :]
