"""Latching: where to send a leg's media, and which sources to accept it from.

A phone behind NAT advertises its private address in SDP, but its packets
reach us from the NAT's public address and port. Symmetric RTP (RFC 4961)
lets us send back to where the packets really come from; RFC 7362 calls
this "latching" and section 5 lists its risk: anyone who sends first, or
later, could steal the stream ("RTP bleed"). So a `Latch` follows these rules:

- The first packet latches its source.
- Packets from the latched source are accepted.
- Another source takes over at once while the learning window is open:
  for a while after `expect` (a new offer or answer, e.g. a re-INVITE after
  hold or a transfer), when the phone may legitimately move.
- Otherwise another source takes over only after it sent `packets_to_move`
  consecutive packets while the latched source has been silent for at
  least `silence` seconds (a NAT binding that changed mid-call); until
  then its packets are dropped.
- Until something latches, the destination is the SDP address.

An SDP address different from the previous one means a different phone
(e.g. after a transfer), so it also forgets the latched source. The
unspecified address (c=0.0.0.0, the RFC 2543 way to hold, RFC 3264 8.4)
is no address at all: the previous one stays.

Pure: addresses and `now` in, decisions out. It does not know about RTP,
SSRCs or sockets: a phone that changes SSRC from the same address is
the same source.
"""

from __future__ import annotations

Address = tuple[str, int]

LEARNING_WINDOW = 1.0
SILENCE_BEFORE_MOVE = 0.5
PACKETS_TO_MOVE = 3
UNSPECIFIED = frozenset({"0.0.0.0", "::"})
_NEVER = float("-inf")


class Latch:
    # Four per call (RTP and RTCP on both legs): the settings are class attributes unless a
    # latch is given its own, and "never" is one float (issue 16).
    __slots__ = ("_settings", "expected", "source", "moves", "_heard_at", "_learning_until", "_candidate",
                 "_candidate_packets")
    _DEFAULTS = (LEARNING_WINDOW, SILENCE_BEFORE_MOVE, PACKETS_TO_MOVE)

    def __init__(
        self,
        *,
        learning_window: float = LEARNING_WINDOW,
        silence: float = SILENCE_BEFORE_MOVE,
        packets_to_move: int = PACKETS_TO_MOVE,
    ) -> None:
        settings = (learning_window, silence, packets_to_move)
        self._settings = self._DEFAULTS if settings == self._DEFAULTS else settings
        self.expected: Address | None = None
        self.source: Address | None = None
        self.moves = 0
        self._heard_at = 0.0
        self._learning_until = _NEVER
        self._candidate: Address | None = None
        self._candidate_packets = 0

    @property
    def learning_window(self) -> float:
        return self._settings[0]

    @property
    def silence(self) -> float:
        return self._settings[1]

    @property
    def packets_to_move(self) -> int:
        return self._settings[2]

    @property
    def destination(self) -> Address | None:
        """Where to send: the latched source, else the address from SDP, else nowhere yet."""
        return self.source if self.source is not None else self.expected

    def is_learning(self, now: float) -> bool:
        return now < self._learning_until

    def expect(self, host: str, port: int, now: float) -> None:
        """The address the peer's SDP gives; opens the learning window."""
        address = (host, port)
        if host in UNSPECIFIED:
            address = self.expected
        elif self.expected is not None and address != self.expected:
            self.source = None
        self.expected = address
        self._learning_until = now + self.learning_window
        self._candidate = None
        self._candidate_packets = 0

    def accept(self, source: Address, now: float) -> bool:
        """Whether a packet from ``source`` belongs to this leg; may latch or move to ``source``."""
        if source == self.source:
            self._heard_at = now
            self._candidate = None
            return True
        if self.source is None or now < self._learning_until:
            self._latch(source, now)
            return True
        if now - self._heard_at < self.silence:
            # The latched source is alive: this is a stray or injected packet (RFC 7362 5).
            self._candidate = None
            return False
        if source != self._candidate:
            self._candidate = source
            self._candidate_packets = 0
        self._candidate_packets += 1
        if self._candidate_packets < self.packets_to_move:
            return False
        self._latch(source, now)
        return True

    def _latch(self, source: Address, now: float) -> None:
        if self.source is not None:
            self.moves += 1
        self.source = source
        self._heard_at = now
        self._candidate = None
        self._candidate_packets = 0
