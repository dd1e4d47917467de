"""Tests for pbx.media.recording: synthesized RTP bytes and a fake clock in, exact PCM frames out.

The media clock ticks at t = 0, 0.02, 0.04, ...; packets due at a tick are
received just before it. Each packet carries 20 ms of one constant G.711
code, so every decoded sample of a channel has one known value.
"""

import struct
from array import array

import pytest

from pbx.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from pbx.media.recording import (
    MONO_FRAME,
    STEREO_FRAME,
    RecordingMixer,
    interleave,
    mix,
    rtp_payload,
)

TICK = 0.02


def sample_of(value: int, codec: str = "PCMU") -> tuple[bytes, int]:
    """One G.711 code for ``value`` and the PCM16 value it decodes to."""
    encode, decode = (ulaw_encode, ulaw_decode) if codec == "PCMU" else (alaw_encode, alaw_decode)
    code = encode(struct.pack("<h", value))
    return code, struct.unpack("<h", decode(code))[0]


def rtp(sequence: int, code: bytes, *, payload_type: int = 0, ssrc: int = 0x1111, timestamp: int | None = None,
        samples: int = 160) -> bytes:
    timestamp = sequence * 160 if timestamp is None else timestamp
    return struct.pack("!BBHII", 0x80, payload_type, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + code * samples


def channels_of(frame: bytes) -> tuple[list[int], list[int]]:
    samples = array("h", frame)
    return list(samples[0::2]), list(samples[1::2])


def run(mixer: RecordingMixer, packets: dict[int, list[tuple[str, bytes]]], ticks: int) -> list[bytes]:
    """``packets[tick]`` are received just before tick ``tick``; returns every frame."""
    frames = []
    for tick in range(ticks):
        now = tick * TICK
        for channel, packet in packets.get(tick, []):
            mixer.receive(channel, packet, now)
        frames.append(mixer.tick(now))
    return frames


def stream(channel: str, code: bytes, count: int, *, first_tick: int = 0, **options) -> dict[int, list]:
    return {first_tick + index: [(channel, rtp(index, code, **options))] for index in range(count)}


def merge(*streams: dict[int, list]) -> dict[int, list]:
    merged: dict[int, list] = {}
    for one in streams:
        for tick, packets in one.items():
            merged.setdefault(tick, []).extend(packets)
    return merged


# --- channel placement ----------------------------------------------------------------------


def test_a_channel_with_nothing_yet_is_silence():
    mixer = RecordingMixer("stereo")
    assert mixer.tick(0.0) == STEREO_FRAME and len(STEREO_FRAME) == 640
    mono = RecordingMixer("mixed")
    assert mono.tick(0.0) == MONO_FRAME and len(MONO_FRAME) == 320


def test_caller_audio_lands_only_in_the_left_channel():
    code, value = sample_of(1000)
    frames = run(RecordingMixer("stereo"), stream("caller", code, 10), 11)
    assert all(len(frame) == 640 for frame in frames)
    assert frames[0] == STEREO_FRAME  # one frame of jitter buffer delay
    for frame in frames[1:]:
        left, right = channels_of(frame)
        assert left == [value] * 160
        assert right == [0] * 160


def test_callee_audio_lands_only_in_the_right_channel_and_both_play_together():
    caller_code, caller_value = sample_of(1000)
    callee_code, callee_value = sample_of(-3000)
    packets = merge(stream("caller", caller_code, 10), stream("callee", callee_code, 10, ssrc=0x2222))
    frames = run(RecordingMixer("stereo"), packets, 11)
    for frame in frames[1:]:
        assert channels_of(frame) == ([caller_value] * 160, [callee_value] * 160)


def test_pcma_and_pcmu_both_decode_per_channel_map():
    caller_code, caller_value = sample_of(2000, "PCMA")
    callee_code, callee_value = sample_of(2000, "PCMU")
    mixer = RecordingMixer("stereo", caller_codecs={8: "PCMA"}, callee_codecs={0: "PCMU"})
    packets = merge(stream("caller", caller_code, 5, payload_type=8), stream("callee", callee_code, 5, ssrc=2))
    frames = run(mixer, packets, 6)
    assert channels_of(frames[3]) == ([caller_value] * 160, [callee_value] * 160)
    assert caller_value != callee_value  # the two laws differ, so a wrong decoder would show


def test_a_dynamic_payload_type_maps_to_its_codec():
    code, value = sample_of(500, "PCMA")
    mixer = RecordingMixer("mixed", caller_codecs={96: "PCMA"})
    frames = run(mixer, stream("caller", code, 3, payload_type=96), 4)
    assert list(array("h", frames[2])) == [value] * 160


def test_set_codecs_follows_a_reinvite():
    code_u, value_u = sample_of(800, "PCMU")
    code_a, value_a = sample_of(800, "PCMA")
    mixer = RecordingMixer("mixed", caller_codecs={0: "PCMU"})
    mixer.receive("caller", rtp(0, code_u), 0.0)
    mixer.tick(0.0)
    assert list(array("h", mixer.tick(0.02))) == [value_u] * 160
    mixer.set_codecs("caller", {8: "PCMA"})
    mixer.receive("caller", rtp(1, code_a, payload_type=8), 0.04)
    assert list(array("h", mixer.tick(0.04))) == [value_a] * 160
    mixer.receive("caller", rtp(2, code_u), 0.06)  # PCMU is no longer agreed
    assert mixer.stats.caller.ignored == 1


# --- mono mix -------------------------------------------------------------------------------


def test_mono_is_the_sum_of_both_channels():
    caller_code, caller_value = sample_of(1000)
    callee_code, callee_value = sample_of(-300)
    packets = merge(stream("caller", caller_code, 5), stream("callee", callee_code, 5, ssrc=2))
    frames = run(RecordingMixer("mixed"), packets, 6)
    assert all(len(frame) == 320 for frame in frames)
    assert list(array("h", frames[2])) == [caller_value + callee_value] * 160


def test_mono_saturates_instead_of_wrapping():
    loud_code, loud_value = sample_of(30000)
    assert loud_value > 16384
    packets = merge(stream("caller", loud_code, 3), stream("callee", loud_code, 3, ssrc=2))
    frames = run(RecordingMixer("mixed"), packets, 4)
    assert list(array("h", frames[2])) == [32767] * 160
    quiet_code, _ = sample_of(-30000)
    packets = merge(stream("caller", quiet_code, 3), stream("callee", quiet_code, 3, ssrc=2))
    frames = run(RecordingMixer("mixed"), packets, 4)
    assert list(array("h", frames[2])) == [-32768] * 160


def test_mix_and_interleave_exactly():
    first = array("h", [1, -2, 32000, -32000]).tobytes()
    second = array("h", [10, 20, 1000, -1000]).tobytes()
    assert list(array("h", mix(first, second))) == [11, 18, 32767, -32768]
    assert list(array("h", interleave(first, second))) == [1, 10, -2, 20, 32000, 1000, -32000, -1000]


# --- jitter: reordering and loss ------------------------------------------------------------


def tone_codes(count: int) -> list[tuple[bytes, int]]:
    return [sample_of(1000 + 500 * index) for index in range(count)]


def test_reordered_packets_play_in_timestamp_order():
    codes = tone_codes(6)
    order = [0, 2, 1, 3, 5, 4]  # pairs swapped in flight, each within one tick
    mixer = RecordingMixer("stereo")
    packets = {tick: [("caller", rtp(index, codes[index][0]))] for tick, index in enumerate(order)}
    frames = run(mixer, packets, 8)
    lefts = [channels_of(frame)[0][0] for frame in frames[2:8]]
    assert lefts == [value for _, value in codes]
    assert mixer.stats.caller.concealed == 0


def test_a_lost_packet_is_concealed_by_repeating_the_last_frame():
    codes = tone_codes(6)
    mixer = RecordingMixer("stereo")
    packets = {index: [("caller", rtp(index, codes[index][0]))] for index in range(6) if index != 3}
    frames = run(mixer, packets, 12)
    lefts = [channels_of(frame)[0][0] for frame in frames]
    v = [value for _, value in codes]
    # Sequence 3 never came: frame 2 is repeated in its place; after the stream ends, two more
    # repeats (the buffer's limit on concealment), then silence.
    assert lefts == [0, v[0], v[1], v[2], v[2], v[4], v[5], v[5], v[5], 0, 0, 0]
    assert mixer.stats.caller.concealed == 3


def test_a_packet_after_its_turn_is_counted_late_and_not_played():
    codes = tone_codes(6)
    mixer = RecordingMixer("stereo")
    packets = {index: [("caller", rtp(index, codes[index][0]))] for index in range(6) if index != 1}
    packets[8] = [("caller", rtp(1, codes[1][0]))]
    frames = run(mixer, packets, 9)
    assert codes[1][1] not in [channels_of(frame)[0][0] for frame in frames]
    assert mixer.stats.caller.late == 1


# --- sources and payload types --------------------------------------------------------------


def test_an_ssrc_change_restarts_the_channel():
    first_code, first_value = sample_of(1000)
    second_code, second_value = sample_of(-1000)
    mixer = RecordingMixer("stereo")
    packets = stream("caller", first_code, 5)
    # The new source starts with unrelated numbers; the old buffer would call it a timestamp jump.
    for index in range(5):
        packet = rtp(40000 + index, second_code, ssrc=0x9999, timestamp=7_000_000 + 160 * index)
        packets[5 + index] = [("caller", packet)]
    frames = run(mixer, packets, 12)
    lefts = [channels_of(frame)[0][0] for frame in frames]
    # What the old source still had buffered goes (its last frame); the new one waits one frame of delay.
    assert lefts == [0] + [first_value] * 4 + [0] + [second_value] * 6
    assert mixer.stats.caller.sources == 2


def test_telephone_event_and_comfort_noise_are_ignored_and_counted():
    code, value = sample_of(1000)
    mixer = RecordingMixer("stereo")
    mixer.receive("caller", rtp(0, code), 0.0)
    mixer.receive("caller", rtp(1, b"\x01\x00\x00\xa0", payload_type=101, samples=1), 0.0)  # RFC 4733 event
    mixer.receive("caller", rtp(2, b"\x40", payload_type=13, samples=1), 0.0)  # RFC 3389 comfort noise
    mixer.receive("caller", b"\x00\x01", 0.0)  # not RTP at all
    mixer.tick(0.0)
    assert channels_of(mixer.tick(0.02))[0] == [value] * 160
    stats = mixer.stats
    assert (stats.caller.packets, stats.caller.ignored, stats.caller.malformed) == (1, 2, 1)
    assert stats.packets_ignored == 2


def test_rtp_payload_skips_csrcs_extension_and_padding():
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0, 7, 1120, 5)
    packet = header + b"\x00" * 8 + b"\xbe\xde\x00\x01" + b"\x00" * 4 + b"\xff" * 160 + b"\x00\x00\x03"
    payload_type, sequence, timestamp, ssrc, payload = rtp_payload(packet)
    assert (payload_type, sequence, timestamp, ssrc, bytes(payload)) == (0, 7, 1120, 5, b"\xff" * 160)
    assert rtp_payload(b"\x40" + bytes(20)) is None  # version 1


# --- our own audio --------------------------------------------------------------------------


def test_fed_frames_play_on_the_next_tick_without_delay():
    mixer = RecordingMixer("stereo")
    prompt = array("h", [1234] * 160).tobytes()
    mixer.feed_pcm("callee", prompt, 0.0)
    assert channels_of(mixer.tick(0.0)) == ([0] * 160, [1234] * 160)
    assert mixer.tick(0.02) == STEREO_FRAME
    with pytest.raises(ValueError, match="320 bytes"):
        mixer.feed_pcm("callee", b"\x00" * 10, 0.04)


# --- pause and resume -----------------------------------------------------------------------


def test_pause_gives_silence_and_drops_audio_then_resume_records_again():
    code, value = sample_of(1000)
    mixer = RecordingMixer("stereo")
    frames = []
    for tick in range(20):
        now = tick * TICK
        if tick == 5:
            mixer.pause(now)
        if tick == 10:
            mixer.resume(now)
        mixer.receive("caller", rtp(tick, code), now)
        frames.append(mixer.tick(now))
    lefts = [channels_of(frame)[0][0] for frame in frames]
    assert lefts[1:5] == [value] * 4
    assert lefts[5:10] == [0] * 5  # paused: silence, and nothing buffered comes out later
    assert lefts[10] == 0  # the jitter buffer starts afresh: one frame of delay
    assert lefts[11:] == [value] * 9
    assert len(frames) == 20  # the timeline keeps the call's length
    stats = mixer.stats
    assert stats.frames_written == 20 and stats.frames_paused == 5
    assert stats.paused_seconds == pytest.approx(0.1)
    assert stats.caller.dropped == 5
    assert stats.seconds == pytest.approx(0.4)


def test_stop_while_paused_counts_the_pause_to_the_end():
    mixer = RecordingMixer()
    mixer.pause(1.0)
    mixer.stop(3.5)
    assert mixer.stats.paused_seconds == pytest.approx(2.5)
    assert mixer.state == "stopped"


def test_misuse_raises_and_names_the_state():
    mixer = RecordingMixer()
    with pytest.raises(ValueError, match="cannot resume a recording that is recording"):
        mixer.resume(0.0)
    mixer.pause(0.0)
    with pytest.raises(ValueError, match="cannot pause a recording that is paused"):
        mixer.pause(0.0)
    mixer.stop(0.0)
    with pytest.raises(ValueError, match="stopped"):
        mixer.stop(0.0)
    with pytest.raises(ValueError, match="stopped"):
        mixer.tick(0.0)
    with pytest.raises(ValueError, match="stopped"):
        mixer.receive("caller", rtp(0, b"\xff"), 0.0)


def test_bad_arguments_are_our_errors():
    with pytest.raises(ValueError, match="layout"):
        RecordingMixer("quad")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="G729"):
        RecordingMixer(caller_codecs={18: "G729"})
    with pytest.raises(ValueError, match="channel must be one of"):
        RecordingMixer().receive("left", rtp(0, b"\xff"), 0.0)  # type: ignore[arg-type]


def test_fed_audio_and_the_phone_on_one_channel_are_summed():
    code, value = sample_of(1000)
    mixer = RecordingMixer("stereo")
    prompt = array("h", [100] * 160).tobytes()
    mixer.receive("callee", rtp(0, code), 0.0)
    mixer.feed_pcm("callee", prompt, 0.0)
    assert channels_of(mixer.tick(0.0))[1] == [100] * 160  # the phone's audio waits its jitter delay
    mixer.receive("callee", rtp(1, code), 0.02)
    mixer.feed_pcm("callee", prompt, 0.02)
    assert channels_of(mixer.tick(0.02))[1] == [value + 100] * 160
