"""GET /api/security/bans and DELETE /api/security/bans/{source} on a real Pbx's source guard:
a guesser banned by its authentication failures is listed with its time left; an admin lifts
the ban (audited, SourceUnbanned on the bus) and the address is answered again."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
from pbx.app import Pbx
from pbx.config import parse_config
from sdk.events import SourceUnbanned

CONFIG = """
realm: pbx.test
admin: {listen: null}
security: {ban_after: 2, ban_window: 60, ban_seconds: 600}
extensions:
  "1001": {password: secret1001}
"""


async def test_a_ban_is_listed_and_an_admin_lifts_it(tmp_path):
    now = [1_800_000_000.0]
    pbx = Pbx(parse_config(CONFIG + f"data_dir: {tmp_path / 'data'}\n"), clock=lambda: now[0], entry_points=False)
    lifted: list[SourceUnbanned] = []
    pbx.bus.subscribe(SourceUnbanned, lifted.append)
    guard = pbx.endpoint.guard
    for _ in range(2):
        guard.authentication_failed("198.51.100.7", now[0])
    assert guard.is_banned("198.51.100.7", now[0])
    tokens, audit = Tokens(), AuditLog()
    admin, reader = tokens.issue("ada", "admin"), tokens.issue("rita", "read-only")
    context = AdminContext(clock=lambda: now[0], status=pbx.status, registrar=pbx.registrar, app=pbx)
    async with TestClient(TestServer(make_admin_app(context, tokens=tokens, audit=audit), host="127.0.0.1")) as client:
        now[0] += 100
        answer = await client.get("/api/security/bans", headers={"Authorization": f"Bearer {reader}"})
        assert await answer.json() == [{"source": "198.51.100.7", "until": 1_800_000_600.0, "seconds_left": 500.0}]
        answer = await client.delete("/api/security/bans/198.51.100.7", headers={"Authorization": f"Bearer {reader}"})
        assert answer.status == 403
        answer = await client.delete("/api/security/bans/198.51.100.7", headers={"Authorization": f"Bearer {admin}"})
        assert answer.status == 200
        assert not guard.is_banned("198.51.100.7", now[0]) and [event.source for event in lifted] == ["198.51.100.7"]
        answer = await client.delete("/api/security/bans/198.51.100.7", headers={"Authorization": f"Bearer {admin}"})
        assert answer.status == 404 and (await answer.json())["field"] == "source"
    assert [(record.actor, record.target, record.status) for record in audit.records] == [
        ("rita", "/api/security/bans/198.51.100.7", 403), ("ada", "source 198.51.100.7", 200),
        ("ada", "source 198.51.100.7", 404)]
    guard.authentication_failed("198.51.100.7", now[0])  # its failures were forgotten with the ban
    assert not guard.is_banned("198.51.100.7", now[0])
    pbx.database.close()
