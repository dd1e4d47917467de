"""Fixtures and PBX-side checks shared by the ``tests/e2e/test_call_*.py`` modules.

Import the fixtures into a test module (``from .calls.fixtures import call_pbx, phones``);
they build on ``tests/e2e/conftest.py``'s ``start_pbx`` and ``ports``.

- ``call_pbx(ring_timeout=..., extensions=...)`` starts a PBX whose ``media.rtp_ports`` is a
  random free-looking 200-port range in 40000-49999, and at teardown fails the test when the
  log holds a Python traceback (``start_pbx`` checks that too, but only when the test passed;
  this check also names the traceback when the test failed for another reason).
- ``phones(name, extension, ...)`` starts baresip phones registered at that PBX and quits them
  all at teardown (de-registering them).
- ``call_status``, ``wait_idle``, ``bus_events``: the admin API and the ``event=...`` log lines.
"""

from __future__ import annotations

import os
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..harness import LOOPBACK, PbxProcess, PortPicker, extensions_config
from .phone import Phone, PhoneAccount

RTP_BLOCK = 200
IDLE_KEYS = ("calls", "dialogs", "rtp_ports")


# Load tests send hundreds of INVITEs a second from one address and one user: a flood by the PBX's
# default limits (security.per_source / per_user, pbx/sip/guard.py). Their configs lift them.
NO_RATE_LIMITS = {"per_source": {"invite": 0, "register": 0, "burst": 1},
                  "per_user": {"invite": 0, "register": 0, "burst": 1}}


def free_rtp_range(size: int = RTP_BLOCK) -> tuple[int, int]:
    """A random even-aligned range in 40000-49999 whose every 10th port is free on loopback. Under
    pytest-xdist each worker draws from its own slice, so two PBXs never share RTP ports."""
    low_end, high_end = 40000, 50000
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if worker.startswith("gw") and workers > 1:
        width = (high_end - low_end) // workers
        low_end += int(worker[2:]) * width
        high_end = low_end + width
    for _ in range(50):
        low = random.randrange(low_end, high_end - size, 2)
        if all(_udp_free(port) for port in range(low, low + size, 10)):
            return low, low + size - 1
    raise RuntimeError(f"no free-looking RTP port range in {low_end}-{high_end - 1}")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def call_extensions(numbers=range(1001, 1006), **per_extension: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``extensions:`` with ``secretNNNN`` passwords; ``x1003={"invite_challenge": 401}`` adds keys."""
    extensions = extensions_config(numbers)
    for key, extra in per_extension.items():
        extensions[key.lstrip("x")].update(extra)
    return extensions


@pytest.fixture
def call_pbx(start_pbx) -> Iterator[Callable[..., PbxProcess]]:
    started: list[PbxProcess] = []

    def start(ring_timeout: float = 30, extensions: dict | None = None, prompts: str | None = None,
              **overrides) -> PbxProcess:
        low, high = free_rtp_range()
        media = {"rtp_host": LOOPBACK, "rtp_ports": {"low": low, "high": high}}
        if prompts is not None:
            media["prompts"] = prompts
        pbx = start_pbx(
            extensions=extensions or call_extensions(),
            calls={"ring_timeout": ring_timeout},
            media=media,
            **overrides,
        )
        pbx.rtp_range = (low, high)
        started.append(pbx)
        return pbx

    yield start

    for pbx in started:
        assert_no_traceback(pbx)


def assert_no_traceback(pbx: PbxProcess) -> None:
    text = pbx.log_text()
    index = text.find("Traceback (most recent call last)")
    if index >= 0:
        pytest.fail(f"the PBX logged a Python traceback ({pbx.log_path}):\n{text[index : index + 3000]}")


@pytest.fixture
def phones(tmp_path: Path, ports: PortPicker) -> Iterator[Callable[..., Phone]]:
    """Factory ``phones(name, extension, pbx, source=..., answermode=..., register=True)``."""
    started: list[Phone] = []

    def start(
        name: str,
        extension: str,
        pbx: PbxProcess | None,
        *,
        source: Path | None = None,
        answermode: str = "auto",
        lifetime: float = 90.0,
        register: bool = True,
        mediaenc: str | None = None,
    ) -> Phone:
        account = PhoneAccount(extension, f"secret{extension}", pbx.sip_address if pbx else None, answermode=answermode,
                               mediaenc=mediaenc)
        phone = Phone.start(tmp_path, ports, name, account, source=source, lifetime=lifetime)
        started.append(phone)
        if pbx is not None and register:
            phone.wait_registered()
        return phone

    yield start

    for phone in started:
        phone.quit()


# --------------------------------------------------------------------------------------------
# what the PBX says


def call_status(pbx: PbxProcess) -> dict[str, Any]:
    return pbx.api("/api/status")


def wait_idle(pbx: PbxProcess, *, timeout: float = 10.0, keys=IDLE_KEYS) -> dict[str, Any]:
    """Poll ``/api/status`` until every counter in ``keys`` is 0; fail with the last status."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while True:
        status = call_status(pbx)
        if all(_count(status.get(key)) == 0 for key in keys):
            return status
        if time.monotonic() >= deadline:
            calls = _safe_calls(pbx)
            pytest.fail(f"PBX not idle after {timeout:.0f}s ({', '.join(keys)} should be 0): {status}\ncalls: {calls}")
        time.sleep(0.2)


def _count(value: Any) -> int:
    if value is None:
        raise AssertionError("a counter is missing from /api/status")
    if isinstance(value, (list, dict)):
        return len(value)
    return int(value)


def _safe_calls(pbx: PbxProcess) -> Any:
    try:
        return pbx.api("/api/calls")
    except Exception as error:  # noqa: BLE001 - only for a failure message
        return f"<{error}>"


_FIELD = re.compile(r"(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+)")


def bus_events(pbx: PbxProcess, name: str) -> list[dict[str, str]]:
    """Every ``event=<name> key=value ...`` log line as a dict (quotes stripped)."""
    events = []
    for line in pbx.log_text().splitlines():
        if f"event={name}" not in line:
            continue
        fields = {key: value.strip("'\"") for key, value in _FIELD.findall(line)}
        if fields.get("event") == name:
            events.append(fields)
    return events


def wait_bus_event(pbx: PbxProcess, name: str, *, timeout: float = 10.0, **expected: str) -> dict[str, str]:
    """The first ``event=<name>`` line whose fields include ``expected``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        for event in bus_events(pbx, name):
            if all(event.get(key) == value for key, value in expected.items()):
                return event
        if time.monotonic() >= deadline:
            seen = bus_events(pbx, name)
            pytest.fail(f"no event={name} with {expected} within {timeout:.0f}s; seen: {seen}\n{pbx.log_tail(40)}")
        time.sleep(0.1)


# RFC 3261 timers scaled down for tests that wait for every transaction to end: T1 100 ms puts
# Timers J and M (64 x T1) at 6.4 s and T4 1 s puts Timer I and K at 1 s. Timer D (32 s, only
# after a non-2xx answer to our INVITE) does not scale. On loopback nothing needs a 500 ms T1.
FAST_TIMERS = {"t1": 0.1, "t4": 1.0}


def wait_all_idle(pbx: PbxProcess, *, timeout: float = 40.0) -> dict[str, Any]:
    """Every counter at 0, transactions and registrations included.

    UDP transactions linger up to 32 s after the last message (RFC 3261 17.1.1.2 Timer D,
    17.2.2 Timer J, 17.1.2.2 Timer K), hence the long default.
    """
    return wait_idle(pbx, timeout=timeout, keys=(*IDLE_KEYS, "transactions", "registrations"))


def dial_uri(pbx: PbxProcess, number: str) -> str:
    host, port = pbx.sip_address
    return f"sip:{number}@{host}:{port}"


_REMOTE_RTP = re.compile(r"remote:\s*[\d.]+:(\d+)")
_RTCP_RECEIVED = re.compile(r"rcvd=(\d+)")
_RTP_SENT = re.compile(r"TX: packets=(\d+)")


def media_counters(phone: Phone) -> dict[str, int]:
    """From baresip's ``audio_debug``: the remote RTP port and packets sent/received so far."""
    text = str(phone.command("audio_debug").get("data", ""))
    remote = _REMOTE_RTP.search(text)
    received = _RTCP_RECEIVED.findall(text)
    sent = _RTP_SENT.search(text)
    return {
        "remote_port": int(remote[1]) if remote else 0,
        "received": sum(int(value) for value in received),
        "sent": int(sent[1]) if sent else 0,
    }
