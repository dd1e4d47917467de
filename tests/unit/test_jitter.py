"""Tests for pbx.media.jitter: ordering, concealment, counting and adaptation with a fake clock.

The media clock pops every 20 ms at t = 0, 0.02, 0.04, ...; packets pushed
at the same instant as a pop are pushed first. G.711 at 8 kHz: 160 samples
and 160 bytes per 20 ms.
"""

import pytest

from pbx.media.jitter import Frame, JitterBuffer

TICK = 0.02
SAMPLES = 160


def payload(index: int) -> bytes:
    return bytes([index % 256]) * SAMPLES


def run(buffer: JitterBuffer, arrivals, pops: int, *, ticks_from: int = 0) -> list[Frame]:
    """Feed (arrival, sequence, timestamp, payload) in time order around `pops` ticks; return the frames."""
    pending = sorted(arrivals, key=lambda arrival: arrival[0])
    frames = []
    for tick in range(ticks_from, ticks_from + pops):
        now = tick * TICK
        while pending and pending[0][0] <= now + 1e-9:
            at, sequence, timestamp, data = pending.pop(0)
            buffer.push(sequence, timestamp, data, at)
        frames.append(buffer.pop(now))
    return frames


def on_time(indexes, *, first_sequence=0, first_timestamp=0):
    """Packets sent every 20 ms that arrive exactly on time."""
    return [
        (index * TICK, (first_sequence + index) % 65536, (first_timestamp + index * SAMPLES) % 2**32, payload(index))
        for index in indexes
    ]


def kinds(frames):
    return [frame.kind for frame in frames]


def test_silence_before_the_first_packet():
    buffer = JitterBuffer()
    assert buffer.pop(0.0) == Frame("silence", None, None)
    assert buffer.pop(0.02) == Frame("silence", None, None)


def test_in_order_stream_plays_in_order_without_concealment():
    buffer = JitterBuffer()
    frames = run(buffer, on_time(range(10)), 11)
    # The first pop waits the minimum delay (one frame); then every packet in turn.
    assert frames[0] == Frame("silence", None, None)
    assert frames[1:] == [Frame("audio", payload(i), i * SAMPLES) for i in range(10)]
    stats = buffer.stats
    assert (stats.received, stats.late, stats.duplicate, stats.lost, stats.concealed) == (10, 0, 0, 0, 0)
    assert stats.current_delay_ms == 20.0
    assert stats.target_delay_ms == pytest.approx(20.0)


def test_reordered_packets_are_put_back_in_order():
    arrivals = on_time([0, 1, 4, 5])
    arrivals += [(0.040, 3, 3 * SAMPLES, payload(3)), (0.050, 2, 2 * SAMPLES, payload(2))]  # 3 before 2
    buffer = JitterBuffer()
    frames = run(buffer, arrivals, 6)
    assert frames[1:] == [Frame("audio", payload(i), i * SAMPLES) for i in range(5)]
    assert (buffer.stats.late, buffer.stats.lost, buffer.stats.concealed) == (0, 0, 0)


def test_a_lost_packet_is_concealed_once_then_playout_resumes():
    buffer = JitterBuffer()
    frames = run(buffer, on_time([0, 1, 3, 4, 5]), 7)
    assert frames[1:] == [
        Frame("audio", payload(0), 0),
        Frame("audio", payload(1), 160),
        Frame("concealed", payload(1), 320),  # the previous frame, repeated
        Frame("audio", payload(3), 480),
        Frame("audio", payload(4), 640),
        Frame("audio", payload(5), 800),
    ]
    assert (buffer.stats.lost, buffer.stats.concealed, buffer.stats.late) == (1, 1, 0)


def test_a_long_gap_is_concealed_twice_then_silent():
    buffer = JitterBuffer()
    frames = run(buffer, on_time([0, 1, 2, 3, 10, 11, 12]), 14)
    assert kinds(frames) == ["silence"] + ["audio"] * 4 + ["concealed"] * 2 + ["silence"] * 4 + ["audio"] * 3
    assert frames[5].payload == frames[6].payload == payload(3)
    assert [frame.timestamp for frame in frames[5:11]] == [i * SAMPLES for i in range(4, 10)]
    assert frames[11:] == [Frame("audio", payload(i), i * SAMPLES) for i in (10, 11, 12)]
    assert (buffer.stats.lost, buffer.stats.concealed) == (6, 2)


def test_duplicates_and_late_packets_are_counted_not_played():
    arrivals = on_time([0, 1, 2, 4, 5])
    arrivals += [
        (0.021, 1, 1 * SAMPLES, payload(1)),  # a duplicate still in the buffer
        (0.090, 3, 3 * SAMPLES, payload(3)),  # its turn passed at t = 0.08
        (0.095, 0, 0, payload(0)),  # a duplicate of a packet already played
    ]
    buffer = JitterBuffer()
    frames = run(buffer, arrivals, 7)
    assert frames[1:] == [
        Frame("audio", payload(0), 0),
        Frame("audio", payload(1), 160),
        Frame("audio", payload(2), 320),
        Frame("concealed", payload(2), 480),
        Frame("audio", payload(4), 640),
        Frame("audio", payload(5), 800),
    ]
    stats = buffer.stats
    assert (stats.received, stats.duplicate, stats.late, stats.lost) == (8, 2, 1, 1)


def test_a_late_packet_raises_the_target_by_a_frame():
    buffer = JitterBuffer()
    run(buffer, on_time([0, 1, 2, 4]), 5)
    before = buffer.target_delay_ms
    buffer.push(3, 3 * SAMPLES, payload(3), 0.081)
    assert buffer.stats.late == 1
    # The floor is one frame above the target that the new jitter estimate gives.
    assert buffer.target_delay_ms == pytest.approx(3 * buffer.jitter_ms + 20 + 20)
    assert buffer.target_delay_ms >= before + 20


def test_sequence_and_timestamp_wraparound():
    first_timestamp = 2**32 - 2 * SAMPLES
    buffer = JitterBuffer()
    arrivals = on_time(range(5), first_sequence=65534, first_timestamp=first_timestamp)
    arrivals[1], arrivals[2] = (0.040, *arrivals[1][1:]), (0.039, *arrivals[2][1:])  # 0 before 65535
    frames = run(buffer, arrivals, 6)
    assert frames[1:] == [
        Frame("audio", payload(0), 2**32 - 320),
        Frame("audio", payload(1), 2**32 - 160),
        Frame("audio", payload(2), 0),
        Frame("audio", payload(3), 160),
        Frame("audio", payload(4), 320),
    ]
    assert (buffer.stats.lost, buffer.stats.late, buffer.stats.duplicate) == (0, 0, 0)


def test_loss_is_counted_across_the_sequence_wrap():
    arrivals = [a for a in on_time(range(6), first_sequence=65533, first_timestamp=2**32 - 480) if a[1] != 0]
    buffer = JitterBuffer()
    frames = run(buffer, arrivals, 7)
    assert kinds(frames) == ["silence", "audio", "audio", "audio", "concealed", "audio", "audio"]
    assert frames[4].timestamp == 0
    assert buffer.stats.lost == 1


def feed(buffer: JitterBuffer, arrivals, ticks: int):
    """Run the clock for `ticks` pops; return (frame, target_delay_ms, current_delay_ms) after each."""
    arrivals = sorted(arrivals)
    pushed, trace = 0, []
    for tick in range(ticks):
        now = tick * TICK
        while pushed < len(arrivals) and arrivals[pushed][0] <= now + 1e-9:
            at, sequence, timestamp, data = arrivals[pushed]
            buffer.push(sequence, timestamp, data, at)
            pushed += 1
        trace.append((buffer.pop(now), buffer.target_delay_ms, buffer.current_delay_ms))
    return trace


def test_target_follows_the_a8_jitter():
    buffer = JitterBuffer()
    buffer.push(0, 0, payload(0), 0.0)
    buffer.push(1, SAMPLES, payload(1), 0.030)  # D = 240 - 160 = 80 samples -> J = 5 samples = 0.625 ms
    assert buffer.jitter_ms == pytest.approx(0.625)
    assert buffer.target_delay_ms == pytest.approx(20 + 3 * 0.625)


def test_delay_grows_with_injected_jitter_and_is_clamped_to_the_maximum():
    # Every other packet 80 ms late, for three seconds.
    arrivals = [(i * TICK + (0.080 if i % 2 else 0.0), i, i * SAMPLES, payload(i)) for i in range(150)]
    buffer = JitterBuffer()
    trace = feed(buffer, arrivals, 175)
    targets = [target for _, target, _ in trace]
    delays = [delay for _, _, delay in trace]
    # |D| is 640 samples (80 ms) per packet, so 3 J + 20 ms soon passes 200 ms and is clamped there.
    assert targets[0] == 20.0
    assert targets[5] < targets[10] < targets[20] < 200.0
    assert targets[-1] == 200.0 and max(targets) == 200.0
    # Packets 1 and 3 come before anything adapted and are late; then the playout point
    # is held three frames (20 -> 80 ms, enough for 80 ms of jitter) and nothing is late again.
    assert delays[5] == 20.0 and delays[8] == 80.0
    assert buffer.stats.late == 2
    frames = [frame for frame, _, _ in trace]
    assert [frame.timestamp // SAMPLES for frame in frames[9:154]] == list(range(5, 150))
    assert kinds(frames[9:154]) == ["audio"] * 145
    # When the stream stops, the missing frames are held up to the target, never past the maximum.
    assert max(delays) == 200.0 and delays[-1] == 200.0


def test_delay_shrinks_one_frame_at_a_time_once_the_jitter_is_gone():
    # 80 ms jitter for 20 packets, then a perfectly steady stream.
    arrivals = [(i * TICK + (0.080 if i % 2 and i < 20 else 0.0), i, i * SAMPLES, payload(i)) for i in range(400)]
    trace = feed(JitterBuffer(), arrivals, 400)
    delays = [delay for _, _, delay in trace]
    # Playout starts at tick 1; look at the changes after that.
    steps = [(tick, delays[tick]) for tick in range(2, 400) if delays[tick] != delays[tick - 1]]
    assert [delay for _, delay in steps] == [40.0, 60.0, 80.0, 60.0, 40.0, 20.0]
    shrink_ticks = [tick for tick, _ in steps[3:]]
    assert all(later - earlier >= 50 for earlier, later in zip(shrink_ticks, shrink_ticks[1:]))
    # A shrink drops one audio frame: the stream skips one timestamp, and never conceals for it.
    frame, _, _ = trace[shrink_ticks[0]]
    previous, _, _ = trace[shrink_ticks[0] - 1]
    assert frame.kind == previous.kind == "audio"
    assert frame.timestamp - previous.timestamp == 2 * SAMPLES


def test_30_ms_packets_are_sliced_into_20_ms_frames():
    def stream_bytes(start: int, count: int) -> bytes:
        return bytes((start + i) % 256 for i in range(count))

    arrivals = [(k * 0.030, k, k * 240, stream_bytes(k * 240, 240)) for k in range(10)]
    buffer = JitterBuffer()
    frames = run(buffer, arrivals, 14)
    assert frames[0].kind == "silence"
    assert frames[1:] == [Frame("audio", stream_bytes(n * SAMPLES, SAMPLES), n * SAMPLES) for n in range(13)]
    assert (buffer.stats.lost, buffer.stats.late, buffer.stats.concealed) == (0, 0, 0)


def test_bad_configuration_is_our_error():
    with pytest.raises(ValueError):
        JitterBuffer(min_delay_ms=300, max_delay_ms=200)
    with pytest.raises(ValueError):
        JitterBuffer(clock_rate=8000, frame_ms=0)
