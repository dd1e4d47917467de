"""An example CRM for the `crm` plugin to talk to: customers by phone number, and call results.

    python examples/crm_server.py --host 127.0.0.1 --port 8099 \
        --customers examples/crm_customers.json [--token s3cret] [--delay 0] [--lifetime 600]

    GET  /customers?phone=NUMBER   200 with the customer as JSON; 404 for an unknown number;
                                   400 without `phone`
    POST /calls                    a call result (JSON object) to keep; 201
    GET  /calls                    every call result kept so far, oldest first
    GET  /stats                    {"lookups": N, "calls": M}: requests seen (to check caching)
    GET  /health                   200 "ok"

With `--token`, every request but /health needs `Authorization: Bearer <token>` (401 without).
`--delay` makes /customers answer that many seconds late (a slow CRM); `--lifetime` stops the
server after that many seconds, so a test's server always ends. The customers file is
{"customers": [{"phone": "...", "id": "...", "name": "...", ...}, ...]}: each record is served as
it is written. Everything is kept in memory: this is a test double, not a CRM.

`make_app(customers, token=..., delay=...)` builds the aiohttp application without starting it
(for tests with aiohttp's TestServer).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

CUSTOMERS = web.AppKey("customers", dict)  # phone -> record
CALLS = web.AppKey("calls", list)  # call results, in arrival order
TOKEN = web.AppKey("token", str)  # "" when no token is required
DELAY = web.AppKey("delay", float)
LOOKUPS = web.AppKey("lookups", list)  # every phone asked for, in order (for tests of caching)


def load_customers(path: str | Path) -> dict[str, dict[str, Any]]:
    """The customers file as {phone: record}; a record without a phone is an error naming it."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    records = document.get("customers") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected {{\"customers\": [...]}}")
    customers: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not record.get("phone"):
            raise ValueError(f"{path}: customers[{index}] has no \"phone\"")
        customers[str(record["phone"])] = record
    return customers


@web.middleware
async def _require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[TOKEN]
    if token and request.path != "/health" and request.headers.get("Authorization") != f"Bearer {token}":
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    return await handler(request)


async def _customer(request: web.Request) -> web.Response:
    phone = request.query.get("phone")
    request.app[LOOKUPS].append(phone)
    if not phone:
        return web.json_response({"error": "the query needs ?phone=NUMBER"}, status=400)
    if request.app[DELAY]:
        await asyncio.sleep(request.app[DELAY])
    record = request.app[CUSTOMERS].get(phone)
    if record is None:
        return web.json_response({"error": f"no customer with phone {phone}"}, status=404)
    return web.json_response(record)


async def _record_call(request: web.Request) -> web.Response:
    try:
        result = await request.json()
    except ValueError:
        return web.json_response({"error": "the body must be JSON"}, status=400)
    if not isinstance(result, dict):
        return web.json_response({"error": "the body must be a JSON object"}, status=400)
    request.app[CALLS].append(result)
    print(f"call result: {json.dumps(result, sort_keys=True)}", flush=True)
    return web.json_response({"ok": True, "count": len(request.app[CALLS])}, status=201)


async def _calls(request: web.Request) -> web.Response:
    return web.json_response(request.app[CALLS])


async def _stats(request: web.Request) -> web.Response:
    return web.json_response({"lookups": len(request.app[LOOKUPS]), "calls": len(request.app[CALLS])})


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(customers: dict[str, dict[str, Any]], *, token: str = "", delay: float = 0.0) -> web.Application:
    app = web.Application(middlewares=[_require_token])
    app[CUSTOMERS] = customers
    app[CALLS] = []
    app[TOKEN] = token
    app[DELAY] = delay
    app[LOOKUPS] = []
    app.add_routes([web.get("/customers", _customer), web.post("/calls", _record_call), web.get("/calls", _calls),
                    web.get("/stats", _stats), web.get("/health", _health)])
    return app


async def serve(app: web.Application, host: str, port: int, lifetime: float | None) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"listening on http://{host}:{port} customers={len(app[CUSTOMERS])}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), lifetime)
    except TimeoutError:
        print(f"lifetime of {lifetime:g} s is over", flush=True)
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--customers", default=str(Path(__file__).with_name("crm_customers.json")))
    parser.add_argument("--token", default="", help="require Authorization: Bearer TOKEN")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before /customers answers")
    parser.add_argument("--lifetime", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    try:
        customers = load_customers(args.customers)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    asyncio.run(serve(make_app(customers, token=args.token, delay=args.delay), args.host, args.port, args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
