"""The collector policy: long-lived objects frozen, a full collection only when idle and due,
long pauses logged (pbx/gc_watch.py)."""

from __future__ import annotations

import gc
import logging
import weakref

from pbx.gc_watch import CollectorPolicy, PauseWatch


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_tick_freezes_what_is_tracked_and_frozen_objects_are_still_freed_by_refcount():
    policy = CollectorPolicy(lambda: 1, full_every_seconds=3600)
    try:
        kept = [object() for _ in range(10)]
        policy.tick()
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        del kept  # freed by reference counting, frozen or not
        assert gc.get_freeze_count() < frozen
    finally:
        gc.unfreeze()


def test_a_full_collection_runs_only_when_no_call_is_up_and_it_is_due():
    calls = [3]
    policy = CollectorPolicy(lambda: calls[0], full_every_seconds=0)
    try:
        policy.tick()
        cycle = Cycle()  # garbage only the cyclic collector can free, once frozen
        gone = weakref.ref(cycle)
        policy.tick()  # calls up: frozen with the live objects
        del cycle
        policy.tick()
        assert policy.full_collections == 0 and gone() is not None  # frozen: kept
        calls[0] = 0
        policy.tick()
        assert policy.full_collections == 1
        assert gone() is None
    finally:
        gc.unfreeze()


def test_a_collection_longer_than_the_threshold_is_logged(caplog):
    watch = PauseWatch(threshold_ms=0)
    gc.callbacks.append(watch)
    try:
        with caplog.at_level(logging.WARNING, logger="pbx.gc"):
            gc.collect(0)
    finally:
        gc.callbacks.remove(watch)
    assert watch.collections[0] >= 1
    assert "event=gc_pause generation=0" in caplog.text


def test_cyclic_garbage_made_since_the_last_tick_is_collected_before_the_freeze():
    policy = CollectorPolicy(lambda: 5, full_every_seconds=3600)
    try:
        policy.tick()
        gone = weakref.ref(Cycle())  # garbage as soon as it is made, while calls are up
        policy.tick()
        assert gone() is None
    finally:
        gc.unfreeze()
