"""A trunk's registration at its provider: the UAC side of RFC 3261 10.2, sans-IO.

`start(now)` sends the first REGISTER; responses and transaction failures come back through
`on_response` and `on_failure`; `handle_timer(now)` refreshes and retries when
`next_deadline()` says. Each entry point returns actions: `SendRegister` (a REGISTER for one
of the registrars, without Via: the adapter adds it and runs the transaction) and `Publish`
(TrunkRegistered, TrunkRegistrationFailed).

- 401/407: answered once per nonce with the trunk's credentials (RFC 3261 22.2, 22.4); a
  second challenge for the same nonce (not stale) means the password is wrong.
- 200: the granted expiry is our Contact's `expires` or the Expires header (10.2.4); we refresh
  at half of it, reusing Call-ID and increasing CSeq (10.2.4), and the last nonce (RFC 7616 3.4).
- 423: ask again with the Min-Expires the registrar named (10.2.8).
- A timeout, a 5xx, a 403 or rejected credentials: the next registrar at once (failover); when
  every registrar failed, all again after a back-off doubling from retry_min to retry_max.

Deliberately absent: Outbound (RFC 5626) flows and keep-alives, GRUU, DNS SRV (the adapter
resolves plain host names).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import msgspec

from pbx.sip.endpoint import Publish
from pbx.sip.errors import RemoteProtocolError
from pbx.sip.message import Headers, Request, Response
from pbx.sip.uri import NameAddress, Uri
from sdk.events import TrunkRegistered, TrunkRegistrationFailed

from .config import TrunkRegistration, host_port
from .digest_client import Challenge, challenge_of, credentials


class SendRegister(msgspec.Struct, frozen=True):
    """Send `request` to registrar `server` (host:port) in a new client transaction."""

    request: Request
    server: str


class State(enum.Enum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    WAITING = "waiting"  # every registrar failed: retrying after a back-off
    STOPPED = "stopped"


class RegistrationClient:
    def __init__(self, trunk: str, settings: TrunkRegistration, *, contact: str, new_id: Callable[[], str],
                 user_agent: str = "pbx") -> None:
        """`contact`: our Contact URI (sip:user@host:port); `new_id`: random tokens (tags, cnonces)."""
        self.trunk = trunk
        self.settings = settings
        self.servers = settings.all_servers
        self.contact = contact
        self.new_id = new_id
        self.user_agent = user_agent
        self.state = State.IDLE
        self.server_index = 0
        self.failed_in_round = 0
        self.expires_wanted = settings.expires
        self.granted: int | None = None
        self.registered_at: float | None = None
        self.last_error = ""
        self.backoff = settings.retry_min
        self.deadline: float | None = None
        self._call_id = f"{new_id()}@{trunk}"
        self._from_tag = new_id()
        self._cseq = 0
        self._challenge: Challenge | None = None
        self._nonce_count = 0
        self._answered_nonce: str | None = None  # the nonce our last request answered
        self._pending: Request | None = None

    @property
    def server(self) -> str:
        return self.servers[self.server_index]

    def status(self) -> dict[str, Any]:
        return {"state": self.state.value, "server": self.server, "expires": self.granted,
                "registered_at": self.registered_at, "last_error": self.last_error or None}

    # Entry points ---------------------------------------------------------------------------

    def start(self, now: float) -> list[Any]:
        return self._register(now)

    def stop(self, now: float) -> list[Any]:
        """Remove our binding (Expires: 0, RFC 3261 10.2.2) if we hold one; no more timers."""
        registered = self.state is State.REGISTERED
        self.state = State.STOPPED
        self.deadline = None
        return [SendRegister(self._request(0), self.server)] if registered else []

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> list[Any]:
        if self.deadline is None or now < self.deadline or self.state is State.STOPPED:
            return []
        self.deadline = None
        if self.state is State.WAITING:
            self.server_index = 0
            self.failed_in_round = 0
        return self._register(now)

    def fire(self, now: float) -> list[Any]:
        """Scheduler-style alias, so the endpoint's timer sources can run the client."""
        return self.handle_timer(now)

    def on_response(self, response: Response, now: float) -> list[Any]:
        if self.state is not State.REGISTERING or response.status < 200:
            return []
        if self._pending is not None and response.cseq.number != self._pending.cseq.number:
            return []  # a late answer to a REGISTER we have given up on (a failover moved on)
        status = response.status
        if status in (401, 407):
            return self._challenged(response, now)
        if 200 <= status < 300:
            return self._registered(response, now)
        if status == 423:
            # RFC 3261 10.2.8: Interval Too Brief names the shortest expiry the registrar takes.
            minimum = response.int_header("Min-Expires")
            if minimum is not None and minimum > self.expires_wanted:
                self.expires_wanted = minimum
                return self._register(now)
        return self._failed(status, response.reason, now)

    def on_failure(self, reason: str, now: float) -> list[Any]:
        """The REGISTER transaction timed out (Timer F) or the transport failed."""
        if self.state is not State.REGISTERING:
            return []
        return self._failed(0, reason, now)

    # Outcomes ---------------------------------------------------------------------------------

    def _challenged(self, response: Response, now: float) -> list[Any]:
        challenge = challenge_of(response)
        if challenge is None:
            return self._failed(response.status, "challenge we cannot answer", now)
        if challenge.nonce == self._answered_nonce and not challenge.stale:
            return self._failed(response.status, "credentials rejected", now)
        self._challenge = challenge
        self._nonce_count = 0
        return self._register(now)

    def _registered(self, response: Response, now: float) -> list[Any]:
        granted = self._granted_expiry(response)
        if granted <= 0:
            return self._failed(response.status, "registrar kept no binding for our contact", now)
        refresh = self.state is State.REGISTERING and self.registered_at is not None and self.granted is not None
        self.state = State.REGISTERED
        self.granted = granted
        self.registered_at = now
        self.failed_in_round = 0
        self.backoff = self.settings.retry_min
        self.last_error = ""
        # RFC 3261 10.2.4: refresh before the binding expires; half the interval leaves room for
        # a retransmitted REGISTER and a failover to the next registrar.
        self.deadline = now + granted / 2
        event = TrunkRegistered(at=now, trunk=self.trunk, server=self.server, expires=granted, refresh=refresh)
        return [Publish(event)]

    def _failed(self, status: int, reason: str, now: float) -> list[Any]:
        self.last_error = f"{status} {reason}" if status else reason
        failed_server = self.server
        self.failed_in_round += 1
        self._challenge = None
        self._answered_nonce = None
        if self.failed_in_round < len(self.servers):
            self.server_index = (self.server_index + 1) % len(self.servers)
            event = TrunkRegistrationFailed(at=now, trunk=self.trunk, server=failed_server, status=status,
                                            reason=reason, next_server=self.server, retry_in=None)
            return [Publish(event), *self._register(now)]
        retry_in = self.backoff
        self.backoff = min(self.backoff * 2, self.settings.retry_max)
        self.state = State.WAITING
        self.granted = None
        self.deadline = now + retry_in
        event = TrunkRegistrationFailed(at=now, trunk=self.trunk, server=failed_server, status=status, reason=reason,
                                        next_server=None, retry_in=retry_in)
        return [Publish(event)]

    def _granted_expiry(self, response: Response) -> int:
        """RFC 3261 10.2.4: our Contact's expires parameter, else the Expires header."""
        ours = Uri.parse(self.contact)
        for value in response.headers.get_all("Contact"):
            try:
                contact = NameAddress.parse(value)
            except RemoteProtocolError:  # a malformed binding of someone else's is not ours to judge
                continue
            if contact.uri.user == ours.user and contact.uri.host_port() == ours.host_port():
                expires = contact.params.get("expires")
                if expires is not None and expires.isdigit():
                    return int(expires)
        header = response.int_header("Expires")
        return header if header is not None else self.expires_wanted

    # Requests ---------------------------------------------------------------------------------

    def _register(self, now: float) -> list[Any]:
        self.state = State.REGISTERING
        self.deadline = None
        request = self._request(self.expires_wanted)
        self._pending = request
        return [SendRegister(request, self.server)]

    def _request(self, expires: int) -> Request:
        host, port = host_port(self.server)
        domain = self.settings.domain or host
        request_uri = f"sip:{domain}" if self.settings.domain else f"sip:{host}:{port}"
        aor = f"sip:{self.settings.username}@{domain}"
        self._cseq += 1
        headers = Headers()
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<{aor}>;tag={self._from_tag}")
        headers.add("To", f"<{aor}>")
        headers.add("Call-ID", self._call_id)
        headers.add("CSeq", f"{self._cseq} REGISTER")
        headers.add("Contact", f"<{self.contact}>")
        headers.add("Expires", str(expires))
        headers.add("User-Agent", self.user_agent)
        if self._challenge is not None:
            self._nonce_count += 1
            name, value = credentials(self._challenge, method="REGISTER", uri=request_uri,
                                      username=self.settings.username, password=self.settings.password,
                                      cnonce=self.new_id(), nonce_count=self._nonce_count)
            headers.add(name, value)
            self._answered_nonce = self._challenge.nonce
        else:
            self._answered_nonce = None
        return Request("REGISTER", Uri.parse(request_uri), headers)
