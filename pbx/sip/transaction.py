"""SIP transactions: the four state machines of RFC 3261 section 17 and the layer that owns them.

INVITE client (17.1.1), non-INVITE client (17.1.2), INVITE server (17.2.1) and
non-INVITE server (17.2.2), with the Accepted state RFC 6026 section 7 adds to
both INVITE machines. Each machine is a transition table in
transaction_machines.py; the `TransactionLayer` matches incoming messages to transactions (17.1.3, 17.2.3,
including the RFC 2543 fallback), runs their timers from one heap (a transaction
that only waits out its last timer waits in a queue per duration) and returns
actions: bytes to send, messages for the transaction user (TU), and reports
of timeouts, transport failures and terminations.

Sans-IO: nothing here reads a clock, sleeps or touches a socket. Every entry
point takes `now` in seconds; the adapter asks `next_deadline()` when to wake
and then calls `handle_timer(now)`.

What it deliberately does not do:
- pick transports or addresses: the endpoint computes where responses go
  (RFC 3261 18.2.2, RFC 3581) and passes it as the peer;
- add the Via or its branch to outgoing requests (the caller does, 8.1.1.7);
- send 100 (Trying) on its own: 17.2.1 lets the TU answer within 200 ms,
  and the endpoint does so for every INVITE;
- send or retransmit ACKs for 2xx, or retransmit 2xx responses: those
  belong to the dialog layer (RFC 3261 13.2.2.4, 13.3.1.4);
- decide what a request means; CANCEL is matched to its INVITE with
  `find_invite`, and the TU answers both (9.2).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from typing import NamedTuple, TypeAlias

import msgspec

from .errors import LocalProtocolError, RemoteProtocolError
from .fields import Via
from .message import Headers, Request, Response
from .syntax import lowered
from .transaction_machines import (
    INVITE_CLIENT,
    INVITE_CLIENT_MACHINE,
    INVITE_SERVER,
    INVITE_SERVER_MACHINE,
    KINDS,
    MACHINES,
    NO_TIMERS,
    NON_INVITE_CLIENT,
    NON_INVITE_CLIENT_MACHINE,
    NON_INVITE_SERVER,
    NON_INVITE_SERVER_MACHINE,
    RETRANSMIT_TIMERS,
    Effect,
    Event,
    Machine,
    State,
    Timer,
    Timers,
    Transition,
)

__all__ = [
    "MACHINES", "Action", "AckReceived", "ClientTransaction", "Effect", "Event", "Peer", "RequestReceived",
    "ResponseReceived", "ServerTransaction", "State", "Timer", "Timers", "Transaction", "TransactionLayer",
    "TransactionTerminated", "TransactionTimedOut", "Transition", "Transmit", "TransportFailed", "build_ack",
]  # fmt: skip

# States in which a transaction only waits for its last timer (Completed, Confirmed, Accepted).
LINGERING = frozenset({State.COMPLETED, State.CONFIRMED, State.ACCEPTED})
# Of those, the (machine, state) pairs that run that one timer and nothing else: every state
# but the INVITE server's Completed (G and H). They leave only for Terminated.
_WAITING_ALONE = frozenset(
    (machine.kind, state) for machine in MACHINES.values() for state, timers in machine.runs.items()
    if state in LINGERING and len(timers) == 1
)

_ID_PREFIXES = {INVITE_CLIENT: "ict", NON_INVITE_CLIENT: "nict", INVITE_SERVER: "ist", NON_INVITE_SERVER: "nist"}


class Peer(NamedTuple):
    """Where a message came from or goes to."""

    transport: str  # "udp" | "tcp" | "tls" (lower case; Via writes it upper case, RFC 3261 20.42)
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"


# Actions returned to the caller ---------------------------------------------------------------


class Transmit(msgspec.Struct, frozen=True, gc=False):
    """Send `data` (the serialized `message`) to `peer`."""

    data: bytes
    peer: Peer
    message: Request | Response


class RequestReceived(msgspec.Struct, frozen=True):
    """A new request, with the server transaction the TU answers through."""

    transaction: ServerTransaction
    request: Request


class ResponseReceived(msgspec.Struct, frozen=True):
    """A response for the TU that sent the request of `transaction`."""

    transaction: ClientTransaction
    response: Response


class AckReceived(msgspec.Struct, frozen=True):
    """An ACK for a 2xx: it belongs to the dialog layer, not to a transaction
    (RFC 3261 17.2.3, 13.3.1.4; RFC 6026 7.1 for one that hits an Accepted
    INVITE server transaction)."""

    request: Request
    peer: Peer


class TransactionTimedOut(msgspec.Struct, frozen=True):
    """Timer B or F (no final response) or H (no ACK for our final response) fired."""

    transaction: Transaction


class TransportFailed(msgspec.Struct, frozen=True):
    """The transport could not deliver for `transaction` (RFC 3261 17.1.4, 17.2.4)."""

    transaction: Transaction


class TransactionTerminated(msgspec.Struct, frozen=True):
    """`transaction` reached Terminated and left the layer."""

    transaction: Transaction


Action: TypeAlias = (
    Transmit
    | RequestReceived
    | ResponseReceived
    | AckReceived
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
)




# Transactions ---------------------------------------------------------------------------------


class Transaction:
    """One transaction: its machine, state and running timers.

    Created and driven only by a `TransactionLayer`; read its attributes,
    call the layer.
    """

    __slots__ = ("kind", "state", "request", "peer", "key", "number", "_machine", "_layer", "_timers", "_interval")

    def __init__(
        self, layer: TransactionLayer, machine: Machine, request: Request, peer: Peer, key: tuple, number: int
    ) -> None:
        self.kind = machine.kind
        self.state = machine.initial
        self.request: Request | None = request  # None once it only absorbs retransmissions (LINGERING)
        self.peer = peer
        self.key = key
        self.number = number  # the layer's count; `id` names it
        self._machine = machine
        self._layer = layer
        # (running timer, token of its heap entry): one or two at a time, and a tuple of them is
        # a third of a dict's size (a held call's transactions linger 64*T1: issue 16).
        self._timers: tuple[tuple[Timer, int], ...] = ()
        # The last interval of its retransmission timer (A, E or G: a machine has one), 0 before
        # the first: a float, not a dict by timer (issue 16).
        self._interval = 0.0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.kind} {self.state.value}>"

    def _fire(
        self,
        trigger: Event | Timer,
        now: float,
        actions: list[Action],
        message: Request | Response | None = None,
        source: Peer | None = None,
        *,
        from_tu: bool = False,
    ) -> None:
        """Run the transition for `trigger`, appending what it does to `actions`.

        A trigger with no transition is our bug when the TU sent it and raises;
        from the network or a stale timer it is ignored.
        """
        transition = self._machine.transitions.get((self.state, trigger))
        if transition is None:
            if from_tu:
                raise LocalProtocolError(
                    f"{self.kind} transaction {self.id} in state {self.state.value} cannot take {trigger.value}"
                )
            return
        self.state = transition.target
        running = self._machine.runs.get(self.state, NO_TIMERS)
        for timer, _ in [entry for entry in self._timers if entry[0] not in running]:
            self._cancel(timer)
        for effect in transition.effects:
            if isinstance(effect, Timer):
                self._start(effect, now, actions)
            else:
                self._apply(effect, actions, message, source)
        if transition.target is State.TERMINATED:
            self._layer._forget(self)
            actions.append(TransactionTerminated(self))
        elif transition.target in LINGERING:
            # Matched by its key from now on, resending at most bytes it keeps: the request
            # can go (a BYE's for good; an INVITE's stays as long as its leg keeps it).
            if self.request is not None:
                self.request.compact()
                self.request = None
            self._linger()

    def _linger(self) -> None:
        """The transaction only absorbs retransmissions until its last timer: let go of what it
        will not send again (a held call's transactions linger 64*T1, RFC 6026 7.1/7.2)."""

    def _apply(
        self, effect: Effect, actions: list[Action], message: Request | Response | None, source: Peer | None
    ) -> None:
        if effect is Effect.REPORT_TIMEOUT:
            actions.append(TransactionTimedOut(self))
        elif effect is Effect.REPORT_TRANSPORT_ERROR:
            actions.append(TransportFailed(self))
        else:
            raise AssertionError(f"{effect} does not apply to a {self.kind} transaction")

    # Timers --------------------------------------------------------------------------------

    def _start(self, timer: Timer, now: float, actions: list[Action]) -> None:
        duration = self._duration(timer)
        if duration is None:
            return
        if duration <= 0:
            # Timers D, I, J and K are zero on reliable transports: fire at once.
            self._fire(timer, now, actions)
            return
        if (self.kind, self.state) in _WAITING_ALONE:
            self._layer._wait_out(self, timer, now, duration)
            return
        token = self._layer._schedule(self, timer, now + duration)
        self._timers = (*[entry for entry in self._timers if entry[0] is not timer], (timer, token))

    def _cancel(self, timer: Timer) -> None:
        self._timers = tuple(entry for entry in self._timers if entry[0] is not timer)
        self._layer._stale += 1

    @property
    def id(self) -> str:
        """For people: ist-12 is the layer's 12th transaction, an INVITE server one."""
        return f"{_ID_PREFIXES[self.kind]}-{self.number}"

    def _duration(self, timer: Timer) -> float | None:
        """How long `timer` runs from now; None when it does not run at all (RFC 3261 table 4)."""
        timers = self._layer.timers
        reliable = self.peer.reliable
        if timer in RETRANSMIT_TIMERS:
            if reliable:
                return None  # 17.1.1.2, 17.1.2.2, 17.2.1: no retransmissions over reliable transports
            previous = self._interval
            if not previous:
                interval = timers.t1
            elif timer is Timer.A:
                interval = 2 * previous  # 17.1.1.2: A doubles without a cap
            elif timer is Timer.E and self.state is State.PROCEEDING:
                interval = timers.t2  # 17.1.2.2: in Proceeding E is reset to T2
            else:
                interval = min(2 * previous, timers.t2)  # 17.1.2.2 (E), 17.2.1 (G): doubling capped at T2
            self._interval = interval
            return interval
        if timer in (Timer.B, Timer.F, Timer.H, Timer.L, Timer.M):
            return 64 * timers.t1
        if timer is Timer.D:
            # 17.1.1.2: at least 32 s; with a larger T1 the server's Timer H (64*T1) outlasts 32 s.
            return 0.0 if reliable else max(32.0, 64 * timers.t1)
        if timer is Timer.J:
            return 0.0 if reliable else 64 * timers.t1
        return 0.0 if reliable else timers.t4  # Timers I and K


class ClientTransaction(Transaction):
    """An INVITE or non-INVITE client transaction; `peer` is where the request goes."""

    __slots__ = ("_request_data", "_ack", "_ack_data")

    def __init__(
        self, layer: TransactionLayer, machine: Machine, request: Request, peer: Peer, key: tuple, number: int
    ) -> None:
        super().__init__(layer, machine, request, peer, key, number)
        self._request_data = request.serialize()
        self._ack: Request | None = None
        self._ack_data = b""

    def _linger(self) -> None:
        # Completed and Accepted never retransmit the request (RFC 3261 17.1.1.2, 17.1.2.2;
        # RFC 6026 7.2); Completed may resend the ACK of a non-2xx, which it keeps.
        self._request_data = b""

    def _apply(
        self, effect: Effect, actions: list[Action], message: Request | Response | None, source: Peer | None
    ) -> None:
        if effect is Effect.RETRANSMIT_REQUEST:
            actions.append(Transmit(self._request_data, self.peer, self.request))
        elif effect is Effect.PASS_RESPONSE_UP:
            assert isinstance(message, Response)
            actions.append(ResponseReceived(self, message))
        elif effect is Effect.SEND_ACK:
            if self._ack is None:
                assert isinstance(message, Response)
                self._ack = build_ack(self.request, message)
                self._ack_data = self._ack.serialize()
            actions.append(Transmit(self._ack_data, self.peer, self._ack))
        else:
            super()._apply(effect, actions, message, source)


class ServerTransaction(Transaction):
    """An INVITE or non-INVITE server transaction; `peer` is where responses go."""

    __slots__ = ("last_response", "_last_response_data")

    def __init__(
        self, layer: TransactionLayer, machine: Machine, request: Request, peer: Peer, key: tuple, number: int
    ) -> None:
        super().__init__(layer, machine, request, peer, key, number)
        self.last_response: Response | None = None
        self._last_response_data = b""

    def _linger(self) -> None:
        # Accepted passes the TU's 2xx retransmissions on, each given anew (RFC 6026 7.1), and
        # Confirmed absorbs (RFC 3261 17.2.1): neither resends the last response. A non-INVITE
        # server transaction's Completed does, so it keeps it.
        if self.state in (State.ACCEPTED, State.CONFIRMED):
            self.last_response = None
            self._last_response_data = b""

    def _apply(
        self, effect: Effect, actions: list[Action], message: Request | Response | None, source: Peer | None
    ) -> None:
        if effect is Effect.SEND_RESPONSE:
            assert isinstance(message, Response)
            self.last_response = message
            self._last_response_data = message.serialize()
            actions.append(Transmit(self._last_response_data, self.peer, message))
        elif effect is Effect.RESEND_LAST_RESPONSE:
            if self.last_response is not None and self._last_response_data:
                actions.append(Transmit(self._last_response_data, self.peer, self.last_response))
        elif effect is Effect.PASS_ACK_UP:
            assert isinstance(message, Request) and source is not None
            actions.append(AckReceived(message, source))
        else:
            super()._apply(effect, actions, message, source)


def build_ack(invite: Request, response: Response) -> Request:
    """The ACK an INVITE client transaction sends for a 300-699 response (RFC 3261 17.1.1.3).

    Request-URI, Call-ID, From and the CSeq number of the INVITE, the To of
    the response (with its tag), only the INVITE's top Via (so the same
    branch), the INVITE's Route header fields, Max-Forwards 70 (8.1.1.6).
    """
    headers = Headers()
    headers.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.lines("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or invite.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} ACK")
    headers.add("Content-Length", "0")
    return Request("ACK", invite.uri, headers)


# Matching keys --------------------------------------------------------------------------------


def _sent_by(via: Via) -> tuple[str, int]:
    """Via sent-by with the default port filled in (RFC 3261 18.1.1: 5060, 5061 for TLS)."""
    default = 5061 if via.transport in ("TLS", "WSS") else 5060
    return lowered(via.host), via.port if via.port is not None else default


def _tag(tag: str | None) -> str | None:
    # RFC 3261 7.3.1: parameter values are compared case-insensitively unless stated otherwise.
    return lowered(tag) if tag is not None else None


_OWN_TO_TAG = "the request's own To tag"


def _server_key(request: Request, method: str, to_tag: str | None = _OWN_TO_TAG) -> tuple:
    """The key of the server transaction `request` belongs to, taken as a request of `method`.

    RFC 3261 17.2.3: with a magic-cookie branch, branch + sent-by + method.
    We add the CSeq number: pyVoIP 1.6 re-sends its INVITE with credentials
    under the branch of the challenged one, and only the CSeq tells the new
    request from a retransmission (the ACK and CANCEL of an INVITE carry its
    number, so they still match). Otherwise (RFC 2543 peers) Request-URI, To
    tag, From tag, Call-ID, CSeq number and top Via; `to_tag` replaces the
    request's To tag (ACK matching).
    """
    via = request.top_via
    if via.has_rfc3261_branch:
        return ("rfc3261", _tag(via.branch), *_sent_by(via), method, request.cseq.number)
    if to_tag is _OWN_TO_TAG:
        to_tag = request.to.tag
    return (
        "rfc2543",
        method,
        str(request.uri),
        _tag(to_tag),
        _tag(request.from_.tag),
        request.call_id,
        request.cseq.number,
        str(via),
    )


# The layer ------------------------------------------------------------------------------------


class TransactionLayer:
    """Owns every live transaction, matches messages to them and runs their timers."""

    def __init__(self, timers: Timers = Timers()) -> None:
        self.timers = timers
        self._servers: dict[tuple, ServerTransaction] = {}
        self._clients: dict[tuple, ClientTransaction] = {}
        self._counts = dict.fromkeys(KINDS, 0)
        # Heap of (deadline, token, transaction, timer). Cancelled timers stay in the heap
        # ("lazy deletion"): an entry is live while (timer, token) is in transaction._timers.
        self._heap: list[tuple[float, int, Transaction, Timer]] = []
        self._stale = 0
        # A transaction waiting out its last timer alone (_WAITING_ALONE: an answered INVITE's
        # 64*T1 in Accepted, RFC 6026 7.1/7.2) is queued by that timer's duration instead: a
        # queue of one duration is in deadline order, so (deadline, transaction, timer) at its
        # end is all it takes, not a heap entry, a token and the transaction's own record of it
        # (a third of what an answered call's two transactions hold then: issue 16). Such a
        # state leaves only for Terminated, after which the entry's firing does nothing.
        self._waiting: dict[float, deque[tuple[float, Transaction, Timer]]] = {}
        self._tokens = itertools.count()
        self._ids = itertools.count(1)

    # Network input ---------------------------------------------------------------------------

    def receive_request(self, request: Request, peer: Peer, now: float) -> list[Action]:
        """A request from the network; `peer` is where its responses go.

        Raises RemoteProtocolError when the Via, CSeq, Call-ID, From or To it
        is matched by are missing or malformed (the endpoint answers 400).
        """
        actions: list[Action] = []
        if request.method == "ACK":
            transaction = self._match_ack(request)
            if transaction is None:
                # RFC 3261 17.2.3: an ACK matching no transaction is for a 2xx; the dialog takes it.
                return [AckReceived(request, peer)]
            transaction._fire(Event.ACK, now, actions, request, peer)
            return actions
        key = _server_key(request, request.method)
        transaction = self._servers.get(key)
        if transaction is not None:
            transaction._fire(Event.RETRANSMISSION, now, actions, request, peer)
            return actions
        machine = INVITE_SERVER_MACHINE if request.method == "INVITE" else NON_INVITE_SERVER_MACHINE
        transaction = ServerTransaction(self, machine, request, peer, key, next(self._ids))
        self._servers[key] = transaction
        self._counts[machine.kind] += 1
        return [RequestReceived(transaction, request)]

    def has_server_for(self, request: Request) -> bool:
        """Whether `request` is a retransmission of one a server transaction holds."""
        return _server_key(request, request.method) in self._servers

    def receive_response(self, response: Response, now: float) -> list[Action]:
        """A response from the network: matched by top Via branch and CSeq method (RFC 3261 17.1.3).

        A response that matches nothing, or cannot be matched because its Via
        or CSeq is malformed, is dropped: [] (18.1.2).
        """
        try:
            branch = response.top_via.branch
            method = response.cseq.method
        except RemoteProtocolError:
            return []
        if branch is None:
            return []
        transaction = self._clients.get((_tag(branch), method))
        if transaction is None:
            return []
        if 100 <= response.status <= 199:
            event = Event.PROVISIONAL
        elif 200 <= response.status <= 299:
            event = Event.FINAL_2XX
        elif 300 <= response.status <= 699:
            event = Event.FINAL_NON_2XX
        else:
            return []
        actions: list[Action] = []
        transaction._fire(event, now, actions, response)
        return actions

    def transport_error(self, transaction: Transaction, now: float) -> list[Action]:
        """The transport failed to send for `transaction` (RFC 3261 17.1.4, 17.2.4).

        The transaction terminates and the TU is told; for a transaction that
        has already terminated this is ignored.
        """
        actions: list[Action] = []
        transaction._fire(Event.TRANSPORT_ERROR, now, actions)
        return actions

    def client_for(self, request: Request) -> ClientTransaction | None:
        """The live client transaction that sent `request` (by branch and method)."""
        try:
            return self._clients.get((_tag(request.top_via.branch), request.method))
        except RemoteProtocolError:
            return None

    # TU input --------------------------------------------------------------------------------

    def send_request(self, request: Request, peer: Peer, now: float) -> tuple[ClientTransaction, list[Action]]:
        """Start a client transaction for `request`, which already carries its Via and branch."""
        if request.method == "ACK":
            raise LocalProtocolError("ACK is never sent through a client transaction (RFC 3261 17.1.1.3, 13.2.2.4)")
        try:
            via = request.top_via
            cseq = request.cseq
        except RemoteProtocolError as error:
            raise LocalProtocolError(f"cannot send {request.method}: {error.reason}") from None
        if not via.has_rfc3261_branch:
            raise LocalProtocolError(
                f"{request.method} has branch {via.branch!r}: it must start with z9hG4bK (RFC 3261 8.1.1.7)"
            )
        if cseq.method != request.method:
            raise LocalProtocolError(f"CSeq method {cseq.method} differs from request method {request.method}")
        key = (_tag(via.branch), request.method)
        if key in self._clients:
            raise LocalProtocolError(f"branch {via.branch} is already used by {self._clients[key].id}")
        machine = INVITE_CLIENT_MACHINE if request.method == "INVITE" else NON_INVITE_CLIENT_MACHINE
        transaction = ClientTransaction(self, machine, request, peer, key, next(self._ids))
        self._clients[key] = transaction
        self._counts[machine.kind] += 1
        actions: list[Action] = [Transmit(transaction._request_data, peer, request)]
        for timer in machine.start:
            transaction._start(timer, now, actions)
        return transaction, actions

    def send_response(self, transaction: ServerTransaction, response: Response, now: float) -> list[Action]:
        """Send the TU's `response` through `transaction`, to `transaction.peer`."""
        if not isinstance(transaction, ServerTransaction):
            raise LocalProtocolError(f"responses are sent through server transactions, not {transaction!r}")
        if 100 <= response.status <= 199:
            event = Event.TU_PROVISIONAL
        elif 200 <= response.status <= 299:
            event = Event.TU_2XX
        elif 300 <= response.status <= 699:
            event = Event.TU_NON_2XX
        else:
            raise LocalProtocolError(f"status {response.status} is not between 100 and 699 (RFC 3261 7.2)")
        actions: list[Action] = []
        transaction._fire(event, now, actions, response, from_tu=True)
        return actions

    def find_invite(self, cancel: Request) -> ServerTransaction | None:
        """The INVITE server transaction `cancel` targets (RFC 3261 9.2): matched as
        17.2.3 matches, but against method INVITE."""
        transaction = self._servers.get(_server_key(cancel, "INVITE"))
        if transaction is None or transaction.kind != INVITE_SERVER:
            return None
        return transaction

    # Time ------------------------------------------------------------------------------------

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer due at `now`, earliest first."""
        actions: list[Action] = []
        heap = self._heap
        while True:
            queue = self._first_waiting(now)
            if heap and heap[0][0] <= now and (queue is None or heap[0][0] <= queue[0][0]):
                _, token, transaction, timer = heapq.heappop(heap)
                if (timer, token) not in transaction._timers:
                    self._stale -= 1
                    continue
                transaction._timers = tuple(entry for entry in transaction._timers if entry[1] != token)
            elif queue is not None:
                _, transaction, timer = queue.popleft()
            else:
                return actions
            # Retransmission timers restart from `now`, so a late wake-up does not burst.
            transaction._fire(timer, now, actions)

    def _first_waiting(self, now: float) -> deque[tuple[float, Transaction, Timer]] | None:
        """The queue of waiting transactions whose head is due soonest, if one is due by `now`."""
        first = None
        for queue in self._waiting.values():
            if queue and queue[0][0] <= now and (first is None or queue[0][0] < first[0][0]):
                first = queue
        return first

    def next_deadline(self) -> float | None:
        """When `handle_timer` next has something to do, or None."""
        heap = self._heap
        deadline = None
        while heap:
            _, token, transaction, timer = heap[0]
            if (timer, token) in transaction._timers:
                deadline = heap[0][0]
                break
            heapq.heappop(heap)
            self._stale -= 1
        for queue in self._waiting.values():
            if queue and (deadline is None or queue[0][0] < deadline):
                deadline = queue[0][0]
        return deadline

    # Introspection ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._servers) + len(self._clients)

    def counts(self) -> dict[str, int]:
        """Live transactions by kind; every kind is present."""
        return dict(self._counts)

    # For the transactions --------------------------------------------------------------------

    def _schedule(self, transaction: Transaction, timer: Timer, deadline: float) -> int:
        # A quarter stale: an answered INVITE's Timer B (64*T1) would otherwise wait out its 32 s.
        if self._stale > 1024 and 4 * self._stale > len(self._heap):
            self._compact()
        token = next(self._tokens)
        heapq.heappush(self._heap, (deadline, token, transaction, timer))
        return token

    def _wait_out(self, transaction: Transaction, timer: Timer, now: float, duration: float) -> None:
        queue = self._waiting.get(duration)
        if queue is None:
            queue = self._waiting[duration] = deque()
        queue.append((now + duration, transaction, timer))

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if (entry[3], entry[1]) in entry[2]._timers]
        heapq.heapify(self._heap)
        self._stale = 0

    def _forget(self, transaction: Transaction) -> None:
        table: dict[tuple, ServerTransaction] | dict[tuple, ClientTransaction]
        table = self._servers if isinstance(transaction, ServerTransaction) else self._clients
        if table.get(transaction.key) is transaction:
            del table[transaction.key]
            self._counts[transaction.kind] -= 1

    def _match_ack(self, ack: Request) -> ServerTransaction | None:
        """The INVITE server transaction an ACK for a 300-699 response belongs to (RFC 3261 17.2.3)."""
        if ack.top_via.has_rfc3261_branch:
            return self._servers.get(_server_key(ack, "INVITE"))
        # RFC 2543: the ACK's To tag is the one of our response; the INVITE had it only if
        # it was sent inside a dialog.
        ack_tag = _tag(ack.to.tag)
        for invite_tag in dict.fromkeys((ack_tag, None)):
            transaction = self._servers.get(_server_key(ack, "INVITE", invite_tag))
            if transaction is not None and transaction.last_response is not None:
                if _tag(transaction.last_response.to.tag) == ack_tag:
                    return transaction
        return None
