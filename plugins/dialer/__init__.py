"""Built-in plugin: the outbound dialer - campaigns, leads, do-not-call lists, pacing (docs/dialer.md).

Through the public SDK only, it

- keeps campaigns (from the config and the admin API), their leads (CSV, with custom fields and
  a time zone each) and do-not-call lists in the PBX database (config.py, leads.py, store.py);
- decides which lead may be dialled now and says why one is not (rules.py, windows.py);
- paces the lines: preview (an agent accepts a lead), progressive (one line per ready agent),
  predictive (pacing.py, with a hard cap on abandonment: abandonment.py), and plays the
  safe-harbor message to a person no agent took within 2 s (live.py);
- reports attempts, contacts, right-party contacts, abandonment and conversion per hour and per
  agent from its attempt log (report.py), on the admin API (admin.py) and the command line
  (`pbx dialer ...`, cli.py).

simulation.py drives the same pacing core against a seeded simulated carrier and agents.
It is the module the PBX loads (`plugins.dialer`) when the config has a `plugins: dialer:` section.
"""

from __future__ import annotations

import weakref

from sdk import PbxApi, hookimpl, subscribe

from . import admin, cli
from .config import CampaignSpec, Config
from .live import SUBSCRIBED, Dialer

__all__ = ["CampaignSpec", "Config", "Dialer"]

_running: weakref.WeakKeyDictionary[PbxApi, Dialer] = weakref.WeakKeyDictionary()


def dialer(api: PbxApi) -> Dialer:
    found = _running.get(api)
    if found is None:
        found = _running[api] = Dialer(api)
    return found


@hookimpl
async def pbx_startup(api: PbxApi) -> None:
    await dialer(api).start()


@hookimpl
async def pbx_shutdown(api: PbxApi) -> None:
    found = _running.get(api)
    if found is not None:
        found.stop()


@hookimpl
@subscribe(*SUBSCRIBED)
async def pbx_event(event, api: PbxApi) -> None:
    await dialer(api).on_event(event)


@hookimpl
async def pbx_admin_routes(api: PbxApi) -> list:
    found = dialer(api)
    await found.ready()
    return admin.endpoints(found)


@hookimpl
def pbx_cli_commands() -> list:
    return cli.commands()
