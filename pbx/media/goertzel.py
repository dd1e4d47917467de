"""In-band DTMF detection (ITU-T Q.23 frequencies, Q.24 acceptance) with the Goertzel algorithm.

`InbandDetector` takes 8 kHz signed 16-bit little-endian PCM (decoded G.711) and reports each
key press once, near its start. Each 102-sample block (12.75 ms; its 78 Hz bin spacing puts
neighbouring DTMF rows near a null of one another) is tested for a valid tone pair:

1. both tones loud enough, and together most of the block's energy (rejects speech and noise);
2. the strongest row and column each well above the other rows and columns (relative peak);
3. twist within Q.24 limits: low group up to 8 dB above the high group ("normal" twist),
   high group up to 4 dB above the low group ("reverse" twist);
4. weak second harmonics, which voiced speech has and pure tones do not.

A digit needs two consecutive valid blocks (>= 25 ms, Q.24 accepts tones of 40 ms and more),
and the same digit is reported again only after a gap of two blocks without it.

Pure and stdlib-only. It does not decode G.711, cancel echo or detect other tones (fax, busy).
"""

from __future__ import annotations

import math
import operator
import sys
from array import array

from .dtmf import DigitDetected

SAMPLE_RATE = 8000
BLOCK_SIZE = 102
ROWS = (697.0, 770.0, 852.0, 941.0)  # ITU-T Q.23: low group
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)  # ITU-T Q.23: high group
KEYPAD = ("123A", "456B", "789C", "*0#D")

# A tone of -36 dBm0 (0 dBm0 is a sine of amplitude ~22,700 in 16-bit linear G.711, G.711 Table 6)
# is quieter than Q.24 requires a receiver to accept; anything below it is not a key press.
MIN_TONE_AMPLITUDE = 22_700 * 10 ** (-36 / 20)
# Fraction of the block energy the two tones must carry; a clean pair carries about 1.0.
MIN_TONE_FRACTION = 0.7
RELATIVE_PEAK = 10 ** (8 / 10)  # the chosen row (column) at least 8 dB above the other rows (columns)
NORMAL_TWIST = 10 ** (8 / 10)  # Q.24: low group stronger than the high group by at most 8 dB
REVERSE_TWIST = 10 ** (4 / 10)  # Q.24: high group stronger than the low group by at most 4 dB
# Second harmonics: a column's (2.4-3.3 kHz) is far from every DTMF frequency, so it can be held
# 10 dB down; a row's (1.4-1.9 kHz) sits within a bin of some columns, which leak into it.
ROW_HARMONIC = 10 ** (-3 / 10)
COLUMN_HARMONIC = 10 ** (-10 / 10)
BLOCKS_TO_ACCEPT = 2
BLOCKS_OF_GAP = 2


def _coefficient(frequency: float) -> float:
    return 2.0 * math.cos(2.0 * math.pi * frequency / SAMPLE_RATE)


_ROW_COEFFICIENTS = tuple(_coefficient(f) for f in ROWS)
_COLUMN_COEFFICIENTS = tuple(_coefficient(f) for f in COLUMNS)
_ROW_HARMONIC_COEFFICIENTS = tuple(_coefficient(2 * f) for f in ROWS)
_COLUMN_HARMONIC_COEFFICIENTS = tuple(_coefficient(2 * f) for f in COLUMNS)
# Goertzel power of a sine of amplitude A over N samples is about (A * N / 2) ** 2.
_MIN_TONE_POWER = (MIN_TONE_AMPLITUDE * BLOCK_SIZE / 2) ** 2


def goertzel_power(samples: array | list[int], coefficient: float) -> float:
    """|X(f)|^2 of `samples` at the frequency whose coefficient is 2 cos(2 pi f / fs)."""
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coefficient * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def _eight_powers(block: array) -> tuple[float, ...]:
    """The Goertzel powers at the 8 DTMF frequencies in one pass over the block."""
    c0, c1, c2, c3 = _ROW_COEFFICIENTS
    c4, c5, c6, c7 = _COLUMN_COEFFICIENTS
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    for x in block:
        a0, b0 = x + c0 * a0 - b0, a0
        a1, b1 = x + c1 * a1 - b1, a1
        a2, b2 = x + c2 * a2 - b2, a2
        a3, b3 = x + c3 * a3 - b3, a3
        a4, b4 = x + c4 * a4 - b4, a4
        a5, b5 = x + c5 * a5 - b5, a5
        a6, b6 = x + c6 * a6 - b6, a6
        a7, b7 = x + c7 * a7 - b7, a7
    return (
        a0 * a0 + b0 * b0 - c0 * a0 * b0, a1 * a1 + b1 * b1 - c1 * a1 * b1,
        a2 * a2 + b2 * b2 - c2 * a2 * b2, a3 * a3 + b3 * b3 - c3 * a3 * b3,
        a4 * a4 + b4 * b4 - c4 * a4 * b4, a5 * a5 + b5 * b5 - c5 * a5 * b5,
        a6 * a6 + b6 * b6 - c6 * a6 * b6, a7 * a7 + b7 * b7 - c7 * a7 * b7,
    )  # fmt: skip


def classify_block(block: array) -> str | None:
    """The digit a block of BLOCK_SIZE samples carries, or None."""
    energy = sum(map(operator.mul, block, block))
    # Cauchy-Schwarz: no frequency's power exceeds N x energy, so a block too quiet for even one
    # tone to reach the minimum cannot hold a digit; skip the Goertzel pass (silence, faint noise).
    if energy * BLOCK_SIZE < _MIN_TONE_POWER:
        return None
    powers = _eight_powers(block)
    rows, columns = powers[:4], powers[4:]
    row = max(range(4), key=rows.__getitem__)
    column = max(range(4), key=columns.__getitem__)
    row_power, column_power = rows[row], columns[column]
    if row_power < _MIN_TONE_POWER or column_power < _MIN_TONE_POWER:
        return None
    if column_power > row_power * REVERSE_TWIST or row_power > column_power * NORMAL_TWIST:
        return None
    for index in range(4):
        if index != row and rows[index] * RELATIVE_PEAK > row_power:
            return None
        if index != column and columns[index] * RELATIVE_PEAK > column_power:
            return None
    # A sine of amplitude A has energy N * A^2 / 2 and power (A N / 2)^2: power = energy * N / 2.
    if row_power + column_power < MIN_TONE_FRACTION * energy * BLOCK_SIZE / 2:
        return None
    if goertzel_power(block, _ROW_HARMONIC_COEFFICIENTS[row]) > row_power * ROW_HARMONIC:
        return None
    if goertzel_power(block, _COLUMN_HARMONIC_COEFFICIENTS[column]) > column_power * COLUMN_HARMONIC:
        return None
    return KEYPAD[row][column]


class InbandDetector:
    """Key presses in a stream of 8 kHz 16-bit PCM, each reported once, near its start.

    `feed(pcm, now)`: `now` is the time of the first sample of `pcm`; a reported digit's `at` is
    the start of the first block that carried it. Chunks may be of any length (even odd bytes).
    """

    def __init__(self) -> None:
        self._pending = b""
        self._samples = array("h")
        self._current: str | None = None  # the digit reported and still sounding
        self._candidate: str | None = None
        self._candidate_blocks = 0
        self._candidate_at = 0.0
        self._gap_blocks = 0

    def feed(self, pcm: bytes, now: float) -> list[DigitDetected]:
        data = self._pending + pcm
        usable = len(data) - len(data) % 2
        self._pending = data[usable:]
        # Time of the first buffered sample: the leftover of earlier chunks came before `now`.
        buffered_at = now - len(self._samples) / SAMPLE_RATE
        chunk = array("h", data[:usable])
        if sys.byteorder == "big":
            chunk.byteswap()
        samples = self._samples + chunk
        detected = []
        offset = 0
        while offset + BLOCK_SIZE <= len(samples):
            block = samples[offset : offset + BLOCK_SIZE]
            digit = self._step(classify_block(block), buffered_at + offset / SAMPLE_RATE)
            if digit is not None:
                detected.append(digit)
            offset += BLOCK_SIZE
        self._samples = samples[offset:]
        return detected

    def _step(self, digit: str | None, block_at: float) -> DigitDetected | None:
        if digit is None:
            self._candidate, self._candidate_blocks = None, 0
            self._gap_blocks += 1
            if self._gap_blocks >= BLOCKS_OF_GAP:
                self._current = None
            return None
        self._gap_blocks = 0
        if digit == self._candidate:
            self._candidate_blocks += 1
        else:
            self._candidate, self._candidate_blocks, self._candidate_at = digit, 1, block_at
        if self._candidate_blocks >= BLOCKS_TO_ACCEPT and digit != self._current:
            self._current = digit
            return DigitDetected(digit, "inband", self._candidate_at, None)
        return None
