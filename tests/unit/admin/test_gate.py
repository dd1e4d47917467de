"""The admin API's gate (pbx/admin/gate.py) through aiohttp's test client: tokens (hashed, from
the config and from a real SQLite database), roles, an agent held to its own agent, the query and
body decoded with the field at fault named, the audit of every change, and 500s that never escape
as tracebacks."""

from __future__ import annotations

import msgspec
from aiohttp.test_utils import TestClient, TestServer

from pbx.admin.api import make_admin_app
from pbx.admin.audit import AuditLog
from pbx.admin.context import AdminContext
from pbx.admin.tokens import TokenRecord, Tokens, TokenStore, hash_secret
from pbx.sip.registrar import Registrar, RegistrarSettings
from sdk.admin import AGENTS, READERS, SUPERVISORS, ApiRequest, bad_input, endpoint
from sdk.database import SqliteDatabase


class PauseBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class Paused(msgspec.Struct):
    agent: str
    reason: str


class ListQuery(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 10


@endpoint("POST", "/api/test/agents/{agent}/pause", summary="pause", roles=SUPERVISORS | AGENTS, body=PauseBody,
          response=Paused, agent_param="agent")
async def pause(request: ApiRequest) -> Paused:
    if request.body.reason == "forbidden":
        raise bad_input("that reason is not allowed", "body.reason")
    request.audit(f"agent {request.path['agent']}", reason=request.body.reason)
    return Paused(request.path["agent"], request.body.reason)


@endpoint("GET", "/api/test/things", summary="list", roles=READERS, query=ListQuery, response=list[int])
async def things(request: ApiRequest) -> list[int]:
    return list(range(request.query.limit))


@endpoint("GET", "/api/test/broken", summary="fails", roles=READERS)
async def broken(request: ApiRequest) -> None:
    raise RuntimeError("a bug")


def context() -> AdminContext:
    return AdminContext(clock=lambda: 1000.0, status=lambda: {"calls_active": 0},
                        registrar=Registrar(RegistrarSettings(), "pbx.test"))


async def test_tokens_roles_and_agents_are_checked_before_any_handler(tmp_path):
    database = SqliteDatabase(tmp_path / "pbx.sqlite")
    store = TokenStore(database)
    await store.setup()
    await store.add(TokenRecord("desk-1001", "agent", hash_secret("pbx_agent-secret"), "1001", 1.0))
    tokens = Tokens([TokenRecord("ops", "supervisor", hash_secret("pbx_supervisor-secret"))], store)
    viewer = tokens.issue("wallboard", "read-only")
    audit = AuditLog(database)
    await audit.setup()
    app = make_admin_app(context(), tokens=tokens, audit=audit, endpoints=[pause, things, broken])
    async with TestClient(TestServer(app)) as client:
        def auth(secret):
            return {"Authorization": f"Bearer {secret}"}

        answer = await client.post("/api/test/agents/1001/pause", json={"reason": "lunch"})
        assert answer.status == 401 and (await answer.json())["code"] == "unauthorized"
        answer = await client.post("/api/test/agents/1001/pause", json={"reason": "lunch"}, headers=auth("pbx_wrong"))
        assert answer.status == 401
        answer = await client.post("/api/test/agents/1001/pause", json={"reason": "lunch"}, headers=auth(viewer))
        assert answer.status == 403 and (await answer.json())["code"] == "forbidden"
        # the agent's token comes from the database; it acts on its own agent only
        answer = await client.post("/api/test/agents/1002/pause", json={"reason": "lunch"},
                                   headers=auth("pbx_agent-secret"))
        assert answer.status == 403 and (await answer.json())["field"] == "agent"
        answer = await client.post("/api/test/agents/1001/pause", json={"reason": "lunch"},
                                   headers=auth("pbx_agent-secret"))
        assert answer.status == 200 and await answer.json() == {"agent": "1001", "reason": "lunch"}
        answer = await client.post("/api/test/agents/1002/pause?access_token=pbx_supervisor-secret",
                                   json={"reason": "coaching"})
        assert answer.status == 200
        # bad input names its field
        answer = await client.post("/api/test/agents/1002/pause", json={"reason": 3}, headers=auth("pbx_supervisor-secret"))
        assert answer.status == 400 and (await answer.json())["field"] == "body.reason"
        answer = await client.post("/api/test/agents/1002/pause", json={}, headers=auth("pbx_supervisor-secret"))
        assert (await answer.json())["field"] == "body.reason"
        answer = await client.post("/api/test/agents/1002/pause", data=b"{not json", headers=auth("pbx_supervisor-secret"))
        assert answer.status == 400 and (await answer.json())["field"] == "body"
        answer = await client.post("/api/test/agents/1002/pause", json={"reason": "forbidden"},
                                   headers=auth("pbx_supervisor-secret"))
        assert answer.status == 400 and await answer.json() == {
            "code": "bad_request", "message": "that reason is not allowed", "field": "body.reason"}
        answer = await client.get("/api/test/things?limit=3", headers=auth(viewer))
        assert await answer.json() == [0, 1, 2]
        answer = await client.get("/api/test/things?limit=three", headers=auth(viewer))
        assert answer.status == 400 and (await answer.json())["field"] == "limit"
        answer = await client.get("/api/test/things?lmit=3", headers=auth(viewer))
        assert answer.status == 400 and (await answer.json())["field"] == "lmit"
        answer = await client.get("/api/test/broken", headers=auth(viewer))
        assert answer.status == 500 and (await answer.json())["code"] == "internal"
        answer = await client.get("/api/nowhere", headers=auth(viewer))
        assert answer.status == 404 and (await answer.json())["code"] == "not_found"

        # every change was audited, refused ones too, with who and what; reads were not
        answer = await client.get("/api/audit?limit=50", headers=auth(viewer))
        assert answer.status == 403
        admin = tokens.issue("root", "admin")
        answer = await client.get("/api/audit?limit=50", headers=auth(admin))
        records = await answer.json()
        assert [(r["actor"], r["status"], r["target"]) for r in reversed(records)] == [
            ("wallboard", 403, "/api/test/agents/1001/pause"),
            ("desk-1001", 403, "/api/test/agents/1002/pause"),
            ("desk-1001", 200, "agent 1001"),
            ("ops", 200, "agent 1002"),
            ("ops", 400, "/api/test/agents/1002/pause"),
            ("ops", 400, "/api/test/agents/1002/pause"),
            ("ops", 400, "/api/test/agents/1002/pause"),
            ("ops", 400, "/api/test/agents/1002/pause"),
        ]
        assert records[-3]["detail"] == {"reason": "lunch"} and records[-3]["role"] == "agent"
        assert records[0]["action"] == "POST /api/test/agents/{agent}/pause" and records[0]["at"] == 1000.0
    await audit.close()
    rows = await database.fetch_all("SELECT actor, status FROM pbx_audit")
    assert len(rows) == 8  # in the database, for every node to read
    database.close()


async def test_a_token_revoked_in_the_database_stops_working_after_the_cache(tmp_path):
    database = SqliteDatabase(tmp_path / "pbx.sqlite")
    store = TokenStore(database)
    await store.setup()
    await store.add(TokenRecord("ops", "supervisor", hash_secret("pbx_s"), None, 1.0))
    now = [0.0]
    tokens = Tokens((), store, monotonic=lambda: now[0])
    assert (await tokens.principal("pbx_s")).name == "ops"
    assert await store.remove("ops")
    assert (await tokens.principal("pbx_s")).name == "ops"  # cached
    now[0] = 31.0
    assert await tokens.principal("pbx_s") is None
    database.close()


async def test_the_openapi_document_describes_every_mounted_endpoint():
    app = make_admin_app(context(), tokens=Tokens(), audit=AuditLog(), endpoints=[pause, things])
    async with TestClient(TestServer(app)) as client:
        spec = await (await client.get("/api/openapi.json")).json()  # public: no token
        page = await client.get("/api/docs")
        assert page.status == 200 and "openapi.json" in await page.text()
    assert spec["openapi"] == "3.1.0"
    operation = spec["paths"]["/api/test/agents/{agent}/pause"]["post"]
    assert operation["x-roles"] == ["admin", "agent", "supervisor"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PauseBody"}
    assert spec["components"]["schemas"]["PauseBody"]["required"] == ["reason"]
    assert {p["name"]: p["in"] for p in operation["parameters"]} == {"agent": "path"}
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "409"}
    listing = spec["paths"]["/api/test/things"]["get"]
    assert listing["parameters"] == [{"name": "limit", "in": "query", "required": False,
                                      "schema": {"type": "integer", "default": 10}}]
    assert {"/api/status", "/api/registrations", "/api/me", "/metrics", "/api/audit"} <= set(spec["paths"])


def test_monitoring_from_a_phone_is_audited_and_the_pbx_ending_it_is_not():
    from pbx.admin.bootstrap import audit_feature_code
    from sdk.events import MonitorModeChanged, MonitorStarted, MonitorStopped

    audit = AuditLog()
    common = {"monitor_id": "m1", "call_id": "c1", "agent": "1001", "supervisor": "1009"}
    audit_feature_code(audit, MonitorStarted(at=1.0, mode="listen", source="phone", **common))
    audit_feature_code(audit, MonitorModeChanged(at=2.0, mode="whisper", previous="listen", source="phone", **common))
    audit_feature_code(audit, MonitorModeChanged(at=3.0, mode="barge", previous="whisper", source="api", **common))
    audit_feature_code(audit, MonitorStopped(at=4.0, mode="barge", source="system", seconds=3.0, **common))
    assert [(r.at, r.actor, r.action, r.target) for r in audit.records] == [
        (1.0, "1009", "monitor started (listen)", "call c1"),
        (2.0, "1009", "monitor mode changed (whisper)", "call c1"),
    ]
    assert audit.records[1].detail["previous"] == "listen"
