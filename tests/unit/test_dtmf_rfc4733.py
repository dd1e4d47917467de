"""RFC 4733 telephone-events, SIP INFO DTMF and the per-call digit stream (pbx.media.dtmf).

Packets are built byte by byte in the shapes real peers send (PEERS.md): sipp's shipped pcaps
(PT 101), sipp's play_dtmf (PT 96, R bit, new SSRC, PT 97 noop packets) and baresip's sndcode.
"""

import struct

import msgspec
import pytest

from pbx.media.dtmf import DigitDetected, DigitStream, Rfc4733Receiver, Rfc4733Sender, parse_info_body


def rtp(payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    second = (0x80 if marker else 0) | payload_type
    return struct.pack("!BBHII", 0x80, second, sequence, timestamp, ssrc) + payload


def event(code: int, duration: int, end: bool = False, reserved: bool = False, volume: int = 10) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | (0x40 if reserved else 0) | volume, duration)


def press(
    code: int, *, payload_type: int = 101, ssrc: int = 0x1234, timestamp: int = 1000, sequence: int = 100,
    durations: tuple[int, ...] = (160, 320, 480, 640), reserved: bool = False,
) -> list[bytes]:  # fmt: skip
    """One key press: marker on the first packet, growing durations, then 3 end packets."""
    packets = [
        rtp(payload_type, sequence + i, timestamp, ssrc, event(code, duration, reserved=reserved), marker=i == 0)
        for i, duration in enumerate(durations)
    ]
    end = event(code, durations[-1], end=True, reserved=reserved)
    packets += [rtp(payload_type, sequence + len(durations) + repeat, timestamp, ssrc, end) for repeat in range(3)]
    return packets


def feed(receiver: Rfc4733Receiver, packets: list[bytes], start: float = 0.0, step: float = 0.02) -> list:
    found = []
    for index, packet in enumerate(packets):
        found += receiver.receive(packet, start + index * step)
    return found


def digits(found: list[DigitDetected]) -> str:
    return "".join(e.digit for e in found)


SIPP_PCAP_DIGIT_1 = [
    bytes.fromhex(h)
    for h in [
        "80e51f30000033e00e05384e010a0000", "80651f31000033e00e05384e010a0140", "80651f32000033e00e05384e010a0280",
        "80651f33000033e00e05384e010a03c0", "80651f34000033e00e05384e010a0500", "80651f35000033e00e05384e010a0640",
        "80651f36000033e00e05384e010a0780", "80651f37000033e00e05384e018a08c0", "80651f37000033e00e05384e018a08c0",
        "80651f37000033e00e05384e018a08c0",
    ]
]  # RTP payloads of /usr/share/sip-tester/dtmf_2833_1.pcap: 10 packets, 3 end packets with one sequence


def test_sipp_pcap_stream_gives_the_digit_once_at_the_first_end_packet():
    receiver = Rfc4733Receiver(payload_type=101)
    results = [receiver.receive(packet, index * 0.04) for index, packet in enumerate(SIPP_PCAP_DIGIT_1)]
    assert [len(r) for r in results] == [0] * 7 + [1, 0, 0]
    assert results[7] == [DigitDetected("1", "rfc4733", 0.0, 280)]
    assert receiver.flush(100.0) == []


def test_play_dtmf_style_pt96_with_r_bit_after_pt97_noops_from_another_ssrc():
    noops = [rtp(97, 2 * index, 5000, 0xAAAA, b"\x00" * 4) for index in range(20)]
    audio = [rtp(0, 7 + index, 160 * index, 0xBBBB, b"\xff" * 160) for index in range(3)]
    presses = press(2, payload_type=96, ssrc=0xCCCC, timestamp=9000, reserved=True) + press(
        3, payload_type=96, ssrc=0xCCCC, timestamp=10_000, sequence=110, reserved=True
    )
    found = feed(Rfc4733Receiver(payload_type=96), noops + audio + presses)
    assert digits(found) == "23"


def test_other_payload_types_are_ignored():
    assert feed(Rfc4733Receiver(payload_type=96), press(5, payload_type=101)) == []


def test_reordered_and_duplicated_packets_give_the_digit_once():
    packets = press(9)
    shuffled = [packets[i] for i in (1, 0, 0, 3, 2, 4, 1, 5, 6, 4)]
    found = feed(Rfc4733Receiver(payload_type=101), shuffled)
    assert digits(found) == "9"
    assert found[0].duration_ms == 80


def test_start_packet_retransmitted_after_the_end_is_dropped():
    receiver = Rfc4733Receiver(payload_type=101)
    packets = press(4)
    assert digits(feed(receiver, packets)) == "4"
    assert receiver.receive(packets[0], 0.5) == []
    assert receiver.flush(5.0) == []


def test_lost_end_packets_are_flushed_after_the_timeout():
    receiver = Rfc4733Receiver(payload_type=101, timeout=1.0)
    found = feed(receiver, press(11)[:4], start=10.0)  # "#" without its end packets
    assert found == []
    assert receiver.next_deadline() == pytest.approx(11.06)
    assert receiver.flush(10.9) == []
    assert receiver.flush(11.1) == [DigitDetected("#", "rfc4733", 10.0, 80)]
    assert receiver.flush(12.0) == [] and receiver.next_deadline() is None


def test_lost_end_packets_are_reported_when_the_next_event_starts():
    receiver = Rfc4733Receiver(payload_type=101)
    found = feed(receiver, press(1)[:3] + press(2, timestamp=2000, sequence=110))
    assert digits(found) == "12"
    assert found[0].duration_ms == 60


def test_back_to_back_digits_like_baresip_sndcode():
    durations = tuple(range(160, 1441, 160))  # baresip: 160 ... 1440 (180 ms)
    packets = []
    for index, code in enumerate((3, 4, 11)):
        timestamp, sequence = 8000 + 2000 * index, 100 + 12 * index
        packets += press(code, ssrc=0x5151, timestamp=timestamp, sequence=sequence, durations=durations)
    found = feed(Rfc4733Receiver(payload_type=101), packets)
    assert digits(found) == "34#"
    assert [e.duration_ms for e in found] == [180, 180, 180]


def test_same_digit_twice_is_two_events():
    packets = press(5, timestamp=1000) + press(5, timestamp=3000, sequence=120)
    assert digits(feed(Rfc4733Receiver(payload_type=101), packets)) == "55"


def test_a_second_ssrc_with_the_same_timestamp_is_a_separate_event():
    packets = press(6, ssrc=1, timestamp=4000) + press(7, ssrc=2, timestamp=4000)
    assert digits(feed(Rfc4733Receiver(payload_type=101), packets)) == "67"


def test_interleaved_ssrcs_do_not_end_each_other():
    first, second = press(1, ssrc=1), press(2, ssrc=2, timestamp=50)
    interleaved = [packet for pair in zip(first, second) for packet in pair]
    found = feed(Rfc4733Receiver(payload_type=101), interleaved)
    assert sorted(digits(found)) == ["1", "2"]
    assert all(e.duration_ms == 80 for e in found)


def test_long_event_segments_are_one_digit():
    # RFC 4733 2.5.1.3: a press longer than 0xFFFF units goes on with a new timestamp, no marker.
    first = [rtp(101, 1 + i, 0, 9, event(0, d), marker=i == 0) for i, d in enumerate((160, 32_000, 0xFFFF))]
    rest = [rtp(101, 10 + i, 0xFFFF, 9, event(0, d, end=i >= 1)) for i, d in enumerate((160, 800, 800, 800))]
    found = feed(Rfc4733Receiver(payload_type=101), first + rest)
    assert found == [DigitDetected("0", "rfc4733", 0.0, round((0xFFFF + 800) / 8))]


@pytest.mark.parametrize(
    "packet",
    [
        b"",  # empty
        b"\x80\x65",  # shorter than the fixed header
        rtp(101, 1, 1, 1, b"\x01\x0a"),  # payload shorter than one event block
        rtp(101, 1, 1, 1, event(16, 160, end=True)),  # event 16 (flash) is not a key
        b"\x40" + bytes(15),  # RTP version 1
    ],
)
def test_malformed_or_non_dtmf_packets_are_ignored(packet):
    receiver = Rfc4733Receiver(payload_type=101)
    assert receiver.receive(packet, 0.0) == [] and receiver.flush(10.0) == []


def test_csrcs_extension_and_padding_are_skipped():
    payload = event(12, 800, end=True)
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 101, 1, 1, 1) + struct.pack("!II", 7, 8)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x00" * 4
    packet = header + extension + payload + b"\x00\x00\x00\x04"
    assert Rfc4733Receiver(101).receive(packet, 0.0) == [DigitDetected("A", "rfc4733", 0.0, 100)]


@pytest.mark.parametrize("digit", list("0123456789*#ABCD"))
def test_sender_output_is_read_back_by_the_receiver(digit):
    sender = Rfc4733Sender(payload_type=101, ssrc=0xDEADBEEF)
    packets = sender.packets(digit, duration_ms=100, start_timestamp=4000, start_sequence=65534)
    assert len(packets) == 5 + 3
    assert digits(feed(Rfc4733Receiver(101), packets)) == digit
    assert feed(Rfc4733Receiver(101), packets)[0].duration_ms == 100


def test_sender_packet_layout():
    sender = Rfc4733Sender(payload_type=96, ssrc=7)
    packets = sender.packets("#", duration_ms=70, volume=8, start_timestamp=320, start_sequence=65535)
    headers = [struct.unpack("!BBHII", p[:12]) for p in packets]
    payloads = [struct.unpack("!BBH", p[12:]) for p in packets]
    assert [h[1] for h in headers] == [0x80 | 96] + [96] * 6  # marker on the first packet only
    assert [h[2] for h in headers] == [65535, 0, 1, 2, 3, 4, 5]
    assert {h[3] for h in headers} == {320} and {h[4] for h in headers} == {7}
    assert payloads == [(11, 8, 160), (11, 8, 320), (11, 8, 480), (11, 8, 560)] + [(11, 0x80 | 8, 560)] * 3


def test_sender_rejects_misuse():
    sender = Rfc4733Sender(payload_type=101, ssrc=1)
    with pytest.raises(ValueError):
        sender.packets("x")
    with pytest.raises(ValueError):
        sender.packets("1", duration_ms=10_000)
    with pytest.raises(ValueError):
        sender.packets("1", volume=64)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", b"Signal= #\r\nDuration= 250", "#"),
        ("Application/DTMF-Relay; charset=ascii", b"signal = *\nduration=100\n", "*"),
        ("application/dtmf-relay", b"SIGNAL=d\r\n", "D"),
        ("application/dtmf-relay", b"Duration=160\r\nSignal=11\r\n", "#"),
        ("application/dtmf-relay", b"Signal=\r\nDuration=160", None),
        ("application/dtmf-relay", b"Signal=55\r\n", None),
        ("application/dtmf-relay", b"Duration=160", None),
        ("application/dtmf-relay", b"\xff\xfe", None),
        ("application/dtmf", b"7", "7"),
        ("application/dtmf", b" 0\r\n", "0"),
        ("application/dtmf", b"10", "*"),
        ("application/dtmf", b"xy", None),
        ("text/plain", b"Signal=5", None),
    ],
)
def test_info_bodies(content_type, body, expected):
    assert parse_info_body(content_type, body) == expected


def test_digit_events_are_frozen_and_encodable():
    digit = DigitDetected("5", "info", 1.5, None)
    with pytest.raises(AttributeError):
        digit.digit = "6"
    assert msgspec.json.decode(msgspec.json.encode(digit), type=DigitDetected) == digit


def test_digit_stream_drops_the_same_digit_from_another_source_within_the_window():
    stream = DigitStream(window_ms=150)
    inband = DigitDetected("5", "inband", 10.02, None)
    rfc4733 = DigitDetected("5", "rfc4733", 10.0, 120)  # reported later, at the end of the press
    assert stream.add(inband) == inband
    assert stream.add(rfc4733) is None
    assert stream.add(DigitDetected("5", "info", 10.1, None)) is None


def test_digit_stream_keeps_repeats_from_one_source_and_late_or_different_digits():
    stream = DigitStream(window_ms=150)
    events = [
        DigitDetected("5", "rfc4733", 1.0, 100),
        DigitDetected("5", "rfc4733", 1.1, 100),  # a real second press
        DigitDetected("5", "inband", 1.4, None),  # outside the window of both
        DigitDetected("6", "inband", 1.45, None),  # a different digit
    ]
    assert [stream.add(e) for e in events] == events



def test_a_late_packet_of_an_older_event_does_not_end_the_current_one():
    receiver = Rfc4733Receiver(payload_type=101)
    first, second = press(1, timestamp=0xFFFFFF00), press(2, timestamp=0x100, sequence=110)  # timestamp wraps
    found = feed(receiver, second[:2] + first[:1] + second[2:] + first[1:])
    assert digits(found) == "21"
    assert [e.duration_ms for e in found] == [80, 80]


def test_digit_stream_remembers_a_press_reported_late_after_other_digits():
    stream = DigitStream(window_ms=150)
    assert stream.add(DigitDetected("5", "inband", 0.02, None)) is not None
    assert stream.add(DigitDetected("6", "inband", 2.1, None)) is not None
    assert stream.add(DigitDetected("5", "rfc4733", 0.0, 2000)) is None  # end lost, flushed late
