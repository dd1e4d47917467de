"""baresip 1.0.0 (Debian 12 ``baresip-core``) as a headless SIP phone for the end-to-end tests.

Writes a config directory (no sound card: audio goes through ``aubridge``), starts baresip in
the foreground under a lifetime bound (``-t``), and drives it through its ``ctrl_tcp`` module
(netstring-framed JSON commands, responses and events).  It registers (the registrar tests)
over UDP, TCP or TLS; calls with recordings are tests/e2e/calls/phone.py's.

TLS in 1.0.0: ``sip_cafile`` names the authorities it trusts, ``;transport=tls`` in the account
makes it register over TLS.  1.0.0 has no ``sip_verify_server``: see tests/e2e/test_tls.py for
what it does with a certificate it cannot verify.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import LOOPBACK, BackgroundPeer, PortPicker, require_binary

MODULE_PATH = "/usr/lib/baresip/modules"


@dataclass(frozen=True)
class Account:
    """One baresip account line: ``<sip:USER@HOST:PORT[;transport=tcp|tls]>;auth_pass=...``."""

    user: str
    password: str
    registrar: tuple[str, int]
    transport: str = "udp"
    register_interval: int = 600
    answermode: str | None = None  # "auto" answers incoming calls by itself
    mediaenc: str | None = None  # srtp.so (RFC 4568 SDES): "srtp-mand" requires SRTP, "srtp" tries it

    @property
    def aor(self) -> str:
        host, port = self.registrar
        suffix = f";transport={self.transport}" if self.transport != "udp" else ""
        return f"sip:{self.user}@{host}:{port}{suffix}"

    def line(self) -> str:
        answer = f";answermode={self.answermode}" if self.answermode else ""
        encryption = f";mediaenc={self.mediaenc}" if self.mediaenc else ""
        return f"<{self.aor}>;auth_pass={self.password};regint={self.register_interval}{answer}{encryption}"


def write_config(
    directory: Path,
    *,
    sip_port: int,
    rtp_ports: tuple[int, int],
    ctrl_port: int,
    accounts: list[Account],
    audio_source: str = "aubridge,echo",
    ca: Path | None = None,
) -> Path:
    """A baresip config dir (``config``, ``accounts``, ``contacts``), like PEERS.md's mkcfg.sh.

    ``net_interface 127.0.0.1`` keeps eth0's address out of Contact and SDP (``lo`` does not
    work in 1.0.0).  ``audio_source`` is ``aubridge,echo`` (the far end hears itself) or
    ``aufile,/abs/8k_mono_pcm16.wav`` (baresip hangs up at end of file).  ``ca`` is the PEM
    file of the authorities it trusts for TLS (``sip_cafile``).
    """
    player = audio_source if audio_source.startswith("aubridge,") else "aubridge,nil"
    settings = [
        ("poll_method", "epoll"),
        ("net_interface", LOOPBACK),
        ("sip_listen", f"{LOOPBACK}:{sip_port}"),
        ("call_local_timeout", "120"),
        ("call_max_calls", "4"),
        ("audio_path", "/usr/share/baresip"),
        ("audio_player", player),
        ("audio_source", audio_source),
        ("audio_alert", "aubridge,nil"),
        ("ausrc_srate", "8000"),
        ("auplay_srate", "8000"),
        ("ausrc_channels", "1"),
        ("auplay_channels", "1"),
        ("audio_level", "no"),
        ("rtp_ports", f"{rtp_ports[0]}-{rtp_ports[1]}"),
        ("rtp_timeout", "0"),
        ("rtcp_mux", "no"),
        ("jitter_buffer_delay", "5-10"),
        ("module_path", MODULE_PATH),
        ("module", "g711.so"),
        ("module", "aufile.so"),
        ("module", "aubridge.so"),
        # uuid.so writes DIR/uuid and makes baresip send +sip.instance in its Contact
        ("module_tmp", "uuid.so"),
        ("module_tmp", "account.so"),
        ("module_app", "contact.so"),
        ("module_app", "menu.so"),
        ("module_app", "ctrl_tcp.so"),
        ("ctrl_tcp_listen", f"{LOOPBACK}:{ctrl_port}"),
    ]
    if ca is not None:
        settings.append(("sip_cafile", str(ca)))
    if any(account.mediaenc for account in accounts):
        settings.append(("module", "srtp.so"))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config").write_text("".join(f"{key}\t\t{value}\n" for key, value in settings))
    (directory / "accounts").write_text("".join(account.line() + "\n" for account in accounts))
    (directory / "contacts").write_text("")
    return directory


# --------------------------------------------------------------------------------------------
# ctrl_tcp


def netstring(message: dict[str, Any]) -> bytes:
    payload = json.dumps(message).encode()
    return str(len(payload)).encode() + b":" + payload + b","


class CtrlClient:
    """A ctrl_tcp connection.  It only sees events that happen after it connects."""

    def __init__(self, port: int, connect_timeout: float = 10.0) -> None:
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.create_connection((LOOPBACK, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        self._buffer = b""
        self._token = 0
        self.events: list[dict[str, Any]] = []
        self.responses: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.sock.close()

    def send(self, command: str, params: str = "") -> str:
        self._token += 1
        token = str(self._token)
        self.sock.sendall(netstring({"command": command, "params": params, "token": token}))
        return token

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Send a command and return its response (``{"response": true, "ok": ..., "data": ...}``)."""
        token = self.send(command, params)
        deadline = time.monotonic() + timeout
        while token not in self.responses:
            if not self.poll(deadline - time.monotonic()):
                raise TimeoutError(f"no ctrl_tcp response to {command!r} within {timeout}s")
        return self.responses.pop(token)

    def wait_event(self, predicate, timeout: float) -> dict[str, Any] | None:
        """The first event (already seen or new) matching ``predicate``, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.poll(remaining)

    def poll(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False when nothing came (or the socket closed)."""
        if timeout <= 0:
            return False
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return False
        if not chunk:
            time.sleep(min(timeout, 0.1))
            return False
        self._buffer += chunk
        while b":" in self._buffer:
            length_text, rest = self._buffer.split(b":", 1)
            length = int(length_text)
            if len(rest) < length + 1:
                break
            message = json.loads(rest[:length])
            self._buffer = rest[length + 1 :]
            if message.get("event"):
                message["received_at"] = time.time()  # wall clock, comparable with the PBX's event times
                self.events.append(message)
            elif message.get("response"):
                self.responses[str(message.get("token"))] = message
        return True


# --------------------------------------------------------------------------------------------
# the process


@dataclass
class Baresip:
    """A baresip process with its config dir and ctrl_tcp port."""

    directory: Path
    ctrl_port: int
    sip_port: int
    lifetime: float
    peer: BackgroundPeer | None = None
    ctrl: CtrlClient | None = None
    accounts: list[Account] = field(default_factory=list)

    @classmethod
    def start(
        cls, workdir: Path, ports: PortPicker, accounts: list[Account], lifetime: float = 60.0, name: str = "baresip",
        ca: Path | None = None, audio_source: str = "aubridge,echo",
    ) -> Baresip:
        binary = require_binary("baresip", "baresip-core")
        rtp_first = ports.block(20)
        phone = cls(
            directory=workdir / name,
            ctrl_port=ports.port(),
            # baresip also listens for SIP/TLS on sip_port + 1 and fails to start if that is taken
            sip_port=ports.block(2),
            lifetime=lifetime,
            accounts=accounts,
        )
        write_config(
            phone.directory, sip_port=phone.sip_port, rtp_ports=(rtp_first, rtp_first + 19),
            ctrl_port=phone.ctrl_port, accounts=accounts, ca=ca, audio_source=audio_source,
        )  # fmt: skip
        # -s: SIP trace to stdout (the log to read when a test fails); -t: baresip quits by itself
        command = [binary, "-f", str(phone.directory), "-s", "-t", str(int(lifetime))]
        phone.peer = BackgroundPeer(command, workdir=workdir, name=name, lifetime=lifetime + 5)
        phone.ctrl = CtrlClient(phone.ctrl_port)
        return phone

    @property
    def instance_uuid(self) -> str | None:
        """The UUID uuid.so stored (and sends as ``+sip.instance="<urn:uuid:...>"``)."""
        path = self.directory / "uuid"
        return path.read_text().strip() if path.exists() else None

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """One ctrl_tcp command (as calls.phone.Phone has, so calls.fixtures.media_counters reads both)."""
        return self.ctrl.command(command, params, timeout)

    def registration_states(self) -> str:
        """``reginfo`` output: one line per account, ``OK`` once registered, ``zzz`` before."""
        return str(self.ctrl.command("reginfo").get("data", ""))

    def wait_registered(self, count: int, timeout: float = 15.0) -> str:
        """Poll ``reginfo`` until ``count`` accounts show OK; returns the last output."""
        deadline = time.monotonic() + timeout
        info = ""
        while time.monotonic() < deadline:
            info = self.registration_states()
            if registered_count(info) >= count:
                return info
            if "ERR" in _ANSI_ESCAPE.sub("", info).split():
                break  # baresip gave up on an account (it shows ERR); waiting will not help
            self.ctrl.poll(0.3)
        raise AssertionError(f"baresip did not register {count} account(s):\n{info}\n{self.describe()}")

    def quit(self) -> int:
        """ctrl_tcp ``quit`` (baresip de-registers), then SIGTERM twice, then SIGKILL."""
        code = quit_baresip(self.peer, self.ctrl)
        self.ctrl = None
        return code

    def describe(self) -> str:
        return self.peer.describe(80) if self.peer else "baresip not started"


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def quit_baresip(peer, ctrl: CtrlClient | None) -> int:
    """Stop one baresip: ctrl_tcp ``quit``, then SIGTERM twice, then SIGKILL; returns its exit code."""
    if peer is None:
        return 0
    if peer.is_alive() and ctrl is not None:
        try:
            ctrl.send("quit")
        except OSError:
            pass
        deadline = time.monotonic() + 3.0
        while peer.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    if ctrl is not None:
        ctrl.close()
    if peer.is_alive():
        # the first SIGTERM makes baresip de-register and wait; the second one ends it
        peer.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
    return peer.stop(grace=2.0)


def registered_count(reginfo: str) -> int:
    """Accounts shown as registered by ``reginfo`` (``> sip:1001@host  OK  Expires 600s``)."""
    return sum(1 for line in _ANSI_ESCAPE.sub("", reginfo).splitlines() if "OK" in line.split())
