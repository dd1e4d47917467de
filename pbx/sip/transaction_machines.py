"""The four transaction state machines of RFC 3261 section 17 as data.

INVITE client (17.1.1, figure 5), non-INVITE client (17.1.2, figure 6),
INVITE server (17.2.1, figure 7) and non-INVITE server (17.2.2, figure 8),
each with the Accepted state RFC 6026 section 7 adds to the INVITE machines.
A table maps (state, event or fired timer) to the next state and its
effects; transaction.py runs them. Nothing here does anything.
"""

from __future__ import annotations

from enum import Enum
from typing import Mapping, NamedTuple

import msgspec

INVITE_CLIENT = "invite_client"
NON_INVITE_CLIENT = "non_invite_client"
INVITE_SERVER = "invite_server"
NON_INVITE_SERVER = "non_invite_server"
KINDS = (INVITE_CLIENT, NON_INVITE_CLIENT, INVITE_SERVER, NON_INVITE_SERVER)


class Timers(msgspec.Struct, frozen=True):
    """RFC 3261 17.1.1.1 and table 4: T1 is the RTT estimate, T2 the longest
    retransmit interval for non-INVITE requests and INVITE responses, T4 the
    longest time a message stays in the network."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0



# The vocabulary of the state machines ---------------------------------------------------------


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"  # RFC 6026 7.1, 7.2
    TERMINATED = "Terminated"


class Event(Enum):
    """What happens to a transaction, apart from its timers firing."""

    PROVISIONAL = "a 1xx response from the network"
    FINAL_2XX = "a 2xx response from the network"
    FINAL_NON_2XX = "a 300-699 response from the network"
    RETRANSMISSION = "a retransmission of the request"
    ACK = "an ACK"
    TU_PROVISIONAL = "a 1xx response from the TU"
    TU_2XX = "a 2xx response from the TU"
    TU_NON_2XX = "a 300-699 response from the TU"
    TRANSPORT_ERROR = "a transport error"


class Timer(Enum):
    """RFC 3261 table 4 and RFC 6026 section 8.

    As a table key a timer means "it fired"; in a list of effects it means
    "start it".
    """

    A = "Timer A"  # INVITE request retransmit (unreliable only)
    B = "Timer B"  # INVITE transaction timeout
    D = "Timer D"  # wait time for response retransmits
    E = "Timer E"  # non-INVITE request retransmit (unreliable only)
    F = "Timer F"  # non-INVITE transaction timeout
    G = "Timer G"  # INVITE final response retransmit (unreliable only)
    H = "Timer H"  # wait time for ACK receipt
    I = "Timer I"  # wait time for ACK retransmits  # noqa: E741
    J = "Timer J"  # wait time for non-INVITE request retransmits
    K = "Timer K"  # wait time for response retransmits
    L = "Timer L"  # RFC 6026: wait time for accepted INVITE request retransmits
    M = "Timer M"  # RFC 6026: wait time for retransmission of 2xx to INVITE


class Effect(Enum):
    RETRANSMIT_REQUEST = "retransmit the request"
    PASS_RESPONSE_UP = "pass the response to the TU"
    SEND_ACK = "send (or resend) the ACK for a 300-699 response"
    SEND_RESPONSE = "send the TU's response"
    RESEND_LAST_RESPONSE = "resend the last response, if any"
    PASS_ACK_UP = "pass the ACK to the TU"
    REPORT_TIMEOUT = "tell the TU the transaction timed out"
    REPORT_TRANSPORT_ERROR = "tell the TU the transport failed"


class Transition(NamedTuple):
    target: State
    effects: tuple[Effect | Timer, ...] = ()


class Machine(NamedTuple):
    kind: str
    initial: State
    start: tuple[Timer, ...]  # timers started when the transaction is created
    runs: Mapping[State, frozenset[Timer]]  # a timer left running outside these states is cancelled
    transitions: Mapping[tuple[State, Event | Timer], Transition]


S, E, T, X = State, Event, Timer, Effect

# RFC 3261 17.1.1.2, figure 5, as amended by RFC 6026 7.2 (figure 5 there).
INVITE_CLIENT_MACHINE = Machine(
    kind=INVITE_CLIENT,
    initial=S.CALLING,
    start=(T.B, T.A),  # B first so that at equal deadlines the timeout wins over a retransmission
    runs={S.CALLING: frozenset({T.A, T.B}), S.COMPLETED: frozenset({T.D}), S.ACCEPTED: frozenset({T.M})},
    transitions={
        (S.CALLING, T.A): Transition(S.CALLING, (X.RETRANSMIT_REQUEST, T.A)),
        (S.CALLING, T.B): Transition(S.TERMINATED, (X.REPORT_TIMEOUT,)),
        (S.CALLING, E.PROVISIONAL): Transition(S.PROCEEDING, (X.PASS_RESPONSE_UP,)),
        (S.CALLING, E.FINAL_2XX): Transition(S.ACCEPTED, (X.PASS_RESPONSE_UP, T.M)),
        (S.CALLING, E.FINAL_NON_2XX): Transition(S.COMPLETED, (X.PASS_RESPONSE_UP, X.SEND_ACK, T.D)),
        (S.CALLING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        (S.PROCEEDING, E.PROVISIONAL): Transition(S.PROCEEDING, (X.PASS_RESPONSE_UP,)),
        (S.PROCEEDING, E.FINAL_2XX): Transition(S.ACCEPTED, (X.PASS_RESPONSE_UP, T.M)),
        (S.PROCEEDING, E.FINAL_NON_2XX): Transition(S.COMPLETED, (X.PASS_RESPONSE_UP, X.SEND_ACK, T.D)),
        (S.PROCEEDING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        # 17.1.1.2: a retransmitted final response is answered with the same ACK, not passed up.
        (S.COMPLETED, E.FINAL_NON_2XX): Transition(S.COMPLETED, (X.SEND_ACK,)),
        (S.COMPLETED, T.D): Transition(S.TERMINATED),
        (S.COMPLETED, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        # RFC 6026 7.2: every 2xx (retransmissions, other forks) goes to the TU, which ACKs it.
        (S.ACCEPTED, E.FINAL_2XX): Transition(S.ACCEPTED, (X.PASS_RESPONSE_UP,)),
        (S.ACCEPTED, T.M): Transition(S.TERMINATED),
        (S.ACCEPTED, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
    },
)

# RFC 3261 17.1.2.2, figure 6.
NON_INVITE_CLIENT_MACHINE = Machine(
    kind=NON_INVITE_CLIENT,
    initial=S.TRYING,
    start=(T.F, T.E),
    # 17.1.2.2: E keeps running in Proceeding (at T2), F keeps running until a final response.
    runs={S.TRYING: frozenset({T.E, T.F}), S.PROCEEDING: frozenset({T.E, T.F}), S.COMPLETED: frozenset({T.K})},
    transitions={
        (S.TRYING, T.E): Transition(S.TRYING, (X.RETRANSMIT_REQUEST, T.E)),
        (S.TRYING, T.F): Transition(S.TERMINATED, (X.REPORT_TIMEOUT,)),
        (S.TRYING, E.PROVISIONAL): Transition(S.PROCEEDING, (X.PASS_RESPONSE_UP,)),
        (S.TRYING, E.FINAL_2XX): Transition(S.COMPLETED, (X.PASS_RESPONSE_UP, T.K)),
        (S.TRYING, E.FINAL_NON_2XX): Transition(S.COMPLETED, (X.PASS_RESPONSE_UP, T.K)),
        (S.TRYING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        (S.PROCEEDING, T.E): Transition(S.PROCEEDING, (X.RETRANSMIT_REQUEST, T.E)),
        (S.PROCEEDING, T.F): Transition(S.TERMINATED, (X.REPORT_TIMEOUT,)),
        (S.PROCEEDING, E.PROVISIONAL): Transition(S.PROCEEDING, (X.PASS_RESPONSE_UP,)),
        (S.PROCEEDING, E.FINAL_2XX): Transition(S.COMPLETED, (X.PASS_RESPONSE_UP, T.K)),
        (S.PROCEEDING, E.FINAL_NON_2XX): Transition(S.COMPLETED, (X.PASS_RESPONSE_UP, T.K)),
        (S.PROCEEDING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        # 17.1.2.2: Completed buffers response retransmissions.
        (S.COMPLETED, E.PROVISIONAL): Transition(S.COMPLETED),
        (S.COMPLETED, E.FINAL_2XX): Transition(S.COMPLETED),
        (S.COMPLETED, E.FINAL_NON_2XX): Transition(S.COMPLETED),
        (S.COMPLETED, T.K): Transition(S.TERMINATED),
    },
)

# RFC 3261 17.2.1, figure 7, as amended by RFC 6026 7.1 (figure 7 there).
INVITE_SERVER_MACHINE = Machine(
    kind=INVITE_SERVER,
    initial=S.PROCEEDING,
    start=(),
    runs={S.COMPLETED: frozenset({T.G, T.H}), S.CONFIRMED: frozenset({T.I}), S.ACCEPTED: frozenset({T.L})},
    transitions={
        (S.PROCEEDING, E.RETRANSMISSION): Transition(S.PROCEEDING, (X.RESEND_LAST_RESPONSE,)),
        (S.PROCEEDING, E.TU_PROVISIONAL): Transition(S.PROCEEDING, (X.SEND_RESPONSE,)),
        (S.PROCEEDING, E.TU_2XX): Transition(S.ACCEPTED, (X.SEND_RESPONSE, T.L)),
        (S.PROCEEDING, E.TU_NON_2XX): Transition(S.COMPLETED, (X.SEND_RESPONSE, T.H, T.G)),
        (S.PROCEEDING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        (S.COMPLETED, E.RETRANSMISSION): Transition(S.COMPLETED, (X.RESEND_LAST_RESPONSE,)),
        (S.COMPLETED, T.G): Transition(S.COMPLETED, (X.RESEND_LAST_RESPONSE, T.G)),
        (S.COMPLETED, T.H): Transition(S.TERMINATED, (X.REPORT_TIMEOUT,)),
        (S.COMPLETED, E.ACK): Transition(S.CONFIRMED, (T.I,)),
        (S.COMPLETED, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        # 17.2.1: Confirmed absorbs ACK (and INVITE) retransmissions until Timer I.
        (S.CONFIRMED, E.RETRANSMISSION): Transition(S.CONFIRMED),
        (S.CONFIRMED, E.ACK): Transition(S.CONFIRMED),
        (S.CONFIRMED, T.I): Transition(S.TERMINATED),
        # RFC 6026 7.1: INVITE retransmissions are not passed up; the TU's 2xx retransmissions
        # are sent; an ACK goes to the TU.
        (S.ACCEPTED, E.RETRANSMISSION): Transition(S.ACCEPTED),
        (S.ACCEPTED, E.TU_2XX): Transition(S.ACCEPTED, (X.SEND_RESPONSE,)),
        (S.ACCEPTED, E.ACK): Transition(S.ACCEPTED, (X.PASS_ACK_UP,)),
        (S.ACCEPTED, T.L): Transition(S.TERMINATED),
        (S.ACCEPTED, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
    },
)

# RFC 3261 17.2.2, figure 8.
NON_INVITE_SERVER_MACHINE = Machine(
    kind=NON_INVITE_SERVER,
    initial=S.TRYING,
    start=(),
    runs={S.COMPLETED: frozenset({T.J})},
    transitions={
        (S.TRYING, E.RETRANSMISSION): Transition(S.TRYING),  # 17.2.2: discarded
        (S.TRYING, E.TU_PROVISIONAL): Transition(S.PROCEEDING, (X.SEND_RESPONSE,)),
        (S.TRYING, E.TU_2XX): Transition(S.COMPLETED, (X.SEND_RESPONSE, T.J)),
        (S.TRYING, E.TU_NON_2XX): Transition(S.COMPLETED, (X.SEND_RESPONSE, T.J)),
        (S.TRYING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        (S.PROCEEDING, E.RETRANSMISSION): Transition(S.PROCEEDING, (X.RESEND_LAST_RESPONSE,)),
        (S.PROCEEDING, E.TU_PROVISIONAL): Transition(S.PROCEEDING, (X.SEND_RESPONSE,)),
        (S.PROCEEDING, E.TU_2XX): Transition(S.COMPLETED, (X.SEND_RESPONSE, T.J)),
        (S.PROCEEDING, E.TU_NON_2XX): Transition(S.COMPLETED, (X.SEND_RESPONSE, T.J)),
        (S.PROCEEDING, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
        (S.COMPLETED, E.RETRANSMISSION): Transition(S.COMPLETED, (X.RESEND_LAST_RESPONSE,)),
        (S.COMPLETED, T.J): Transition(S.TERMINATED),
        (S.COMPLETED, E.TRANSPORT_ERROR): Transition(S.TERMINATED, (X.REPORT_TRANSPORT_ERROR,)),
    },
)

MACHINES = {
    machine.kind: machine
    for machine in (INVITE_CLIENT_MACHINE, NON_INVITE_CLIENT_MACHINE, INVITE_SERVER_MACHINE, NON_INVITE_SERVER_MACHINE)
}

RETRANSMIT_TIMERS = frozenset({Timer.A, Timer.E, Timer.G})
NO_TIMERS: frozenset[Timer] = frozenset()
