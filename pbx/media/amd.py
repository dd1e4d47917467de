"""Answering-machine detection: was an answered outbound call picked up by a person or a machine?

A `MachineDetector` listens to what the called party sends in the first seconds after the
answer and gives one verdict as soon as the audio allows it:

- "human": a short greeting ("Hello?", at most `human_greeting` long) followed by
  `after_greeting_silence` of silence - a person waiting for an answer;
- "machine": a long greeting (voice for `long_greeting` without a pause of
  `after_greeting_silence`), or `max_words` words without such a pause - a recorded message;
- "silence": no voice at all in the first `initial_silence` seconds;
- "unknown": no verdict by `max_analysis` (a greeting between the two lengths, a talker who
  went quiet half way, noise too loud to tell).

The cadence rules are those of Asterisk's app_amd (initial silence, greeting length,
after-greeting silence, word count, total analysis time) with one change: a long initial
silence is reported as "silence", not as a machine, and the dialer decides what it means.

Voice activity is frame energy against a noise floor: each frame's level (dBFS of its mean
square) is voice when it is `voice_margin_db` above the floor and above `min_voice_dbfs`. The
floor starts at the first frame's level (at most `initial_floor_dbfs`, in case the first frame
is already speech), falls quickly towards quieter frames and rises slowly
(`floor_rise_db_per_second`), so steady line noise becomes the floor and the dips between
syllables keep it under a talker's voice. One sum of squares per 20 ms frame, no FFT: it runs on
every outbound call at once.

Time is the arrival time `now` of each frame, not a count of samples: a frame covers the time
since the previous input (at most its own length), and a gap with no packets at all (silence
suppression, a stalled stream) is silence. `deadline()` says when to call `handle_timer(now)`
for a verdict that needs no more audio (the callee sends none).

Pure: PCM16 bytes and `now` in, an `AmdVerdict` out. It does not decode G.711, read RTP, hold the
call or act on the verdict: calls/amd_watch.py taps a leg and publishes it, and under the FCC
and Ofcom rules (a live person is connected, or hears a message, within 2 s of the end of
their greeting) the call is connected at once and detection runs beside it.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from typing import Literal

import msgspec

SAMPLE_RATE = 8000
FULL_SCALE_POWER = 32768.0 * 32768.0  # a full-scale square wave: 0 dBFS
QUIETEST_DBFS = -100.0  # the level given to digital silence (log of zero)
FALL_WEIGHT = 0.3  # how much of the way to a quieter frame's level the noise floor falls per frame
# Times are seconds since the epoch, whose floats are 2e-7 apart: durations are compared to 0.1 ms.
EPSILON = 1e-4

Result = Literal["human", "machine", "silence", "unknown"]


class AmdSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the detector listens for; seconds unless named otherwise. The defaults follow
    app_amd's (greeting 1.5 s, after-greeting silence 0.8 s, minimum word 100 ms) with the
    verdict deadlines a dialer needs: silence by 3.5 s, a machine by about 2.5 s of greeting,
    nothing later than 4 s after the answer."""

    initial_silence: float = 3.5  # no voice by then: "silence"
    human_greeting: float = 1.5  # the longest greeting still taken for a person's "Hello?"
    after_greeting_silence: float = 0.8  # the pause that ends a greeting
    long_greeting: float = 2.5  # a greeting this long is a recorded one: "machine"
    max_words: int = 6  # this many words without an after-greeting pause: "machine"
    min_word: float = 0.1  # voice shorter than this is a click or a breath, not a word
    word_gap: float = 0.1  # silence at least this long separates two words
    max_analysis: float = 4.0  # no verdict by then: "unknown"
    voice_margin_db: float = 10.0  # voice is this far above the noise floor...
    min_voice_dbfs: float = -55.0  # ...and at least this loud
    initial_floor_dbfs: float = -45.0  # the noise floor before the first frame, at most
    floor_rise_db_per_second: float = 8.0  # how fast the floor follows louder frames

    def __post_init__(self) -> None:
        for name in ("initial_silence", "human_greeting", "after_greeting_silence", "long_greeting", "min_word",
                     "word_gap", "max_analysis", "floor_rise_db_per_second"):
            if not getattr(self, name) > 0:
                raise ValueError(f"AmdSettings.{name} must be positive, not {getattr(self, name)!r}")
        if self.max_words < 1:
            raise ValueError(f"AmdSettings.max_words must be at least 1, not {self.max_words!r}")
        if not self.human_greeting < self.long_greeting:
            raise ValueError("AmdSettings.human_greeting must be shorter than long_greeting")
        if not self.word_gap < self.after_greeting_silence:
            raise ValueError("AmdSettings.word_gap must be shorter than after_greeting_silence")
        if not self.initial_silence <= self.max_analysis:
            raise ValueError("AmdSettings.initial_silence must not be longer than max_analysis")


class AmdVerdict(msgspec.Struct, frozen=True):
    """The detector's answer. `reason` names the rule that decided it: "short-greeting",
    "long-greeting", "max-words", "initial-silence" or "analysis-cap"."""

    result: Result
    reason: str
    seconds: float  # from the start of detection (the answer) to the verdict
    greeting_seconds: float  # first word's start to last word's end (0 when no voice was heard)
    words: int


def frame_level(pcm: bytes) -> float:
    """The level of 16-bit little-endian PCM in dBFS: 10 log10 of its mean square over full scale."""
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) & ~1])
    if not samples:
        return QUIETEST_DBFS
    if sys.byteorder == "big":
        samples.byteswap()
    power = sum(map(operator.mul, samples, samples)) / len(samples)
    if power <= 0:
        return QUIETEST_DBFS
    return max(QUIETEST_DBFS, 10.0 * math.log10(power / FULL_SCALE_POWER))


class NoiseFloor:
    """The level of what is not voice: follows quieter frames quickly, louder ones slowly."""

    def __init__(self, settings: AmdSettings) -> None:
        self.settings = settings
        self.level: float | None = None

    def is_voice(self, level: float, seconds: float) -> bool:
        """Classify one frame of `seconds` at `level` dBFS, then let the floor follow it."""
        settings = self.settings
        if self.level is None:
            self.level = min(level, settings.initial_floor_dbfs)
        voiced = level >= settings.min_voice_dbfs and level >= self.level + settings.voice_margin_db
        if level < self.level:
            self.level += (level - self.level) * FALL_WEIGHT
        else:
            self.level += min(level - self.level, settings.floor_rise_db_per_second * seconds)
        return voiced


class MachineDetector:
    """One call's detection, from the answer (`started_at`) to its verdict."""

    def __init__(self, started_at: float, settings: AmdSettings | None = None) -> None:
        self.settings = settings or AmdSettings()
        self.started_at = started_at
        self.floor = NoiseFloor(self.settings)
        self.heard_until = started_at  # the end of the last interval classified
        self.verdict: AmdVerdict | None = None
        self.words = 0
        self.greeting_start: float | None = None  # start of the first word
        self.last_word_end: float | None = None  # end of the last voiced frame of a word
        self._run_start: float | None = None  # start of the voice run under way (a word, or not yet)
        self._last_voiced: float = started_at  # end of the last voiced frame
        self._run_is_word = False

    # Inputs -----------------------------------------------------------------------------------------

    def feed(self, pcm: bytes, now: float) -> AmdVerdict | None:
        """One frame of 8 kHz PCM16 received at `now`; the verdict once there is one."""
        if self.verdict is not None:
            return self.verdict
        seconds = len(pcm) / 2 / SAMPLE_RATE
        start = max(self.heard_until, now - seconds)
        if start > self.heard_until:  # no audio came for a while: that was silence
            self._silence(start)
            if self.verdict is not None:
                return self.verdict
        voiced = self.floor.is_voice(frame_level(pcm), seconds)
        if voiced:
            self._voice(start, max(now, start))
        else:
            self._silence(max(now, start))
        return self.verdict

    def handle_timer(self, now: float) -> AmdVerdict | None:
        """Time passed with no audio since the last frame (it counts as silence)."""
        if self.verdict is None and now > self.heard_until:
            self._silence(now)
        return self.verdict

    def deadline(self) -> float | None:
        """When a verdict is due without more audio: call `handle_timer` then (None once decided)."""
        if self.verdict is not None:
            return None
        settings = self.settings
        due = [self.started_at + settings.max_analysis]
        if self.greeting_start is None:
            due.append(self.started_at + settings.initial_silence)
        elif self.last_word_end is not None and self.greeting_seconds <= settings.human_greeting:
            due.append(max(self.last_word_end + settings.after_greeting_silence,
                           self._last_voiced + settings.word_gap))
        return min(due)

    @property
    def greeting_seconds(self) -> float:
        if self.greeting_start is None or self.last_word_end is None:
            return 0.0
        return self.last_word_end - self.greeting_start

    # The cadence ------------------------------------------------------------------------------------

    def _voice(self, start: float, end: float) -> None:
        settings = self.settings
        if self._run_start is None:
            self._run_start = start
        self._last_voiced = self.heard_until = end
        if not self._run_is_word and end - self._run_start >= settings.min_word - EPSILON:
            self._run_is_word = True
            self.words += 1
            if self.greeting_start is None:
                self.greeting_start = self._run_start
        if self._run_is_word:
            self.last_word_end = end
        self._decide(end)

    def _silence(self, end: float) -> None:
        self.heard_until = end
        if self._run_start is not None and end - self._last_voiced >= self.settings.word_gap - EPSILON:
            self._run_start, self._run_is_word = None, False  # the word (or the click) is over
        self._decide(end)

    def _decide(self, now: float) -> None:
        settings = self.settings
        elapsed = now - self.started_at
        if self.greeting_start is None:
            if elapsed >= settings.initial_silence - EPSILON:  # never later than max_analysis
                self._conclude("silence", "initial-silence", now)
            return
        greeting = self.greeting_seconds
        if self.words >= settings.max_words:
            self._conclude("machine", "max-words", now)
        elif greeting >= settings.long_greeting - EPSILON:
            self._conclude("machine", "long-greeting", now)
        elif greeting <= settings.human_greeting + EPSILON and self._quiet_since_greeting(now):
            self._conclude("human", "short-greeting", now)
        elif elapsed >= settings.max_analysis - EPSILON:
            self._conclude("unknown", "analysis-cap", now)

    def _quiet_since_greeting(self, now: float) -> bool:
        """The last word ended `after_greeting_silence` ago and no voice is under way (a click
        that is over does not count; one still sounding might be the next word)."""
        assert self.last_word_end is not None
        return self._run_start is None and now - self.last_word_end >= self.settings.after_greeting_silence - EPSILON

    def _conclude(self, result: Result, reason: str, now: float) -> None:
        self.verdict = AmdVerdict(result=result, reason=reason, seconds=round(now - self.started_at, 3),
                                  greeting_seconds=round(self.greeting_seconds, 3), words=self.words)


__all__ = ["AmdSettings", "AmdVerdict", "MachineDetector", "NoiseFloor", "Result", "frame_level"]
