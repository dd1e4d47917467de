"""The SIP endpoint: bytes and `now` in, transmissions and events out.

It is the UAS core of RFC 3261 section 8.2 sitting on the transaction layer:
it parses what the transports received, answers malformed requests with a
400 that says what is wrong (or drops what cannot be answered), stamps Via
with received/rport (RFC 3261 18.2.1, RFC 3581 4), authenticates with
digest, runs the registrar, answers OPTIONS, and hands other methods to
handlers that later layers (calls, presence) register by method. With a
`SourceGuard` it drops what banned addresses send, bans after repeated
authentication failures and answers INVITE and REGISTER floods with 503.

Pure: no sockets, no clock, no randomness; tags and nonce secrets come from
the composition root. The asyncio adapter (transport.py) feeds it.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import ipaddress
from collections.abc import Callable
from typing import Protocol

import msgspec

from sdk.events import AuthenticationFailed, Event

from .digest import DigestAuthenticator, Verdict
from .errors import RemoteProtocolError
from .fields import Via
from .guard import SourceGuard
from .message import Request, Response, parse_message
from .registrar import Registrar
from .status import REASON_PHRASES, make_response
from .syntax import split_list
from .transaction import (
    AckReceived,
    Peer,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)

# RFC 3261 8.2.1: methods we know. Those a handler has not claimed get 405.
KNOWN_METHODS = frozenset(
    "INVITE ACK BYE CANCEL OPTIONS REGISTER INFO UPDATE PRACK SUBSCRIBE NOTIFY REFER MESSAGE PUBLISH".split()
)
# RFC 3261 22.1: CANCEL and ACK cannot be challenged; in-dialog requests are
# authenticated by their dialog.
_IN_DIALOG_ONLY = frozenset("BYE INFO UPDATE PRACK NOTIFY".split())
SUPPORTED_EXTENSIONS = frozenset({"path", "outbound", "gruu"})


class EndpointSettings(msgspec.Struct, frozen=True):
    realm: str
    user_agent: str = "pbx"


class Publish(msgspec.Struct, frozen=True):
    """An event for the bus."""

    event: Event


class Dropped(msgspec.Struct, frozen=True):
    """Input we did not answer, and why (for the log)."""

    peer: Peer
    reason: str


Action = Transmit | Publish | Dropped


class RequestHandler(Protocol):
    """What a layer above (calls, presence) implements for the methods it claims."""

    def __call__(self, transaction: ServerTransaction, request: Request, user: str | None, now: float) -> list[Action]: ...


class SipEndpoint:
    def __init__(
        self,
        settings: EndpointSettings,
        *,
        transactions: TransactionLayer,
        authenticator: DigestAuthenticator,
        registrar: Registrar,
        is_extension: Callable[[str], bool],
        new_tag: Callable[[], str],
        guard: SourceGuard | None = None,
    ) -> None:
        self.settings = settings
        self.transactions = transactions
        self.authenticator = authenticator
        self.registrar = registrar
        self.is_extension = is_extension
        self.new_tag = new_tag
        self.guard = guard
        self._tag_key = new_tag().encode()
        self.handlers: dict[str, RequestHandler] = {}
        self.ack_handler: Callable[[AckReceived, float], list[Action]] | None = None
        # Responses, timeouts and terminations of client transactions (the call layer's).
        self.client_handler: Callable[[object, float], list[Action]] | None = None
        # Other pure timer queues to run from the one adapter timer (call timers, ...).
        self.timer_sources: list = []
        # RFC 3261 22.2 / 22.3: 407 by default; 401 for UAs (pyVoIP) that cannot answer a 407.
        self.challenge_status: Callable[[str | None], int] = lambda user: 407
        # An initial INVITE from a SIP trunk (pbx/trunks/identify.py) is not challenged: a
        # provider does not authenticate to its customer. Its handler gets user None.
        self.trusted_source: Callable[[Request], bool] = lambda request: False
        self.stats = {"received": 0, "malformed": 0, "dropped": 0, "sent_stateless": 0, "banned": 0, "refused": 0}

    # Entry points -------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, now: float) -> list[Action]:
        """One datagram or one framed stream message from `peer`."""
        self.stats["received"] += 1
        if self.guard is not None and self.guard.is_banned(peer.host, now):
            # Not even a Dropped for the log: a banned scanner would flood it.
            self.stats["banned"] += 1
            return []
        try:
            message = parse_message(data)
        except RemoteProtocolError as error:
            return self._reject_unparsed(error, peer)
        if isinstance(message, Response):
            return self._on_response(message, peer, now)
        try:
            self._validate(message)
            if message.uri.scheme == "sips" and peer.transport != "tls":
                # RFC 3261 26.2.2, RFC 5630: sips: means TLS on every hop, and this hop was not.
                raise RemoteProtocolError(f"a sips: Request-URI needs TLS, not {peer.transport.upper()}", 416)
            message.source = peer
            response_peer = self._stamp_via(message, peer)
        except RemoteProtocolError as error:
            return self._reject_unparsed(RemoteProtocolError(error.reason, error.status, message), peer)
        refused = self._refuse_flood_statelessly(message, response_peer, now)
        if refused:
            return refused
        challenged = self._challenge_statelessly(message, response_peer, now)
        if challenged:
            return challenged
        actions: list[Action] = []
        for action in self.transactions.receive_request(message, response_peer, now):
            actions.extend(self._on_transaction_action(action, now))
        return actions

    def handle_timer(self, now: float) -> list[Action]:
        actions: list[Action] = [Publish(event) for event in self.registrar.expire(now)]
        if self.guard is not None:
            actions += [Publish(event) for event in self.guard.expire(now)]
        for source in self.timer_sources:
            actions.extend(source.fire(now))
        for action in self.transactions.handle_timer(now):
            actions.extend(self._on_transaction_action(action, now))
        return actions

    def next_deadline(self) -> float | None:
        candidates = [self.transactions.next_deadline(), self.registrar.next_expiry()]
        if self.guard is not None:
            candidates.append(self.guard.next_deadline())
        candidates += [source.next_deadline() for source in self.timer_sources]
        deadlines = [d for d in candidates if d is not None]
        return min(deadlines) if deadlines else None

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> list[Action]:
        if self.settings.user_agent and "Server" not in response.headers:
            response.headers.add("Server", self.settings.user_agent)
        return list(self.transactions.send_response(transaction, response, now))

    def transport_failed(self, message: Request | Response, now: float) -> list[Action]:
        """The adapter could not deliver `message` (RFC 3261 18.4): fail its client transaction."""
        if not isinstance(message, Request):
            return []
        transaction = self.transactions.client_for(message)
        if transaction is None:
            return []
        actions: list[Action] = []
        for action in self.transactions.transport_error(transaction, now):
            actions.extend(self._on_transaction_action(action, now))
        return actions

    def tag_for(self, request: Request) -> str:
        """The To tag we answer `request` with: the same for every INVITE of one call attempt.

        A 407 and the 200 to the re-sent INVITE share Call-ID and From tag, so
        they get the same tag: sipp's caller scenarios keep the first tag they
        see and send it in their BYE. RFC 3261 19.3 only asks tags to be unique
        per dialog, which this is (a keyed hash of Call-ID and From tag).
        """
        try:
            # Header text keeps non-UTF-8 bytes as surrogates (message.py); encode them back.
            seed = f"{request.call_id}\x00{request.from_.tag}".encode("utf-8", "surrogateescape")
        except RemoteProtocolError:
            return self.new_tag()
        return hashlib.blake2b(seed, key=self._tag_key[:64], digest_size=8).hexdigest()

    def reply(self, transaction: ServerTransaction, status: int, reason: str | None, now: float, **kwargs) -> list[Action]:
        response = make_response(transaction.request, status, reason, to_tag=self.tag_for(transaction.request), **kwargs)
        return self.respond(transaction, response, now)

    # Requests -----------------------------------------------------------------------------

    def _on_transaction_action(self, action, now: float) -> list[Action]:
        if isinstance(action, RequestReceived):
            return self._on_request(action.transaction, action.request, now)
        if isinstance(action, AckReceived):
            return self.ack_handler(action, now) if self.ack_handler else []
        if isinstance(action, Transmit):
            return [action]
        if self.client_handler is not None and isinstance(
            action, (ResponseReceived, TransactionTimedOut, TransportFailed, TransactionTerminated)
        ):
            return self.client_handler(action, now)
        return []

    def _on_request(self, transaction: ServerTransaction, request: Request, now: float) -> list[Action]:
        method = request.method
        if method == "CANCEL":
            return self._on_cancel(transaction, request, now)
        unsupported = self._unsupported_extensions(request)
        if unsupported:
            # RFC 3261 8.2.2.3: 420 listing what we do not support.
            return self._reply_with(transaction, request, 420, None, now, [("Unsupported", ", ".join(unsupported))])
        if method == "OPTIONS":
            return self._reply_with(transaction, request, 200, None, now, self._capabilities())
        if method == "REGISTER":
            return self._on_register(transaction, request, now)
        if method not in KNOWN_METHODS:
            # RFC 3261 21.5.2: 501 for a method we do not recognise.
            return self._reply_with(transaction, request, 501, None, now, [("Allow", self._allow())])
        handler = self.handlers.get(method)
        if method in _IN_DIALOG_ONLY and (handler is None or request.to.tag is None):
            return self.reply(transaction, 481, None, now)
        if handler is None:
            # RFC 3261 8.2.1: a method we know but do not offer gets 405 with Allow.
            return self._reply_with(transaction, request, 405, None, now, [("Allow", self._allow())])
        user = None
        if method not in _IN_DIALOG_ONLY and request.to.tag is None and not (
                method == "INVITE" and self.trusted_source(request)):
            verdict, user, actions = self._authenticate(transaction, request, now, proxy=True)
            if verdict is not Verdict.ACCEPTED:
                return actions
            if user is not None and method == "INVITE":
                refused = self._refuse_flood(transaction, request, now, user=user)
                if refused:
                    return refused
        return handler(transaction, request, user, now)

    def _on_cancel(self, transaction: ServerTransaction, request: Request, now: float) -> list[Action]:
        handler = self.handlers.get("CANCEL")
        if handler is None or self.transactions.find_invite(request) is None:
            # RFC 3261 9.2: no matching INVITE transaction.
            return self.reply(transaction, 481, None, now)
        return handler(transaction, request, None, now)

    def _on_register(self, transaction: ServerTransaction, request: Request, now: float) -> list[Action]:
        verdict, user, actions = self._authenticate(transaction, request, now, proxy=False)
        if verdict is not Verdict.ACCEPTED or user is None:
            return actions
        refused = self._refuse_flood(transaction, request, now, user=user)
        if refused:
            return refused
        to_user = request.to.uri.user
        if to_user != user:
            # RFC 3261 10.3 step 4: a user may only register bindings for its own address.
            return self.reply(transaction, 403, "Forbidden", now, warning=f"{user} may not register {to_user}")
        outcome = self.registrar.register(request, user, request.source or transaction.peer, now)
        headers = [("Contact", contact) for contact in outcome.contacts] + list(outcome.extra_headers)
        if outcome.status == 200:
            headers.append(("Date", email.utils.formatdate(now, usegmt=True)))
        response_actions = self._reply_with(transaction, request, outcome.status, outcome.reason, now, headers)
        return [Publish(event) for event in outcome.events] + response_actions

    def _authenticate(
        self, transaction: ServerTransaction, request: Request, now: float, *, proxy: bool
    ) -> tuple[Verdict, str | None, list[Action]]:
        """RFC 3261 22.2 (401, REGISTER) and 22.3 (407, requests a proxy-like core serves)."""
        header = "Proxy-Authorization" if proxy else "Authorization"
        # A UAS challenged with 401 answers in Authorization: read both (RFC 3261 22.2, 22.3).
        credentials = request.headers.lines("Proxy-Authorization") + request.headers.lines("Authorization")
        result = self.authenticator.verify(request.method, credentials if proxy else request.headers.lines(header), now)
        if result.verdict is Verdict.ACCEPTED:
            return result.verdict, result.username, []
        if result.verdict is Verdict.MALFORMED:
            return result.verdict, None, self.reply(transaction, 400, f"Bad {header}", now, warning=result.reason)
        if result.verdict is Verdict.REJECTED:
            event = AuthenticationFailed(
                at=now, username=result.username, method=request.method,
                source=f"{transaction.peer.host}:{transaction.peer.port}", reason=result.reason,
            )  # fmt: skip
            source = (request.source or transaction.peer).host
            banned = self.guard.authentication_failed(source, now) if self.guard is not None else []
            published = [Publish(event)] + [Publish(ban) for ban in banned]
            return result.verdict, None, [*published, *self.reply(transaction, 403, "Forbidden", now)]
        status = self.challenge_status(request.from_.uri.user) if proxy else 401
        challenge_header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
        stale = result.verdict is Verdict.STALE
        headers = [(challenge_header, value) for value in self.authenticator.challenges(now, stale=stale)]
        return result.verdict, None, self._reply_with(transaction, request, status, None, now, headers)

    def _refuse_flood_statelessly(self, request: Request, destination: Peer, now: float) -> list[Action]:
        """A new INVITE or REGISTER over its source address's rate, before any transaction: 503
        with Retry-After (RFC 3261 21.5.4), sent statelessly. A transaction for each (32 s of
        Timer H for an INVITE never ACKed) would let a flood grow the PBX's memory; a refused
        request's retransmissions are simply weighed again. A retransmission of an admitted
        request belongs to its transaction and spends nothing; a trunk's INVITEs (trusted
        sources) are the provider's traffic and are not limited here."""
        if self.guard is None or request.method not in ("INVITE", "REGISTER") or request.to.tag is not None:
            return []
        if request.method == "INVITE" and self.trusted_source(request):
            return []
        if self.transactions.has_server_for(request):
            return []
        retry_after = self.guard.admit_source(destination.host if request.source is None else request.source.host,
                                              request.method, now)
        if retry_after is None:
            return []
        self.stats["refused"] += 1
        self.stats["sent_stateless"] += 1
        response = make_response(request, 503, "Service Unavailable", to_tag=self.new_tag(),
                                 server=self.settings.user_agent)
        response.headers.add("Retry-After", str(retry_after))
        return [Transmit(response.serialize(), destination, response)]

    def _challenge_statelessly(self, request: Request, destination: Peer, now: float) -> list[Action]:
        """The 407 (INVITE) or 401 (REGISTER) to a request with no credentials at all, sent
        without a transaction. RFC 3261 8.2.7: "the stateless UAS role is needed primarily to
        handle unauthenticated requests for which a challenge response is issued", so that a
        flood of them creates no state; the To tag is a hash of the request (tag_for), a
        retransmission is challenged again, and the ACK of the challenge matches nothing and
        is dropped. It is also the cheaper way for every call: no transaction, no timers.
        Requests with credentials (stale, wrong, another realm) go through a transaction."""
        method = request.method
        if method not in ("INVITE", "REGISTER") or request.to.tag is not None:
            return []
        if method == "INVITE" and ("INVITE" not in self.handlers or self.trusted_source(request)):
            return []  # no calls here (405 follows), or a trunk's INVITE, which is not challenged
        headers = request.headers
        if "Proxy-Authorization" in headers or "Authorization" in headers:
            return []
        if self.transactions.has_server_for(request):
            return []
        status = self.challenge_status(request.from_.uri.user) if method == "INVITE" else 401
        challenge_header = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
        response = make_response(request, status, to_tag=self.tag_for(request), server=self.settings.user_agent)
        for value in self.authenticator.challenges(now, stale=False):
            response.headers.add(challenge_header, value)
        self.stats["sent_stateless"] += 1
        return [Transmit(response.serialize(), destination, response)]

    def _refuse_flood(
        self, transaction: ServerTransaction, request: Request, now: float, *, user: str | None = None
    ) -> list[Action]:
        """503 with Retry-After (RFC 3261 21.5.4) for a request over its source's or user's rate.

        Before authentication the source address pays; after it, the user. A trunk's INVITEs
        (trusted sources) are the provider's traffic and are not limited here.
        """
        if self.guard is None:
            return []
        if user is None:
            if request.method == "INVITE" and self.trusted_source(request):
                return []
            retry_after = self.guard.admit_source((request.source or transaction.peer).host, request.method, now)
        else:
            retry_after = self.guard.admit_user(user, request.method, now)
        if retry_after is None:
            return []
        self.stats["refused"] += 1
        return self._reply_with(transaction, request, 503, None, now, [("Retry-After", str(retry_after))])

    def _reply_with(
        self,
        transaction: ServerTransaction,
        request: Request,
        status: int,
        reason: str | None,
        now: float,
        headers: list[tuple[str, str]],
    ) -> list[Action]:
        response = make_response(request, status, reason, to_tag=self.tag_for(request))
        for name, value in headers:
            response.headers.add(name, value)
        return self.respond(transaction, response, now)

    def _capabilities(self) -> list[tuple[str, str]]:
        # RFC 3261 11.2: OPTIONS answers say what we allow, accept and support.
        return [
            ("Allow", self._allow()),
            ("Accept", "application/sdp"),
            ("Supported", ", ".join(sorted(SUPPORTED_EXTENSIONS))),
        ]

    def _allow(self) -> str:
        return ", ".join(sorted({"OPTIONS", "REGISTER", "ACK", "CANCEL", *self.handlers}))

    @staticmethod
    def _unsupported_extensions(request: Request) -> list[str]:
        if request.method in ("ACK", "CANCEL"):
            return []
        required = [tag for value in request.headers.get_all("Require") for tag in split_list(value)]
        return [tag for tag in required if tag.lower() not in SUPPORTED_EXTENSIONS]

    # Validation and Via ---------------------------------------------------------------------

    def _validate(self, request: Request) -> None:
        """RFC 3261 8.2 and 16.3: what every request must carry, each fault a 400 that names it."""
        if not request.headers.get_all("Via"):
            raise RemoteProtocolError("missing Via header")
        request.top_via  # noqa: B018 - parses, raising on a bad Via
        request.call_id  # noqa: B018
        cseq = request.cseq
        if cseq.method != request.method:
            raise RemoteProtocolError(f"CSeq method {cseq.method} does not match request method {request.method}")
        request.from_  # noqa: B018
        request.to  # noqa: B018
        request.headers.get_all("Require")  # an unterminated quote in it is a 400, not an escape
        max_forwards = request.int_header("Max-Forwards", 255)
        if max_forwards == 0 and request.method not in ("OPTIONS", "REGISTER"):
            raise RemoteProtocolError("Max-Forwards reached 0", 483)
        if request.method == "REGISTER":
            request.contacts  # noqa: B018
            request.int_header("Expires")
        if request.uri.scheme == "invalid":
            raise RemoteProtocolError(f"bad Request-URI {request.uri}")
        if request.uri.scheme not in ("sip", "sips", "tel"):
            raise RemoteProtocolError(f"URI scheme {request.uri.scheme} not supported", 416)

    @staticmethod
    def _stamp_via(request: Request, peer: Peer) -> Peer:
        """Add received/rport to the top Via and return where responses go.

        RFC 3261 18.2.1: received= when sent-by is not the source address;
        RFC 3581 4: rport= with the source port when the client asked for it.
        Responses then go back per RFC 3261 18.2.2: on the same connection
        for TCP, to received:rport for UDP, else to the sent-by port.
        """
        via = request.top_via
        params = dict(via.params)
        changed = False
        if via.host.strip("[]") != peer.host or "rport" in params:
            params["received"] = peer.host
            changed = True
        if "rport" in params and params["rport"] is None:
            params["rport"] = str(peer.port)
            changed = True
        if changed:
            stamped = Via(via.transport, via.host, via.port, params)
            # An empty "Via:" line holds no value (RFC 3261 7.3.1 lists): the top Via is in the next.
            lines = [line for line in request.headers.lines("Via") if split_list(line)]
            first = split_list(lines[0])
            first[0] = str(stamped)
            rebuilt = [", ".join(first), *lines[1:]]
            request.headers.remove("Via")
            for value in reversed(rebuilt):
                request.headers.prepend("Via", value)
            if any(value is not None and ('"' in value or "<" in value) for value in params.values()):
                # The stamped Via must read back: an unquoted '<' in a parameter value swallows
                # the ';received=' we appended, and the transaction layer would raise on it.
                request.top_via  # noqa: B018
            else:
                request.known_top_via(stamped)
            via = stamped
        if peer.reliable:
            return peer
        host = params.get("received") or via.host
        rport = params.get("rport")
        port = int(rport) if rport and rport.isdigit() else (via.port or 5060)
        if not _is_ip(host):
            host = peer.host
        return Peer(peer.transport, host, port)

    # Faults and responses -------------------------------------------------------------------

    def _reject_unparsed(self, error: RemoteProtocolError, peer: Peer) -> list[Action]:
        """Answer a malformed request statelessly, or drop what cannot be answered."""
        self.stats["malformed"] += 1
        request = error.partial
        if not isinstance(request, Request) or request.method == "ACK":
            self.stats["dropped"] += 1
            return [Dropped(peer, error.reason)]
        destination = peer
        try:
            destination = self._stamp_via(request, peer)
        except RemoteProtocolError:
            pass  # no usable Via: answer the source address
        reason = _reason_phrase(error)
        response = make_response(
            request, error.status, reason, to_tag=self.new_tag(), server=self.settings.user_agent, warning=error.reason
        )
        self.stats["sent_stateless"] += 1
        return [Transmit(response.serialize(), destination, response)]

    def _on_response(self, response: Response, peer: Peer, now: float) -> list[Action]:
        try:
            actions = self.transactions.receive_response(response, now)
        except RemoteProtocolError as error:
            return [Dropped(peer, f"bad response: {error.reason}")]
        if not actions:
            return [Dropped(peer, f"response {response.status} matches no transaction")]
        # The transaction's own ACK to a non-2xx leaves before what the TU sends in reply (the
        # INVITE again with credentials, RFC 3261 22.2): peers such as sipp expect it first.
        actions = [a for a in actions if isinstance(a, Transmit)] + [a for a in actions if not isinstance(a, Transmit)]
        result: list[Action] = []
        for action in actions:
            result.extend(self._on_transaction_action(action, now))
        return result

    def status(self) -> dict[str, int]:
        return {"transactions": len(self.transactions), "registrations": len(self.registrar), **self.stats}


def _reason_phrase(error: RemoteProtocolError) -> str:
    """`Bad Request (missing Call-ID header)`: the standard phrase and what was wrong."""
    detail = error.reason.replace("\r", " ").replace("\n", " ")[:120]
    return f"{REASON_PHRASES.get(error.status, 'Bad Request')} ({detail})"


@functools.lru_cache(maxsize=4096)  # hosts seen in Vias: the same few phones and trunks again and again
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
