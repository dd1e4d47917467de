"""HTTP to the CRM: GET and POST JSON with aiohttp, behind one circuit breaker.

Failures (refused connections, timeouts, 5xx and other unexpected statuses, a 200 whose body is
not JSON) are counted by the breaker and logged, never raised: the call goes on without the CRM.
While the circuit is open nothing is sent and nothing is logged per call; the opening and the
closing are each logged once (`event=crm_circuit_opened`, `event=crm_circuit_closed`), the
closing with how many lookups and writebacks were skipped meanwhile.

It deliberately does not retry (a caller is waiting) and does not cache (the connectors do).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

from .breaker import Change, CircuitBreaker

__all__ = ["CrmHttp", "Reply"]


@dataclass(frozen=True)
class Reply:
    """A usable answer: `status` 2xx with its decoded JSON `document` (None for an empty body), or
    404 ("no such customer") on a GET."""

    status: int
    document: Any = None


class _Failed(Exception):
    """One request failed; the message says how (it goes to the log, and to the breaker)."""


def _where(url: str) -> str:
    """The URL without its query: numbers in the query stay out of the log."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class CrmHttp:
    def __init__(self, breaker: CircuitBreaker, log: logging.Logger, clock: Callable[[], float]) -> None:
        self.breaker = breaker
        self.log = log
        self.clock = clock
        self.skipped: Counter[str] = Counter()  # requests not sent while the circuit was open, by purpose
        self.failures = 0
        self.last_failure = ""
        self._session: aiohttp.ClientSession | None = None
        self.closed = False

    async def get_json(self, url: str, headers: dict[str, str], timeout: float, *,
                       purpose: str = "lookup") -> Reply | None:
        """The CRM's answer to a GET (2xx with JSON, or 404), or None when it failed or was not
        sent because the circuit is open."""
        return await self._request("GET", url, headers, None, timeout, purpose)

    async def post_json(self, url: str, headers: dict[str, str], body: bytes, timeout: float, *,
                        purpose: str = "writeback") -> bool:
        """True when the CRM took the POST (2xx)."""
        return await self._request("POST", url, headers, body, timeout, purpose) is not None

    async def close(self) -> None:
        """Close the connections; later requests are not sent (the PBX is stopping)."""
        self.closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float,
                       purpose: str) -> Reply | None:
        if self.closed:
            return None
        if not self.breaker.allow(self.clock()):
            self.skipped[purpose] += 1
            return None
        try:
            reply = await self._send(method, url, headers, body, timeout)
        except asyncio.CancelledError:
            self.breaker.abandoned()  # the PBX cut the hook off: no verdict on the CRM
            raise
        except _Failed as failure:
            self._failed(method, url, str(failure))
            return None
        self._changed(self.breaker.succeeded(self.clock()))
        return reply

    async def _send(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                    timeout: float) -> Reply:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        sent_headers = {"Accept": "application/json", **headers}
        if body is not None:
            sent_headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(method, url, headers=sent_headers, data=body,
                                             timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                payload = await response.read()
                status = response.status
        except TimeoutError:
            raise _Failed(f"no answer within {timeout:g} s") from None
        except (aiohttp.ClientError, OSError, ValueError) as error:
            raise _Failed(f"{type(error).__name__}: {error}") from None
        if method == "GET" and status == 404:
            return Reply(404)
        if not 200 <= status < 300:
            raise _Failed(f"HTTP {status}: {payload[:120].decode(errors='replace')!r}")
        try:
            return Reply(status, msgspec.json.decode(payload) if payload.strip() else None)
        except msgspec.DecodeError as error:
            raise _Failed(f"HTTP {status} with a body that is not JSON ({error})") from None

    def _failed(self, method: str, url: str, reason: str) -> None:
        self.failures += 1
        self.last_failure = reason
        change = self.breaker.failed(self.clock())
        if change is None and self.breaker.is_open:
            return  # a failed trial while open: the opening was logged already
        self.log.info("event=crm_request_failed method=%s url=%s reason=%r failed_in_a_row=%d", method, _where(url),
                      reason, self.breaker.failed_in_a_row)
        self._changed(change)

    def _changed(self, change: Change | None) -> None:
        if change is Change.OPENED:
            self.log.warning("event=crm_circuit_opened failures=%d open_seconds=%g reason=%r "
                             "detail='CRM requests are skipped until a trial request succeeds'",
                             self.breaker.failed_in_a_row, self.breaker.open_seconds, self.last_failure)
        elif change is Change.CLOSED:
            self.log.warning("event=crm_circuit_closed skipped_lookups=%d skipped_writebacks=%d",
                             self.skipped["lookup"], self.skipped["writeback"])
            self.skipped.clear()
