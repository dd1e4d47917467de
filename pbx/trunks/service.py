"""The trunks at run time: registration clients on the endpoint's timer, provider INVITEs
recognised, outbound decisions (permission, route, free channel) and trunk targets.

`TrunkService` plugs into the SIP endpoint the composition root built: it claims the client
transactions of its REGISTERs (other responses go on to the call manager), runs its clients
from the endpoint's one timer (`next_deadline`/`fire`, like the call scheduler), and tells
the endpoint which INVITEs come from a trunk. The only I/O is `resolve()`, which looks the
trunks' host names up once at start; everything else takes `now` and returns actions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any

import msgspec

from pbx.calls.refuse import RefuseController
from pbx.sip.endpoint import SipEndpoint
from pbx.sip.fields import MAGIC_COOKIE
from pbx.sip.message import Request, Response
from pbx.sip.transaction import (
    Peer,
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
)

from .config import OutboundRouteConfig, TrunkConfig, host_port
from .digest_client import challenge_of, credentials
from .identify import TrunkIdentifier
from .outbound import Channels, OutboundRoutes, Placement
from .permissions import Permissions
from .registration import RegistrationClient, SendRegister

log = logging.getLogger("pbx.trunks")


class Refusal(msgspec.Struct, frozen=True):
    """Why a number may not go out: the SIP status the caller hears and the reason."""

    status: int
    reason: str


class TrunkTarget(msgspec.Struct, frozen=True):
    """Where a call to a trunk goes: the peer, the Request-URI, the provider's domain, and how
    to answer its challenges."""

    peer: Peer
    uri: str
    domain: str
    answer_challenge: Callable[[Response, Request], tuple[str, str] | None] | None


class TrunkService:
    def __init__(self, trunks: dict[str, TrunkConfig], routes: list[OutboundRouteConfig],
                 classes: dict[str, list[str]], allowed: dict[str, list[str]], *, endpoint: SipEndpoint,
                 new_id: Callable[[], str], route_inbound: Callable[[str, Any], Any], user_agent: str = "pbx") -> None:
        """`allowed`: extension -> its `outbound` list; `route_inbound(did, services)`: the
        controller an inbound route gives a DID, or None when no route takes it."""
        self.trunks = trunks
        self.outbound = OutboundRoutes(routes, trunks)
        self.permissions = Permissions(allowed, classes)
        self.channels = Channels({name: trunk.channels for name, trunk in trunks.items()})
        self.new_id = new_id
        self.route_inbound = route_inbound
        self.user_agent = user_agent
        self.endpoint = endpoint
        self.addresses: dict[str, str] = {}  # host name -> the address it resolved to
        self.identifier = self._identifier()
        self.clients: dict[str, RegistrationClient] = {}
        self._local_address: Callable[[str], tuple[str, int]] = lambda transport: ("127.0.0.1", 5060)
        self._transactions: dict[int, RegistrationClient] = {}
        self._next = endpoint.client_handler  # the call manager's
        endpoint.client_handler = self._on_client_event
        endpoint.timer_sources.append(self)
        endpoint.trusted_source = lambda request: self.trunk_of(request) is not None

    # Start and stop -----------------------------------------------------------------------------

    async def resolve(self) -> None:
        """Look up the host names of trunks and registrars (an address stays as written)."""
        loop = asyncio.get_running_loop()
        for name in self._host_names():
            try:
                infos = await loop.getaddrinfo(name, None, type=socket.SOCK_DGRAM)
            except OSError as error:
                log.error("event=trunk_host_unresolved host=%s error=%r", name, error)
                continue
            self.addresses[name] = infos[0][4][0]
        self.identifier = self._identifier()

    def start(self, now: float, local_address: Callable[[str], tuple[str, int]], register: bool = True) -> list[Any]:
        """Create the registration clients (our Contact needs the address we listen on) and send
        their first REGISTERs; without `register` (a worker other than the first, pbx/workers/)
        only calls out."""
        self._local_address = local_address
        actions: list[Any] = []
        for name, trunk in self.trunks.items():
            if trunk.register is None or not register:
                continue
            host, port = local_address(trunk.transport)
            user = trunk.register.contact_user or trunk.register.username
            transport = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
            client = RegistrationClient(name, trunk.register, contact=f"sip:{user}@{host}:{port}{transport}",
                                        new_id=self.new_id, user_agent=self.user_agent)
            self.clients[name] = client
            actions += self._run(client, client.start(now), now)
        return actions

    def stop(self, now: float) -> list[Any]:
        actions: list[Any] = []
        for client in self.clients.values():
            actions += self._run(client, client.stop(now), now)
        return actions

    # The endpoint's timer and client transactions --------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = [client.next_deadline() for client in self.clients.values()]
        return min((deadline for deadline in deadlines if deadline is not None), default=None)

    def fire(self, now: float) -> list[Any]:
        actions: list[Any] = []
        for client in self.clients.values():
            actions += self._run(client, client.handle_timer(now), now)
        return actions

    def _on_client_event(self, event: Any, now: float) -> list[Any]:
        client = self._transactions.get(id(event.transaction))
        if client is None:
            return self._next(event, now) if self._next is not None else []
        # Kept until TransactionTerminated, so nothing of ours reaches the call manager.
        if isinstance(event, ResponseReceived):
            return self._run(client, client.on_response(event.response, now), now)
        if isinstance(event, (TransactionTimedOut, TransportFailed)):
            reason = "no answer" if isinstance(event, TransactionTimedOut) else "transport failed"
            return self._run(client, client.on_failure(reason, now), now)
        if isinstance(event, TransactionTerminated):
            self._transactions.pop(id(event.transaction), None)
        return []

    def _run(self, client: RegistrationClient, actions: list[Any], now: float) -> list[Any]:
        """A client's SendRegister become client transactions; its events pass through."""
        out: list[Any] = []
        for action in actions:
            if not isinstance(action, SendRegister):
                out.append(action)
                continue
            trunk = self.trunks[client.trunk]
            peer = self._peer(action.server, trunk.transport)
            host, port = self._local_address(trunk.transport)
            branch = f"{MAGIC_COOKIE}{self.new_id()}"
            via = f"SIP/2.0/{trunk.transport.upper()} {host}:{port};branch={branch};rport"
            action.request.headers.prepend("Via", via)
            transaction, sent = self.endpoint.transactions.send_request(action.request, peer, now)
            self._transactions[id(transaction)] = client
            out += [item for item in sent if isinstance(item, Transmit)]
        return out

    # Inbound -------------------------------------------------------------------------------------

    def trunk_of(self, request: Request) -> str | None:
        return self.identifier.trunk_of(request)

    def called_number(self, request: Request) -> str:
        return self.identifier.called_number(request)

    def refuse_inbound(self, trunk: str, did: str) -> tuple[int, str] | None:
        if self.channels.is_full(trunk):
            log.warning("event=trunk_call_refused trunk=%s did=%s reason='no free channel'", trunk, did)
            return 503, f"trunk {trunk} has no free channel"
        return None

    def inbound_controller(self, trunk: str, did: str, services: Any) -> Any:
        """What the inbound routes make of a provider's call to `did`; 404 when none takes it."""
        controller = self.route_inbound(did, services)
        if controller is None:
            log.warning("event=trunk_call_refused trunk=%s did=%s reason='no inbound route'", trunk, did)
            return RefuseController(services, 404, f"no inbound route for {did}")
        return controller

    # Outbound ------------------------------------------------------------------------------------

    def decide(self, extension: str | None, number: str) -> Refusal | list[Placement]:
        """The trunks an extension's call to `number` may try, in order, or why it may not go out."""
        route = self.outbound.match(number)
        if route is None:
            return Refusal(404, f"no outbound route for {number}")
        verdict = self.permissions.check(extension, route.name)
        if not verdict.allowed:
            log.warning("event=outbound_refused extension=%s number=%s route=%s reason=%r", extension, number,
                        route.name, verdict.reason)
            return Refusal(403, verdict.reason)
        return self.outbound.placements(route, number)

    def placement_for(self, number: str) -> Placement | None:
        """A call the PBX places itself (callbacks, the APIs): the first trunk with a free channel."""
        route = self.outbound.match(number)
        if route is None:
            return None
        return self.channels.first_free(self.outbound.placements(route, number))

    def target_of(self, placement: Placement) -> TrunkTarget:
        trunk = self.trunks[placement.trunk]
        host, port = host_port(trunk.target)
        domain = trunk.register.domain if trunk.register is not None and trunk.register.domain else host
        transport = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
        uri = f"sip:{placement.number}@{host}:{port}{transport}"
        return TrunkTarget(self._peer(trunk.target, trunk.transport), uri, domain,
                           self._challenge_answerer(trunk) if trunk.credentials is not None else None)

    def _challenge_answerer(self, trunk: TrunkConfig) -> Callable[[Response, Request], tuple[str, str] | None]:
        """One leg's answers to the provider's 401/407 (RFC 3261 22.2, 22.3): each nonce once, and
        at most twice in all (a second challenge with a fresh nonce is a stale one)."""
        auth = trunk.credentials
        assert auth is not None
        answered: set[str] = set()

        def answer(response: Response, invite: Request) -> tuple[str, str] | None:
            challenge = challenge_of(response)
            if challenge is None or challenge.nonce in answered or len(answered) >= 2:
                return None
            answered.add(challenge.nonce)
            return credentials(challenge, method="INVITE", uri=str(invite.uri), username=auth.username,
                               password=auth.password, cnonce=self.new_id())

        return answer

    # Helpers -------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        usage = self.channels.usage()
        return {name: {"channels_in_use": usage.get(name, 0), "channels": trunk.channels,
                       "registration": self.clients[name].status() if name in self.clients else None}
                for name, trunk in self.trunks.items()}

    def _peer(self, hostport: str, transport: str) -> Peer:
        host, port = host_port(hostport)
        return Peer(transport, self.addresses.get(host, host), port)

    def _host_names(self) -> set[str]:
        names = set()
        for trunk in self.trunks.values():
            servers = [trunk.target, *(trunk.register.all_servers if trunk.register else [])]
            for server in servers:
                host, _ = host_port(server)
                if not _is_address(host):
                    names.add(host)
        return names

    def _identifier(self) -> TrunkIdentifier:
        """Each trunk's sources: its `identify` list, and its host and registrars by address and
        port (a phone on the provider's address but another port is still a phone)."""
        sources: dict[str, list[str]] = {}
        contact_users: dict[str, str] = {}
        for name, trunk in self.trunks.items():
            listed = list(trunk.identify)
            for server in {trunk.target, *(trunk.register.all_servers if trunk.register else [])}:
                host, port = host_port(server)
                address = self.addresses.get(host, host)
                if _is_address(address):
                    listed.append(f"[{address}]:{port}" if ":" in address else f"{address}:{port}")
            sources[name] = listed
            if trunk.register is not None:
                contact_users[trunk.register.contact_user or trunk.register.username] = name
        return TrunkIdentifier(sources, contact_users)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
