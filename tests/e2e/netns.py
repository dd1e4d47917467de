"""A network namespace joined to ours by a link we can spoil with netem: loss, jitter, reordering.

`PhoneNetwork` puts a phone behind that link: the namespace (one per test process,
``pbxnetem-<pid>``) holds the phone's end, the root namespace keeps the other end for the PBX,
and the two ends share a private /30 taken from 10.231.0.0/16 by process id, so parallel runs
(xdist workers, two checkouts) share neither a name nor an address.

The link is a veth pair with ``tc qdisc ... netem`` on both ends when the kernel has netem.
A kernel built without it (CONFIG_NET_SCH_NETEM unset, as on some CI microVMs) gets two TUN
devices instead, joined by userspace_netem.py's wire that applies the same parameters; `method`
says which one is in use. Either way `impair(Impairment(...))` spoils both directions
independently, `clear()` takes it off, and `counters()` gives the phone-to-PBX direction's
sent and dropped packets, the truth the PBX's loss figures are checked against.

It shells out to iproute2 (``ip``, ``tc``) and needs CAP_NET_ADMIN: `PhoneNetwork.create`
skips the test with the reason when the kernel or the user says no. `close()` removes the
namespace and both interfaces whatever state they are in. It knows nothing of SIP; the test
runs its peer with `exec_command`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Self

import pytest

from .userspace_netem import Impairment, TunWire, open_tun

__all__ = ["Impairment", "PhoneNetwork"]

POOL = ipaddress.IPv4Network("10.231.0.0/16")
BLOCKS = POOL.num_addresses // 4  # /30 links in the pool


class NetworkUnavailable(Exception):
    """iproute2 refused: no privilege, no netem in the kernel, no ``ip`` at all."""


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise NetworkUnavailable(f"{' '.join(command)}: rc={result.returncode} {result.stderr.strip()}")


def _link_for(pid: int) -> ipaddress.IPv4Network:
    """The pid's /30, skipping any block an interface on this host already uses."""
    taken = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, timeout=10).stdout
    for step in range(BLOCKS):
        block = (pid + step) % BLOCKS
        link = ipaddress.IPv4Network((int(POOL.network_address) + 4 * block, 30))
        if not any(f" {host}/" in taken for host in link.hosts()):
            return link
    raise NetworkUnavailable(f"every /30 of {POOL} is in use")


_NETEM_COUNTERS = re.compile(r"Sent \d+ bytes (\d+) pkt \(dropped (\d+)")


@dataclass
class PhoneNetwork:
    """The namespace and the link; ``host_address`` is ours, ``phone_address`` the phone's."""

    namespace: str
    host_interface: str
    phone_interface: str
    host_address: str
    phone_address: str
    method: str = "tc netem"  # or "userspace netem"
    wire: TunWire | None = None
    impaired: bool = False

    @classmethod
    def create(cls, tag: str = "pbxnetem") -> Self:
        """Build it, or skip the test saying why it cannot be built here."""
        if shutil.which("ip") is None or shutil.which("tc") is None:
            pytest.skip("iproute2 (ip, tc) is not installed; apt-get install iproute2")
        pid = os.getpid()
        short = f"{pid % 10_000_000}"  # interface names are at most 15 bytes (IFNAMSIZ - 1)
        try:
            link = _link_for(pid)
        except NetworkUnavailable as error:
            pytest.skip(str(error))
        host, phone = (str(address) for address in link.hosts())
        network = cls(f"{tag}-{pid}", f"ntm{short}h", f"ntm{short}p", host, phone)
        network.close()  # what a killed earlier run with this pid may have left
        try:
            _run(["ip", "netns", "add", network.namespace])
        except NetworkUnavailable as error:
            pytest.skip(f"cannot create a network namespace here ({error}); needs root or CAP_NET_ADMIN")
        try:
            if network._has_netem():
                network._build_veth(link.prefixlen)
            else:
                network._build_tun(link.prefixlen, seed=pid)
        except (NetworkUnavailable, OSError) as error:
            network.close()
            pytest.skip(f"cannot build the phone's link here ({error}); needs root or CAP_NET_ADMIN")
        return network

    def _has_netem(self) -> bool:
        # A throwaway qdisc on the namespace's own loopback: "Specified qdisc kind is unknown"
        # when the kernel has no sch_netem.
        try:
            _run(self.exec_command(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]))
        except NetworkUnavailable:
            return False
        _run(self.exec_command(["tc", "qdisc", "del", "dev", "lo", "root"]))
        return True

    def _build_veth(self, prefix: int) -> None:
        _run(["ip", "link", "add", self.host_interface, "type", "veth", "peer", "name", self.phone_interface])
        self._address_both(prefix)

    def _build_tun(self, prefix: int, seed: int) -> None:
        self.method = "userspace netem"
        host_fd = open_tun(self.host_interface)
        try:
            phone_fd = open_tun(self.phone_interface)
        except OSError:
            os.close(host_fd)
            raise
        # The fds stay attached when the device moves to the namespace.
        self.wire = TunWire(host_fd, phone_fd, seed)
        self._address_both(prefix)

    def _address_both(self, prefix: int) -> None:
        _run(["ip", "link", "set", self.phone_interface, "netns", self.namespace])
        _run(["ip", "addr", "add", f"{self.host_address}/{prefix}", "dev", self.host_interface])
        _run(["ip", "link", "set", self.host_interface, "up"])
        _run(["ip", "-n", self.namespace, "addr", "add", f"{self.phone_address}/{prefix}", "dev", self.phone_interface])
        _run(["ip", "-n", self.namespace, "link", "set", self.phone_interface, "up"])
        _run(["ip", "-n", self.namespace, "link", "set", "lo", "up"])

    def exec_command(self, command: list[str]) -> list[str]:
        """``command`` run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *command]

    def impair(self, impairment: Impairment) -> None:
        """The same netem parameters on both ends: each direction is spoiled on its own."""
        self.impaired = True
        if self.wire is not None:
            self.wire.impair(impairment)
            return
        arguments = impairment.netem_arguments()
        _run(["tc", "qdisc", "replace", "dev", self.host_interface, "root", "netem", *arguments])
        _run(self.exec_command(["tc", "qdisc", "replace", "dev", self.phone_interface, "root", "netem", *arguments]))

    def clear(self) -> None:
        """Back to a clean link."""
        if not self.impaired:
            return
        self.impaired = False
        if self.wire is not None:
            self.wire.impair(Impairment())
            return
        _run(["tc", "qdisc", "del", "dev", self.host_interface, "root"])
        _run(self.exec_command(["tc", "qdisc", "del", "dev", self.phone_interface, "root"]))

    def counters(self) -> tuple[int, int]:
        """(sent, dropped) on the phone-to-PBX direction since the last `impair`."""
        if self.wire is not None:
            return self.wire.counters()
        shown = subprocess.run(self.exec_command(["tc", "-s", "qdisc", "show", "dev", self.phone_interface]),
                               capture_output=True, text=True, timeout=10).stdout
        found = _NETEM_COUNTERS.search(shown)
        if found is None:
            raise AssertionError(f"no netem counters on {self.phone_interface}:\n{shown}")
        return int(found[1]), int(found[2])

    def close(self) -> None:
        """Remove everything, whatever exists: the namespace (with the phone's end and its qdisc)
        and the host's end (a veth end goes with its peer; a TUN device when its fd closes)."""
        if self.wire is not None:
            self.wire.stop()
            self.wire = None
        for command in (["ip", "netns", "del", self.namespace], ["ip", "link", "del", self.host_interface]):
            subprocess.run(command, capture_output=True, timeout=10)
        self.impaired = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
