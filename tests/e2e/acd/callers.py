"""Python UAC callers (``tests/e2e/media/uac.py``, ``tests/e2e/ivr/caller.py``) for synchronous tests.

``CallerThread`` runs an asyncio loop in a daemon thread; ``run(coroutine)`` waits for a
coroutine on it, so a pytest test can dial, hang up and send keys between its log checks.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from ..ivr.caller import CallMedia, IvrCaller, open_call


class CallerThread:
    """``with CallerThread(pbx.sip_address, "1004") as caller: call = caller.dial("800")``."""

    def __init__(self, server: tuple[str, int], user: str, password: str | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"caller-{user}", daemon=True)
        self.thread.start()
        self.uac: IvrCaller = self.run(IvrCaller.open(server, user, password or f"secret{user}"))
        self.media: dict[str, CallMedia] = {}

    def run(self, coroutine, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coroutine, timeout), self.loop).result(timeout + 1)

    def dial(self, number: str):
        """An answered call with media running (RTP both ways); fails the test if not answered."""
        async def dial():
            return await open_call(self.uac, number)
        call, media = self.run(dial())
        self.media[call.call_id] = media
        return call

    def press(self, call, digit: str) -> None:
        """One RFC 4733 key (60 ms event) on the call's RTP."""
        self.loop.call_soon_threadsafe(self.media[call.call_id].press_rfc4733, digit)

    def hangup(self, call) -> None:
        self.run(self.uac.hangup(call))
        self._close_media(call)

    def is_ended(self, call) -> bool:
        return call.ended_ns is not None

    def _close_media(self, call) -> None:
        media = self.media.pop(call.call_id, None)
        if media is not None:
            self.loop.call_soon_threadsafe(media.close)

    def close(self) -> None:
        for call_id in list(self.media):
            self._close_media(self.uac.calls[call_id])
        self.loop.call_soon_threadsafe(self.uac.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def __enter__(self) -> CallerThread:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
