"""Tests for pbx.media.mixer: who hears whom when a supervisor listens, whispers or barges.

RTP bytes and a fake clock in, exact PCM16 frames out. Each party's phone sends 20 ms packets of
its own G.711 waveform (a different ramp of codes per party); the clock ticks at 0, 20, 40 ms...
and each packet arrives just before its tick. The jitter buffer plays a packet one tick after
it arrived, so the frame of tick n holds the packets of tick n - 1.
"""

from __future__ import annotations

import struct
from array import array

import pytest

from pbx.media.g711 import alaw_decode, alaw_encode, ulaw_decode
from pbx.media.mixer import (
    HEARS,
    MODES,
    PARTIES,
    SILENCE,
    MonitorMixer,
    check_mode,
    mixed,
    relayed,
    withheld,
)

TICK = 0.02
SSRC = {"caller": 0xCA11, "agent": 0xA6E7, "supervisor": 0x5EE5}
# One waveform per party: 160 mu-law codes each, a different ramp per party, so a wrong mix cannot
# pass by chance (G.711: codes 0x00-0x7F are negative, 0x80-0xFF positive, loudest at 0x00 and 0x80).
WAVE = {
    "caller": bytes(0x20 + (3 * i) % 0x5F for i in range(160)),
    "agent": bytes(0x30 + (5 * i) % 0x4F for i in range(160)),
    "supervisor": bytes(0x90 + (7 * i) % 0x6F for i in range(160)),
}


def rtp(party: str, sequence: int, payload: bytes | None = None, *, payload_type: int = 0) -> bytes:
    header = struct.pack("!BBHII", 0x80, payload_type, sequence, sequence * 160, SSRC[party])
    return header + (WAVE[party] if payload is None else payload)


def samples(pcm: bytes) -> list[int]:
    return list(array("h", pcm))  # little-endian hosts (the CI's); recording's tests pin the byte order


def decoded(party: str) -> list[int]:
    return samples(ulaw_decode(WAVE[party]))


def summed(*parties: str) -> list[int]:
    return [max(-32768, min(32767, sum(values))) for values in zip(*(decoded(party) for party in parties))]


def run(mixer: MonitorMixer, ticks: int, speaking=PARTIES) -> list[dict[str, bytes]]:
    """`ticks` ticks; before each, every party in `speaking` sends its next packet."""
    frames = []
    for tick in range(ticks):
        now = tick * TICK
        for party in speaking:
            mixer.receive(party, rtp(party, tick), now - 0.005)
        frames.append(mixer.tick(now))
    return frames


# The policy -----------------------------------------------------------------------------------


def test_the_policy_table_says_who_hears_whom():
    assert HEARS["listen"] == {"caller": {"agent"}, "agent": {"caller"}, "supervisor": {"caller", "agent"}}
    assert HEARS["whisper"] == {"caller": {"agent"}, "agent": {"caller", "supervisor"},
                                "supervisor": {"caller", "agent"}}
    assert HEARS["barge"] == {"caller": {"agent", "supervisor"}, "agent": {"caller", "supervisor"},
                              "supervisor": {"caller", "agent"}}
    for mode in MODES:  # nobody ever hears themselves
        assert all(party not in HEARS[mode][party] for party in PARTIES)


@pytest.mark.parametrize(("mode", "relayed_to", "mixed_for", "withheld_from_relay"), [
    ("listen", {"caller", "agent"}, ("supervisor",), set()),
    ("whisper", {"caller"}, ("agent", "supervisor"), {"caller"}),
    ("barge", set(), ("caller", "agent", "supervisor"), {"caller", "agent"}),
])  # fmt: skip
def test_each_mode_splits_listeners_between_the_relay_and_the_mixer(mode, relayed_to, mixed_for, withheld_from_relay):
    assert relayed(mode) == relayed_to
    assert mixed(mode) == mixed_for
    assert withheld(mode) == withheld_from_relay


def test_an_unknown_mode_is_refused_with_the_modes_there_are():
    with pytest.raises(ValueError, match="'spy'.*listen, whisper, barge"):
        check_mode("spy")
    with pytest.raises(ValueError, match="unknown monitoring mode"):
        MonitorMixer("spy")  # type: ignore[arg-type]


# Mixing, exact samples ------------------------------------------------------------------------


def test_listening_the_supervisor_hears_caller_plus_agent_and_nobody_hears_the_supervisor():
    frames = run(MonitorMixer("listen"), 4)
    assert frames[0] == {"supervisor": SILENCE}  # the first packets play at the next tick
    for frame in frames[1:]:
        assert set(frame) == {"supervisor"}  # caller and agent stay on the relay: no mix made for them
        assert samples(frame["supervisor"]) == summed("caller", "agent")


def test_whispering_the_agent_hears_caller_plus_supervisor_and_the_caller_gets_no_mix():
    frames = run(MonitorMixer("whisper"), 4)
    for frame in frames[1:]:
        assert set(frame) == {"agent", "supervisor"}
        assert samples(frame["agent"]) == summed("caller", "supervisor")
        assert samples(frame["supervisor"]) == summed("caller", "agent")
    # The caller is served by the relay (the agent's packets, untouched): the supervisor's
    # waveform is in no frame meant for the caller because there is none.
    assert all("caller" not in frame for frame in frames)


def test_barging_everyone_hears_the_two_others():
    frames = run(MonitorMixer("barge"), 3)
    for frame in frames[1:]:
        assert samples(frame["caller"]) == summed("agent", "supervisor")
        assert samples(frame["agent"]) == summed("caller", "supervisor")
        assert samples(frame["supervisor"]) == summed("caller", "agent")


def test_a_lone_speaker_is_heard_as_sent_and_silence_is_silence():
    frames = run(MonitorMixer("barge"), 3, speaking=("supervisor",))
    assert samples(frames[2]["caller"]) == decoded("supervisor")
    assert samples(frames[2]["agent"]) == decoded("supervisor")
    assert frames[2]["supervisor"] == SILENCE


def test_the_sum_saturates_at_the_16_bit_limits():
    mixer = MonitorMixer("listen")
    loudest_positive, loudest_negative = b"\x80" * 160, b"\x00" * 160  # mu-law +32124 and -32124
    for tick in range(2):
        mixer.receive("caller", rtp("caller", tick, loudest_positive), tick * TICK)
        mixer.receive("agent", rtp("agent", tick, loudest_positive), tick * TICK)
        frame = mixer.tick(tick * TICK)
    assert samples(frame["supervisor"]) == [32767] * 160
    for tick in range(2, 4):
        mixer.receive("caller", rtp("caller", tick, loudest_negative), tick * TICK)
        mixer.receive("agent", rtp("agent", tick, loudest_negative), tick * TICK)
        frame = mixer.tick(tick * TICK)
    assert samples(frame["supervisor"]) == [-32768] * 160


def test_each_party_is_decoded_with_its_own_codec_and_events_are_not_audio():
    mixer = MonitorMixer("whisper", {"supervisor": {8: "PCMA"}})
    alaw = alaw_encode(struct.pack("<160h", *range(-8000, 8000, 100)))
    for tick in range(2):
        mixer.receive("caller", rtp("caller", tick), tick * TICK)
        mixer.receive("supervisor", rtp("supervisor", tick, alaw, payload_type=8), tick * TICK)
        mixer.receive("supervisor", rtp("supervisor", 100 + tick, b"\x01\x00\x00\xa0", payload_type=101), tick * TICK)
        frame = mixer.tick(tick * TICK)
    expected = [max(-32768, min(32767, a + b)) for a, b in zip(decoded("caller"), samples(alaw_decode(alaw)))]
    assert samples(frame["agent"]) == expected
    assert mixer.stats("supervisor")["ignored"] == 2  # the telephone-events


# Switching ------------------------------------------------------------------------------------


def test_switching_modes_takes_effect_at_the_next_tick():
    mixer = MonitorMixer("listen")
    before = run(mixer, 3)
    assert set(before[-1]) == {"supervisor"}
    mixer.set_mode("whisper")
    mixer.receive("caller", rtp("caller", 3), 3 * TICK)
    mixer.receive("supervisor", rtp("supervisor", 3), 3 * TICK)
    frame = mixer.tick(3 * TICK)
    assert samples(frame["agent"]) == summed("caller", "supervisor")
    mixer.set_mode("listen")
    assert set(mixer.tick(4 * TICK)) == {"supervisor"}


def test_what_the_supervisor_said_while_unheard_is_never_played_later():
    """In listen mode the supervisor's buffer still moves on every tick: switching to whisper
    does not replay a backlog of old audio to the agent."""
    mixer = MonitorMixer("listen")
    run(mixer, 10, speaking=("supervisor",))
    mixer.set_mode("whisper")
    frame = mixer.tick(10 * TICK)  # no packet for this tick: at most one concealed frame, then silence
    later = [mixer.tick(tick * TICK) for tick in range(11, 15)]
    assert samples(frame["agent"]) in (decoded("supervisor"), samples(SILENCE))
    assert all(entry["agent"] == SILENCE for entry in later[2:])


def test_a_party_must_be_one_of_the_three():
    with pytest.raises(ValueError, match="party must be one of"):
        MonitorMixer("listen").receive("customer", rtp("caller", 0), 0.0)  # type: ignore[arg-type]
