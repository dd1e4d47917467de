"""baresip 1.0.0 as a headless phone that places and takes calls, plays a WAV and records what it hears.

Builds on ``tests/e2e/baresip.py`` (its ctrl_tcp client and account model) and adds what calls
need: the ``sndfile`` module (``snd_path``: ``dump-<time>-enc.wav`` is what the phone sent,
``dump-<time>-dec.wav`` what it heard), ``answermode`` per account, a WAV as the microphone
(``aufile``), and the call commands of the 1.0.0 menu module over ctrl_tcp: ``dial``, ``accept``,
``hangup``, ``hold``, ``resume``, ``transfer`` (blind REFER), ``listcalls``.

Quirks of this build that the tests rely on:

- ``aufile`` hangs the call up at the end of the WAV, so sources are longer than any call.
- The menu module adds ``hold``/``resume``/``transfer`` to ``help`` only while a call is up, but
  they are always accepted over ctrl_tcp; there is no attended-transfer command.
- ``hangup`` on a ringing incoming call rejects it (baresip answers 486 Busy Here).
- Recordings are named by the second the call started, so one process per phone; the WAV
  header is only complete once the call has ended.
- A ctrl_tcp connection only sees events that happen after it connects, so the client connects
  right after start-up, before registering or dialing.
"""

from __future__ import annotations

import re
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..baresip import MODULE_PATH, CtrlClient, quit_baresip, registered_count
from ..harness import LOOPBACK, BackgroundPeer, PortPicker, require_binary
from .audio import read_wav


@dataclass(frozen=True)
class PhoneAccount:
    """One account line.  ``registrar=None`` makes a direct-IP account (no REGISTER)."""

    user: str
    password: str | None = None
    registrar: tuple[str, int] | None = None
    answermode: str = "auto"  # or "manual": answer with accept()
    register_interval: int = 600
    # baresip's srtp.so (SDES, RFC 4568): "srtp-mand" offers RTP/SAVP and requires it, "srtp"
    # offers a=crypto on RTP/AVP (best effort); None is plain RTP.
    mediaenc: str | None = None

    def line(self, sip_port: int) -> str:
        encryption = f";mediaenc={self.mediaenc}" if self.mediaenc else ""
        if self.registrar is None:
            return f"<sip:{self.user}@{LOOPBACK}:{sip_port}>;regint=0;answermode={self.answermode}{encryption}"
        host, port = self.registrar
        return (
            f"<sip:{self.user}@{host}:{port}>;auth_pass={self.password};"
            f"answermode={self.answermode};regint={self.register_interval}{encryption}"
        )


def write_phone_config(
    directory: Path,
    *,
    sip_port: int,
    rtp_ports: tuple[int, int],
    ctrl_port: int,
    account: PhoneAccount,
    source: Path | None,
    record_dir: Path,
) -> Path:
    """config/accounts/contacts for one phone; ``source=None`` plays nothing (aubridge,nil)."""
    audio_source = f"aufile,{source}" if source is not None else "aubridge,nil"
    settings = [
        ("poll_method", "epoll"),
        ("net_interface", LOOPBACK),  # "lo" does not work in 1.0.0; without it SDP carries eth0
        ("sip_listen", f"{LOOPBACK}:{sip_port}"),
        ("call_local_timeout", "120"),
        ("call_max_calls", "4"),
        ("audio_path", "/usr/share/baresip"),
        ("audio_player", "aubridge,nil"),
        ("audio_source", audio_source),
        ("audio_alert", "aubridge,nil"),
        ("ausrc_srate", "8000"),
        ("auplay_srate", "8000"),
        ("ausrc_channels", "1"),
        ("auplay_channels", "1"),
        ("ausrc_format", "s16"),
        ("auplay_format", "s16"),
        ("auenc_format", "s16"),
        ("audec_format", "s16"),
        ("audio_buffer", "20-160"),
        ("audio_level", "no"),
        ("rtp_ports", f"{rtp_ports[0]}-{rtp_ports[1]}"),
        ("rtp_timeout", "0"),
        ("rtcp_mux", "no"),
        ("jitter_buffer_delay", "5-10"),
        ("rtp_stats", "yes"),
        ("module_path", MODULE_PATH),
        ("module", "g711.so"),
        ("module", "sndfile.so"),
        ("module", "aufile.so"),
        ("module", "aubridge.so"),
        ("module_tmp", "uuid.so"),
        ("module_tmp", "account.so"),
        ("module_app", "contact.so"),
        ("module_app", "menu.so"),
        ("module_app", "ctrl_tcp.so"),
        ("ctrl_tcp_listen", f"{LOOPBACK}:{ctrl_port}"),
        ("snd_path", str(record_dir)),
    ]
    if account.mediaenc:
        settings.append(("module", "srtp.so"))
    directory.mkdir(parents=True, exist_ok=True)
    record_dir.mkdir(parents=True, exist_ok=True)
    (directory / "config").write_text("".join(f"{key}\t\t{value}\n" for key, value in settings))
    (directory / "accounts").write_text(account.line(sip_port) + "\n")
    (directory / "contacts").write_text("")
    return directory


_START_LINE = re.compile(r"^(?:[A-Z]+ \S+ SIP/2\.0|SIP/2\.0 \d{3} .*)$")
_TAG = re.compile(r";\s*tag=([^;>\s]+)")


class CallFailed(AssertionError):
    """A phone did not reach the expected call state in time; the message carries its log."""


@dataclass
class Phone:
    """A running baresip with one account, controlled over ctrl_tcp."""

    name: str
    account: PhoneAccount
    directory: Path
    record_dir: Path
    sip_port: int
    ctrl_port: int
    source: Path | None
    peer: BackgroundPeer | None = None
    ctrl: CtrlClient | None = None
    _cursor: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        workdir: Path,
        ports: PortPicker,
        name: str,
        account: PhoneAccount,
        *,
        source: Path | None = None,
        lifetime: float = 60.0,
    ) -> Phone:
        binary = require_binary("baresip", "baresip-core")
        rtp_first = ports.block(10)
        phone = cls(
            name=name,
            account=account,
            directory=workdir / name,
            record_dir=workdir / name / "rec",
            # baresip also listens for SIP/TLS on sip_port + 1 and fails to start if that is taken
            sip_port=ports.block(2),
            ctrl_port=ports.port(),
            source=source,
        )
        write_phone_config(
            phone.directory, sip_port=phone.sip_port, rtp_ports=(rtp_first, rtp_first + 9),
            ctrl_port=phone.ctrl_port, account=account, source=source, record_dir=phone.record_dir,
        )  # fmt: skip
        # -s: SIP trace to stdout; -t: baresip quits by itself after its lifetime
        command = [binary, "-f", str(phone.directory), "-s", "-t", str(int(lifetime))]
        phone.peer = BackgroundPeer(command, workdir=workdir, name=name, lifetime=lifetime + 5)
        phone.ctrl = CtrlClient(phone.ctrl_port)
        return phone

    # ---------------------------------------------------------------- addresses

    @property
    def direct_uri(self) -> str:
        """Where to dial this phone without a PBX."""
        return f"sip:{self.account.user}@{LOOPBACK}:{self.sip_port}"

    # ---------------------------------------------------------------- registration

    def wait_registered(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        info = ""
        while time.monotonic() < deadline:
            info = str(self.ctrl.command("reginfo").get("data", ""))
            if registered_count(info) >= 1:
                return
            self.ctrl.poll(0.2)
        raise CallFailed(f"{self.name} did not register:\n{info}\n{self.describe()}")

    # ---------------------------------------------------------------- commands

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        response = self.ctrl.command(command, params, timeout=timeout)
        return response

    def dial(self, uri: str) -> dict[str, Any]:
        return self.command("dial", uri)

    def accept(self) -> dict[str, Any]:
        return self.command("accept")

    def hangup(self) -> dict[str, Any]:
        return self.command("hangup")

    def hold(self) -> dict[str, Any]:
        return self.command("hold")

    def resume(self) -> dict[str, Any]:
        return self.command("resume")

    def transfer(self, uri: str) -> dict[str, Any]:
        """Blind transfer of the current call (baresip sends REFER with ``Refer-To: <uri>``)."""
        return self.command("transfer", uri)

    def list_calls(self) -> str:
        return str(self.command("listcalls").get("data", ""))

    # ---------------------------------------------------------------- events

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        self.ctrl.poll(0.01)
        return [event for event in self.ctrl.events if kind is None or event.get("type") == kind]

    def wait_event(self, kind: str, timeout: float, *, consume: bool = True) -> dict[str, Any]:
        """The next not yet consumed event of type ``kind`` (e.g. CALL_ESTABLISHED) within ``timeout``.

        Each call consumes one event of that type, so waiting twice for CALL_ESTABLISHED waits
        for the second one.
        """
        start = self._cursor.get(kind, 0)
        deadline = time.monotonic() + timeout
        while True:
            matching = [event for event in self.ctrl.events if event.get("type") == kind]
            if len(matching) > start:
                if consume:
                    self._cursor[kind] = start + 1
                return matching[start]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [event.get("type") for event in self.ctrl.events]
                raise CallFailed(
                    f"{self.name}: no {kind} (#{start + 1}) within {timeout:.1f}s; events so far: {seen}\n"
                    f"{self.describe(60)}"
                )
            self.ctrl.poll(min(remaining, 0.2))

    def expect_no_event(self, kind: str, within: float) -> None:
        start = self._cursor.get(kind, 0)
        deadline = time.monotonic() + within
        while (remaining := deadline - time.monotonic()) > 0:
            self.ctrl.poll(min(remaining, 0.2))
        matching = [event for event in self.ctrl.events if event.get("type") == kind]
        if len(matching) > start:
            raise CallFailed(f"{self.name}: unexpected {kind}: {matching[start]}\n{self.describe(40)}")

    # ---------------------------------------------------------------- SIP trace (-s)

    def sip_messages(self) -> list[tuple[str, dict[str, str]]]:
        """(start line, first value of each header, lower-cased names) of every message in the trace."""
        messages: list[tuple[str, dict[str, str]]] = []
        current: dict[str, str] | None = None
        for line in self.peer.stdout.splitlines():
            line = line.rstrip("\r")
            if _START_LINE.match(line):
                current = {}
                messages.append((line, current))
            elif current is not None:
                if not line.strip():
                    current = None
                elif ":" in line:
                    name, value = line.split(":", 1)
                    current.setdefault(name.strip().lower(), value.strip())
        return messages

    def dialog_ids(self, call_id: str) -> tuple[str, str, str]:
        """(Call-ID, local tag, remote tag) of the dialog this phone set up as caller with ``call_id``.

        For a Replaces header (RFC 3891 3) naming that dialog as the PBX sees it:
        ``to-tag`` is the remote (PBX) tag, ``from-tag`` the local one.
        """
        for start, headers in self.sip_messages():
            if (
                start.startswith("SIP/2.0 2")
                and headers.get("call-id") == call_id
                and "INVITE" in headers.get("cseq", "")
            ):
                local = _TAG.search(headers.get("from", ""))
                remote = _TAG.search(headers.get("to", ""))
                if local and remote:
                    return call_id, local[1], remote[1]
        raise CallFailed(f"{self.name}: no 2xx to an INVITE with Call-ID {call_id} in the SIP trace")

    # ---------------------------------------------------------------- recordings

    def recordings(self, suffix: str = "dec") -> list[Path]:
        """sndfile dumps, oldest first: ``dec`` is what the phone heard, ``enc`` what it sent."""
        return sorted(self.record_dir.glob(f"dump-*-{suffix}.wav"))

    def heard(self, index: int = -1) -> np.ndarray:
        return self._read_recording("dec", index)

    def sent(self, index: int = -1) -> np.ndarray:
        return self._read_recording("enc", index)

    def _read_recording(self, suffix: str, index: int) -> np.ndarray:
        # sndfile finalises the WAV header when the call closes; give it a moment
        deadline = time.monotonic() + 3.0
        while True:
            files = self.recordings(suffix)
            if files:
                try:
                    samples = read_wav(files[index])
                    if len(samples):
                        return samples
                except (EOFError, ValueError, OSError, wave.Error):  # header not final yet
                    pass
            if time.monotonic() >= deadline:
                raise CallFailed(f"{self.name}: no readable {suffix} recording in {self.record_dir}: {files}")
            time.sleep(0.1)

    # ---------------------------------------------------------------- lifetime

    def quit(self) -> int:
        """ctrl_tcp ``quit``, then SIGTERM twice (the first one only starts de-registration), then SIGKILL."""
        code = quit_baresip(self.peer, self.ctrl)
        self.ctrl = None
        return code

    def describe(self, lines: int = 80) -> str:
        return self.peer.describe(lines) if self.peer else f"{self.name} not started"
