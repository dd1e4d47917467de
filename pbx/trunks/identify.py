"""Which trunk an incoming request comes from, and which number (DID) it calls.

A trunk is recognised by the source address of the request (its `identify` addresses and
CIDRs, and the addresses of its host and registrars), or - for a provider we register to - by
arriving at the Contact we registered (the Request-URI user is our contact user). Requests so
recognised are not challenged: a provider does not authenticate to its customer. They may
only reach the inbound routes (pbx/app.py), never a trunk again.

The called number is the Request-URI user (the DID), or the To user when the Request-URI is
our registered contact; visual separators (RFC 3966 5.1.1) are dropped, and the number is
offered with and without a leading "+" so E.164 DIDs match routes written either way.
Pure: addresses are resolved by the adapter before they get here.
"""

from __future__ import annotations

import ipaddress
import re

from pbx.sip.message import Request

_SEPARATORS = re.compile(r"[-.()\s]")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_source(text: str) -> tuple[Network, int | None]:
    """An `identify` entry: an address, a CIDR, or address:port ([v6]:port); ValueError if none."""
    text = text.strip()
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
        text = host
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"bad port in {text!r}")
        port = int(port_text)
    return ipaddress.ip_network(text, strict=False), port


class TrunkIdentifier:
    def __init__(self, sources: dict[str, list[str]], contact_users: dict[str, str]) -> None:
        """`sources`: trunk -> addresses, CIDRs or address:port (a provider and our phones may
        share an address: then the port tells them apart); `contact_users`: our contact user -> trunk."""
        self._networks: list[tuple[Network, int | None, str]] = []
        for trunk, addresses in sources.items():
            for address in addresses:
                self._networks.append((*parse_source(address), trunk))
        self.contact_users = contact_users

    def by_address(self, host: str, port: int | None = None) -> str | None:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return None
        for network, wanted_port, trunk in self._networks:
            if address.version == network.version and address in network and wanted_port in (None, port):
                return trunk
        return None

    def trunk_of(self, request: Request) -> str | None:
        """The trunk `request` came from, or None for anyone else (phones, strangers)."""
        if request.source is not None:
            trunk = self.by_address(request.source.host, request.source.port)
            if trunk is not None:
                return trunk
        return self.contact_users.get(request.uri.user or "")

    def called_number(self, request: Request) -> str:
        """The DID: the Request-URI user, or To's when the Request-URI is our registered contact."""
        user = request.uri.user or ""
        if not user or user in self.contact_users:
            user = request.to.uri.user or user
        return _SEPARATORS.sub("", user.split(";")[0])


def number_forms(number: str) -> list[str]:
    """The number as given, then with or without a leading "+" (E.164 either way)."""
    if number.startswith("+"):
        return [number, number[1:]]
    return [number, "+" + number] if number.isdigit() else [number]
