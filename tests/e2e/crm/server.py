"""``examples/crm_server.py`` as a bounded subprocess on 127.0.0.1, and a small client for it."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from ..harness import LOOPBACK, REPO_ROOT, BackgroundPeer

SERVER = REPO_ROOT / "examples" / "crm_server.py"
CUSTOMERS = REPO_ROOT / "examples" / "crm_customers.json"


class CrmServer:
    def __init__(self, workdir: Path, port: int, *, token: str, lifetime: float = 170.0) -> None:
        self.port = port
        self.token = token
        self.paused = False
        self.peer = BackgroundPeer(
            [sys.executable, str(SERVER), "--host", LOOPBACK, "--port", str(port), "--customers", str(CUSTOMERS),
             "--token", token, "--lifetime", str(lifetime)],
            workdir=workdir, name="crm_server", lifetime=lifetime + 5,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.peer.is_alive():
                raise AssertionError(f"the CRM server exited:\n{self.peer.stdout}\n{self.peer.stderr}")
            try:
                if self.get("/health", raw=True) == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the CRM server did not answer /health within {timeout:.0f}s:\n{self.peer.stderr}")

    def get(self, path: str, *, raw: bool = False, timeout: float = 3.0) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode()
        return body if raw else json.loads(body)

    def calls(self) -> list[dict[str, Any]]:
        """The call results the PBX posted, oldest first."""
        return self.get("/calls")

    def wait_calls(self, count: int, timeout: float = 8.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls()
            if len(calls) >= count or time.monotonic() > deadline:
                return calls
            time.sleep(0.1)

    def pause(self) -> None:
        """Freeze the server: connections are still accepted by the kernel, nothing answers."""
        os.kill(self.peer.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.peer.process.pid, signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        if self.peer.is_alive():
            if self.paused:
                self.resume()
            self.peer.stop()
