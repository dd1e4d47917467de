"""What the carrier simulator's called parties say: synthetic greetings as G.711 RTP pcap files.

A human picks up and says a short "hello?" (two syllables, about 0.7 s), then listens; an
answering machine plays a long greeting (four phrases of several words, about 5 s) and then a
beep.  That is what energy-and-silence answering-machine detection tells apart (a short burst
of voice followed by silence, against long voiced speech), so the voice itself need only have
speech's energy and cadence, not words: it is built with numpy from harmonics of a moving
pitch shaped by vowel formants, one syllable envelope at a time, seeded so every run is the
same.

The files are what sipp's ``<exec play_pcap_audio=...>`` replays (it needs root for its raw
socket): Ethernet/IPv4/UDP/RTP, PCMU (payload type 0), 20 ms per packet, paced by the pcap
timestamps; sipp rewrites the addresses and ports to the call's.  Leading and trailing
silence is sent as real packets (mu-law 0xFF), so the detector sees the pick-up gap and the
silence after the greeting as RTP, as it would from a phone.

Not here: the carrier's SIP behaviour (``carrier.py``), espeak/sox prompts (``calls/audio.py``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
FRAME = 160  # 20 ms of PCMU per RTP packet (RFC 3551 4.5.14)
PCMU = 0

# Vowel formants (F1, F2, F3 in Hz), roughly an adult voice's /a/ /e/ /i/ /o/ /u/.
VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (300, 2200, 3000), (570, 840, 2410), (440, 1020, 2240))


@dataclass(frozen=True)
class Greeting:
    """One called party's audio: ``pcap`` for sipp, and the timings the truth is judged by."""

    kind: str  # "human" or "machine"
    pcap: Path
    voice_seconds: float  # from the first to the last voiced sample
    total_seconds: float
    beep_at: float | None = None  # seconds from the start (machines only)


def write_greetings(directory: Path) -> dict[str, Greeting]:
    """``human.pcap`` and ``machine.pcap`` in ``directory`` (the carrier's working directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    human = _concatenate(
        _silence(0.4),  # the phone is off the hook before the person speaks
        _word(rng, syllables=2, syllable_seconds=0.32, rising=True),  # "hel-lo?"
        _silence(6.0),  # and then waits for someone to answer
    )
    machine_phrases = []
    for words in (3, 4, 3, 4):  # "Hi, you've reached ... please leave a message after the tone"
        for _ in range(words):
            machine_phrases.append(_word(rng, syllables=int(rng.integers(1, 3)), syllable_seconds=0.18))
            machine_phrases.append(_silence(float(rng.uniform(0.05, 0.12))))
        machine_phrases.append(_silence(0.35))
    greeting = _concatenate(_silence(0.4), *machine_phrases, _silence(0.5))
    machine = _concatenate(greeting, _beep(1000.0, 0.5), _silence(3.0))  # the beep: "record after the tone"
    return {
        "human": _save(directory / "human.pcap", "human", human),
        "machine": _save(directory / "machine.pcap", "machine", machine, beep_at=len(greeting) / RATE),
    }


# --------------------------------------------------------------------------------------------
# synthesis


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def _concatenate(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts)


def _word(rng: np.random.Generator, *, syllables: int, syllable_seconds: float, rising: bool = False) -> np.ndarray:
    """Voiced syllables back to back, each a vowel with its own pitch glide and envelope."""
    pieces = []
    for index in range(syllables):
        seconds = syllable_seconds * float(rng.uniform(0.8, 1.2))
        start_pitch = float(rng.uniform(110, 170))
        end_pitch = start_pitch * (1.35 if rising and index == syllables - 1 else float(rng.uniform(0.85, 1.05)))
        pieces.append(_syllable(seconds, start_pitch, end_pitch, VOWELS[int(rng.integers(len(VOWELS)))]))
    return np.concatenate(pieces)


def _syllable(seconds: float, start_pitch: float, end_pitch: float, formants: tuple[int, int, int]) -> np.ndarray:
    """Harmonics of a gliding pitch, weighted by three formant peaks, under a rise-and-fall envelope."""
    count = int(seconds * RATE)
    pitch = np.linspace(start_pitch, end_pitch, count)
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    signal = np.zeros(count)
    for harmonic in range(1, int(3400 / max(start_pitch, end_pitch)) + 1):
        frequency = harmonic * pitch
        weight = sum(np.exp(-(((frequency - formant) / 120.0) ** 2)) for formant in formants) / harmonic**0.5
        signal += weight * np.sin(harmonic * phase)
    envelope = np.sin(np.linspace(0, np.pi, count)) ** 0.6
    signal *= envelope
    peak = np.max(np.abs(signal)) or 1.0
    return 0.35 * signal / peak  # about -12 dBFS RMS at the vowel's centre: a telephone voice


def _beep(hz: float, seconds: float) -> np.ndarray:
    time = np.arange(int(seconds * RATE)) / RATE
    return 0.3 * np.sin(2 * np.pi * hz * time)


def _voiced_span(samples: np.ndarray) -> float:
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return float((loud[-1] - loud[0]) / RATE) if len(loud) else 0.0


# --------------------------------------------------------------------------------------------
# G.711 and pcap


def ulaw_encode(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1) to PCMU codes: ITU-T G.711 mu-law (table 2a) on 14-bit values,
    bias 33, eight segments of 16 steps, every bit of the code inverted on the wire."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float64), -1.0, 32767 / 32768) * 32768.0).astype(np.int32)
    value = pcm >> 2
    sign = np.where(value >= 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(value) + 33, 0x1FFF)
    segment = np.floor(np.log2(magnitude)).astype(np.int32) - 5  # magnitudes >= 33 have 6 bits or more
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    return ((sign | (segment << 4) | mantissa) ^ 0x7F).astype(np.uint8).tobytes()


def _save(path: Path, kind: str, samples: np.ndarray, beep_at: float | None = None) -> Greeting:
    payload = ulaw_encode(samples)
    payload += b"\xff" * (-len(payload) % FRAME)  # a whole last packet of silence
    write_rtp_pcap(path, payload)
    return Greeting(kind=kind, pcap=path, voice_seconds=_voiced_span(samples), total_seconds=len(payload) / RATE,
                    beep_at=beep_at)


def write_rtp_pcap(path: Path, payload: bytes, *, ssrc: int = 0x0CA771E5, payload_type: int = PCMU) -> Path:
    """A libpcap file of RTP packets (RFC 3550 5.1) carrying ``payload`` in 20 ms frames.

    Link type 1 (Ethernet), IPv4 from 127.0.0.1:40000 to 127.0.0.1:40002: sipp replaces both
    ports by the call's (it keeps their difference from the lowest port in the file).
    """
    records = []
    for index in range(len(payload) // FRAME):
        rtp = struct.pack("!BBHII", 0x80, (0x80 if index == 0 else 0) | payload_type, index & 0xFFFF,
                          index * FRAME, ssrc)
        records.append((index * 0.020, _udp_ipv4_frame(rtp + payload[index * FRAME : (index + 1) * FRAME])))
    with path.open("wb") as out:
        # libpcap global header: magic, version 2.4, GMT offset, accuracy, snaplen, Ethernet
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for offset, frame in records:
            seconds, micros = 1_700_000_000 + int(offset), round((offset % 1) * 1_000_000)
            out.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
            out.write(frame)
    return path


def _udp_ipv4_frame(data: bytes, source_port: int = 40000, destination_port: int = 40002) -> bytes:
    udp = struct.pack("!HHHH", source_port, destination_port, 8 + len(data), 0) + data  # checksum 0: none (RFC 768)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    checksum = _ones_complement_sum(header)
    header = header[:10] + struct.pack("!H", checksum) + header[12:]
    ethernet = b"\x00" * 12 + b"\x08\x00"  # loopback has no MAC addresses; type IPv4
    return ethernet + header + udp


def _ones_complement_sum(header: bytes) -> int:
    """The IPv4 header checksum (RFC 791 3.1)."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
