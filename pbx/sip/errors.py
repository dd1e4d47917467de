"""Errors of the SIP stack, split by whose fault they are (after h11).

`RemoteProtocolError` means a peer sent something we cannot accept: the
endpoint answers it with `status` and `reason` (usually 400) or drops it when
it cannot be answered. `LocalProtocolError` means our own code misused the
stack; it is a bug and is raised, never sent on the wire.
"""

from __future__ import annotations

from typing import Any


class SipError(Exception):
    """Base class of every error raised by pbx.sip."""


class RemoteProtocolError(SipError):
    """A peer sent bad input.

    `status` is the response to answer with (RFC 3261 21.4.1: 400 for
    malformed requests) and `reason` a phrase that says what is wrong.
    `partial` is whatever message could be parsed before the fault, so that a
    response can still be built from its Via, From, To, Call-ID and CSeq.
    """

    def __init__(self, reason: str, status: int = 400, partial: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.partial = partial


class LocalProtocolError(SipError):
    """Our own code asked the stack for something the protocol forbids."""
