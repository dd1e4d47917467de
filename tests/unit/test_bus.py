"""The event bus delivers by type, in order, and survives a failing subscriber."""

import msgspec

from pbx.bus import EventBus
from sdk.events import AnyEvent, Event, RegistrationAdded, RegistrationExpired

ADDED = RegistrationAdded(at=1.0, aor="sip:1001@x", extension="1001", contact="<sip:a@b>", instance=None,
                          expires=60, transport="udp", source="127.0.0.1:5062", user_agent=None)
EXPIRED = RegistrationExpired(at=2.0, aor="sip:1001@x", extension="1001", contact="<sip:a@b>")


def test_subscribers_get_their_types_in_order():
    bus = EventBus()
    everything, added = [], []
    bus.subscribe(Event, everything.append)
    bus.subscribe(RegistrationAdded, added.append)
    bus.publish(ADDED)
    bus.publish(EXPIRED)
    assert everything == [ADDED, EXPIRED] and added == [ADDED]


def test_failing_subscriber_does_not_stop_delivery(caplog):
    bus = EventBus()
    seen = []
    bus.subscribe(Event, lambda event: 1 / 0)
    bus.subscribe(Event, seen.append)
    bus.publish(ADDED)
    assert seen == [ADDED] and "subscriber_failed" in caplog.text


def test_cancelled_subscription_receives_nothing():
    bus = EventBus()
    seen = []
    subscription = bus.subscribe(Event, seen.append)
    subscription.cancel()
    bus.publish(ADDED)
    assert seen == []


def test_events_round_trip_through_json_as_tagged_union():
    data = msgspec.json.encode([ADDED, EXPIRED])
    assert b'"type":"RegistrationAdded"' in data
    assert msgspec.json.decode(data, type=list[AnyEvent]) == [ADDED, EXPIRED]
