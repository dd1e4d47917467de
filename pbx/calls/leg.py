"""Legs: one party's side of a call, speaking the call-control vocabulary.

`Leg` is what controllers see: a party, a state, an anchored media endpoint
and `send(signal, now)`. Protocol-specific legs (sip_leg.py now, WebRTC
later) translate their protocol into signals reported with `report()` and
carry out the signals they are sent.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from .signals import Party, Signal

if TYPE_CHECKING:
    from pbx.sip.sdp import SessionDescription

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
    __slots__ = ("id", "role", "party", "call", "state", "media", "watch", "own_media", "phone_sdp", "local_sdp",
                 "answered_at", "__weakref__")

    def __init__(self, leg_id: str, role: str, party: Party) -> None:
        self.id = leg_id
        self.role = role  # "caller" or "callee"
        self.party = party
        self.call: Call | None = None
        self.state = LegState.NEW
        self.media: Any = None  # a pbx.media RelayEndpoint, or None for legs without anchored media
        self.watch: Any = None  # the media_watch.LegWatch on that endpoint: digits and quality
        self.own_media: Any = None  # own_media.MediaSession when the PBX itself answered this leg
        self.phone_sdp: SessionDescription | None = None  # the last SDP the phone sent us
        self.local_sdp: SessionDescription | None = None  # the last SDP we sent the phone
        self.answered_at: float | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.role} {self.party.number} {self.state.value}>"

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
