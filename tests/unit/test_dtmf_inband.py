"""In-band DTMF (pbx.media.goertzel): synthesised key presses, twist, speech and timing.

Signals are built with numpy at 8 kHz; the detector itself is stdlib-only.
"""

import shutil
import subprocess

import numpy as np
import pytest

from pbx.media.dtmf import DigitDetected
from pbx.media.goertzel import COLUMNS, KEYPAD, ROWS, InbandDetector

RATE = 8000
FRAME_BYTES = 320  # 20 ms of 16-bit samples
ALL_DIGITS = "0123456789*#ABCD"


def level(dbm0: float) -> float:
    return 22_700 * 10 ** (dbm0 / 20)


def tone(digit: str, ms: float, low_dbm0: float = -10, high_dbm0: float = -10) -> np.ndarray:
    row = next(index for index, keys in enumerate(KEYPAD) if digit in keys)
    column = KEYPAD[row].index(digit)
    t = np.arange(int(RATE * ms / 1000)) / RATE
    low = level(low_dbm0) * np.sin(2 * np.pi * ROWS[row] * t)
    return low + level(high_dbm0) * np.sin(2 * np.pi * COLUMNS[column] * t + 0.3)


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000))


def key_presses(digits: str, ms: float = 70, gap_ms: float = 50, **levels) -> np.ndarray:
    parts = [silence(100)]
    for digit in digits:
        parts += [tone(digit, ms, **levels), silence(gap_ms)]
    return np.concatenate(parts)


def with_noise(signal: np.ndarray, reference: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    noise_power = np.mean(reference**2) / 10 ** (snr_db / 10)
    return signal + np.random.default_rng(seed).normal(0, np.sqrt(noise_power), len(signal))


def pcm(signal: np.ndarray) -> bytes:
    return np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()


def detect(data: bytes, frame_bytes: int = FRAME_BYTES) -> list[DigitDetected]:
    detector = InbandDetector()
    found = []
    for offset in range(0, len(data), frame_bytes):
        found += detector.feed(data[offset : offset + frame_bytes], offset / 2 / RATE)
    return found


def digits(data: bytes, **kwargs) -> str:
    return "".join(event.digit for event in detect(data, **kwargs))


@pytest.mark.parametrize("ms", [60, 80, 100])
@pytest.mark.parametrize("snr_db", [20, 15])
def test_all_sixteen_digits_in_noise(ms, snr_db):
    signal = key_presses(ALL_DIGITS, ms=ms)
    assert digits(pcm(with_noise(signal, tone("5", 100), snr_db))) == ALL_DIGITS


def test_events_are_inband_and_timed_at_the_tone_onset():
    signal = np.concatenate([silence(200), tone("7", 80), silence(100)])
    (event,) = detect(pcm(with_noise(signal, tone("7", 100), 20)))
    assert event.digit == "7" and event.source == "inband" and event.duration_ms is None
    assert 0.2 - 0.013 <= event.at <= 0.2 + 0.013  # within one 102-sample block of the onset


def test_odd_sized_chunks_give_the_same_digits():
    data = pcm(with_noise(key_presses("19#D"), tone("1", 100), 20))
    assert digits(data, frame_bytes=77) == "19#D"
    assert digits(data, frame_bytes=480) == "19#D"  # 30 ms ptime


@pytest.mark.parametrize(
    ("low_dbm0", "high_dbm0", "expected"),
    [
        (-10, -17, "159#"),  # normal twist 7 dB: accepted
        (-10, -19, ""),  # normal twist 9 dB: rejected (Q.24 limit 8 dB)
        (-13.5, -10, "159#"),  # reverse twist 3.5 dB: accepted
        (-17, -10, ""),  # reverse twist 7 dB: rejected (limit 4 dB)
    ],
)
def test_twist_limits(low_dbm0, high_dbm0, expected):
    signal = key_presses("159#", ms=80, low_dbm0=low_dbm0, high_dbm0=high_dbm0)
    assert digits(pcm(signal)) == expected


def test_too_quiet_is_not_a_digit():
    assert digits(pcm(key_presses("123", low_dbm0=-45, high_dbm0=-45))) == ""


def test_a_twenty_millisecond_tone_is_not_a_digit():
    assert digits(pcm(with_noise(key_presses("1234", ms=20), tone("1", 100), 20))) == ""


def test_a_digit_held_long_is_reported_once():
    signal = with_noise(key_presses("5", ms=2000), tone("5", 100), 15)
    assert digits(pcm(signal)) == "5"


def test_the_same_digit_twice_with_a_gap_is_two_digits():
    assert digits(pcm(with_noise(key_presses("55", ms=70, gap_ms=50), tone("5", 100), 20))) == "55"


def test_a_single_tone_is_not_a_digit():
    t = np.arange(RATE) / RATE
    assert digits(pcm(level(-10) * np.sin(2 * np.pi * 697 * t))) == ""
    assert digits(pcm(level(-10) * np.sin(2 * np.pi * 1336 * t))) == ""


def synthetic_speech(seconds: float = 6.0, seed: int = 3) -> np.ndarray:
    """Voiced segments (harmonics of a gliding pitch shaped by moving formants) and noise bursts."""
    rng = np.random.default_rng(seed)
    n = int(RATE * seconds)
    t = np.arange(n) / RATE
    pitch = 150 + 60 * np.sin(2 * np.pi * 0.7 * t) + 30 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    formant1 = 500 + 300 * np.sin(2 * np.pi * 1.1 * t)
    formant2 = 1500 + 600 * np.sin(2 * np.pi * 0.9 * t + 1)
    voiced = np.zeros(n)
    for harmonic in range(1, 30):
        frequency = harmonic * pitch
        gain = np.exp(-(((frequency - formant1) / 150) ** 2)) + 0.6 * np.exp(-(((frequency - formant2) / 200) ** 2))
        voiced += gain * np.sin(harmonic * phase) * (frequency < 3800)
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.2).astype(float)
    bursts = rng.normal(0, 1, n) * (np.sin(2 * np.pi * 1.7 * t + 0.5) > 0.85)
    signal = voiced * syllables + 0.5 * bursts
    return signal / np.max(np.abs(signal)) * level(-3)


def test_synthetic_speech_is_not_a_digit():
    assert detect(pcm(synthetic_speech())) == []


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox")
@pytest.mark.parametrize("voice", ["en", "en+f3", "en-us+m3"])
def test_espeak_speech_is_not_a_digit(tmp_path, voice):
    text = (
        "Welcome, press one for sales, press two for support. Please hold while we connect your call. "
        "The quick brown fox jumps over the lazy dog; she sells sea shells by the sea shore."
    )
    wav, raw = tmp_path / "speech.wav", tmp_path / "speech.raw"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, timeout=30)
    subprocess.run(
        ["sox", str(wav), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", str(raw)],
        check=True, timeout=30,
    )  # fmt: skip
    data = raw.read_bytes()
    assert len(data) > RATE * 2 * 3
    assert detect(data) == []


def test_speech_then_a_key_press_finds_only_the_key():
    speech = synthetic_speech(2.0)
    signal = np.concatenate([speech, silence(100), tone("8", 80), silence(100)])
    assert digits(pcm(signal)) == "8"


def mu_law_round_trip(signal: np.ndarray) -> np.ndarray:
    """Companded to 8 bits and back (the continuous mu = 255 law of G.711), as a call would carry it."""
    x = np.clip(signal / 32768, -1, 1)
    code = np.round(np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255) * 127)
    return np.sign(code) * np.expm1(np.abs(code) / 127 * np.log1p(255)) / 255 * 32768


def test_digits_survive_mu_law_companding_at_low_level():
    signal = key_presses(ALL_DIGITS, ms=60, low_dbm0=-25, high_dbm0=-27)
    assert digits(pcm(mu_law_round_trip(with_noise(signal, tone("1", 100, -25, -27), 20)))) == ALL_DIGITS
