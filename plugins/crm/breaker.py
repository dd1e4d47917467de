"""A circuit breaker for the CRM: stop asking a CRM that keeps failing, try again later.

Pure: every method takes `now` (seconds), nothing here reads a clock, sleeps or logs. The
caller asks `allow(now)` before a request and reports `succeeded(now)` or `failed(now)` after
it; the methods return a `Change` when the circuit opened or closed, so the caller can log each
change once (and nothing per call while it stays open).

    state      on               next       note
    closed     succeeded        closed     the failure count starts again
    closed     failed           closed     fewer than `failures` in a row
    closed     failed-too-often open       the `failures`-th in a row: Change.OPENED
    open       waited           half-open  `open_seconds` passed: one trial request is let through
    open       succeeded        open       a request from before the opening answered late
    open       failed           open       likewise
    half-open  succeeded        closed     the trial worked: Change.CLOSED
    half-open  failed           open       the trial failed: open again for `open_seconds`

It deliberately does not count per endpoint: one breaker stands for one CRM.
"""

from __future__ import annotations

import enum

__all__ = ["BreakerState", "Change", "CircuitBreaker"]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class Change(enum.Enum):
    OPENED = "opened"
    CLOSED = "closed"


_NEXT: dict[tuple[BreakerState, str], BreakerState] = {
    (BreakerState.CLOSED, "succeeded"): BreakerState.CLOSED,
    (BreakerState.CLOSED, "failed"): BreakerState.CLOSED,
    (BreakerState.CLOSED, "failed-too-often"): BreakerState.OPEN,
    (BreakerState.OPEN, "waited"): BreakerState.HALF_OPEN,
    (BreakerState.OPEN, "succeeded"): BreakerState.OPEN,
    (BreakerState.OPEN, "failed"): BreakerState.OPEN,
    (BreakerState.OPEN, "failed-too-often"): BreakerState.OPEN,
    (BreakerState.HALF_OPEN, "succeeded"): BreakerState.CLOSED,
    (BreakerState.HALF_OPEN, "failed"): BreakerState.OPEN,
    (BreakerState.HALF_OPEN, "failed-too-often"): BreakerState.OPEN,
}


class CircuitBreaker:
    def __init__(self, failures: int, open_seconds: float) -> None:
        if failures < 1 or open_seconds <= 0:
            raise ValueError(f"failures ({failures}) must be >= 1 and open_seconds ({open_seconds}) > 0")
        self.failures = failures
        self.open_seconds = open_seconds
        self.state = BreakerState.CLOSED
        self.failed_in_a_row = 0
        self.opened_at: float | None = None
        self.trial_running = False

    @property
    def is_open(self) -> bool:
        return self.state is not BreakerState.CLOSED

    def reopens_at(self) -> float | None:
        """When the next trial request will be let through (None while closed)."""
        return None if self.opened_at is None else self.opened_at + self.open_seconds

    def allow(self, now: float) -> bool:
        """May a request be sent now? While half-open only the one trial request may."""
        if self.state is BreakerState.OPEN and now >= self.opened_at + self.open_seconds:  # type: ignore[operator]
            self._move("waited")
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self.trial_running:
            self.trial_running = True
            return True
        return False

    def succeeded(self, now: float) -> Change | None:
        self.failed_in_a_row = 0
        return self._move("succeeded", now)

    def failed(self, now: float) -> Change | None:
        self.failed_in_a_row += 1
        return self._move("failed-too-often" if self.failed_in_a_row >= self.failures else "failed", now)

    def abandoned(self) -> None:
        """A request that was let through ended with no verdict (it was cancelled): while half-open,
        the next request may be the trial instead."""
        if self.state is BreakerState.HALF_OPEN:
            self.trial_running = False

    def _move(self, signal: str, now: float | None = None) -> Change | None:
        try:
            new = _NEXT[(self.state, signal)]
        except KeyError:
            raise RuntimeError(f"circuit breaker: no transition from {self.state.value} on {signal!r}") from None
        old, self.state = self.state, new
        if old is BreakerState.HALF_OPEN and signal != "waited":
            self.trial_running = False
        if new is BreakerState.OPEN and old is not BreakerState.OPEN:
            self.opened_at = now
            return Change.OPENED if old is BreakerState.CLOSED else None  # a failed trial: still open
        if new is BreakerState.CLOSED and old is not BreakerState.CLOSED:
            self.opened_at = None
            return Change.CLOSED
        return None
