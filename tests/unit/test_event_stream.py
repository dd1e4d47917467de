"""GET /api/events: bus events over a WebSocket, filtered, resumed after a reconnect without gaps
(aiohttp's test client against the real admin app; events published on a real bus)."""

from __future__ import annotations

import json

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from pbx.admin.api import make_admin_app
from pbx.admin.audit import AuditLog
from pbx.admin.context import AdminContext
from pbx.admin.tokens import TokenRecord, Tokens, hash_secret
from pbx.admin.stream import EventJournal
from pbx.bus import EventBus
from pbx.sip.registrar import Registrar, RegistrarSettings
from sdk.events import AgentConnected, CallStarted, Event, QueueJoined


def joined(call_id: str, queue: str = "sales") -> QueueJoined:
    return QueueJoined(at=1.0, call_id=call_id, queue=queue, caller_number="555", priority=0, position=1)


TOKENS = Tokens([TokenRecord("wallboard", "read-only", hash_secret("pbx_reader")),
                 TokenRecord("desk-1001", "agent", hash_secret("pbx_agent"), "1001")])
AUTH = {"Authorization": "Bearer pbx_reader"}


def app_with(journal: EventJournal):
    context = AdminContext(clock=lambda: 0.0, status=dict, registrar=Registrar(RegistrarSettings(), "pbx.test"),
                           events=journal)
    return make_admin_app(context, tokens=TOKENS, audit=AuditLog())


async def received(socket, count: int) -> list[dict]:
    """`count` frames: a message carries the frames of one flush, one per line."""
    frames: list[dict] = []
    while len(frames) < count:
        frames += [json.loads(line) for line in (await socket.receive(timeout=2)).data.split("\n")]
    return frames


async def test_a_client_gets_the_events_it_asked_for_in_order_and_resumes_without_gaps():
    bus, journal = EventBus(), EventJournal()
    bus.subscribe(Event, journal.on_event)
    async with TestClient(TestServer(app_with(journal))) as client:
        socket = await client.ws_connect("/api/events?types=QueueJoined,AgentConnected&queue=sales&access_token=pbx_reader")
        bus.publish(CallStarted(at=1.0, call_id="c1", caller="555", callee="700"))  # another type
        bus.publish(joined("c1"))
        bus.publish(joined("c2", queue="support"))  # another queue
        bus.publish(AgentConnected(at=2.0, agent="1001", call_id="c1", queue="sales", wait_seconds=1, ring_seconds=1))
        frames = await received(socket, 2)
        assert [(frame["id"], frame["event"]["type"]) for frame in frames] == [(2, "QueueJoined"), (4, "AgentConnected")]
        assert frames[0]["event"]["call_id"] == "c1"
        await socket.close()

        for number in range(3, 6):  # published while the client is away
            bus.publish(joined(f"c{number}"))
        again = await client.ws_connect("/api/events?types=QueueJoined&queue=sales",
                                        headers={"Last-Event-ID": str(frames[-1]["id"]), **AUTH})
        bus.publish(joined("c6"))
        resumed = await received(again, 4)
        assert [frame["event"]["call_id"] for frame in resumed] == ["c3", "c4", "c5", "c6"]
        assert [frame["id"] for frame in resumed] == [5, 6, 7, 8]
        await again.close()


async def test_a_client_whose_last_id_left_the_journal_is_told_to_reset():
    bus, journal = EventBus(), EventJournal(capacity=3)
    bus.subscribe(Event, journal.on_event)
    for number in range(1, 7):
        bus.publish(joined(f"c{number}"))
    async with TestClient(TestServer(app_with(journal))) as client:
        socket = await client.ws_connect("/api/events?last_event_id=1", headers=AUTH)
        frames = await received(socket, 4)
        assert frames[0] == {"reset": True, "oldest_id": 4}
        assert [frame["id"] for frame in frames[1:]] == [4, 5, 6]
        await socket.close()


async def test_bad_filters_are_a_400_naming_the_field_and_a_slow_client_is_closed_to_reconnect():
    bus, journal = EventBus(), EventJournal(client_limit=5)
    bus.subscribe(Event, journal.on_event)
    async with TestClient(TestServer(app_with(journal))) as client:
        response = await client.get("/api/events?types=CallStartd", headers=AUTH)
        assert response.status == 400 and (await response.json())["field"] == "types"
        response = await client.get("/api/events?last_event_id=x", headers=AUTH)
        assert response.status == 400 and (await response.json())["field"] == "last_event_id"

        socket = await client.ws_connect("/api/events", headers=AUTH)
        for number in range(20):  # the client reads nothing meanwhile: the server's queue overflows
            bus.publish(joined(f"c{number}"))
        frames = await received(socket, 5)  # what it had queued is sent, then it is closed to reconnect
        assert [frame["id"] for frame in frames] == [1, 2, 3, 4, 5]
        closing = await socket.receive(timeout=2)
        assert closing.type == WSMsgType.CLOSE and closing.data == 1013


async def test_the_stream_needs_a_token_and_gives_an_agent_only_its_own_events():
    bus, journal = EventBus(), EventJournal()
    bus.subscribe(Event, journal.on_event)
    async with TestClient(TestServer(app_with(journal))) as client:
        assert (await client.get("/api/events")).status == 401
        answer = await client.get("/api/events?access_token=pbx_agent")
        assert answer.status == 403 and (await answer.json())["field"] == "agent"
        assert (await client.get("/api/events?agent=1002&access_token=pbx_agent")).status == 403
        answer = await client.get("/api/events?agent=1001&access_token=pbx_agent")  # not an Upgrade
        assert answer.status == 400 and (await answer.json())["field"] == "Upgrade"
        socket = await client.ws_connect("/api/events?agent=1001&access_token=pbx_agent")
        bus.publish(AgentConnected(at=2.0, agent="1002", call_id="c1", queue="sales", wait_seconds=1, ring_seconds=1))
        bus.publish(AgentConnected(at=2.0, agent="1001", call_id="c2", queue="sales", wait_seconds=1, ring_seconds=1))
        [frame] = await received(socket, 1)
        assert frame["event"]["call_id"] == "c2"
        await socket.close()
