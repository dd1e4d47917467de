"""SIP dialogs: the peer-to-peer relationship of RFC 3261 section 12, one per call leg.

A `Dialog` is created from the request and response that establish it
(12.1.1 on the UAS side, 12.1.2 on the UAC side), builds the requests sent
inside it (12.2.1.1, loose and strict routing) and the ACK for a 2xx
(13.2.2.4), and follows the requests and responses that reach it: remote
CSeq ordering (12.2.2), target refresh, the route set recomputed from the
2xx that confirms an early dialog (13.2.2.4), and termination by BYE (15)
or by a 481/408 (12.2.1.2). Its states and transitions are the table
`ALLOWED` below. `DialogTable` finds the dialog a message belongs to by
dialog ID (Call-ID, local tag, remote tag).

Sans-IO and clock-free: no sockets, timers or randomness. What it
deliberately does not do:
- add Via or choose branches, transports or addresses (the caller does,
  RFC 3261 8.1.1.7), or send anything;
- retransmit 2xx responses or ACKs (13.3.1.4), or time out (the caller calls
  `terminate()` when a transaction times out);
- build CANCEL (9.1: it copies the INVITE, not the dialog);
- sessions, offer/answer, PRACK (RFC 3262) or subscriptions (RFC 6665).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import NamedTuple

from .errors import LocalProtocolError, RemoteProtocolError
from .message import Headers, Request, Response
from .syntax import lowered
from .uri import NameAddress, Uri


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogEvent(StrEnum):
    """What happens to a dialog. Members are strings, so `ALLOWED[(EARLY, "2xx")]` reads as the table."""

    PROVISIONAL = "1xx"  # a 101-199 response to an INVITE
    SUCCESS = "2xx"  # a 2xx response to an INVITE
    REJECTED = "3xx-6xx"  # a 300-699 final response to an INVITE (other than 481/408)
    GONE = "481/408"  # a 481 or 408 to a request sent in the dialog
    BYE = "BYE"  # a BYE received, or a 2xx to the BYE we sent
    CONFIRM = "confirm"  # UAS: our 2xx to the INVITE was sent or ACKed
    TERMINATE = "terminate"  # our own decision to end the dialog


class DialogId(NamedTuple):
    call_id: str
    local_tag: str
    remote_tag: str


S, E = DialogState, DialogEvent

# RFC 3261 12 (early and confirmed dialogs), 12.3 and 15 (termination).
ALLOWED: dict[tuple[DialogState, DialogEvent], DialogState] = {
    (S.EARLY, E.PROVISIONAL): S.EARLY,
    (S.EARLY, E.SUCCESS): S.CONFIRMED,  # 13.2.2.4
    (S.EARLY, E.REJECTED): S.TERMINATED,  # 12.3: a non-2xx final ends the early dialogs
    (S.EARLY, E.GONE): S.TERMINATED,  # 12.2.1.2
    (S.EARLY, E.BYE): S.TERMINATED,  # 15: the caller may BYE an early dialog
    (S.EARLY, E.CONFIRM): S.CONFIRMED,  # 12.1.1: the UAS sent its 2xx
    (S.EARLY, E.TERMINATE): S.TERMINATED,
    (S.CONFIRMED, E.PROVISIONAL): S.CONFIRMED,  # a 1xx to a re-INVITE
    (S.CONFIRMED, E.SUCCESS): S.CONFIRMED,  # a re-INVITE answered, or a 2xx retransmission
    (S.CONFIRMED, E.REJECTED): S.CONFIRMED,  # 14.1: a failed re-INVITE leaves the dialog as it was
    (S.CONFIRMED, E.GONE): S.TERMINATED,  # 12.2.1.2
    (S.CONFIRMED, E.BYE): S.TERMINATED,  # 15.1
    (S.CONFIRMED, E.CONFIRM): S.CONFIRMED,  # ACK retransmissions, 2xx to re-INVITEs
    (S.CONFIRMED, E.TERMINATE): S.TERMINATED,
    # Late responses to requests sent before the end (the 200 to our BYE after terminate(),
    # a 2xx from a losing fork) change nothing. Confirming a terminated dialog is a bug.
    (S.TERMINATED, E.PROVISIONAL): S.TERMINATED,
    (S.TERMINATED, E.SUCCESS): S.TERMINATED,
    (S.TERMINATED, E.REJECTED): S.TERMINATED,
    (S.TERMINATED, E.GONE): S.TERMINATED,
    (S.TERMINATED, E.BYE): S.TERMINATED,
    (S.TERMINATED, E.TERMINATE): S.TERMINATED,
}

del S, E

# Requests that may create a dialog (RFC 3261 12.1; RFC 6665 SUBSCRIBE; RFC 3515 REFER).
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
# RFC 3261 12.2 and RFC 3311 5.1: requests that replace the remote target.
TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})
# Requests that carry our Contact (8.1.1.8; RFC 3311, RFC 6665, RFC 3515).
WITH_CONTACT = TARGET_REFRESH | {"SUBSCRIBE", "NOTIFY", "REFER"}
# RFC 3261 12.2.2: their CSeq numbers are those of the request they ACK or CANCEL.
NOT_SEQUENCED = frozenset({"ACK", "CANCEL"})
# Header fields the dialog owns; extra_headers may not replace them.
_DIALOG_HEADERS = frozenset({"from", "to", "call-id", "cseq", "route"})
_CSEQ_LIMIT = 2**31  # RFC 3261 8.1.1.5
FIRST_CSEQ = 1  # 8.1.1.5 allows any start below 2**31; a pure module has no randomness


@dataclass(eq=False, slots=True)
class Dialog:
    """One dialog, seen from our side. Build with `as_uas` or `as_uac`."""

    state: DialogState
    call_id: str
    # Our From (UAC) or To (UAS) with our tag, and the peer's with its tag (none from RFC 2543
    # peers): the header values as the messages carried them, the same strings, and the tags.
    # Parsed only when read (`local_uri`, `remote_uri`): a held call keeps two dialogs, and
    # four parsed name-addresses with their parameter dicts were 0.8 KB of it (issue 16).
    local_party: str
    remote_party: str
    local_tag: str
    remote_tag: str  # "" for RFC 2543 peers that send no tag
    local_seq: int | None
    remote_seq: int | None
    remote_target: Uri
    route_set: tuple[str, ...]  # a tuple: nearly always empty, and () is one shared object
    local_contact: str
    secure: bool
    is_uas: bool
    invite_cseq: int | None = None  # CSeq number of the last INVITE we sent

    @property
    def local_uri(self) -> NameAddress:
        return NameAddress.parse(self.local_party)

    @property
    def remote_uri(self) -> NameAddress:
        return NameAddress.parse(self.remote_party)

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    def __repr__(self) -> str:
        return f"<Dialog {self.call_id} {self.local_tag}/{self.remote_tag} {self.state.name}>"

    # Creation -----------------------------------------------------------------------------

    @classmethod
    def as_uas(cls, request: Request, response: Response, *, local_contact: str) -> Dialog:
        """RFC 3261 12.1.1: the dialog our 101-199 (with a To tag) or 2xx to `request` creates.

        Raises RemoteProtocolError (400) when the request lacks a usable Contact
        or Record-Route, LocalProtocolError when our response cannot create a dialog.
        """
        _check_creation(request, response)
        local_uri = response.to
        if not local_uri.tag:
            raise LocalProtocolError(f"our {response.status} to {request.method} has no To tag (RFC 3261 12.1.1)")
        contact = _contact(request)
        if contact is None:
            raise RemoteProtocolError(f"{request.method} without Contact cannot create a dialog (RFC 3261 8.1.1.8)")
        remote_uri = request.from_
        return cls(
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            call_id=request.call_id,
            local_party=_party(response, "To"),
            remote_party=_party(request, "From"),
            local_tag=local_uri.tag or "",
            remote_tag=remote_uri.tag or "",
            local_seq=None,  # 12.1.1: empty until we send a request
            remote_seq=request.cseq.number,
            remote_target=contact,
            route_set=_record_route(request),  # 12.1.1: in the order of the request
            local_contact=local_contact,
            # 12.1.1: TLS and a SIPS Request-URI; sips is only ever carried over TLS (26.2.2).
            secure=request.uri.scheme == "sips",
            is_uas=True,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """RFC 3261 12.1.2: the dialog a 101-199 with a To tag, or a 2xx, to our `request` creates.

        A response without Contact (seen from gateways in 183s) leaves the
        remote target at the request's Request-URI.
        """
        _check_creation(request, response)
        remote_uri = response.to
        if response.status < 200 and not remote_uri.tag:
            raise LocalProtocolError(f"a {response.status} without a To tag creates no dialog (RFC 3261 12.1)")
        contact = _contact(response)
        return cls(
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            call_id=request.call_id,
            local_party=_party(request, "From"),
            remote_party=_party(response, "To"),
            local_tag=request.from_.tag or "",
            remote_tag=remote_uri.tag or "",
            local_seq=request.cseq.number,
            remote_seq=None,  # 12.1.2: empty until the peer sends a request
            remote_target=contact if contact is not None else request.uri,
            route_set=_record_route(response)[::-1],  # 12.1.2: reversed
            local_contact=request.headers.get("Contact") or "",
            secure=request.uri.scheme == "sips",
            is_uas=False,
            invite_cseq=request.cseq.number if request.method == "INVITE" else None,
        )

    def fork(self, response: Response) -> Dialog:
        """RFC 3261 12.1.2, 13.2.2.4: the dialog another fork's 2xx (or 101-199 with a To tag) to
        the INVITE that made this UAC dialog creates: our side is this dialog's, since the same
        INVITE made both; the far side comes from `response`. So the INVITE need not be kept
        until Timer M for it. A response without Contact leaves this dialog's remote target."""
        if self.is_uas:
            raise LocalProtocolError("only a dialog we created as UAC has forks (RFC 3261 12.1.2)")
        if response.call_id != self.call_id or response.cseq.method != "INVITE":
            raise LocalProtocolError(f"{response!r} does not answer the INVITE of {self!r}")
        if not 101 <= response.status <= 299:
            raise LocalProtocolError(f"a {response.status} creates no dialog: only 101-299 do (RFC 3261 12.1)")
        remote = response.to
        if not remote.tag:
            raise LocalProtocolError(f"a {response.status} without a To tag creates no dialog (RFC 3261 12.1)")
        contact = _contact(response)
        return Dialog(
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            call_id=self.call_id,
            local_party=self.local_party,
            remote_party=_party(response, "To"),
            local_tag=self.local_tag,
            remote_tag=remote.tag,
            local_seq=response.cseq.number,
            remote_seq=None,
            remote_target=contact if contact is not None else self.remote_target,
            route_set=_record_route(response)[::-1],
            local_contact=self.local_contact,
            secure=self.secure,
            is_uas=False,
            invite_cseq=response.cseq.number,
        )

    # Requests we send ---------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """RFC 3261 12.2.1.1: a request inside the dialog, with every header but Via.

        The local sequence number is incremented; an INVITE's is remembered
        as `invite_cseq` for `create_ack`.
        """
        if method in NOT_SEQUENCED:
            raise LocalProtocolError(f"{method} is not built by create_request: use create_ack, or copy the INVITE")
        if self.state is DialogState.TERMINATED:
            raise LocalProtocolError(f"cannot send {method} in dialog {self.id}: it is TERMINATED")
        if method == "BYE" and self.is_uas and self.state is DialogState.EARLY:
            raise LocalProtocolError("RFC 3261 15: the callee must not BYE an early dialog; answer the INVITE")
        number = FIRST_CSEQ if self.local_seq is None else self.local_seq + 1
        if number >= _CSEQ_LIMIT:
            raise LocalProtocolError(f"CSeq {number} is not below 2**31 (RFC 3261 8.1.1.5)")
        request = self._build(method, number, body, content_type, extra_headers)
        self.local_seq = number
        if method == "INVITE":
            self.invite_cseq = number
        return request

    def create_ack(
        self,
        response: Response | None = None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Request:
        """RFC 3261 13.2.2.4: the ACK for a 2xx to our INVITE (the last one, or `response`'s).

        Built like any in-dialog request, but with the INVITE's CSeq number.
        Allowed in every state: a 2xx is ACKed even when we then hang up.
        `extra_headers` carries the INVITE's credentials (13.2.2.4, 22).
        """
        number = self.invite_cseq
        if response is not None:
            cseq = response.cseq
            if cseq.method != "INVITE" or not 200 <= response.status <= 299:
                raise LocalProtocolError(f"only a 2xx to INVITE is ACKed by the dialog, not {response.status} {cseq}")
            number = cseq.number
        if number is None:
            raise LocalProtocolError(f"dialog {self.id} has sent no INVITE to ACK")
        return self._build("ACK", number, body, content_type, extra_headers)

    def _build(
        self, method: str, number: int, body: bytes, content_type: str | None, extras: Iterable[tuple[str, str]]
    ) -> Request:
        if body and not content_type:
            raise LocalProtocolError(f"{method} has a body but no Content-Type (RFC 3261 20.15)")
        target, routes = self._request_uri_and_routes()
        headers = Headers()
        for route in routes:
            headers.add("Route", route)
        headers.add("Max-Forwards", "70")
        headers.add("From", self.local_party)
        headers.add("To", self.remote_party)
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{number} {method}")
        if method in WITH_CONTACT and self.local_contact:
            # A bare URI's parameters would belong to the header field (RFC 3261 20.10).
            contact = self.local_contact
            headers.add("Contact", contact if "<" in contact else f"<{contact.strip()}>")
        for name, value in extras:
            if name.lower() in _DIALOG_HEADERS:
                raise LocalProtocolError(f"{name} is set by the dialog, not by extra_headers")
            headers.add(name, value)
        if content_type:
            headers.add("Content-Type", content_type)
        headers.add("Content-Length", str(len(body)))
        return Request(method, target, headers, body)

    def _request_uri_and_routes(self) -> tuple[Uri, list[str]]:
        """RFC 3261 12.2.1.1: Request-URI and Route values, loose or strict routing."""
        if not self.route_set:
            return self.remote_target, []
        first = NameAddress.parse(self.route_set[0]).uri
        if "lr" in first.params:
            return self.remote_target, list(self.route_set)
        # Strict router: it gets the Request-URI, stripped of what a Request-URI may not
        # carry (19.1.1: the method parameter and headers); the remote target goes last.
        if "method" in first.params or first.headers is not None:
            params = {name: value for name, value in first.params.items() if name != "method"}
            first = first.replace(params=params, headers=None)
        return first, [*self.route_set[1:], f"<{self.remote_target}>"]

    # What reaches us ----------------------------------------------------------------------

    def receive_request(self, request: Request) -> None:
        """RFC 3261 12.2.2: a request the peer sent inside this dialog.

        Raises RemoteProtocolError with the status to answer: 500 for a CSeq
        lower than the last one, 481 once the dialog has terminated.
        """
        if not self.matches(request):
            raise LocalProtocolError(f"{request!r} does not belong to dialog {self.id}")
        if self.state is DialogState.TERMINATED:
            if request.method == "ACK":
                return  # a late ACK for our 2xx: nothing to answer
            raise RemoteProtocolError(f"dialog {self.id} has terminated", status=481)
        if request.method == "ACK":
            self._fire(DialogEvent.CONFIRM)  # 13.3.1.4: the ACK for our 2xx arrived
            return
        if request.method not in NOT_SEQUENCED:
            number = request.cseq.number
            if self.remote_seq is not None and number < self.remote_seq:
                raise RemoteProtocolError(f"CSeq lower than {self.remote_seq}: {number}", status=500)
            self.remote_seq = number
        if request.method in TARGET_REFRESH:
            self._refresh_target(request)  # 12.2.2
        if request.method == "BYE":
            self._fire(DialogEvent.BYE)

    def receive_response(self, request: Request, response: Response) -> None:
        """A response to `request`, which we sent: the dialog-creating INVITE or a request
        built by `create_request`. Drives the state table and refreshes the remote target."""
        if request.call_id != self.call_id or response.cseq.number != request.cseq.number:
            raise LocalProtocolError(f"{response!r} does not answer {request!r} of dialog {self.id}")
        status, method = response.status, request.method
        to_tag = response.to.tag
        # 12.3: any non-2xx final to the INVITE ends the early dialogs, whatever its To tag.
        if status < 300 and to_tag is not None and to_tag.lower() != self.remote_tag.lower():
            raise LocalProtocolError(f"{response!r} with To tag {to_tag} belongs to another dialog than {self.id}")
        if status in (481, 408):
            self._fire(DialogEvent.GONE)
        elif method == "INVITE":
            if status < 200:
                self._fire(DialogEvent.PROVISIONAL)
            elif status < 300:
                was_early = self.state is DialogState.EARLY
                if self._fire(DialogEvent.SUCCESS) is DialogState.TERMINATED:
                    return
                if was_early:
                    # 13.2.2.4: the route set is recomputed from the 2xx that confirms.
                    self.route_set = _record_route(response)[::-1]
                self._refresh_target(response)
            else:
                self._fire(DialogEvent.REJECTED)
        elif 200 <= status < 300:
            if method == "BYE":
                self._fire(DialogEvent.BYE)
            elif method in TARGET_REFRESH and self.state is not DialogState.TERMINATED:
                self._refresh_target(response)  # 12.2.1.2

    def _refresh_target(self, message: Request | Response) -> None:
        contact = _contact(message)
        if contact is not None:
            self.remote_target = contact

    # Our own decisions --------------------------------------------------------------------

    def confirm(self) -> None:
        """UAS: our 2xx to the INVITE went out (or its ACK arrived): EARLY -> CONFIRMED."""
        self._fire(DialogEvent.CONFIRM)

    def terminate(self) -> None:
        """End the dialog now (a BYE sent, a transaction timed out, a final non-2xx sent)."""
        self._fire(DialogEvent.TERMINATE)

    def _fire(self, event: DialogEvent) -> DialogState:
        target = ALLOWED.get((self.state, event))
        if target is None:
            raise LocalProtocolError(f"dialog {self.id} in state {self.state.name} cannot take event {event.value!r}")
        self.state = target
        return target

    # Matching -----------------------------------------------------------------------------

    def matches(self, message: Request | Response) -> bool:
        """Whether `message` carries this dialog's ID (RFC 3261 12.2.2 for requests, 12.2.1.2
        for responses to ours)."""
        try:
            return _dialog_key(message) == _key(self.id)
        except RemoteProtocolError:
            return False


class DialogTable:
    """The live dialogs, found by dialog ID."""

    def __init__(self) -> None:
        self._dialogs: dict[tuple[str, str, str], Dialog] = {}

    def add(self, dialog: Dialog) -> None:
        key = _key(dialog.id)
        if key in self._dialogs:
            raise LocalProtocolError(f"dialog {dialog.id} is already in the table")
        self._dialogs[key] = dialog

    def find_for_request(self, request: Request) -> Dialog | None:
        """RFC 3261 12.2.2: Call-ID, To tag (ours), From tag (theirs). None outside any
        dialog (no To tag) or when those headers cannot be read."""
        return self._find(request)

    def find_for_response(self, response: Response) -> Dialog | None:
        """Call-ID, From tag (ours), To tag (theirs)."""
        return self._find(response)

    def _find(self, message: Request | Response) -> Dialog | None:
        try:
            return self._dialogs.get(_dialog_key(message))
        except RemoteProtocolError:
            return None

    def remove(self, dialog: Dialog) -> None:
        key = _key(dialog.id)
        if self._dialogs.get(key) is dialog:
            del self._dialogs[key]

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))


# Helpers --------------------------------------------------------------------------------------


def _key(dialog_id: DialogId | tuple[str, str | None, str | None]) -> tuple[str, str, str]:
    # Call-IDs compare byte by byte (RFC 3261 20.8); tags case-insensitively, as the
    # transaction layer compares them (7.3.1).
    call_id, local_tag, remote_tag = dialog_id
    return (call_id, lowered(local_tag or ""), lowered(remote_tag or ""))


def _dialog_key(message: Request | Response) -> tuple[str, str, str]:
    """The dialog ID a message carries, from our side: a request's To tag is ours,
    a response's From tag is ours."""
    if isinstance(message, Request):
        return _key((message.call_id, message.to.tag, message.from_.tag))
    return _key((message.call_id, message.from_.tag, message.to.tag))


def _check_creation(request: Request, response: Response) -> None:
    if request.method not in DIALOG_CREATING:
        raise LocalProtocolError(f"{request.method} does not create a dialog (RFC 3261 12.1)")
    if not 101 <= response.status <= 299:
        raise LocalProtocolError(f"a {response.status} creates no dialog: only 101-299 do (RFC 3261 12.1)")
    if response.call_id != request.call_id or response.cseq.number != request.cseq.number:
        raise LocalProtocolError(f"{response!r} does not answer {request!r}")


def _contact(message: Request | Response) -> Uri | None:
    """The URI of the first Contact, or None without one; `*` is the peer's error."""
    contacts = message.contacts
    if not contacts:
        return None
    if contacts[0].uri.scheme == "*":
        raise RemoteProtocolError("Contact '*' is only allowed in REGISTER (RFC 3261 10.2.2)")
    return contacts[0].uri


def _party(message: Request | Response, name: str) -> str:
    """The From or To value as the message carries it (already parsed, so well formed)."""
    return (message.headers.get(name) or "").strip()


def _record_route(message: Request | Response) -> tuple[str, ...]:
    """Record-Route values in message order, verbatim, each checked to be a name-addr."""
    values = tuple(value.strip() for value in message.headers.get_all("Record-Route"))
    for value in values:
        try:
            NameAddress.parse(value)
        except RemoteProtocolError as error:
            raise RemoteProtocolError(f"bad Record-Route {value!r}: {error.reason}") from None
    return values
