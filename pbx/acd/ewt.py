"""Estimated wait time (EWT) for a queue position, from observed handle times and live staffing.

The model, per queue:

- H, the expected handle time, is an exponentially weighted moving average of the
  talk time of the queue's calls (`HandleTime`, alpha 0.2 by default, the first
  sample taken as is, `initial` until then) plus the queue's wrap-up seconds.
- The staffing agents are the members who are logged in and not paused. Each has
  an expected remaining time r before they can take the next caller:
  available or offered (the offer serves a caller already counted in the
  positions): 0; on a call: max(0, talk EWMA - talk so far) + wrap-up; in wrap-up:
  the wrap-up left. Each r is capped at H.
- Agent i frees up at r_i, then every H after that. The caller at position p (1 is
  next) is served at the p-th smallest of all those moments. Because every
  r_i <= H, that is exactly

      EWT(p) = sorted(r)[(p - 1) mod N] + floor((p - 1) / N) * H        N = number of staffing agents

  and None (unknown: nobody to serve) when N is 0.

Unlike "average wait so far", this reacts at once to agents logging in, pausing
and to calls that run long. It does not model agents shared between queues
(an agent counts fully in each of their queues: optimistic), abandonment, or
priorities of callers that will arrive later.

Also: `spoken_minutes`, the rounding an announcement uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class HandleTime:
    """Exponentially weighted average of talk seconds for one queue."""

    def __init__(self, initial: float = 120.0, alpha: float = 0.2) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], not {alpha}")
        self.seconds = initial
        self.alpha = alpha
        self.samples = 0

    def observe(self, talk_seconds: float) -> None:
        if self.samples == 0:
            self.seconds = talk_seconds
        else:
            self.seconds = self.alpha * talk_seconds + (1 - self.alpha) * self.seconds
        self.samples += 1


def remaining_seconds(state: str, *, now: float, talk_average: float, wrap_up: float,
                      answered_at: float | None = None, wrap_up_until: float | None = None) -> float | None:
    """Expected seconds until an agent in `state` (an AgentState value) can take the next caller;
    None when the agent does not staff the queue (logged out or paused)."""
    handle = talk_average + wrap_up
    if state in ("available", "offered"):
        return 0.0
    if state == "on-call":
        talked = now - answered_at if answered_at is not None else 0.0
        return min(handle, max(0.0, talk_average - talked) + wrap_up)
    if state == "wrap-up":
        return min(handle, max(0.0, (wrap_up_until or now) - now))
    return None


class WaitEstimate:
    """EWT for every position of one queue at one moment (sorts once; each position is O(1))."""

    def __init__(self, remaining: Iterable[float], handle_seconds: float) -> None:
        self.remaining = sorted(remaining)
        self.handle_seconds = handle_seconds

    @property
    def staffing(self) -> int:
        return len(self.remaining)

    def for_position(self, position: int) -> float | None:
        if position < 1:
            raise ValueError(f"positions start at 1, not {position}")
        if not self.remaining:
            return None
        cycles, slot = divmod(position - 1, len(self.remaining))
        return self.remaining[slot] + cycles * self.handle_seconds


def spoken_minutes(ewt_seconds: float | None) -> int | None:
    """Minutes to announce: rounded up, at least 1; None when unknown (announce the position only)."""
    if ewt_seconds is None:
        return None
    return max(1, math.ceil(ewt_seconds / 60))
