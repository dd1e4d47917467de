"""The wallboard, supervisor and agent pages: static HTML, CSS and JavaScript served by the PBX.

`add_pages(app)` adds GET /wallboard, /supervisor, /agent, /static/{file} and / (a redirect to
/wallboard). The files live in pbx/admin/web/ and are plain HTML/CSS/ES modules: no build step,
no CDN (a PBX often has no internet). They are read once, when the routes are added.

The pages carry no data and need no token: in the browser they read the token from the URL
fragment (`/wallboard#token=...`, never sent to the server) or localStorage, and call the API
with `Authorization: Bearer <token>` and the event stream with `?access_token=`. The gate
(pbx/admin/gate.py) exempts exactly these paths from its token check.

Caching: every answer has an ETag (a hash of the file) and `Cache-Control: no-cache`, so a
browser revalidates each time and gets a 304 when nothing changed, and a PBX upgrade never
leaves an old script beside a new page. A Content-Security-Policy allows only the PBX's own
scripts, styles and connections (the WebSocket included).

What it does not do: authenticate, template or compress anything; unknown files are a 404.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import msgspec
from aiohttp import web

from sdk.admin import ApiError

__all__ = ["PAGES", "PUBLIC_PATHS", "WEB", "add_pages"]

WEB = Path(__file__).with_name("web")
PAGES = {"/wallboard": "wallboard.html", "/supervisor": "supervisor.html", "/agent": "agent.html"}
PUBLIC_PATHS = ("/", *PAGES, "/static/{file}")  # what the gate lets through without a token

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # RFC 9239: text/javascript for ES modules
    ".svg": "image/svg+xml",
}

SECURITY_HEADERS = {
    # The pages' own files only; 'self' covers the same-origin ws:/wss: stream (CSP Level 3).
    # img-src data: for the empty favicon each page declares (no /favicon.ico request).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # RFC 9110 8.8.3: a strong validator, quoted


def load_assets(directory: Path = WEB) -> dict[str, Asset]:
    """Every servable file of `directory` by name (no subdirectories: nothing to traverse)."""
    assets = {}
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if path.is_file() and content_type is not None:
            body = path.read_bytes()
            assets[path.name] = Asset(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return assets


def add_pages(app: web.Application, directory: Path = WEB) -> None:
    assets = load_assets(directory)
    missing = sorted(set(PAGES.values()) - set(assets))
    if missing:
        raise FileNotFoundError(f"the admin pages {missing} are missing from {directory}")

    def page(name: str):
        async def serve(request: web.Request) -> web.StreamResponse:
            return _answer(request, assets[name])
        return serve

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        asset = assets.get(name)
        if asset is None:
            error = ApiError("not_found", f"no file {name!r} among the pages' files", "file")
            return web.Response(status=404, body=msgspec.json.encode(error), content_type="application/json")
        return _answer(request, asset)

    async def home(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/wallboard")  # the browser keeps a #token= fragment across the redirect

    app.router.add_get("/", home)
    for path, name in PAGES.items():
        app.router.add_get(path, page(name))
    app.router.add_get("/static/{file}", static)


def _answer(request: web.Request, asset: Asset) -> web.StreamResponse:
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    if _matches(request.headers.get("If-None-Match", ""), asset.etag):
        return web.Response(status=304, headers=headers)  # RFC 9110 13.1.2
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 13.1.2: "*" or any listed tag, compared weakly (a W/ prefix is ignored)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
