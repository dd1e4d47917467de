"""Legs: one party's side of a call, speaking the call-control vocabulary.

`Leg` is what controllers see: a party, a state, an anchored media endpoint
and `send(signal, now)`. Protocol-specific legs (sip_leg.py now, WebRTC
later) translate their protocol into signals reported with `report()` and
carry out the signals they are sent.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from pbx.sip.sdp import SessionDescription

from . import anchor
from .signals import Party, Signal

if TYPE_CHECKING:
    from .call import Call


class LegState(enum.Enum):
    NEW = "new"
    CALLING = "calling"  # we sent or received the INVITE, no answer yet
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class Leg:
    """Base class: what every leg has, whatever its protocol."""

    # Slots: a held call keeps two legs, and a dict per leg is most of a leg's memory (issue 16).
    __slots__ = ("id", "role", "party", "call", "state", "media", "watch", "own_media", "_phone_sdp", "_local_sdp",
                 "_phone_sdp_text", "_local_sdp_text", "phone_sdp_version", "phone_on_hold", "answered_at",
                 "__weakref__")

    def __init__(self, leg_id: str, role: str, party: Party) -> None:
        self.id = leg_id
        self.role = role  # "caller" or "callee"
        self.party = party
        self.call: Call | None = None
        self.state = LegState.NEW
        self.media: Any = None  # a pbx.media RelayEndpoint, or None for legs without anchored media
        self.watch: Any = None  # the media_watch.LegWatch on that endpoint: digits and quality
        self.own_media: Any = None  # own_media.MediaSession when the PBX itself answered this leg
        # The last SDP the phone sent us and the last we sent it: parsed while the call is set up
        # or renegotiated, as text once it is up (`settle`), and parsed again if read then. Four
        # parsed SDPs were a sixth of a held call's memory (issue 16).
        self._phone_sdp: SessionDescription | None = None
        self._local_sdp: SessionDescription | None = None
        self._phone_sdp_text: bytes | None = None
        self._local_sdp_text: bytes | None = None
        self.phone_sdp_version = 0  # grows with each phone SDP: what a watcher compares, not the object
        self.phone_on_hold = False  # the phone's SDP puts the call on hold (RFC 3264 8.4)
        self.answered_at: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.role} {self.party.number} {self.state.value}>"

    @property
    def phone_sdp(self) -> SessionDescription | None:
        """The last SDP the phone sent us."""
        return _read(self._phone_sdp, self._phone_sdp_text)

    @phone_sdp.setter
    def phone_sdp(self, sdp: SessionDescription | None) -> None:
        self._phone_sdp, self._phone_sdp_text = sdp, None
        self.phone_sdp_version += 1
        self.phone_on_hold = sdp is not None and _puts_on_hold(sdp)

    @property
    def local_sdp(self) -> SessionDescription | None:
        """The last SDP we sent the phone."""
        return _read(self._local_sdp, self._local_sdp_text)

    @local_sdp.setter
    def local_sdp(self, sdp: SessionDescription | None) -> None:
        self._local_sdp, self._local_sdp_text = sdp, None

    def settle(self) -> None:
        """The call is up: keep the SDPs as text (2.2 us to write, 10 us to read again, and
        read again only when the call is renegotiated or transferred)."""
        if self._phone_sdp is not None:
            self._phone_sdp_text, self._phone_sdp = self._phone_sdp.serialize(), None
        if self._local_sdp is not None:
            self._local_sdp_text, self._local_sdp = self._local_sdp.serialize(), None

    @property
    def is_ended(self) -> bool:
        return self.state is LegState.ENDED

    @property
    def is_answered(self) -> bool:
        return self.state is LegState.ANSWERED

    def send(self, signal: Signal, now: float) -> list[Any]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """What the party's call request carried besides the basics (SIP: the INVITE's headers),
        for scenarios that route on them. Empty where the protocol has none."""
        return {}

    def notify_transfer(self, status: int, reason: str, now: float) -> list[Any]:
        """Tell the party who asked for a transfer how it went (SIP: a sipfrag NOTIFY)."""
        return []

    def report(self, signal: Signal, now: float) -> list[Any]:
        """Hand a signal from this leg's party to the call's controller."""
        if self.call is None:
            return []
        return self.call.on_signal(self, signal, now)


def _read(parsed: SessionDescription | None, text: bytes | None) -> SessionDescription | None:
    """An SDP kept parsed, or kept as text by `Leg.settle` (parsed again, not kept)."""
    return SessionDescription.parse(text) if parsed is None and text is not None else parsed


def _puts_on_hold(sdp: SessionDescription) -> bool:
    # RFC 3264 8.4: the held side answers recvonly (or inactive) and may send nothing at all.
    found = anchor.audio_stream(sdp)
    return anchor.is_on_hold(sdp) or (found is not None and found[1].direction(sdp) == "recvonly")
