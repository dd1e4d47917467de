"""Every endpoint the admin API serves (the core's, the live, monitoring and scenario modules',
and the built-in plugins' under /api/plugins/<name>) refuses a request without a token (401) and
one with a token of each role it does not allow (403), and an agent's token naming another agent
(403), through aiohttp's test client. The list of endpoints is the gate's own, so an endpoint
added later is checked without touching this test."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer

import plugins.crm as crm
import plugins.kpi as kpi
import plugins.recording as recording
from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
from pbx.admin.api import GATE
from pbx.sip.registrar import Registrar, RegistrarSettings
from sdk.admin import ROLES

ROLE_NAMES = {"admin": "ada", "supervisor": "sue", "read-only": "rita", "agent": "alice"}


async def test_every_endpoint_refuses_no_token_the_wrong_role_and_another_agent(pbx_harness):
    async with (pbx_harness(kpi, config={"writer": "thread"}) as with_kpi,
                pbx_harness(recording, config={}) as with_recording,
                pbx_harness(crm, config={"contacts": {"enabled": True}}) as with_crm):
        plugin_endpoints = {"kpi": (await with_kpi.admin_routes())["kpi"],
                            "recording": (await with_recording.admin_routes())["recording"],
                            "crm": (await with_crm.admin_routes())["crm"]}
        tokens, audit = Tokens(), AuditLog()
        secrets = {role: tokens.issue(name, role, agent=name if role == "agent" else None)
                   for role, name in ROLE_NAMES.items()}
        context = AdminContext(clock=lambda: 1_800_000_000.0, status=dict,
                               registrar=Registrar(RegistrarSettings(), "pbx.test"))
        app = make_admin_app(context, tokens=tokens, audit=audit, plugin_endpoints=plugin_endpoints)
        served = app[GATE].served
        assert {prefix for prefix, _ in served} == {"", "/api/plugins/kpi", "/api/plugins/recording",
                                                    "/api/plugins/crm"}
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            checked = refused = 0
            for prefix, endpoint in served:
                path = re.sub(r"\{[^}]+\}", "someone", prefix + endpoint.path)
                answer = await client.request(endpoint.method, path, json={})
                assert answer.status == 401, (endpoint.method, path)
                assert (await answer.json())["code"] == "unauthorized"
                for role in ROLES:
                    if role in endpoint.roles:
                        continue
                    answer = await client.request(endpoint.method, path, json={},
                                                  headers={"Authorization": f"Bearer {secrets[role]}"})
                    assert answer.status == 403, (endpoint.method, path, role)
                    refused += 1
                if "agent" in endpoint.roles and endpoint.agent_param and "{" + endpoint.agent_param + "}" in endpoint.path:
                    answer = await client.request(endpoint.method, path, json={},
                                                  headers={"Authorization": f"Bearer {secrets['agent']}"})
                    assert answer.status == 403 and (await answer.json())["field"] == endpoint.agent_param, path
                checked += 1
    assert checked == len(served) > 50
    assert refused > 60
    # every refusal of a change was audited with who asked; a request with no token has nobody to name
    assert {record.actor for record in audit.records} <= set(ROLE_NAMES.values())
