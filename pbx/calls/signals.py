"""The call-control vocabulary legs and controllers speak (after Sippy's CCEvents).

A leg turns its protocol (SIP today, WebRTC later) into these signals and
back; a controller (bridge now, IVR and queues later) reads signals from one
leg and sends signals to others. Neither side sees the other's protocol.
Media descriptions travel as SDP because every leg type we plan speaks
offer/answer; the anchoring layer rewrites addresses, not the vocabulary.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from pbx.sip.sdp import SessionDescription


class Cause(StrEnum):
    """Why a leg or a call ended, independent of the SIP status that carried it."""

    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNAVAILABLE = "unavailable"
    NOT_FOUND = "not_found"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    TRANSFERRED = "transferred"
    MEDIA_TIMEOUT = "media_timeout"  # an answered leg's phone sent no RTP for media.inactivity_timeout
    SHUTDOWN = "shutdown"  # the PBX stopped (SIGTERM) while the call was still up


# RFC 3261 21 / RFC 3326: the SIP status we answer for each cause, and back.
STATUS_OF_CAUSE = {
    Cause.NORMAL: 200, Cause.BUSY: 486, Cause.NO_ANSWER: 480, Cause.UNAVAILABLE: 480,
    Cause.NOT_FOUND: 404, Cause.CANCELLED: 487, Cause.REJECTED: 603, Cause.FAILURE: 500,
    Cause.TIMEOUT: 408, Cause.TRANSFERRED: 200, Cause.MEDIA_TIMEOUT: 408, Cause.SHUTDOWN: 503,
}  # fmt: skip


def cause_of_status(status: int) -> Cause:
    if status in (486, 600):
        return Cause.BUSY
    if status in (404, 484, 604):
        return Cause.NOT_FOUND
    if status in (480, 410):
        return Cause.UNAVAILABLE
    if status == 487:
        return Cause.CANCELLED
    if status == 408:
        return Cause.TIMEOUT
    if status in (403, 603):
        return Cause.REJECTED
    return Cause.FAILURE


class Party(msgspec.Struct, frozen=True):
    """Who is on a leg: an extension or an outside number, and a display name."""

    number: str
    name: str | None = None


class Try(msgspec.Struct, frozen=True):
    """Start a call: from the caller's leg it asks for routing; to a new leg it originates."""

    caller: Party
    callee: str
    sdp: SessionDescription | None


class Ringing(msgspec.Struct, frozen=True):
    """The far end alerts; `sdp` is set for early media (183 Session Progress)."""

    sdp: SessionDescription | None = None


class Answer(msgspec.Struct, frozen=True):
    sdp: SessionDescription | None


class Update(msgspec.Struct, frozen=True):
    """A new offer in an established call (re-INVITE / UPDATE): hold, resume, codec change."""

    sdp: SessionDescription


class UpdateAnswer(msgspec.Struct, frozen=True):
    """The answer to an Update; `status` is 200 or the refusal (488, 491...)."""

    sdp: SessionDescription | None
    status: int = 200


class Info(msgspec.Struct, frozen=True):
    """Mid-call information, e.g. DTMF as application/dtmf-relay."""

    content_type: str
    body: bytes


class Hangup(msgspec.Struct, frozen=True):
    cause: Cause = Cause.NORMAL
    status: int | None = None
    reason: str | None = None


class Transfer(msgspec.Struct, frozen=True):
    """The party on this leg asks to hand the other party to `target` (RFC 3515 REFER).

    `replaces` names a dialog (Call-ID, tags) to take over for an attended
    transfer (RFC 3891); None for a blind one.
    """

    target: str
    replaces: tuple[str, str, str] | None = None


Signal = Try | Ringing | Answer | Update | UpdateAnswer | Info | Hangup | Transfer
