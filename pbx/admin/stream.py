"""The live event stream of the admin API: GET /api/events, a WebSocket of bus events.

Every event the bus publishes gets the next id and is kept in a journal of the last
`capacity` events. A client says what it wants with query parameters and gets, as JSON text
frames, `{"id": N, "event": {"type": "CallStarted", ...}}` in publication order, one frame
per line (a WebSocket message carries every frame of a 10 ms flush: split it on newlines):

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
    """One connected client: the frames waiting for the next flush, and a flag its sender awaits."""

    def __init__(self, wanted: EventFilter, limit: int) -> None:
        self.wanted = wanted
        self.limit = limit
        self.pending: list[bytes] = []
        self.overflowed = False
        self.gone = False
        self.ready = asyncio.Event()

    def offer(self, frame: bytes) -> bool:
        if self.overflowed:
            return False
        if len(self.pending) >= self.limit:
            self.overflowed = True
            return False
        self.pending.append(frame)
        return True

    def take(self) -> str:
        frames, self.pending = self.pending, []
        return b"\n".join(frames).decode()


class EventJournal:
    """The last `capacity` events with their ids, and the connected clients.

    Fan-out is batched: an event is encoded once and appended to the pending frames of each
    client that wants it; every FLUSH_SECONDS the clients with frames are woken and each sends
    them as one WebSocket message, one frame per line. At 500 events/s that is 100 messages a
    second per client instead of 500, which is what lets one core feed hundreds of wallboards
    (benchmarks/bench_event_stream.py); an event waits at most FLUSH_SECONDS for it.
    """

    FLUSH_SECONDS = 0.01

    def __init__(self, capacity: int = 10_000, client_limit: int = 2_000) -> None:
        self.capacity = capacity
        self.client_limit = client_limit
        # The events alone: their ids run on without gaps to `last_id`, so the id of each is where
        # it sits (a tuple and an int per event were a tenth of a held call's memory: issue 16).
        self.events: deque[Event] = deque(maxlen=capacity)
        self.last_id = 0
        self.clients: set[_Client] = set()
        self._encoder = msgspec.json.Encoder()
        self._flush_at: asyncio.TimerHandle | None = None

    def on_event(self, event: Event) -> None:
        """A bus subscriber: number the event, keep it, queue it for the clients that want it."""
        self.last_id += 1
        self.events.append(event)
        frame = None
        for client in self.clients:
            if client.wanted.wants(event):
                frame = frame or self._encoder.encode(Frame(self.last_id, event))
                client.offer(frame)
        if frame is not None and self._flush_at is None:
            self._flush_at = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        for client in self.clients:
            if client.pending or client.overflowed:
                client.ready.set()

    def since(self, last_id: int, up_to: int, wanted: EventFilter) -> tuple[bool, Iterable[bytes]]:
        """(whether events after `last_id` have left the journal, the frames it still holds in
        (last_id, up_to])."""
        oldest = self.oldest_id
        gap = last_id + 1 < oldest and last_id < self.last_id
        frames = [self._encoder.encode(Frame(number, event)) for number, event in enumerate(self.events, oldest)
                  if last_id < number <= up_to and wanted.wants(event)]
        return gap, frames

    @property
    def oldest_id(self) -> int:
        """The id of the oldest event kept (`last_id` + 1 when none is)."""
        return self.last_id - len(self.events) + 1

    async def serve(self, request: web.Request, wanted: EventFilter, last_id: int | None) -> web.StreamResponse:
        """The WebSocket of one client (the gate has checked its token and decoded its filter)."""
        socket = web.WebSocketResponse(heartbeat=20)
        await socket.prepare(request)
        client = _Client(wanted, self.client_limit)
        self.clients.add(client)  # from now on live events queue for it; the replay goes first
        try:
            if last_id is not None:
                gap, frames = self.since(last_id, self.last_id, wanted)
                replay = [f'{{"reset": true, "oldest_id": {self.oldest_id}}}'.encode()] if gap else []
                replay += frames
                for start in range(0, len(replay), 500):
                    await socket.send_str(b"\n".join(replay[start:start + 500]).decode())
            receiving = asyncio.ensure_future(socket.receive())  # the client leaving (or talking) ends it
            receiving.add_done_callback(lambda _: (setattr(client, "gone", True), client.ready.set()))
            while True:
                if client.pending:
                    await socket.send_str(client.take())
                if client.gone or socket.closed:
                    break
                if client.overflowed:  # what it had queued is sent: it reconnects with its last id
                    await socket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow: reconnect with your last id")
                    break
                await client.ready.wait()
                client.ready.clear()
            receiving.cancel()
        except ConnectionResetError:  # the client went away while a message was on its way
            pass
        finally:
            self.clients.discard(client)
        return socket
