"""`pbx crm import` and `pbx crm lookup` through the real `pbx` command line (pbx.cli.main, in
process), against a config file and its database; the imported contacts are then found by the
plugin running in the harness on that same database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from test_crm_plugin import crm_server  # noqa: F401 - the same module pytest loaded (tests/unit has no packages)

from pbx.cli import main as pbx_main
from plugins import crm

CSV = """number,name,tier,language,vip,preferred_agent,customer_id,account_manager
+48 600 100 200,Jan Kowalski,gold,pl,yes,1002,C-1,Marta
1008,Carla Contact,silver,en,no,,C-3,Piotr
1009,Bad Vip,silver,en,perhaps,,C-4,
,No Number,,,,,,
"""


def write_config(directory: Path, crm_config: dict) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump({
        "realm": "pbx.test", "data_dir": str(directory / "var"),
        "plugins": {"recording": {"enabled": False}, "crm": {"config": crm_config}},
    }))  # fmt: skip
    return path


async def test_import_reports_bad_rows_by_line_and_the_pbx_then_finds_the_contacts(tmp_path, capsys, pbx_harness):
    config = write_config(tmp_path, {"contacts": {"enabled": True}})
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(CSV)
    status = await asyncio.to_thread(pbx_main, ["crm", "import", str(contacts), "--config", str(config)])
    out, err = capsys.readouterr()
    assert status == 1  # some rows were bad; the good ones are in
    assert out.strip() == f"imported 2 contacts from {contacts}; 2 bad rows skipped"
    assert err.splitlines() == [f"{contacts}:4: vip must be yes/no/true/false/1/0, got 'perhaps'",
                                f"{contacts}:5: the number is empty"]
    async with pbx_harness(crm, config={"contacts": {"enabled": True}}, directory=tmp_path / "var") as pbx:
        jan = await pbx.lookup_caller(pbx.new_call(caller="+48600100200"))
        carla = await pbx.lookup_caller(pbx.new_call(caller="1008"))
        assert await pbx.lookup_caller(pbx.new_call(caller="1009")) is None
    assert (jan.source, jan.name, jan.vip, jan.priority, jan.language, jan.preferred_agent, jan.fields) == \
        ("contacts", "Jan Kowalski", True, 10, "pl", "1002", {"account_manager": "Marta"})
    assert (carla.customer_id, carla.vip, carla.priority) == ("C-3", False, 0)


async def test_import_of_a_file_without_a_number_column_imports_nothing(tmp_path, capsys):
    config = write_config(tmp_path, {"contacts": {"enabled": False}})
    contacts = tmp_path / "phones.csv"
    contacts.write_text("phone,name\n1008,Carla\n")
    status = await asyncio.to_thread(pbx_main, ["crm", "import", str(contacts), "--config", str(config)])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"{contacts}:1: the header has no 'number' column (found: phone,name)" in err


async def test_lookup_prints_what_the_pbx_would_find_and_says_when_the_crm_fails(tmp_path, capsys, crm_server):
    config = write_config(tmp_path, crm_server.config())
    assert await asyncio.to_thread(pbx_main, ["crm", "lookup", "1007", "--config", str(config)]) == 0
    out, _ = capsys.readouterr()
    assert '"name": "Victoria Vance"' in out and '"vip": true' in out and '"priority": 10' in out
    assert await asyncio.to_thread(pbx_main, ["crm", "lookup", "1006", "--config", str(config)]) == 1
    assert capsys.readouterr().out.strip() == "1006: unknown caller (asked: rest)"
    crm_server.down = True
    assert await asyncio.to_thread(pbx_main, ["crm", "lookup", "1007", "--config", str(config)]) == 2
    assert "error: the CRM did not answer: HTTP 503" in capsys.readouterr().err
