"""Which worker process owns a SIP datagram: a pure function of its bytes.

With `pbx run --workers N` every worker binds the same UDP port (SO_REUSEPORT). The kernel
hands a datagram to any of them (by a hash of the peer's address, so one peer, such as a
trunk or a load generator, always lands on the same one); the worker that reads it asks
`Dispatcher.owner` and passes it on when another worker owns it. Every worker answers the
same way for every message of a call, so transactions and dialogs never move:

1. A response belongs to the worker that sent the request: our Via branches start with the
   worker's tag (RFC 3261 8.1.1.7 leaves the branch's text after the magic cookie to us).
2. A request to our Contact (an in-dialog request, RFC 3261 12.2.1.1: its Request-URI is the
   Contact we gave) names the worker in the Contact's user part, `pbx-w<k>`.
3. A request to a number only worker 0 can serve (queues, scenarios, feature codes: the ACD
   lives there; an extension registered over TCP or TLS: the connection is there) goes to
   worker 0, as do its CANCEL and the ACK of its error response, which copy the INVITE's
   Request-URI (RFC 3261 9.1, 17.1.1.3).
4. A request on a Call-ID we made (a B leg's, a trunk registration's) goes to the worker
   whose tag starts it.
5. Anything else goes by a hash of its Call-ID: an INVITE, its retransmissions, the CANCEL,
   the ACK and a BYE that ignores our Contact all carry the same Call-ID (RFC 3261 8.1.1.4).

It reads the fewest bytes it can and parses nothing else: a message it cannot place (no
Call-ID) stays with the worker that read it, whose SIP stack answers it with a 400.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

MAGIC_COOKIE = b"z9hG4bK"


def worker_tag(index: int) -> str:
    """The prefix of the ids (Via branches after the magic cookie, Call-IDs) worker `index` makes."""
    return f"w{index}-"


def contact_user(index: int) -> str:
    """The user part of worker `index`'s Contact: in-dialog requests come back to it."""
    return f"pbx-w{index}"


# RFC 3261 7.3.3: header names are case-insensitive and Call-ID has the compact form "i".
_CALL_ID = re.compile(rb"\r\n(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)
# The first branch in a response is its top Via's: the one we put there (RFC 3261 8.1.3.3).
_OUR_BRANCH = re.compile(rb";[ \t]*branch=z9hG4bKw(\d+)-", re.IGNORECASE)
# Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 7.1); the URI's user part.
_REQUEST_USER = re.compile(rb"[A-Za-z]+ (?:sips?:([^@;?> ]+)@|tel:([^;?> ]+))")
_TAGGED_CALL_ID = re.compile(rb"w(\d+)-")
_CONTACT_USER = re.compile(rb"pbx-w(\d+)$")


class Dispatcher:
    def __init__(self, workers: int, first_only: Callable[[str], bool]) -> None:
        """`first_only(number)`: True when only worker 0 can serve a call to `number`."""
        if workers < 1:
            raise ValueError("at least one worker")
        self.workers = workers
        self._first_only = first_only

    def owner(self, data: bytes) -> int | None:
        """The index of the worker that owns `data`, or None when it names none (no Call-ID)."""
        if data.startswith(b"SIP/2.0 "):
            tagged = _OUR_BRANCH.search(data)
            if tagged is not None and (index := self._index(tagged.group(1))) is not None:
                return index
        else:
            user = _REQUEST_USER.match(data)
            if user is not None:
                name = user.group(1) or user.group(2)  # a SIP URI's user, or a tel: number (RFC 3966)
                contact = _CONTACT_USER.match(name)
                if contact is not None and (index := self._index(contact.group(1))) is not None:
                    return index
                if self._first_only(name.decode("utf-8", "replace")):
                    return 0
        call_id = _CALL_ID.search(data)
        if call_id is None:
            return None
        value = call_id.group(1)
        tagged = _TAGGED_CALL_ID.match(value)
        if tagged is not None and (index := self._index(tagged.group(1))) is not None:
            return index
        return zlib.crc32(value) % self.workers

    def _index(self, digits: bytes) -> int | None:
        index = int(digits)
        return index if index < self.workers else None
