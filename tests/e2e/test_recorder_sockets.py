"""Recording a call on real UDP sockets: two plain sockets as phones, a real relay, clock and writer thread.

The caller's phone sends a 440 Hz tone and the callee's a 1000 Hz tone, as
20 ms PCMU packets, for about a second, through a `MediaRelay` on
127.0.0.1 that links their legs. A `CallRecorder` records stereo with a
pause in the middle. The WAV must hold the caller's tone on the left only,
the callee's on the right only, and digital silence while paused.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
import time
import wave

import pytest

from pbx.media.clock import MediaClock
from pbx.media.g711 import ulaw_encode
from pbx.media.recorder import CallRecorder
from pbx.media.relay import EndpointClosed, MediaRelay
from pbx.media.wav_writer import WavWriter

numpy = pytest.importorskip("numpy")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(20)]

LOOPBACK = "127.0.0.1"
RATE = 8000
PACKETS = 60  # 1.2 s of 20 ms packets


def tone_packets(frequency: float, ssrc: int, count: int) -> list[bytes]:
    """RTP packets (RFC 3550 5.1) of a continuous PCMU tone, 160 samples each."""
    packets = []
    for index in range(count):
        samples = [int(8000 * math.sin(2 * math.pi * frequency * (index * 160 + n) / RATE)) for n in range(160)]
        payload = ulaw_encode(struct.pack("<160h", *samples))
        packets.append(struct.pack("!BBHII", 0x80, 0, index, index * 160, ssrc) + payload)
    return packets


def phone_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind((LOOPBACK, 0))
    return sock


def open_relay() -> MediaRelay:
    low = random.randrange(30000, 38000, 2)
    return MediaRelay(LOOPBACK, low, low + 63, clock=time.monotonic)


def strongest_frequency(samples) -> float:
    spectrum = numpy.abs(numpy.fft.rfft(samples * numpy.hanning(len(samples))))
    return float(numpy.fft.rfftfreq(len(samples), 1 / RATE)[int(numpy.argmax(spectrum))])


def level_at(samples, frequency: float) -> float:
    spectrum = numpy.abs(numpy.fft.rfft(samples * numpy.hanning(len(samples))))
    frequencies = numpy.fft.rfftfreq(len(samples), 1 / RATE)
    return float(spectrum[numpy.abs(frequencies - frequency) < 20].max())


async def test_stereo_recording_of_two_phones_with_a_pause(tmp_path):
    loop = asyncio.get_running_loop()
    relay = open_relay()
    caller_phone, callee_phone = phone_socket(), phone_socket()
    writer = WavWriter()
    try:
        caller_leg, callee_leg = relay.open_endpoint("caller"), relay.open_endpoint("callee")
        caller_leg.expect(*caller_phone.getsockname())
        callee_leg.expect(*callee_phone.getsockname())
        relay.link(caller_leg, callee_leg)
        media_clock = MediaClock(time.monotonic)
        recorder = CallRecorder(
            caller_leg, callee_leg, media_clock=media_clock, writer=writer,
            path=tmp_path / "recordings" / "call.wav", layout="stereo",
            caller_codecs={0: "PCMU"}, callee_codecs={0: "PCMU"},
        )  # fmt: skip
        caller_packets = tone_packets(440, 0xCA11E4, PACKETS)
        callee_packets = tone_packets(1000, 0xCA11EE, PACKETS)
        recorder.start()
        start = loop.time()
        for index in range(PACKETS):
            caller_phone.sendto(caller_packets[index], (LOOPBACK, caller_leg.port))
            callee_phone.sendto(callee_packets[index], (LOOPBACK, callee_leg.port))
            if index == 25:
                recorder.pause()
            if index == 40:
                recorder.resume()
            await asyncio.sleep(max(0.0, start + (index + 1) * 0.020 - loop.time()))
        await asyncio.sleep(0.1)  # the jitter buffer's last frames
        summary = recorder.stop()
        assert recorder.stop() is summary  # idempotent
        assert await asyncio.to_thread(recorder.file.wait, 5)
    finally:
        relay.close()
        caller_phone.close()
        callee_phone.close()
        writer.close_all()
    assert await asyncio.to_thread(writer.join, 5)
    assert len(media_clock) == 0

    with wave.open(str(summary.path), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (2, 2, RATE)
        audio = numpy.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(float)
    left, right = audio[0::2], audio[1::2]
    assert summary.bytes_written == 4 * len(left) and not summary.failed
    assert summary.seconds == pytest.approx(len(left) / RATE)
    assert summary.paused_seconds == pytest.approx(0.3, abs=0.06)
    assert 1.1 <= summary.seconds <= 1.6

    # The pause: whole 20 ms frames of digital silence on both sides, about 0.3 s of them.
    frames = audio.reshape(-1, 320)
    silent = [bool(not frame.any()) for frame in frames]
    first_sound = silent.index(False)
    last_sound = len(silent) - 1 - silent[::-1].index(False)
    inside = silent[first_sound : last_sound + 1]
    assert 12 <= sum(inside) <= 18, inside
    pause_start = inside.index(True) + first_sound
    assert all(silent[pause_start : pause_start + 12])
    assert 0.4 <= pause_start * 0.02 <= 0.65, pause_start

    # Before the pause: the caller on the left only, the callee on the right only.
    before = slice((first_sound + 1) * 160, pause_start * 160)
    assert strongest_frequency(left[before]) == pytest.approx(440, abs=15)
    assert strongest_frequency(right[before]) == pytest.approx(1000, abs=15)
    assert level_at(left[before], 1000) < 0.01 * level_at(left[before], 440)
    assert level_at(right[before], 440) < 0.01 * level_at(right[before], 1000)
    # After the resume, the same.
    resumed = pause_start + silent[pause_start:].index(False)
    after = slice((resumed + 1) * 160, (last_sound - 2) * 160)
    assert strongest_frequency(left[after]) == pytest.approx(440, abs=15)
    assert strongest_frequency(right[after]) == pytest.approx(1000, abs=15)
    assert recorder.stats.caller.concealed + recorder.stats.callee.concealed <= 6


async def test_a_leg_we_answer_records_our_prompts_and_stop_survives_a_closed_endpoint(tmp_path):
    relay = open_relay()
    phone = phone_socket()
    writer = WavWriter()
    try:
        leg = relay.open_endpoint("caller")
        leg.expect(*phone.getsockname())
        media_clock = MediaClock(time.monotonic)
        recorder = CallRecorder(leg, None, media_clock=media_clock, writer=writer,
                                path=tmp_path / "ivr.wav", layout="mixed")
        recorder.start()
        prompt = struct.pack("<160h", *([1000] * 160))
        for index, packet in enumerate(tone_packets(440, 0x1, 15)):
            phone.sendto(packet, (LOOPBACK, leg.port))
            recorder.feed_sent("callee", prompt)  # what an IVR session sends, frame by frame
            await asyncio.sleep(0.02)
        leg.close()  # the caller hung up first
        await asyncio.sleep(0.05)
        summary = recorder.stop()
        with pytest.raises(ValueError, match="stopped"):
            recorder.pause()
        assert await asyncio.to_thread(recorder.file.wait, 5)
    finally:
        relay.close()
        phone.close()
        writer.close_all()
    assert await asyncio.to_thread(writer.join, 5)
    with wave.open(str(summary.path), "rb") as reader:
        assert reader.getnchannels() == 1
        audio = numpy.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(float)
    assert summary.layout == "mixed" and summary.bytes_written == 2 * len(audio)
    assert (audio == 1000).sum() >= 160  # the prompt alone, before the phone's audio came through
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    mixed = frames[frames.std(axis=1) > 100]  # frames where the caller's tone is in
    assert len(mixed) >= 8 and (mixed.mean(axis=1) > 900).sum() >= 8  # ... on top of the prompt
    assert strongest_frequency((mixed - mixed.mean(axis=1, keepdims=True)).ravel()) == pytest.approx(440, abs=20)


# The adapter's bookkeeping, with stand-ins for the endpoint and the clock (no sockets needed) ----


class FakeEndpoint:
    def __init__(self) -> None:
        self.taps: list = []
        self.closed = False

    def add_tap(self, callback, *, rtcp: bool = False):
        if self.closed:
            raise EndpointClosed("closed")
        self.taps.append(callback)
        return lambda: self.taps.remove(callback) if callback in self.taps else None


class FakeMediaClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.streams: list = []

    def clock(self) -> float:
        return self.now

    def add(self, stream) -> None:
        self.streams.append(stream)

    def remove(self, stream) -> None:
        if stream in self.streams:
            self.streams.remove(stream)


def test_recorder_lifecycle_and_misuse(tmp_path):
    caller, callee, media_clock, writer = FakeEndpoint(), FakeEndpoint(), FakeMediaClock(), WavWriter()
    recorder = CallRecorder(caller, callee, media_clock=media_clock, writer=writer, path=tmp_path / "a.wav")
    with pytest.raises(ValueError, match="never started"):
        recorder.pause()
    recorder.start()
    assert len(caller.taps) == len(callee.taps) == 1 and media_clock.streams == [recorder]
    with pytest.raises(ValueError, match="already started"):
        recorder.start()
    for _ in range(10):
        recorder.tick(media_clock.now)
        media_clock.now += 0.02
    recorder.pause()
    with pytest.raises(ValueError, match="cannot pause a recording that is paused"):
        recorder.pause()
    for _ in range(5):
        recorder.tick(media_clock.now)
        media_clock.now += 0.02
    caller.closed = True  # the leg went away before the recording stopped
    summary = recorder.stop()
    assert recorder.stop() is summary
    assert caller.taps == [] and callee.taps == [] and media_clock.streams == []
    assert summary.seconds == pytest.approx(0.3) and summary.paused_seconds == pytest.approx(0.1)
    assert summary.bytes_written == 15 * 640 and summary.layout == "stereo" and not summary.failed
    writer.close_all()
    assert writer.join(5)
    with wave.open(str(tmp_path / "a.wav"), "rb") as reader:
        assert reader.getnframes() == 15 * 160


def test_starting_on_a_closed_leg_leaves_nothing_behind(tmp_path):
    caller, callee, media_clock, writer = FakeEndpoint(), FakeEndpoint(), FakeMediaClock(), WavWriter()
    callee.closed = True
    recorder = CallRecorder(caller, callee, media_clock=media_clock, writer=writer, path=tmp_path / "b.wav")
    with pytest.raises(EndpointClosed):
        recorder.start()
    assert caller.taps == [] and media_clock.streams == [] and writer.open_files == 0
    assert recorder.stop().bytes_written == 0
