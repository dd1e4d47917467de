"""The typed config of trunks, outbound routes and outbound permission classes.

Decoded at the edge with the rest of the config (pbx/config.py): every trunk is a provider we
register to (`register:`), one we recognise by its source addresses (`identify:`), or both.
Cross-references (a route naming a trunk, an extension naming a route) are checked by
`reference_errors`, which answers key paths so the config can name the file line.

Only data and validation here: no sockets, no DNS (host names are resolved by the adapter).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from pbx.calls.inbound import compile_match
from pbx.sip.errors import RemoteProtocolError
from pbx.sip.uri import split_host_port

from .identify import parse_source


def host_port(text: str, default_port: int = 5060) -> tuple[str, int]:
    """`host[:port]` as (host, port); ValueError names what is wrong."""
    try:
        host, port = split_host_port(text.strip(), text)
    except RemoteProtocolError as error:
        raise ValueError(error.reason) from None
    return host.strip("[]"), port or default_port


class TrunkRegistration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """RFC 3261 10.2: we register `username` at the provider's registrar and keep it registered."""

    username: str
    password: str
    servers: list[str] = []  # host:port of the registrars, tried in order (failover)
    server: str | None = None  # a single registrar (same as servers: [server])
    expires: int = 3600  # what we ask for; the provider's 200 says what it grants
    contact_user: str | None = None  # the user part of our Contact (default: username)
    domain: str | None = None  # the registrar's domain for the Request-URI and To (default: the server host)
    retry_min: float = 2.0  # back-off after a failure: doubles from retry_min up to retry_max
    retry_max: float = 300.0

    def __post_init__(self) -> None:
        if not self.all_servers:
            raise ValueError("register needs `server` or `servers` (host:port of the provider's registrar)")
        for server in self.all_servers:
            host_port(server)
        if not 10 <= self.expires <= 86400:
            raise ValueError(f"expires {self.expires} must be between 10 and 86400 seconds")
        if not 0 < self.retry_min <= self.retry_max:
            raise ValueError("need 0 < retry_min <= retry_max")

    @property
    def all_servers(self) -> list[str]:
        return ([self.server] if self.server else []) + list(self.servers)


class TrunkAuth(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Credentials for the provider's challenges to our INVITEs (RFC 3261 22.2, 22.3)."""

    username: str
    password: str


class TrunkConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A SIP trunk: where calls go out (`host`), how the provider recognises us (`register`,
    `auth`) and how we recognise it (`identify`: addresses and CIDRs its INVITEs come from)."""

    host: str | None = None  # host:port for outbound INVITEs (default: the first registrar)
    register: TrunkRegistration | None = None
    auth: TrunkAuth | None = None  # default: the registration's credentials
    identify: list[str] = []  # addresses, CIDRs or address:port (the host and registrars: by address and port)
    channels: int | None = None  # simultaneous calls, both directions (None: no limit)
    caller_id: str | None = None  # the From user of calls out, unless the route names one
    transport: Literal["udp", "tcp"] = "udp"

    def __post_init__(self) -> None:
        if self.host is None and self.register is None:
            raise ValueError("a trunk needs `host` (where calls go) or `register` (a provider we register to)")
        if self.host is not None:
            host_port(self.host)
        for source in self.identify:
            try:
                parse_source(source)
            except ValueError:
                raise ValueError(f"identify: {source!r} is not an IP address, CIDR (like 192.0.2.0/24) "
                                 "or address:port") from None
        if self.channels is not None and self.channels < 1:
            raise ValueError(f"channels must be at least 1, got {self.channels}")

    @property
    def target(self) -> str:
        """host:port where calls to this trunk go."""
        if self.host is not None:
            return self.host
        assert self.register is not None
        return self.register.all_servers[0]

    @property
    def credentials(self) -> TrunkAuth | None:
        if self.auth is not None:
            return self.auth
        if self.register is not None:
            return TrunkAuth(self.register.username, self.register.password)
        return None


class OutboundRouteConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An outbound route: numbers matching `match` go out on `trunks`, in order (the next one
    when a trunk is full, answers 5xx or does not answer), rewritten: `strip` leading
    characters removed, then `prepend` put in front."""

    name: str
    match: str  # "_00X." like the inbound routes (X any digit, Z 1-9, N 2-9, . one or more, ! zero or more)
    trunks: list[str]
    strip: int = 0
    prepend: str = ""
    caller_id: str | None = None  # the From user of calls on this route (default: the trunk's)

    def __post_init__(self) -> None:
        compile_match(self.match)
        if not self.trunks:
            raise ValueError(f"outbound route {self.name!r} names no trunk")
        if self.strip < 0:
            raise ValueError(f"outbound route {self.name!r}: strip must not be negative")


def reference_errors(trunks: dict[str, TrunkConfig], routes: list[OutboundRouteConfig],
                     classes: dict[str, list[str]],
                     permissions: dict[str, list[str]]) -> list[tuple[list[str | int], str]]:
    """Names that point nowhere, each with the key path it was written at."""
    errors: list[tuple[list[str | int], str]] = []
    seen: set[str] = set()
    for index, route in enumerate(routes):
        if route.name in seen:
            errors.append((["outbound_routes", index, "name"], f"outbound route {route.name!r} is defined twice"))
        seen.add(route.name)
        for position, trunk in enumerate(route.trunks):
            if trunk not in trunks:
                errors.append((["outbound_routes", index, "trunks", position],
                               f"outbound route {route.name!r}: no trunk {trunk!r} in trunks"))
    for name, members in classes.items():
        if name in seen:
            errors.append((["outbound_classes", name], f"outbound class {name!r} has the name of a route"))
        for position, member in enumerate(members):
            if member not in seen:
                errors.append((["outbound_classes", name, position],
                               f"outbound class {name!r}: no outbound route {member!r}"))
    for extension, allowed in permissions.items():
        for position, entry in enumerate(allowed):
            if entry not in seen and entry not in classes:
                errors.append((["extensions", extension, "outbound", position],
                               f"extension {extension}: {entry!r} is neither an outbound route nor an outbound class"))
    return errors
