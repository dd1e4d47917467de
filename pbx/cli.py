"""Command line: `pbx run --config FILE` and `pbx check --config FILE`."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

import msgspec

from ivr_dsl.checker import CheckContext
from ivr_dsl.cli import add_ivr_commands, run_ivr_command
from pbx.config import Config, ConfigError, HostPort, Listen, load_config
from pbx.ivr.library import existing_directory
from pbx.token_cli import add_token_commands, run_token_command


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _instant(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time like 2026-12-24T19:00+01:00, got {text!r}")
    return (moment if moment.tzinfo else moment.astimezone()).timestamp()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbx", description="A programmable SIP PBX and contact center.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the PBX")
    run.add_argument("--config", required=True, help="YAML configuration file")
    run.add_argument("--sip-listen", type=_host_port, metavar="HOST:PORT",
                     help="listen for SIP on HOST:PORT (UDP and TCP) instead of the configured UDP and TCP "
                          "addresses (TLS listeners are kept)")
    run.add_argument("--admin-listen", type=_host_port, metavar="HOST:PORT", help="admin HTTP API address")
    run.add_argument("--workers", type=int, metavar="N",
                     help="N worker processes on the SIP port, one core each (docs/capacity.md); "
                          "default: the config's `workers`, 1")
    run.add_argument("--sip-trace", action="store_true", help="log every SIP message sent and received")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument("--ivr-time", metavar="ISO", type=_instant,
                     help="run scenarios' calendars as if the PBX had started at this instant (testing)")
    check = commands.add_parser("check", help="validate a configuration file (and its scenarios) and exit")
    check.add_argument("--config", required=True)
    add_ivr_commands(commands)
    add_token_commands(commands)
    return parser


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    replace = msgspec.structs.replace
    if args.sip_listen:
        host, port = args.sip_listen
        kept = [listen for listen in config.sip.listen if listen.transport == "tls"]
        listen = [Listen("udp", host, port), Listen("tcp", host, port), *kept]
        config = replace(config, sip=replace(config.sip, listen=listen))
    if args.admin_listen:
        host, port = args.admin_listen
        config = replace(config, admin=replace(config.admin, listen=HostPort(host, port)))
    if args.sip_trace:
        config = replace(config, log=replace(config.log, sip_trace=True))
    if args.log_level:
        config = replace(config, log=replace(config.log, level=args.log_level))
    return config


def ivr_context(config: Config, functions: set[str] | None = None) -> CheckContext:
    """What a scenario may refer to on this PBX: the functions the config and the plugins register,
    and the prompt directory."""
    # Without queues in the config, queue names cannot be checked (warnings), and queue actions
    # fail at run time with "queues not configured", taking the scenario's on-failure branch.
    known = set(config.ivr.functions) | (functions or set())
    return CheckContext(queues=set(config.queues) or None, functions=known,
                        prompt_root=existing_directory(config.ivr.prompts))





def main(argv: list[str] | None = None) -> int:
    from pbx.plugin_cli import PluginError, add_plugin_commands, plugin_functions, run_plugin_command

    parser = build_parser()
    plugin_commands = add_plugin_commands(parser)
    args = parser.parse_args(argv)
    if getattr(args, "top_level_of", None):  # `pbx report ...` is `pbx kpi report ...`
        args.plugin_command, args.command = args.command, args.top_level_of
    if args.command in plugin_commands:
        return run_plugin_command(args, plugin_commands[args.command])
    if args.command == "token":
        return run_token_command(args)
    if args.command == "ivr":
        context = None
        if getattr(args, "config", None):
            try:
                config = load_config(args.config)
                context = ivr_context(config, plugin_functions(config, args.config))
            except (ConfigError, PluginError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
        return run_ivr_command(args, context)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "check":
        return check_config(args.config, config)
    config = apply_overrides(config, args)
    from pbx.app import run
    from pbx.logs import configure_logging

    from pbx.workers import WorkerPlace

    place = WorkerPlace.from_environment()
    configure_logging(config.log.level, config.log.format, sip_trace=config.log.sip_trace,
                      worker=place.index if place is not None else None)
    workers = args.workers or config.workers
    if workers < 1:
        print(f"error: --workers {workers}: at least 1", file=sys.stderr)
        return 2
    if workers > 1 and place is None:
        from pbx.workers.supervisor import Supervisor

        try:
            return Supervisor(sys.argv[1:] if argv is None else argv, config.sip.listen, workers).run()
        except OSError as error:
            print(f"error: cannot start: {error}", file=sys.stderr)
            return 2
    try:
        run(config, time_offset=(args.ivr_time - time.time()) if args.ivr_time is not None else 0.0,
            config_file=args.config, load_config=lambda: apply_overrides(load_config(args.config), args))
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # Typically a port already in use: say which, without a traceback.
        print(f"error: cannot start: {error}", file=sys.stderr)
        return 2
    return 0


def check_config(path: str, config: Config) -> int:
    """The config, its scenarios and its routes: every problem printed, exit 1 if any."""
    from pathlib import Path

    from pbx.ivr.functions import FunctionError, load_functions
    from pbx.ivr.library import ScenarioLibrary
    from pbx.plugin_cli import PluginError, plugin_functions

    problems = []
    try:
        functions = plugin_functions(config, path)
    except PluginError as error:
        functions = set()
        problems.append(str(error))
    library = ScenarioLibrary(config.ivr.scenarios, lambda: ivr_context(config, functions))
    report = library.reload()
    problems += [f"{name}: refused\n{text}" for name, text in report.refused.items()]
    try:
        load_functions(config.ivr.functions, Path(path).resolve().parent)
    except FunctionError as error:
        problems.append(f"{path}: {error}")
    for route in config.routes:
        kind, name = route.target
        if kind == "scenario" and name not in library:
            problems.append(f"{path}: route {route.match!r} names scenario {name!r}, which is not loaded "
                            f"from {config.ivr.scenarios}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {path}: realm {config.realm}, {len(config.extensions)} extensions, "
          f"{len(config.sip.listen)} SIP listeners, {len(library.scenarios)} scenarios, {len(config.routes)} routes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
