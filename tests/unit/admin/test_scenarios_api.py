"""Scenarios and the config on the admin API (pbx/admin/scenarios_api.py), through aiohttp's test
client against make_admin_app, on a PBX built by its composition root (pbx.app.Pbx, not started:
no socket is opened) from a config file in a temporary directory:

- validate answers the checker's messages with line and column, checked against the PBX's queues;
- an upload is checked, written atomically and loaded; a refused one writes nothing and the
  version in service stays; names are never paths; one scenario has one form;
- the listing says where each file stands (loaded, modified, invalid, ignored, removed);
- a config reload applies queue rules, new agents and routes live, lists what needs a restart,
  and refuses an invalid file with its file:line and key, changing nothing;
- changes need the admin role, reads a reader's token.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pbx.admin import AdminContext, AuditLog, Tokens, make_admin_app
from pbx.app import Pbx
from pbx.config import load_config

CONFIG = """\
realm: pbx.test
data_dir: {tmp}/data
sip: {{listen: [{{transport: udp, host: 127.0.0.1, port: 0}}]}}
admin: {{listen: null}}
ivr: {{scenarios: {tmp}/scenarios, prompts: {tmp}/prompts, tts_cache: {tmp}/tts}}
extensions:
  "1001": {{password: secret1001}}
  "1002": {{password: secret1002}}
  "1003": {{password: secret1003}}
agents:
  alice: {{extension: "1001", login: dynamic}}
  bob: {{extension: "1002", login: dynamic}}
queues:
  support: {{strategy: linear, max_wait: 300, members: [{{agent: alice}}]}}
  sales: {{strategy: ring-all, members: [{{agent: bob}}]}}
routes:
  - {{match: "700", queue: support}}
"""

GOOD = """\
scenario "Support line"
end

block start
  answer
  say "Hello"
  queue support
end
"""
TYPO = GOOD.replace("queue support", "queue suport")
YAML = """\
scenario: Support line
sections:
- block: start
  do:
  - answer
  - hangup
"""


class Admin:
    """The admin API of one PBX, a token per role, and the files under tmp."""

    def __init__(self, client: TestClient, pbx: Pbx, tokens: dict[str, str], tmp: Path, audit: AuditLog) -> None:
        self.client, self.pbx, self.tokens, self.tmp, self.audit = client, pbx, tokens, tmp, audit
        self.scenarios = tmp / "scenarios"
        self.config_file = tmp / "pbx.yaml"

    async def call(self, method: str, path: str, role: str | None = "admin", status: int = 200, **options):
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        response = await self.client.request(method, path, headers=headers, **options)
        body = await response.json()
        assert response.status == status, body
        return body


@pytest.fixture
async def admin(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "welcome.ivr").write_text(GOOD)
    config_file = tmp_path / "pbx.yaml"
    config_file.write_text(CONFIG.format(tmp=tmp_path))
    pbx = Pbx(load_config(config_file), config_file=str(config_file), entry_points=False)
    pbx.reload_scenarios()
    tokens, audit = Tokens(), AuditLog()
    secrets = {role: tokens.issue(role.replace("-", ""), role) for role in ("admin", "supervisor", "read-only")}
    context = AdminContext(clock=pbx.clock, status=pbx.status, registrar=pbx.registrar, queues=pbx.queues,
                           reload_scenarios=pbx.reload_scenarios, app=pbx, load_config=lambda: load_config(config_file))
    app = make_admin_app(context, tokens=tokens, audit=audit)
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield Admin(client, pbx, secrets, tmp_path, audit)
    finally:
        pbx.database.close()


async def test_validate_answers_the_checkers_messages_with_line_and_column(admin):
    valid = await admin.call("POST", "/api/scenarios/validate", role="read-only",
                             json={"name": "support", "format": "dsl", "source": GOOD})
    assert (valid["valid"], valid["errors"], valid["file"]) == (True, 0, "support.ivr")
    refused = await admin.call("POST", "/api/scenarios/validate", json={"name": "support", "source": TYPO})
    assert (refused["valid"], refused["errors"]) == (False, 1)
    [message] = [m for m in refused["messages"] if m["severity"] == "error"]
    assert (message["line"], message["column"]) == (7, 9)  # checked against the PBX's queues
    assert message["message"] == "unknown queue 'suport': not in the PBX config"
    assert message["hint"] == "did you mean queue 'support'?"
    headline = message["formatted"].splitlines()[0]
    assert headline == "support.ivr:7:9: error: unknown queue 'suport': not in the PBX config"
    assert message["formatted"].splitlines()[2].endswith("^")  # the caret under the column
    syntax = await admin.call("POST", "/api/scenarios/validate",
                              json={"name": "x", "source": 'scenario "X"\nend\nblock start\n  paly "hi"\nend\n'})
    assert [(m["line"], m["column"]) for m in syntax["messages"]] == [(4, 3)]
    in_yaml = await admin.call("POST", "/api/scenarios/validate", json={"name": "y", "format": "yaml", "source": YAML})
    assert in_yaml["valid"] and in_yaml["file"] == "y.yaml"
    unreadable = await admin.call("POST", "/api/scenarios/validate",
                                  json={"name": "z", "format": "yaml", "source": "scenario: \x00\x01"})
    assert unreadable["valid"] is False and unreadable["messages"][0]["severity"] == "error"
    for body, field in [({"name": "../etc/passwd", "source": GOOD}, "body.name"), ({"name": "a.b", "source": GOOD},
                        "body.name"), ({"name": "x", "format": "xml", "source": GOOD}, "body.format"),
                        ({"name": "x"}, "body.source")]:
        answer = await admin.call("POST", "/api/scenarios/validate", status=400, json=body)
        assert answer["field"] == field and answer["code"] == "bad_request", body


async def test_an_upload_is_checked_written_and_loaded(admin):
    assert admin.pbx.scenarios.get("support") is None
    loaded = await admin.call("PUT", "/api/scenarios/support", json={"format": "dsl", "source": GOOD})
    assert (loaded["file"], loaded["version"]) == ("support.ivr", 1) and loaded["reload"]["loaded"] == ["support"]
    assert (admin.scenarios / "support.ivr").read_text() == GOOD
    assert sorted(path.name for path in admin.scenarios.iterdir()) == ["support.ivr", "welcome.ivr"]  # no leftovers
    before = admin.pbx.scenarios.get("support")

    refused = await admin.call("PUT", "/api/scenarios/support", status=400, json={"source": TYPO})
    assert refused["code"] == "bad_request" and refused["field"] == "body.source"
    assert "support.ivr:7:9: error: unknown queue 'suport'" in refused["message"]
    assert [(m["line"], m["column"], m["severity"]) for m in refused["messages"]] == [(7, 9, "error")]
    assert (admin.scenarios / "support.ivr").read_text() == GOOD  # nothing written
    assert admin.pbx.scenarios.get("support") is before

    changed = await admin.call("PUT", "/api/scenarios/support", json={"source": GOOD.replace("Hello", "Welcome")})
    assert changed["version"] == 2 and admin.pbx.scenarios.get("support").version == 2
    conflict = await admin.call("PUT", "/api/scenarios/support", status=409, json={"format": "yaml", "source": YAML})
    assert conflict["field"] == "format" and "support.ivr already defines scenario 'support'" in conflict["message"]

    source = await admin.call("GET", "/api/scenarios/support", role="read-only")
    assert (source["file"], source["format"], source["version"]) == ("support.ivr", "dsl", 2)
    assert "Welcome" in source["source"]
    await admin.call("GET", "/api/scenarios/nothing", status=404)
    for name in ("..%2Fpasswd", "a.b", "-x", "x" * 65, "x%00"):  # ("/../" itself never reaches a route)
        answer = await admin.call("PUT", f"/api/scenarios/{name}", status=400, json={"source": GOOD})
        assert answer["field"] == "name", name
        assert (await admin.call("GET", f"/api/scenarios/{name}", status=400))["field"] == "name"
    audited = [(record.actor, record.action, record.target, record.status) for record in admin.audit.records
               if record.action.startswith("PUT")]
    assert audited[:3] == [("admin", "PUT /api/scenarios/{name}", "scenario support", 200),
                           ("admin", "PUT /api/scenarios/{name}", "scenario support", 400),
                           ("admin", "PUT /api/scenarios/{name}", "scenario support", 200)]


async def test_the_listing_says_where_each_file_stands(admin):
    (admin.scenarios / "billing.ivr").write_text(GOOD)  # new, valid: a reload loads it
    (admin.scenarios / "broken.ivr").write_text(TYPO)
    (admin.scenarios / "welcome.yaml").write_text(YAML)  # the .ivr wins
    rows = await admin.call("GET", "/api/scenarios", role="read-only")
    assert [(row["name"], row["file"], row["status"], row["version"], row["errors"]) for row in rows] == [
        ("billing", "billing.ivr", "modified", None, 0), ("broken", "broken.ivr", "invalid", None, 1),
        ("welcome", "welcome.ivr", "loaded", 1, 0), ("welcome", "welcome.yaml", "ignored", 1, 0)]
    result = await admin.call("POST", "/api/scenarios/reload")
    assert (result["ok"], result["loaded"], list(result["refused"])) == (False, ["billing"], ["broken"])
    assert "broken.ivr:7:9: error: unknown queue 'suport'" in result["refused"]["broken"]
    (admin.scenarios / "welcome.ivr").unlink()
    (admin.scenarios / "welcome.yaml").unlink()
    rows = {row["name"]: row["status"] for row in await admin.call("GET", "/api/scenarios")}
    assert rows == {"billing": "loaded", "broken": "invalid", "welcome": "removed"}


async def test_a_config_reload_applies_what_can_change_live(admin):
    pbx = admin.pbx
    text = admin.config_file.read_text()
    text = text.replace("max_wait: 300", "max_wait: 120, wrap_up: 15")  # support's rules
    text = text.replace("strategy: ring-all", "strategy: linear")  # sales' strategy
    text = text.replace('  bob: {extension: "1002", login: dynamic}',
                        '  bob: {extension: "1002", login: dynamic}\n  carol: {extension: "1003", login: dynamic}')
    text = text.replace("members: [{agent: bob}]", "members: [{agent: bob}, {agent: carol, penalty: 1}]")
    text = text.replace("members: [{agent: alice}]", "members: [{agent: alice}, {agent: bob}]")  # needs a restart
    text = text.replace('  - {match: "700", queue: support}', '  - {match: "700", queue: support}\n'
                                                                 '  - {match: "710", queue: sales}')
    text = text.replace("port: 0}", "port: 5099}")  # needs a restart
    admin.config_file.write_text(text)
    answer = await admin.call("POST", "/api/config/reload")
    assert answer["applied"] == ["agents.carol", "queues.sales", "queues.support", "routes"]
    assert answer["restart_needed"] == ["sip", "queues.support.members"]
    assert answer["scenarios"]["ok"] is True
    acd = pbx.queues.acd
    assert (acd.queues["support"].settings.max_wait, acd.queues["support"].settings.wrap_up) == (120, 15)
    assert acd.queues["sales"].settings.strategy == "linear"
    assert isinstance(acd.queues["sales"].strategy, type(acd.registry.make_strategy("linear")))
    assert acd.queues["sales"].members == ["bob", "carol"] and acd.agents["carol"].memberships["sales"].penalty == 1
    assert acd.queues["support"].members == ["alice"]  # bob joins support at the next start
    assert pbx.routes.match("710").name == "sales" and pbx.config.sip.listen[0].port == 0
    assert [record.target for record in admin.audit.records][-1] == "config"

    again = await admin.call("POST", "/api/config/reload")  # the same file: nothing more applies
    assert again["applied"] == [] and again["restart_needed"] == ["sip", "queues.support.members"]


async def test_an_invalid_config_is_refused_with_its_line_and_changes_nothing(admin):
    pbx = admin.pbx
    good = admin.config_file.read_text()
    admin.config_file.write_text(good.replace("max_wait: 300", "max_wait: soon"))
    refused = await admin.call("POST", "/api/config/reload", status=400)
    assert refused["message"].startswith(f"{admin.config_file}:13: ") and "Expected `float`" in refused["message"]
    assert refused["field"] == "queues[...].max_wait"  # msgspec names no mapping key
    admin.config_file.write_text(good.replace("max_wait: 300", "max_wait: 60").replace("strategy: ring-all",
                                                                                       "strategy: fastest"))
    refused = await admin.call("POST", "/api/config/reload", status=400)
    assert refused["field"] == "queues.sales.strategy" and "unknown queue strategy 'fastest'" in refused["message"]
    assert pbx.queues.acd.queues["support"].settings.max_wait == 300  # the whole reload was refused
    admin.config_file.write_text("realm: [")
    refused = await admin.call("POST", "/api/config/reload", status=400)
    assert "invalid YAML" in refused["message"] and refused["field"] == "config"


async def test_changes_need_the_admin_role_and_reads_a_token(admin):
    await admin.call("GET", "/api/scenarios", role=None, status=401)
    await admin.call("PUT", "/api/scenarios/support", role="supervisor", status=403, json={"source": GOOD})
    await admin.call("POST", "/api/scenarios/reload", role="read-only", status=403)
    await admin.call("POST", "/api/config/reload", role="supervisor", status=403)
    assert not (admin.scenarios / "support.ivr").exists()
    assert len(await admin.call("GET", "/api/scenarios", role="supervisor")) == 1
