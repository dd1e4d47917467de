"""The source guard: bans password guessers and rate-limits INVITE and REGISTER.

Pure accounting with `now` passed in, the way Kamailio's pike module and a
fail2ban jail work together, but inside the endpoint:

- authentication failures are counted per source address within a sliding
  window; `ban_after` of them ban the address for `ban_seconds`
  (`SourceBanned`), and the ban lifts by itself (`SourceUnbanned` from
  `expire`). The endpoint drops what a banned address sends without answering:
  an answer would tell a scanner it is still being heard.
- new INVITE and REGISTER requests take a token from a bucket per source
  address and, once authenticated, one per user. Over the rate the endpoint
  answers 503 with Retry-After (RFC 3261 21.5.4, 20.33) rather than queueing.

Trusted networks (`trusted`) are never banned nor limited per source.

It does not parse SIP, answer anything or read a clock: the endpoint asks it
questions and turns its answers into responses and events. Idle buckets and old
failure counts are swept once the tables grow, so a flood from many spoofed
addresses costs bounded memory.
"""

from __future__ import annotations

import math
from collections import deque
from ipaddress import IPv4Network, IPv6Network, ip_address

import msgspec

from sdk.events import Event, SourceBanned, SourceUnbanned

RATED_METHODS = frozenset({"INVITE", "REGISTER"})
_SWEEP_FLOOR = 1024  # entries kept before the first sweep of idle buckets and stale counts


class RateLimit(msgspec.Struct, frozen=True):
    """Requests per second for each rated method (0: no limit) and the burst a bucket holds."""

    invite: float
    register: float
    burst: int

    def rate_of(self, method: str) -> float:
        return self.invite if method == "INVITE" else self.register


class GuardSettings(msgspec.Struct, frozen=True):
    ban_after: int = 5  # authentication failures from one address that ban it (0: never ban)
    ban_window: float = 60.0  # seconds within which they count
    ban_seconds: float = 600.0
    # A source address can be a whole office behind NAT: room for its phones re-registering at once.
    per_source: RateLimit = msgspec.field(default_factory=lambda: RateLimit(invite=50.0, register=50.0, burst=200))
    # One person does not place ten calls a second; a stolen account used for toll fraud does.
    per_user: RateLimit = msgspec.field(default_factory=lambda: RateLimit(invite=10.0, register=5.0, burst=50))
    # Addresses never banned nor limited per source (fail2ban's ignoreip, Kamailio pike's trusted
    # list): the office's NAT, a carrier, a monitoring probe. Per-user limits still apply.
    trusted: tuple[IPv4Network | IPv6Network, ...] = ()


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second (the classic token bucket)."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one will be there."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.burst


class SourceGuard:
    def __init__(self, settings: GuardSettings | None = None) -> None:
        self.settings = settings or GuardSettings()
        self._bans: dict[str, float] = {}  # address -> when the ban ends
        self._failures: dict[str, deque[float]] = {}
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}  # (kind, key, method)
        self._sweep_at = _SWEEP_FLOOR
        self.stats = {"bans": 0, "refused": 0}

    # Bans ---------------------------------------------------------------------------------------

    def is_trusted(self, source: str) -> bool:
        if not self.settings.trusted:
            return False
        try:
            address = ip_address(source)
        except ValueError:
            return False
        return any(address in network for network in self.settings.trusted)

    def is_banned(self, source: str, now: float) -> bool:
        until = self._bans.get(source)
        return until is not None and now < until

    def authentication_failed(self, source: str, now: float) -> list[Event]:
        """Count a failure from `source`; the one that reaches `ban_after` bans it."""
        settings = self.settings
        if settings.ban_after <= 0 or self.is_banned(source, now) or self.is_trusted(source):
            return []
        failures = self._failures.setdefault(source, deque())
        failures.append(now)
        while failures and failures[0] <= now - settings.ban_window:
            failures.popleft()
        if len(failures) < settings.ban_after:
            self._maybe_sweep(now)
            return []
        del self._failures[source]
        until = now + settings.ban_seconds
        self._bans[source] = until
        self.stats["bans"] += 1
        reason = f"{len(failures)} authentication failures within {settings.ban_window:g}s"
        return [SourceBanned(at=now, source=source, reason=reason, until=until)]

    def expire(self, now: float) -> list[Event]:
        """Lift the bans that have run their time."""
        ended = [source for source, until in self._bans.items() if until <= now]
        for source in ended:
            del self._bans[source]
        return [SourceUnbanned(at=now, source=source) for source in ended]

    def next_deadline(self) -> float | None:
        return min(self._bans.values(), default=None)

    def banned(self) -> dict[str, float]:
        """Banned addresses and when each ban ends."""
        return dict(self._bans)

    def lift(self, source: str, now: float) -> list[Event]:
        """An administrator lifts a ban before its time (the admin API); its failures are forgotten."""
        self._failures.pop(source, None)
        if self._bans.pop(source, None) is None:
            return []
        return [SourceUnbanned(at=now, source=source)]

    # Rates ----------------------------------------------------------------------------------------

    def admit_source(self, source: str, method: str, now: float) -> int | None:
        """None to admit a new `method` request from `source`; else the Retry-After seconds."""
        if self.is_trusted(source):
            return None
        return self._admit("source", source, method, self.settings.per_source, now)

    def admit_user(self, user: str, method: str, now: float) -> int | None:
        """None to admit an authenticated `method` request of `user`; else the Retry-After seconds."""
        return self._admit("user", user, method, self.settings.per_user, now)

    def _admit(self, kind: str, key: str, method: str, limit: RateLimit, now: float) -> int | None:
        rate = limit.rate_of(method)
        if method not in RATED_METHODS or rate <= 0:
            return None
        bucket = self._buckets.get((kind, key, method))
        if bucket is None:
            self._maybe_sweep(now)
            bucket = self._buckets[(kind, key, method)] = TokenBucket(rate, limit.burst, now)
        wait = bucket.take(now)
        if wait == 0.0:
            return None
        self.stats["refused"] += 1
        # RFC 3261 20.33: Retry-After is a whole number of seconds.
        return max(1, math.ceil(wait))

    def _maybe_sweep(self, now: float) -> None:
        """Forget full buckets and failure counts out of the window once the tables have grown."""
        if len(self._buckets) + len(self._failures) < self._sweep_at:
            return
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if not bucket.is_full(now)}
        horizon = now - self.settings.ban_window
        self._failures = {source: times for source, times in self._failures.items() if times[-1] > horizon}
        self._sweep_at = max(_SWEEP_FLOOR, 2 * (len(self._buckets) + len(self._failures)))

    def __len__(self) -> int:
        return len(self._buckets) + len(self._failures) + len(self._bans)
