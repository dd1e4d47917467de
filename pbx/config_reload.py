"""What a config reload may change in a running PBX, and what waits for a restart.

`plan_reload(running, new)` compares the config the PBX runs with the one just read from its
file and answers a `ReloadPlan`: the changes that apply live, the config the PBX runs once they
are applied (`running` with those parts of `new`), and every other change, named by its key
path, that needs a restart. Applying the plan is the composition root's (Pbx.apply_config).

Live, because each is a table the PBX reads on every call:
- a queue's rules (every setting but its members: strategy, timeouts, wrap-up, penalty steps,
  announcements, overflow, exit and callback keys): the next decision uses them; callers waiting
  keep their place, and a deadline already set (a ring, a wait) runs out as it was set;
- new agents, in queues that exist (their memberships come from the queues' `members`), when
  their phone is an extension the PBX already has and the PBX runs queues;
- inbound routes and the default route, when every queue they name runs;
- the scenario directory (`ivr.scenarios`); the scenarios are read again after every reload.

Needs a restart: everything else (SIP listeners, the realm, extensions and their passwords,
media ports, recording, the database, the admin listener, logging, feature codes, plugins and
their config, prompts, TTS and IVR functions), and queues added or removed, members changed,
agents changed or removed. Those changes are reported and left as they run.

Pure: two Configs in, a plan out; it reads no file and touches no service.
"""

from __future__ import annotations

import msgspec

from pbx.config import Config, QueueConfig, QueueMember

__all__ = ["ReloadPlan", "plan_reload"]

LIVE_IVR_FIELDS = ("scenarios",)


class ReloadPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The changes a reload applies (key paths, as in the file) and those that need a restart."""

    config: Config  # what the PBX runs once the live changes are applied
    applied: list[str] = []  # "queues.sales", "agents.1003", "routes", "ivr.scenarios"
    restart: list[str] = []  # "sip", "queues.support.members", "plugins", ...
    queue_rules: list[str] = []  # queues whose rules change
    new_agents: list[str] = []


def _rules(queue: QueueConfig) -> QueueConfig:
    return msgspec.structs.replace(queue, members=[])


def plan_reload(running: Config, new: Config) -> ReloadPlan:
    applied: list[str] = []
    restart: list[str] = []
    live_fields = {"queues", "agents", "routes", "default_route", "ivr"}
    for name in Config.__struct_fields__:
        if name not in live_fields and getattr(running, name) != getattr(new, name):
            restart.append(name)

    # Agents: new ones apply when their phone is an extension the PBX has; the rest waits.
    new_agents = []
    for name in sorted(set(new.agents) | set(running.agents)):
        before, after = running.agents.get(name), new.agents.get(name)
        if before == after:
            continue
        if before is None and after is not None and running.queues and (after.extension or name) in running.extensions:
            new_agents.append(name)
            applied.append(f"agents.{name}")
        else:
            restart.append(f"agents.{name}")
    agents = {**running.agents, **{name: new.agents[name] for name in new_agents}}

    # Queues: rules apply; members apply only as new agents joining (the others wait).
    queues = dict(running.queues)
    queue_rules = []
    for name in sorted(set(new.queues) | set(running.queues)):
        before, after = running.queues.get(name), new.queues.get(name)
        if before is None or after is None:
            restart.append(f"queues.{name}")
            continue
        if _rules(before) != _rules(after):
            queue_rules.append(name)
            applied.append(f"queues.{name}")
        joining = [member for member in after.members if member.agent in new_agents]
        if [member for member in after.members if member.agent not in new_agents] != before.members:
            restart.append(f"queues.{name}.members")
        members: list[QueueMember] = [*before.members, *joining]
        queues[name] = msgspec.structs.replace(after, members=members)

    # Routes: live when every queue they name is one that runs.
    routes, default_route = running.routes, running.default_route
    if (new.routes, new.default_route) != (running.routes, running.default_route):
        targets = [route.target for route in new.routes]
        if new.default_route is not None:
            targets.append(new.default_route.target)
        if all(kind != "queue" or target in running.queues for kind, target in targets):
            routes, default_route = new.routes, new.default_route
            applied += [name for name in ("routes", "default_route")
                        if getattr(new, name) != getattr(running, name)]
        else:
            restart += [name for name in ("routes", "default_route") if getattr(new, name) != getattr(running, name)]

    # IVR: the scenario directory is live; prompts, TTS and functions are not.
    ivr = running.ivr
    for name in _changed(running.ivr, new.ivr):
        if name in LIVE_IVR_FIELDS:
            ivr = msgspec.structs.replace(ivr, **{name: getattr(new.ivr, name)})
            applied.append(f"ivr.{name}")
        else:
            restart.append(f"ivr.{name}")

    merged = msgspec.structs.replace(running, agents=agents, queues=queues, routes=routes,
                                     default_route=default_route, ivr=ivr)
    return ReloadPlan(config=merged, applied=applied, restart=restart, queue_rules=queue_rules,
                      new_agents=new_agents)


def _changed(before: msgspec.Struct, after: msgspec.Struct) -> list[str]:
    """The fields of two Structs of one type that differ."""
    return [name for name in before.__struct_fields__ if getattr(before, name) != getattr(after, name)]
