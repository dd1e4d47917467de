"""The event bus: one typed publish/subscribe channel for the whole PBX.

Publishers hand it frozen `sdk.events.Event` objects; subscribers register
for a class (and so its subclasses). Delivery is synchronous and in
subscription order, so a fold (CDR, KPIs) sees events in publication order.
A subscriber that raises is logged and skipped: a broken plugin must not
break a call. Subscribers that need to do I/O hand events to a queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sdk.events import Event

E = TypeVar("E", bound=Event)

log = logging.getLogger("pbx.bus")


class Subscription:
    __slots__ = ("bus", "event_type", "handler")

    def __init__(self, bus: EventBus, event_type: type[Event], handler: Callable[[Event], None]) -> None:
        self.bus = bus
        self.event_type = event_type
        self.handler = handler

    def cancel(self) -> None:
        self.bus._remove(self)


class EventBus:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._by_type: dict[type, list[Subscription]] = {}
        self.published = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Subscription:
        subscription = Subscription(self, event_type, handler)  # type: ignore[arg-type]
        self._subscriptions.append(subscription)
        self._by_type.clear()
        return subscription

    def publish(self, event: Event) -> None:
        self.published += 1
        for subscription in self._matching(type(event)):
            try:
                subscription.handler(event)
            except Exception:
                log.exception("event=subscriber_failed event_type=%s handler=%r", type(event).__name__, subscription.handler)

    def _matching(self, event_type: type) -> list[Subscription]:
        found = self._by_type.get(event_type)
        if found is None:
            found = [s for s in self._subscriptions if issubclass(event_type, s.event_type)]
            self._by_type[event_type] = found
        return found

    def _remove(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            self._by_type.clear()
