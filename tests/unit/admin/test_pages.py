"""The wallboard, supervisor and agent pages as the admin app serves them (pbx/admin/pages.py):
public (no token), with their content types, validators and security headers, a 304 when the
browser's copy is current, a JSON 404 naming the file for anything else, and / sending the
browser to the wallboard. The API beside them still wants a token."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient, TestServer

from pbx.admin.api import make_admin_app
from pbx.admin.audit import AuditLog
from pbx.admin.context import AdminContext
from pbx.admin.pages import PAGES, WEB, load_assets
from pbx.admin.tokens import Tokens
from pbx.sip.registrar import Registrar, RegistrarSettings


def admin_app():
    context = AdminContext(clock=lambda: 1000.0, status=dict, registrar=Registrar(RegistrarSettings(), "pbx.test"))
    return make_admin_app(context, tokens=Tokens(), audit=AuditLog())


async def test_the_pages_and_their_files_are_served_without_a_token_and_revalidated_by_etag():
    async with TestClient(TestServer(admin_app())) as client:
        for path in PAGES:
            response = await client.get(path)
            assert response.status == 200, path
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
            page = await response.text()
            for script in re.findall(r'src="/static/([\w.-]+)"', page):  # each page's module loads
                assert (await client.get(f"/static/{script}")).status == 200, script

        script = await client.get("/static/wallboard.js")
        assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
        etag = script.headers["ETag"]
        again = await client.get("/static/wallboard.js", headers={"If-None-Match": etag})
        assert again.status == 304 and await again.read() == b""
        changed = await client.get("/static/wallboard.js", headers={"If-None-Match": '"an-older-copy"'})
        assert changed.status == 200 and await changed.text() == (WEB / "wallboard.js").read_text()
        style = await client.get("/static/style.css", headers={"If-None-Match": f'W/{etag}, "x"'})
        assert style.status == 200 and style.headers["Content-Type"] == "text/css; charset=utf-8"

        home = await client.get("/", allow_redirects=False)
        assert home.status == 302 and home.headers["Location"] == "/wallboard"

        assert (await client.get("/api/status")).status == 401  # the data still needs a token


async def test_a_file_that_is_not_among_the_pages_files_is_a_404_naming_it():
    async with TestClient(TestServer(admin_app())) as client:
        for name in ("nothing.js", "..%2Fpages.py", "..%2F..%2Fconfig.py", "pages.py"):
            response = await client.get(f"/static/{name}")
            assert response.status == 404, name
            body = await response.json()
            assert body["code"] == "not_found" and body["field"] == "file", body


def test_every_module_a_page_imports_is_among_the_served_files():
    assets = load_assets()
    for name, asset in assets.items():
        if name.endswith(".js"):
            for imported in re.findall(r'from "\./([\w.-]+)"', asset.body.decode()):
                assert imported in assets, f"{name} imports {imported}, which is not served"
