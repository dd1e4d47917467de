"""A small time-to-live cache for CRM answers, least recently used out first.

Pure: `get` and `put` take `now`. A cached answer may itself be None (the CRM said "unknown
caller"), so `get` returns a `Hit` holding the value, or None on a miss. It deliberately keeps
no failures: a CRM that failed is asked again (the circuit breaker decides how often).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Hit", "TtlCache"]

V = TypeVar("V")


@dataclass(frozen=True)
class Hit(Generic[V]):
    value: V


class TtlCache(Generic[V]):
    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[Any, tuple[float, V]] = OrderedDict()  # key -> (expires at, value)
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.size > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any, now: float) -> Hit[V] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= now:
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return Hit(entry[1])

    def put(self, key: Any, value: V, now: float) -> None:
        if not self.enabled:
            return
        self._entries[key] = (now + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key: Any) -> None:
        self._entries.pop(key, None)
