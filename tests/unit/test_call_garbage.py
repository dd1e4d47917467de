"""An ended call leaves no cyclic garbage: reference counting frees its objects.

The PBX runs the cyclic collector rarely (pbx.app.serve raises its thresholds), so objects
that only the collector can free pile up between its full passes: a soak at 100 calls/s grew
the PBX's memory by 2 MB/s. Once the PBX forgets a call (its transactions over), the Call, its
legs, dialogs, transactions, relay endpoints and watches must hold no reference cycle.
"""

from __future__ import annotations

import asyncio
import collections
import gc

from tests.unit.admin.live_world import live_world


def cyclic_garbage() -> collections.Counter:
    """What the collector would free now, by type: objects in (or only reachable from) cycles."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_an_answered_call_hung_up_by_the_caller_leaves_no_cyclic_garbage(tmp_path):
    async for world in live_world(tmp_path):
        caller, callee = await world.phone("1004"), await world.phone("1002")
        gc.collect()
        gc.disable()  # the collector must not free what the test is looking for
        try:
            dialing = asyncio.create_task(caller.dial("1002"))
            await callee.answer()
            dialog = await dialing
            caller.send("\n".join([f"BYE {dialog.target} SIP/2.0", caller.via(), "Max-Forwards: 70",
                                   f"From: {dialog.local}", f"To: {dialog.remote}", f"Call-ID: {dialog.call_id}",
                                   "CSeq: 3 BYE"]))
            await caller.expect(200, dialog.call_id)
            await callee.expect("BYE")
            world.clock.advance(40)  # past Timers H, J, K, L, M: every transaction of the call is over
            world.pbx.transport.execute(world.pbx.endpoint.handle_timer(world.clock.now))
            assert len(world.pbx.endpoint.transactions) == 0 and not world.pbx.calls.calls
            garbage = cyclic_garbage()
        finally:
            gc.enable()
        ours = {kind: count for kind, count in garbage.items() if kind.startswith(("pbx.", "sdk."))}
        assert ours == {}, garbage.most_common(30)
