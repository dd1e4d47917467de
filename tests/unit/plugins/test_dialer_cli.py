"""`pbx dialer ...` on a config file and its database: lead and DNC imports with file:line errors,
and the report computed from the attempt log."""

from __future__ import annotations

import asyncio
import json
import time

import yaml

from plugins.dialer.store import Attempt, DialerStore
from sdk import SqliteDatabase


def pbx(*argv: str) -> int:
    from pbx.cli import main

    return main(list(argv))


def test_imports_report_bad_lines_and_the_report_reads_the_attempt_log(tmp_path, capsys):
    data = tmp_path / "data"
    database = SqliteDatabase(data / "pbx.sqlite")
    now = time.time()

    async def seed() -> None:
        store = DialerStore(database)
        await store.migrate()
        for index, (outcome, agent, disposition) in enumerate([("contact", "1001", "sale"), ("busy", None, None),
                                                               ("abandoned", None, None), ("contact", "1002", None)]):
            await store.save_attempt(Attempt(call_id=f"c{index}", campaign="spring", lead=f"l{index}",
                                             phone="+48600100200", started_at=now - 600 + index, outcome=outcome,
                                             agent=agent, disposition=disposition, abandoned=outcome == "abandoned",
                                             answered_at=None if outcome == "busy" else now - 590))

    asyncio.run(seed())
    database.close()
    config = tmp_path / "pbx.yaml"
    config.write_text(yaml.safe_dump({"realm": "pbx.test", "data_dir": str(data), "plugins": {"dialer": {"config": {
        "campaigns": [{"id": "spring", "queue": "sales", "connect_to": "700"}]}}}}))
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,name\n+48600100200,Anna\n600100201,Bob\n")
    options = ["--config", str(config)]
    assert pbx("dialer", "import-leads", "spring", str(leads), *options) == 1
    captured = capsys.readouterr()
    assert captured.err == f"{leads}:3: phone '600100201' has no country code: write it in E.164 (+48600100200)\n"
    assert captured.out == "1 lead(s) added, 0 already there, 1 line(s) refused\n"
    assert pbx("dialer", "import-leads", "autumn", str(leads), *options) == 1
    assert "no campaign 'autumn'" in capsys.readouterr().err
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("+48600100209\n+48 600 100 208\n")
    assert pbx("dialer", "import-dnc", str(dnc), *options) == 0
    assert capsys.readouterr().out == "2 number(s) on the global do-not-call list, 0 line(s) refused\n"
    assert pbx("dialer", "report", "spring", "--json", *options) == 0
    report = json.loads(capsys.readouterr().out)
    assert {key: report["total"][key] for key in ("attempts", "live_answers", "contacts", "conversions", "abandoned",
                                                  "abandonment_rate")} == {
        "attempts": 4, "live_answers": 3, "contacts": 2, "conversions": 1, "abandoned": 1, "abandonment_rate": 0.3333}
    assert [row["key"] for row in report["agents"]] == ["1001", "1002"]
    assert pbx("dialer", "report", "spring", *options) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "campaign spring (hours in UTC)" and table[2].split()[:4] == ["total", "4", "3", "2"]
    assert pbx("dialer", "report", "spring", "--time-zone", "Mars/Base", *options) == 2
