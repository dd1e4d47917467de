"""Tests for pbx.media.amd: answering-machine detection on synthetic answers and a fake clock.

Exact cases use frames of a constant level, so each verdict's time is known to the frame; the
speech-like cases (tests/unit/amd_speech.py: harmonic voices with syllable-rate modulation over
line noise) check the brief's three answers - "Hello?" then silence, a long recorded greeting,
line noise alone - and a seeded population of a few hundred generated people, machines and
silent lines, whose confusion matrix and verdict times are printed (pytest -s shows them).
"""

from __future__ import annotations

import collections
import math
import random
import statistics
import struct
import time

import pytest

from pbx.media.amd import AmdSettings, AmdVerdict, MachineDetector, frame_level
from tests.unit.amd_speech import Answer, frames, human, machine, pcm, quiet

START = 1_800_000_000.0
TICK = 0.02
KINDS = ("human", "machine", "silence", "unknown")


def tone_frame(dbfs: float) -> bytes:
    """20 ms of a 400 Hz sine whose level (mean square) is `dbfs`."""
    amplitude = 32768 * 10 ** (dbfs / 20) * math.sqrt(2)
    return struct.pack("<160h", *(round(amplitude * math.sin(2 * math.pi * 400 * n / 8000)) for n in range(160)))


VOICE, QUIET = tone_frame(-20), tone_frame(-70)


def cadence(*runs: tuple[str, float]) -> list[bytes]:
    """Frames for ("voice"|"quiet", seconds) runs."""
    out: list[bytes] = []
    for kind, seconds in runs:
        out += [VOICE if kind == "voice" else QUIET] * round(seconds / TICK)
    return out


def detect(audio: list[bytes], settings: AmdSettings | None = None) -> AmdVerdict | None:
    detector = MachineDetector(START, settings)
    for index, frame in enumerate(audio):
        verdict = detector.feed(frame, START + (index + 1) * TICK)
        if verdict is not None:
            return verdict
    return None


def detect_answer(answer: Answer) -> AmdVerdict:
    verdict = detect(frames(pcm(answer)))
    assert verdict is not None, "every answer of 4.5 s gets a verdict by the 4 s cap"
    return verdict


# Levels ---------------------------------------------------------------------------------------------


def test_frame_level_is_mean_square_in_dbfs():
    assert frame_level(struct.pack("<160h", *[32767, -32768] * 80)) == pytest.approx(0.0, abs=0.01)
    assert frame_level(tone_frame(-20)) == pytest.approx(-20.0, abs=0.05)
    assert frame_level(bytes(320)) == -100.0
    assert frame_level(b"") == -100.0


# Exact cadences ---------------------------------------------------------------------------------------


def test_hello_then_silence_is_a_human_when_the_pause_reaches_800_ms():
    verdict = detect(cadence(("quiet", 0.5), ("voice", 0.6), ("quiet", 3.0)))
    assert verdict == AmdVerdict(result="human", reason="short-greeting", seconds=1.9, greeting_seconds=0.6, words=1)


def test_two_hellos_within_the_greeting_are_still_a_human():
    verdict = detect(cadence(("quiet", 0.3), ("voice", 0.4), ("quiet", 0.5), ("voice", 0.4), ("quiet", 2.0)))
    assert verdict == AmdVerdict(result="human", reason="short-greeting", seconds=2.4, greeting_seconds=1.3, words=2)


def test_a_greeting_going_on_past_2_5_s_is_a_machine_at_that_moment():
    verdict = detect(cadence(("quiet", 0.1), *[("voice", 0.4), ("quiet", 0.2)] * 10))
    assert verdict == AmdVerdict(result="machine", reason="long-greeting", seconds=2.6, greeting_seconds=2.5, words=5)


def test_six_words_without_a_pause_are_a_machine_before_the_greeting_is_long():
    verdict = detect(cadence(("quiet", 0.2), *[("voice", 0.2), ("quiet", 0.16)] * 8))
    assert verdict == AmdVerdict(result="machine", reason="max-words", seconds=2.1, greeting_seconds=1.9, words=6)


def test_no_voice_is_silence_at_3_5_s():
    assert detect(cadence(("quiet", 5.0))) == AmdVerdict(result="silence", reason="initial-silence", seconds=3.5,
                                                          greeting_seconds=0.0, words=0)


def test_clicks_shorter_than_a_word_are_not_a_greeting():
    clicks = [("quiet", 0.5), ("voice", 0.06)] * 6
    assert detect(cadence(*clicks, ("quiet", 2.0))).result == "silence"


def test_a_greeting_between_the_two_lengths_stays_unknown_until_the_cap():
    verdict = detect(cadence(("quiet", 0.3), ("voice", 2.0), ("quiet", 3.0)))
    assert verdict == AmdVerdict(result="unknown", reason="analysis-cap", seconds=4.0, greeting_seconds=2.0, words=1)


def test_without_any_packet_the_timer_brings_the_silence_verdict():
    detector = MachineDetector(START)
    assert detector.deadline() == START + 3.5
    assert detector.handle_timer(START + 3.49) is None
    assert detector.handle_timer(START + 3.5) == AmdVerdict("silence", "initial-silence", 3.5, 0.0, 0)
    assert detector.deadline() is None


def test_a_stream_that_stops_after_hello_is_decided_by_the_timer():
    detector = MachineDetector(START)
    for index, frame in enumerate(cadence(("quiet", 0.4), ("voice", 0.5))):
        assert detector.feed(frame, START + (index + 1) * TICK) is None
    assert detector.deadline() == pytest.approx(START + 1.7)  # 0.9 s, the greeting's end, + 0.8 s
    verdict = detector.handle_timer(START + 1.7)
    assert (verdict.result, verdict.seconds, verdict.greeting_seconds) == ("human", 1.7, 0.5)


def test_packets_arriving_in_a_burst_do_not_stretch_time():
    detector = MachineDetector(START)
    for frame in cadence(("voice", 0.5)):  # 25 frames that all arrive at once, 0.5 s after the answer
        detector.feed(frame, START + 0.5)
    assert detector.greeting_seconds == 0.0 and detector.words == 0  # 20 ms of voice: no word yet
    for index, frame in enumerate(cadence(("quiet", 1.0))):
        assert detector.feed(frame, START + 0.5 + (index + 1) * TICK) is None
    assert (detector.words, detector.greeting_start, detector.deadline()) == (0, None, START + 3.5)


def test_steady_line_noise_becomes_the_floor_and_speech_over_it_is_heard():
    noisy, loud = tone_frame(-40), tone_frame(-15)
    audio = [noisy] * 30 + [loud] * 30 + [noisy] * 60
    verdict = detect(audio)
    assert (verdict.result, verdict.seconds, verdict.greeting_seconds) == ("human", 2.0, 0.6)


def test_settings_that_contradict_each_other_are_refused_naming_the_field():
    with pytest.raises(ValueError, match="human_greeting must be shorter than long_greeting"):
        AmdSettings(human_greeting=3.0)
    with pytest.raises(ValueError, match="AmdSettings.min_word must be positive"):
        AmdSettings(min_word=0)
    with pytest.raises(ValueError, match="max_words must be at least 1"):
        AmdSettings(max_words=0)


# Speech-like answers -----------------------------------------------------------------------------------


def test_a_spoken_hello_then_silence_is_a_human_within_2_3_s():
    verdict = detect_answer(Answer([(0.5, 0.6)], level_dbfs=-20, noise_dbfs=-60, seed=1))
    assert verdict.result == "human" and verdict.reason == "short-greeting"
    assert verdict.seconds <= 2.3 and verdict.greeting_seconds == pytest.approx(0.6, abs=0.1)


def test_a_five_second_greeting_with_short_gaps_is_a_machine_by_2_7_s():
    words, at = [], 0.1
    while at < 5.0:
        words.append((at, 0.4))
        at += 0.5  # 100 ms between words
    verdict = detect_answer(Answer(words, level_dbfs=-18, noise_dbfs=-60, seed=2))
    assert verdict.result == "machine"
    assert verdict.seconds <= 2.7


def test_background_noise_at_minus_40_dbfs_alone_is_silence():
    verdict = detect_answer(Answer([], noise_dbfs=-40, seed=3))
    assert (verdict.result, verdict.reason, verdict.seconds) == ("silence", "initial-silence", 3.5)


def run_population(answers: list[Answer]) -> tuple[collections.Counter, dict[str, list[float]], float]:
    matrix: collections.Counter = collections.Counter()
    times: dict[str, list[float]] = collections.defaultdict(list)
    frames_fed, spent = 0, 0.0
    for answer in answers:
        audio = frames(pcm(answer))
        detector = MachineDetector(START)
        began = time.perf_counter()
        verdict = None
        for index, frame in enumerate(audio):
            frames_fed += 1
            if (verdict := detector.feed(frame, START + (index + 1) * TICK)) is not None:
                break
        spent += time.perf_counter() - began
        assert verdict is not None
        matrix[answer.kind, verdict.result] += 1
        if answer.kind == verdict.result:
            times[answer.kind].append(verdict.seconds)
    return matrix, times, spent / frames_fed * 1e6


def print_matrix(title: str, matrix: collections.Counter, kinds: tuple[str, ...]) -> None:
    print(f"\n{title}\n{'answer':>10} | " + " ".join(f"{kind:>8}" for kind in KINDS))
    for kind in kinds:
        print(f"{kind:>10} | " + " ".join(f"{matrix[kind, result]:>8}" for result in KINDS))


def test_a_seeded_population_of_people_machines_and_silent_lines_is_told_apart():
    """Clearly separable by construction: people say at most 1.3 s (the human rule allows 1.5 s),
    machines speak 3-8 s with gaps under 0.35 s (a greeting ends at 0.8 s), every talker is at
    least 20 dB over the line noise (voice needs 10). So a miss can only come from the cadence
    rules themselves (a syllable dip taken for a pause, an onset missed): we allow 3% of each."""
    rng = random.Random(14)
    answers = [make(rng, seed) for seed in range(100) for make in (human, machine, quiet)]
    matrix, times, cost = run_population(answers)
    print_matrix("AMD, 300 separable answers (rows: what answered; columns: verdict)", matrix,
                 ("human", "machine", "silence"))
    for kind in ("human", "machine"):
        print(f"{kind} verdicts: median {statistics.median(times[kind]):.2f} s, "
              f"max {max(times[kind]):.2f} s")
    print(f"detector cost: {cost:.1f} us per 20 ms frame")
    assert matrix["human", "human"] >= 97 and matrix["machine", "machine"] >= 97
    assert matrix["human", "machine"] <= 2  # false positives: a person hung up on as a machine
    assert matrix["silence", "silence"] >= 97
    # A person is decided by onset (<= 1 s) + greeting (<= 1.3 s) + 0.8 s of pause; a machine
    # by onset (<= 0.5 s) + 2.5 s of greeting (+ the word under way), or six words.
    assert max(times["human"]) <= 3.2 and statistics.median(times["human"]) <= 2.4
    assert max(times["machine"]) <= 3.3 and statistics.median(times["machine"]) <= 3.0


def test_overlapping_answers_are_measured_not_promised():
    """People who say up to 2.2 s, machines with pauses up to 0.6 s and greetings from 2 s,
    talkers only 8-20 dB over the noise: the two overlap, so this measures the rates (printed)
    and only guards the false-positive rate the dialer counts as abandoned calls."""
    rng = random.Random(41)
    answers = []
    for seed in range(200):
        level = rng.uniform(-35, -12)
        noise = level - rng.uniform(8, 20)
        if seed % 2 == 0:
            at, total, kind, longest_gap = rng.uniform(0.2, 1.0), rng.uniform(0.3, 2.2), "human", 0.3
        else:
            at, total, kind, longest_gap = rng.uniform(0.05, 0.5), rng.uniform(2.0, 8.0), "machine", 0.6
        words, end = [], at + total
        while at < end:
            length = min(rng.uniform(0.15, 0.6), end - at)
            words.append((at, max(length, 0.1)))
            at += length + rng.uniform(0.05, longest_gap)
        answers.append(Answer(words, level, noise, seconds=4.5, seed=1000 + seed, kind=kind))
    matrix, _, _ = run_population(answers)
    print_matrix("AMD, 200 overlapping answers", matrix, ("human", "machine"))
    false_positives = matrix["human", "machine"] / 100
    print(f"false positives (people taken for machines): {false_positives:.0%}")
    assert false_positives <= 0.10
