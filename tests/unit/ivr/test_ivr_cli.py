"""`ivr check|convert|simulate`, run in-process with captured streams."""

import argparse
import io
from pathlib import Path

from ivr_dsl.checker import CheckContext
from ivr_dsl.cli import add_ivr_commands, main, run_ivr_command
from ivr_dsl.parser import load_scenario, parse_dsl
from ivr_dsl.yaml_form import parse_yaml

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
SUPPORT = str(EXAMPLES / "support.ivr")


def test_check_examples_passes(capsys):
    files = sorted(str(path) for path in EXAMPLES.iterdir())
    assert main(["check", *files]) == 0
    out = capsys.readouterr().out
    assert out.count("ok: ") == len(files) and "FAILED" not in out


def test_check_reports_errors_with_position_and_fails(tmp_path, capsys):
    bad = tmp_path / "bad.ivr"
    bad.write_text('scenario "bad"\nend\n\nblock start\n  goto nowhere\nend\n')
    assert main(["ivr", "check", str(bad), SUPPORT]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:5:" in out and "nowhere" in out
    assert f"FAILED: {bad}" in out and f"ok: {SUPPORT}" in out


def test_check_reports_syntax_errors(tmp_path, capsys):
    bad = tmp_path / "syntax.ivr"
    bad.write_text('scenario "bad"\nend\nblock start\n  frobnicate\nend\n')
    assert main(["check", str(bad)]) == 1
    assert f"{bad}:4:" in capsys.readouterr().out


def test_check_uses_the_pbx_context(capsys):
    parser = argparse.ArgumentParser(prog="pbx")
    add_ivr_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ivr", "check", SUPPORT])
    assert run_ivr_command(args, CheckContext(queues={"support"}, functions=set())) == 1
    assert "billing" in capsys.readouterr().out


def test_convert_prints_the_other_form(capsys):
    assert main(["convert", SUPPORT]) == 0
    text = capsys.readouterr().out
    assert parse_yaml(text, "x.yaml")[0] == load_scenario(SUPPORT)[0]
    assert main(["convert", str(EXAMPLES / "survey.yaml")]) == 0
    assert parse_dsl(capsys.readouterr().out)[0] == load_scenario(EXAMPLES / "survey.ivr")[0]


def test_convert_writes_a_file(tmp_path, capsys):
    out = tmp_path / "support.yaml"
    assert main(["convert", SUPPORT, "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert load_scenario(out)[0] == load_scenario(SUPPORT)[0]


def test_simulate_with_digits_and_a_naive_time_in_the_calendars_zone(capsys):
    assert main(["simulate", SUPPORT, "--digits", "1,9,2,ok", "--at", "2026-12-24T13:00"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "# Support line: starting 2026-12-24T13:00:00+01:00 (Europe/Warsaw)"
    assert "[billing] · key 9" in out and out[-1] == "[main] · exit: queue"


def test_simulate_honours_an_offset_and_variables(capsys):
    argv = ["simulate", SUPPORT, "--digits", "fail,hangup", "--at", "2026-12-24T12:30+00:00",
            "--var", "header.X-Customer-Tier=gold"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "starting 2026-12-24T12:30:00+00:00" in out
    assert "queue support (priority 10; skills gold)" in out


def test_simulate_after_hours(capsys):
    assert main(["simulate", SUPPORT, "--digits", "", "--at", "2026-12-24T19:00"]) == 0
    assert "[start] disposition closed" in capsys.readouterr().out


def test_simulate_functions(capsys):
    bank = str(EXAMPLES / "bank.ivr")
    assert main(["simulate", bank, "--digits", "1234567#,0,ok", "--at", "2026-11-23T10:00Z",
                 "--function", 'bank.balance={"found": true, "amount": 5, "currency": "EUR"}']) == 0
    assert "number 5 (en)" in capsys.readouterr().out
    assert main(["simulate", bank, "--digits", "1234567#,ok", "--function", "bank.balance=fail:down"]) == 0
    assert "Our account service is not available right now." in capsys.readouterr().out


def test_simulate_interactively_from_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("nonsense\n1\n*\n"))
    assert main(["simulate", SUPPORT, "--at", "2026-11-23T10:00"]) == 0
    out = capsys.readouterr().out
    assert "'nonsense' is not a key press" in out
    assert "[billing] · key *" in out
    assert "(end of input: the caller hangs up)" in out and out.rstrip().endswith("[main] · exit: caller_hangup")


def test_bad_usage_exits_2(capsys):
    assert main(["simulate", SUPPORT, "--at", "christmas"]) == 2
    assert "--at 'christmas'" in capsys.readouterr().err
    assert main(["simulate", SUPPORT, "--digits", "1,x", "--at", "2026-11-23T10:00"]) == 2
    assert main(["simulate", SUPPORT, "--var", "novalue"]) == 2


def test_unknown_file_type(tmp_path, capsys):
    other = tmp_path / "scenario.txt"
    other.write_text("")
    assert main(["check", str(other)]) == 1
    assert "unknown scenario file type" in capsys.readouterr().out
