"""Supervisor monitoring, as audio: who hears whom in each mode, and the mix each listener gets.

Three parties share a monitored call: the caller, the agent and the supervisor. `HEARS` is the
whole policy, one row per mode (the modes of Asterisk's ChanSpy and of every contact centre):

- ``listen``: the supervisor hears the caller and the agent; nobody hears the supervisor;
- ``whisper``: the agent also hears the supervisor; the caller still does not;
- ``barge``: a three-way call, everyone hears the two others.

A listener who hears exactly the one party the call already connects them to needs no mixing:
the relay keeps copying that party's packets byte for byte (`relayed`). Every other listener is
`mixed`: the mixer decodes what each party sends (G.711, through a jitter buffer per party),
sums the parties the listener hears with saturation at the 16-bit limits, and hands the frame
to the adapter (pbx/calls/monitor.py), which encodes and sends it. `withheld` names the parties
whose stream the relay must stop copying, because their listener now gets the mix instead.

`MonitorMixer` is driven by the media clock: `receive(party, packet, now)` for every RTP packet
a party's phone sends, `tick(now)` every 20 ms for exactly one frame per mixed listener (each
party's buffer is read once per tick, so all listeners hear the same instant).

Pure: bytes and `now` in, PCM16 frames out. It does not encode, send, pace or touch sockets
(pbx/calls/monitor.py does), and it mixes G.711 only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from .recording import STATIC_CODECS, DecodedChannel, mix

Party = Literal["caller", "agent", "supervisor"]
Mode = Literal["listen", "whisper", "barge"]

PARTIES: tuple[Party, ...] = ("caller", "agent", "supervisor")
MODES: tuple[Mode, ...] = ("listen", "whisper", "barge")
FRAME_BYTES = 320  # 20 ms of 8 kHz PCM16
SILENCE = bytes(FRAME_BYTES)

# The policy: mode -> listener -> the parties that listener hears.
HEARS: Mapping[Mode, Mapping[Party, frozenset[Party]]] = MappingProxyType({
    "listen": MappingProxyType({
        "caller": frozenset({"agent"}), "agent": frozenset({"caller"}),
        "supervisor": frozenset({"caller", "agent"}),
    }),
    "whisper": MappingProxyType({
        "caller": frozenset({"agent"}), "agent": frozenset({"caller", "supervisor"}),
        "supervisor": frozenset({"caller", "agent"}),
    }),
    "barge": MappingProxyType({
        "caller": frozenset({"agent", "supervisor"}), "agent": frozenset({"caller", "supervisor"}),
        "supervisor": frozenset({"caller", "agent"}),
    }),
})  # fmt: skip

# Who the call itself connects each party to (the bridge); the supervisor has nobody of its own.
_BRIDGED: Mapping[Party, Party | None] = MappingProxyType({"caller": "agent", "agent": "caller", "supervisor": None})


def check_mode(mode: str) -> Mode:
    """`mode` itself, or ValueError naming the modes there are."""
    if mode not in MODES:
        raise ValueError(f"unknown monitoring mode {mode!r}: one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]


def relayed(mode: Mode) -> frozenset[Party]:
    """The listeners who hear exactly their bridged party: the relay serves them, unmixed."""
    return frozenset(listener for listener, heard in HEARS[check_mode(mode)].items()
                     if _BRIDGED[listener] is not None and heard == {_BRIDGED[listener]})


def mixed(mode: Mode) -> tuple[Party, ...]:
    """The listeners the mixer makes a frame for in `mode`, in PARTIES order."""
    served = relayed(mode)
    return tuple(party for party in PARTIES if party not in served)


def withheld(mode: Mode) -> frozenset[Party]:
    """The parties whose audio the relay must stop copying to their bridged party, who gets a mix."""
    return frozenset(_BRIDGED[listener] for listener in mixed(mode) if _BRIDGED[listener] is not None)


class MonitorMixer:
    """The three parties' audio in, one frame per mixed listener out; see the module docstring."""

    def __init__(self, mode: Mode, codecs: Mapping[Party, Mapping[int, str]] | None = None) -> None:
        self.mode: Mode = check_mode(mode)
        codecs = codecs or {}
        self._parties = {party: DecodedChannel(party, codecs.get(party, STATIC_CODECS)) for party in PARTIES}
        self.ticks = 0

    def set_mode(self, mode: Mode) -> None:
        self.mode = check_mode(mode)

    def set_codecs(self, party: Party, codecs: Mapping[int, str]) -> None:
        """A new {payload type: codec name} map for one party's phone (after a re-INVITE)."""
        self._party(party).codecs = DecodedChannel(party, codecs).codecs

    def receive(self, party: Party, packet: bytes, now: float) -> None:
        """One RTP packet as `party`'s phone sent it; non-audio payload types are ignored."""
        self._party(party).receive(packet, now)

    def tick(self, now: float) -> dict[Party, bytes]:
        """The next 20 ms for every mixed listener of the current mode (silence when nobody speaks)."""
        self.ticks += 1
        # Every party's buffer moves on each tick, heard or not, so a party who becomes audible
        # (a switch to whisper) starts from now, not from what it said seconds ago.
        frames = {party: channel.next_frame(now) for party, channel in self._parties.items()}
        hears = HEARS[self.mode]
        out: dict[Party, bytes] = {}
        for listener in mixed(self.mode):
            heard = [frames[speaker] for speaker in PARTIES if speaker in hears[listener] and frames[speaker]]
            frame = heard[0] if heard else SILENCE
            for other in heard[1:]:
                frame = mix(frame, other)
            out[listener] = frame
        return out

    def stats(self, party: Party) -> dict[str, int]:
        """What the mixer made of one party's packets (decoded, ignored, malformed, concealed)."""
        counted = self._party(party).stats()
        return {"packets": counted.packets, "ignored": counted.ignored, "malformed": counted.malformed,
                "late": counted.late, "concealed": counted.concealed}

    def _party(self, party: str) -> DecodedChannel:
        try:
            return self._parties[party]  # type: ignore[index]
        except KeyError:
            raise ValueError(f"party must be one of {PARTIES}, got {party!r}") from None
