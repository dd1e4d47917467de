"""Built-in plugin `crm`: who is calling, told to the IVR, the queues and the agent's screen, and
how the call went, told back to the CRM.

    plugins:
      crm:
        timeout: 2
        config:
          rest:
            url: "http://crm.example/customers?phone={caller}"
            auth: {header: Authorization, value: "Bearer s3cret"}
            fields: {customer_id: id, extra: {account_manager: account.manager}}
            timeout: 1.0
            cache: {ttl: 60, size: 10000}
            breaker: {failures: 5, open_seconds: 30}
          contacts: {enabled: true}          # pbx crm import contacts.csv --config config.yaml
          vip_priority: 10
          writeback: {url: "http://crm.example/calls"}
          screen_pop: true

- `pbx_lookup_caller`: the contact store, then the CRM's REST API (order: `order`); a VIP gets
  `vip_priority`; the IVR sees `customer.name`, `customer.tier`, `customer.found`, ...
- `pbx_event`: `ScreenPop` for the agent an identified (or unknown) caller reaches; the call's
  dispositions, agent, queue and talk time POSTed to `writeback.url` when it ends.
- `pbx_cli_commands`: `pbx crm import FILE.csv`, `pbx crm lookup NUMBER` (cli.py).
- `pbx_admin_routes`: /api/plugins/crm/contacts/{number} (GET, PUT, DELETE) and /lookup/{number} (admin.py).

A failing CRM never fails a call: lookups and writebacks that fail are counted by a circuit
breaker that stops asking after `rest.breaker.failures` in a row, logging that once.

This module is the hook holder the PBX loads (`plugins.crm`): each PbxApi (one per PBX, or per
test harness) gets its own `CrmService`, kept in a weak mapping from the api, because the SDK
calls module-level hooks and a module has no per-PBX state of its own.
"""

from __future__ import annotations

import weakref
from typing import Any

from sdk import CallerInfo, CallInfo, PbxApi, hookimpl, subscribe
from sdk.events import AgentConnected, CallDisposition, CallEnded, Event

from . import admin, cli
from .config import Config
from .connectors import CONNECTORS, register_connector
from .service import CrmService

__all__ = ["CONNECTORS", "Config", "CrmService", "name", "register_connector"]

name = "crm"

_services: weakref.WeakKeyDictionary[Any, CrmService] = weakref.WeakKeyDictionary()


def service_for(api: PbxApi) -> CrmService:
    """This PBX's CRM service (made on first use, so a hook called before startup still works)."""
    service = _services.get(api)
    if service is None:
        service = CrmService(api.config or Config(), database=api.database, log=api.log, clock=api.now)
        _services[api] = service
    return service


@hookimpl
async def pbx_startup(api: PbxApi) -> None:
    await service_for(api).start()


@hookimpl
async def pbx_shutdown(api: PbxApi) -> None:
    await service_for(api).close()  # events still queued are folded, but nothing more is sent


@hookimpl
async def pbx_lookup_caller(call: CallInfo, api: PbxApi) -> CallerInfo | None:
    return await service_for(api).lookup(call)


@hookimpl
@subscribe(CallDisposition, AgentConnected, CallEnded)
async def pbx_event(event: Event, api: PbxApi) -> None:
    service = service_for(api)
    screen_pops, results = service.on_event(event)
    for screen_pop in screen_pops:
        api.publish(screen_pop)
    for result in results:
        # In the background: a slow CRM must not hold up the plugin's next events.
        api.spawn(service.write_back(result), name=f"crm-writeback-{result.call_id}")


@hookimpl
def pbx_cli_commands() -> list[Any]:
    return cli.commands()


@hookimpl
def pbx_admin_routes(api: PbxApi) -> list[Any]:
    return admin.endpoints(service_for(api))
