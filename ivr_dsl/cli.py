"""Command line for scenarios: `ivr check`, `ivr convert`, `ivr simulate` (the only ivr_dsl module doing I/O).

`pbx` mounts these with `add_ivr_commands(subparsers)` and `run_ivr_command(args, context)`,
passing a CheckContext built from its configuration (known queues, functions, prompts).
Standalone, without that context: `python -m ivr_dsl.cli [ivr] check FILE...`.

- check FILE... [--config PBX_CONFIG]: diagnostics for every file; exit 1 when any has an error.
- convert FILE [-o OUT]: the other form (.ivr <-> .yaml) on stdout, or into OUT.
- simulate FILE [--digits 1,#,timeout] [--var k=v] [--at ISO] [--function name=JSON|fail[:reason]]:
  the path taken and the commands issued (see simulate.py for the inputs). Without --digits
  the inputs are read from stdin, one a line; end of input hangs up. `--at` without an offset
  is in the first calendar's zone (else UTC); `--var` values are JSON when they parse, text
  otherwise (`--var header.X-Customer-Tier=gold` sets a header).

Exit status: 0 success, 1 errors in a scenario, 2 bad usage (unreadable input, bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from ivr_dsl.ast import Scenario, SourceMap
from ivr_dsl.checker import CheckContext, check
from ivr_dsl.commands import FunctionFailed
from ivr_dsl.compiler import CompileError, compile_scenario
from ivr_dsl.errors import ScenarioError
from ivr_dsl.parser import load_scenario
from ivr_dsl.simulate import Simulation, SimulationInputError, simulate


def add_ivr_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `ivr check|convert|simulate` on a parent's subparsers; returns the `ivr` parser."""
    ivr = subparsers.add_parser("ivr", help="check, convert and simulate IVR scenarios")
    commands = ivr.add_subparsers(dest="ivr_command", required=True)
    checking = commands.add_parser("check", help="check scenario files; exit 1 on errors")
    checking.add_argument("files", nargs="+", metavar="FILE")
    checking.add_argument("--config", metavar="PBX_CONFIG", help="PBX configuration (known queues and functions)")
    converting = commands.add_parser("convert", help="print the other form of a scenario (.ivr <-> .yaml)")
    converting.add_argument("file", metavar="FILE")
    converting.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    simulating = commands.add_parser("simulate", help="run a scenario with scripted or typed inputs")
    simulating.add_argument("file", metavar="FILE")
    simulating.add_argument("--digits", metavar="INPUTS", help="comma-separated inputs: 1,123#,timeout,hangup,ok,fail")
    simulating.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a call variable")
    simulating.add_argument("--at", metavar="ISO", help="the call's start time, e.g. 2026-12-24T19:00")
    simulating.add_argument("--function", action="append", default=[], metavar="NAME=RESULT",
                            help="a function's result (JSON), or fail[:reason]")
    return ivr


def run_ivr_command(args: argparse.Namespace, context: CheckContext | None = None, *,
                    stdin: TextIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        if args.ivr_command == "check":
            return _check(args, context, out, err)
        if args.ivr_command == "convert":
            return _convert(args, out)
        return _simulate(args, context, stdin or sys.stdin, out)
    except ScenarioError as error:
        print(str(error), file=err)
        return 1
    except UsageError as error:
        print(f"error: {error}", file=err)
        return 2


class UsageError(Exception):
    """A bad option value or an unwritable output: exit status 2."""


def _check(args: argparse.Namespace, context: CheckContext | None, out: TextIO, err: TextIO) -> int:
    if args.config and context is None:
        print("note: --config is read by `pbx ivr check`; checking without the PBX configuration", file=err)
    failed = False
    for file in args.files:
        try:
            scenario, source_map = load_scenario(file)
        except ScenarioError as error:
            print(str(error), file=out)
            failed = True
            continue
        diagnostics = check(scenario, source_map, context)
        for diagnostic in diagnostics:
            print(diagnostic.format(), file=out)
        errors = sum(diagnostic.is_error for diagnostic in diagnostics)
        if not errors:
            try:
                compile_scenario(scenario)
            except CompileError as error:
                print(f"{file}: error: {error}", file=out)
                errors = 1
        warnings = len(diagnostics) - sum(diagnostic.is_error for diagnostic in diagnostics)
        failed = failed or errors > 0
        status = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        print(f"{'FAILED' if errors else 'ok'}: {file}: {status}", file=out)
    return 1 if failed else 0


def _convert(args: argparse.Namespace, out: TextIO) -> int:
    from ivr_dsl.printer import to_dsl, to_yaml

    scenario, _ = load_scenario(args.file)
    text = to_dsl(scenario) if Path(args.file).suffix.lower() in (".yaml", ".yml") else to_yaml(scenario)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {args.output}: {error.strerror}") from None
    else:
        out.write(text)
    return 0


def _loaded(file: str, context: CheckContext | None, out: TextIO) -> tuple[Scenario, SourceMap]:
    scenario, source_map = load_scenario(file)
    diagnostics = check(scenario, source_map, context)
    errors = [diagnostic for diagnostic in diagnostics if diagnostic.is_error]
    if errors:
        raise ScenarioError(errors)
    return scenario, source_map


def _simulate(args: argparse.Namespace, context: CheckContext | None, stdin: TextIO, out: TextIO) -> int:
    scenario, _ = _loaded(args.file, context, out)
    try:
        program = compile_scenario(scenario)
    except CompileError as error:
        raise UsageError(f"{args.file}: {error}") from None
    zone_name = scenario.calendars[0].timezone if scenario.calendars else "UTC"
    at = parse_at(args.at, zone_name)
    variables = dict(parse_assignment(text, "--var") for text in args.var)
    functions = dict(parse_function(text) for text in args.function)
    print(f"# {scenario.name}: starting {at.isoformat()} ({at.tzinfo})", file=out)
    if args.digits is not None:
        inputs = [item.strip() for item in args.digits.split(",") if item.strip()]
        try:
            lines = simulate(program, inputs, variables, at=at, functions=functions)
        except SimulationInputError as error:
            raise UsageError(str(error)) from None
        for line in lines:
            print(line, file=out)
        return 0
    simulation = Simulation(program, variables, at=at, functions=functions)
    _print_lines(simulation.start(), out)
    while not simulation.finished:
        print(f"? ({simulation.expected}) ", end="", file=out, flush=True)
        line = stdin.readline()
        text = line.strip() if line else "hangup"
        if not line:
            print("(end of input: the caller hangs up)", file=out)
        try:
            _print_lines(simulation.feed(text), out)
        except SimulationInputError as error:
            print(f"  {error}", file=out)
    return 0


def _print_lines(lines: list[str], out: TextIO) -> None:
    for line in lines:
        print(line, file=out)


def parse_at(text: str | None, zone_name: str) -> datetime:
    """`--at`: an ISO time; without an offset it is in `zone_name`. None means now (UTC)."""
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--at {text!r}: expected an ISO time like 2026-12-24T19:00 or 2026-12-24T19:00+01:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone_name))
    return moment


def parse_assignment(text: str, option: str) -> tuple[str, object]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value


def parse_function(text: str) -> tuple[str, object]:
    name, value = parse_assignment(text, "--function")
    if isinstance(value, str) and (value == "fail" or value.startswith("fail:")):
        return name, FunctionFailed(value.partition(":")[2] or "failure")
    return name, value


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("check", "convert", "simulate"):
        argv.insert(0, "ivr")
    parser = argparse.ArgumentParser(prog="python -m ivr_dsl.cli", description="IVR scenario tools")
    add_ivr_commands(parser.add_subparsers(dest="command", required=True))
    return run_ivr_command(parser.parse_args(argv), None)


if __name__ == "__main__":
    sys.exit(main())
