"""The live event stream of the admin API: GET /api/events, a WebSocket of bus events.

Every event the bus publishes gets the next id and is kept in a journal of the last
`capacity` events. A client says what it wants with query parameters and gets, as JSON text
frames, `{"id": N, "event": {"type": "CallStarted", ...}}` in publication order:

    /api/events?types=QueueJoined,AgentConnected&queue=sales&agent=1001&call_id=...&last_event_id=N

- `types`: event class names (unknown names are a 400); `queue`, `agent`, `call_id`: only
  events with that field equal to the value. Filters combine with "and".
- `last_event_id` (or the `Last-Event-ID` header): after a reconnect, the events published
  since N that match are sent first, then the live ones, so nothing is missed. When N has
  left the journal, a `{"reset": true, "oldest_id": M}` frame says so before the replay of what
  is still there (the client re-reads the state from the REST routes).
- A client too slow to take its events (more than `client_limit` queued) is closed with code
  1013; it reconnects with its last id and loses nothing the journal still holds.

The gate (gate.py) checks the client's token like any other endpoint's (as `access_token` in
the query: a browser's WebSocket cannot send headers); an agent's token gets its own events only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec
from aiohttp import WSCloseCode, web

from sdk.events import AnyEvent, Event

log = logging.getLogger("pbx.admin")

EVENT_TYPES = {kind.__name__ for kind in AnyEvent.__args__}  # type: ignore[attr-defined]
FIELDS = ("queue", "agent", "call_id")


class Frame(msgspec.Struct):
    id: int
    event: AnyEvent  # type: ignore[valid-type]


class EventFilter(msgspec.Struct, frozen=True):
    types: frozenset[str] | None = None
    queue: str | None = None
    agent: str | None = None
    call_id: str | None = None

    def wants(self, event: Event) -> bool:
        if self.types is not None and type(event).__name__ not in self.types:
            return False
        for name in FIELDS:
            wanted = getattr(self, name)
            if wanted is not None and getattr(event, name, None) != wanted:
                return False
        return True


class BadFilter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_filter(query: Any) -> EventFilter:
    types = None
    if query.get("types"):
        types = frozenset(name.strip() for name in query["types"].split(",") if name.strip())
        unknown = sorted(types - EVENT_TYPES)
        if unknown:
            raise BadFilter("types", f"unknown event types {', '.join(unknown)}")
    return EventFilter(types, *(query.get(name) or None for name in FIELDS))


class _Client:
    def __init__(self, wanted: EventFilter, limit: int) -> None:
        self.wanted = wanted
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(limit)
        self.overflowed = False

    def offer(self, frame: bytes) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.overflowed = True


class EventJournal:
    """The last `capacity` events with their ids, and the connected clients."""

    def __init__(self, capacity: int = 10_000, client_limit: int = 2_000) -> None:
        self.capacity = capacity
        self.client_limit = client_limit
        self.events: deque[tuple[int, Event]] = deque(maxlen=capacity)
        self.last_id = 0
        self.clients: set[_Client] = set()
        self._encoder = msgspec.json.Encoder()

    def on_event(self, event: Event) -> None:
        """A bus subscriber: number the event, keep it, hand it to the clients that want it."""
        self.last_id += 1
        self.events.append((self.last_id, event))
        frame = None
        for client in self.clients:
            if client.wanted.wants(event):
                frame = frame or self._encoder.encode(Frame(self.last_id, event))
                client.offer(frame)

    def since(self, last_id: int, up_to: int, wanted: EventFilter) -> tuple[bool, Iterable[bytes]]:
        """(whether events after `last_id` have left the journal, the frames it still holds in
        (last_id, up_to])."""
        oldest = self.events[0][0] if self.events else self.last_id + 1
        gap = last_id + 1 < oldest and last_id < self.last_id
        frames = [self._encoder.encode(Frame(number, event)) for number, event in self.events
                  if last_id < number <= up_to and wanted.wants(event)]
        return gap, frames

    async def serve(self, request: web.Request, wanted: EventFilter, last_id: int | None) -> web.StreamResponse:
        """The WebSocket of one client (the gate has checked its token and decoded its filter)."""
        socket = web.WebSocketResponse(heartbeat=20)
        await socket.prepare(request)
        client = _Client(wanted, self.client_limit)
        self.clients.add(client)  # from now on live events queue for it; the replay comes first
        try:
            if last_id is not None:
                gap, frames = self.since(last_id, self.last_id, wanted)
                if gap:
                    await socket.send_str(f'{{"reset": true, "oldest_id": {self.events[0][0]}}}')
                for frame in frames:
                    await socket.send_str(frame.decode())
            receiving = asyncio.ensure_future(socket.receive())  # noticing the client leave
            while not socket.closed:
                sending = asyncio.ensure_future(client.queue.get())
                done, _ = await asyncio.wait({sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
                if receiving in done:
                    sending.cancel()
                    break
                await socket.send_str(sending.result().decode())
                if client.overflowed and client.queue.empty():  # what it had queued is sent: it reconnects
                    await socket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow: reconnect with your last id")
                    break
            receiving.cancel()
        finally:
            self.clients.discard(client)
        return socket
