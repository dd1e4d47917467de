"""pbx/config_reload.py: which changes of a config read again apply live, and which wait for a
restart (two parsed configs in, a plan out)."""

from __future__ import annotations

from pbx.config import parse_config
from pbx.config_reload import plan_reload

BASE = """\
realm: pbx.test
extensions: {"1001": {password: a}, "1002": {password: b}}
agents: {alice: {extension: "1001"}}
queues: {support: {max_wait: 300, members: [{agent: alice}]}}
routes: [{match: "700", queue: support}]
"""


def plan(change: str):
    return plan_reload(parse_config(BASE), parse_config(change))


def test_the_same_config_changes_nothing():
    same = plan(BASE)
    assert (same.applied, same.restart, same.config) == ([], [], parse_config(BASE))


def test_what_applies_live_and_what_waits():
    rules = plan(BASE.replace("max_wait: 300", "max_wait: 60, wrap_up: 5"))
    assert (rules.applied, rules.restart, rules.queue_rules) == (["queues.support"], [], ["support"])
    assert rules.config.queues["support"].max_wait == 60

    new_agent = plan(BASE.replace('agents: {alice: {extension: "1001"}}',
                                  'agents: {alice: {extension: "1001"}, bob: {extension: "1002"}}')
                     .replace("members: [{agent: alice}]", "members: [{agent: alice}, {agent: bob}]"))
    assert (new_agent.applied, new_agent.restart, new_agent.new_agents) == (["agents.bob"], [], ["bob"])
    assert [m.agent for m in new_agent.config.queues["support"].members] == ["alice", "bob"]

    # an agent on a new extension: extensions (passwords) need a restart, and so does the agent
    new_phone = plan(BASE.replace('"1002": {password: b}', '"1002": {password: b}, "1003": {password: c}')
                     .replace('agents: {alice: {extension: "1001"}}',
                              'agents: {alice: {extension: "1001"}, carol: {extension: "1003"}}'))
    assert (new_phone.applied, new_phone.restart) == ([], ["extensions", "agents.carol"])
    assert "carol" not in new_phone.config.agents

    # a route to a queue that does not run yet waits with the queue
    new_queue = plan(BASE.replace("queues: {support:", "queues: {sales: {}, support:")
                     .replace('routes: [{match: "700", queue: support}]',
                              'routes: [{match: "700", queue: support}, {match: "710", queue: sales}]'))
    assert (new_queue.applied, new_queue.restart) == ([], ["queues.sales", "routes"])
    moved = plan(BASE.replace('queue: support}]', 'queue: support}, {match: "800", extension: "1002"}]'))
    assert (moved.applied, moved.restart) == (["routes"], [])

    removed = plan(BASE.replace("members: [{agent: alice}]", "members: []"))
    assert (removed.applied, removed.restart) == ([], ["queues.support.members"])
    assert [m.agent for m in removed.config.queues["support"].members] == ["alice"]  # as it runs

    ivr = plan(BASE + "ivr: {scenarios: elsewhere, tts_cache: other}\n")
    assert (ivr.applied, ivr.restart) == (["ivr.scenarios"], ["ivr.tts_cache"])
    assert (ivr.config.ivr.scenarios, ivr.config.ivr.tts_cache) == ("elsewhere", "var/tts")
