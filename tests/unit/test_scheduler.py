"""The pure timer queue: deadline order, cancellation, and what cancelled timers still hold."""

import gc
import weakref

from pbx.scheduler import COMPACT_AT_LEAST, Scheduler


def test_callbacks_fire_in_deadline_order_and_cancelled_ones_never():
    scheduler = Scheduler()
    fired: list[str] = []
    scheduler.call_at(3.0, lambda now: fired.append("c") or [])
    scheduler.call_at(1.0, lambda now: fired.append("a") or ["action"])
    cancelled = scheduler.call_at(2.0, lambda now: fired.append("b") or [])
    cancelled.cancel()
    assert scheduler.next_deadline() == 1.0 and len(scheduler) == 2
    assert scheduler.fire(2.5) == ["action"]
    assert fired == ["a"] and scheduler.next_deadline() == 3.0
    scheduler.fire(3.0)
    assert fired == ["a", "c"] and scheduler.next_deadline() is None and len(scheduler) == 0


def test_a_cancelled_timer_lets_go_of_what_its_callback_held_before_its_deadline():
    class Response:  # stands for the 2xx a retransmission timer holds
        pass

    scheduler = Scheduler()
    response = Response()
    gone = weakref.ref(response)
    handle = scheduler.call_at(30.0, lambda now, kept=response: [kept])
    del response
    handle.cancel()
    gc.collect()
    assert gone() is None


def test_cancelled_entries_are_cleaned_out_once_the_heap_doubles():
    scheduler = Scheduler()
    fired: list[int] = []
    live = [scheduler.call_at(1_000.0 + n, lambda now, n=n: fired.append(n) or []) for n in range(10)]
    for n in range(10 * COMPACT_AT_LEAST):
        scheduler.call_at(60.0 + n, lambda now: []).cancel()  # answered calls' ring timers
    assert len(scheduler._heap) <= 2 * COMPACT_AT_LEAST
    assert len(scheduler) == len(live) == 10
    scheduler.fire(2_000.0)
    assert fired == list(range(10))
