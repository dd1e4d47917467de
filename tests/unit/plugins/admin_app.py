"""A plugin's endpoints served as the PBX serves them: pbx.admin.make_admin_app, behind the gate,
under /api/plugins/<name>, on aiohttp's test server, with one API token per role.

    async with serving("kpi", endpoints) as api:
        response = await api.get("/journeys", role="read-only")

`api.get/post/put/delete(path, role=...)` send the role's token (role=None: no token), with
`path` under the plugin's prefix; `api.audit` is the admin API's audit log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
from pbx.sip.registrar import Registrar, RegistrarSettings

TOKEN_NAMES = {"admin": "ada", "supervisor": "sue", "read-only": "rita", "agent": "alice"}


class PluginApi:
    def __init__(self, client: TestClient, prefix: str, secrets: dict[str, str], audit: AuditLog) -> None:
        self.client = client
        self.prefix = prefix
        self.secrets = secrets
        self.audit = audit

    def headers(self, role: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        found = {} if role is None else {"Authorization": f"Bearer {self.secrets[role]}"}
        return {**found, **(extra or {})}

    async def request(self, method: str, path: str, role: str | None = "admin", headers: dict | None = None,
                      **options: Any):
        return await self.client.request(method, self.prefix + path, headers=self.headers(role, headers), **options)

    async def get(self, path: str, role: str | None = "read-only", **options: Any):
        return await self.request("GET", path, role, **options)

    async def post(self, path: str, role: str | None = "admin", **options: Any):
        return await self.request("POST", path, role, **options)

    async def put(self, path: str, role: str | None = "admin", **options: Any):
        return await self.request("PUT", path, role, **options)

    async def delete(self, path: str, role: str | None = "admin", **options: Any):
        return await self.request("DELETE", path, role, **options)


@asynccontextmanager
async def serving(plugin: str, endpoints: list[Any], clock=lambda: 1_800_000_000.0) -> AsyncIterator[PluginApi]:
    tokens, audit = Tokens(), AuditLog()
    secrets = {role: tokens.issue(name, role, agent=name if role == "agent" else None)
               for role, name in TOKEN_NAMES.items()}
    context = AdminContext(clock=clock, status=dict, registrar=Registrar(RegistrarSettings(), "pbx.test"))
    app = make_admin_app(context, tokens=tokens, audit=audit, plugin_endpoints={plugin: endpoints})
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield PluginApi(client, f"/api/plugins/{plugin}", secrets, audit)
