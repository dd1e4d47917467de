"""Command line: `pbx run --config FILE` and `pbx check --config FILE`."""

from __future__ import annotations

import argparse
import sys

import msgspec

from pbx.config import Config, ConfigError, HostPort, Listen, load_config


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbx", description="A programmable SIP PBX and contact center.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the PBX")
    run.add_argument("--config", required=True, help="YAML configuration file")
    run.add_argument("--sip-listen", type=_host_port, metavar="HOST:PORT",
                     help="listen for SIP on HOST:PORT (UDP and TCP) instead of the configured addresses")
    run.add_argument("--admin-listen", type=_host_port, metavar="HOST:PORT", help="admin HTTP API address")
    run.add_argument("--sip-trace", action="store_true", help="log every SIP message sent and received")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    check = commands.add_parser("check", help="validate a configuration file and exit")
    check.add_argument("--config", required=True)
    return parser


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    replace = msgspec.structs.replace
    if args.sip_listen:
        host, port = args.sip_listen
        config = replace(config, sip=replace(config.sip, listen=[Listen("udp", host, port), Listen("tcp", host, port)]))
    if args.admin_listen:
        host, port = args.admin_listen
        config = replace(config, admin=replace(config.admin, listen=HostPort(host, port)))
    if args.sip_trace:
        config = replace(config, log=replace(config.log, sip_trace=True))
    if args.log_level:
        config = replace(config, log=replace(config.log, level=args.log_level))
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"ok: {args.config}: realm {config.realm}, {len(config.extensions)} extensions, "
              f"{len(config.sip.listen)} SIP listeners")
        return 0
    config = apply_overrides(config, args)
    from pbx.app import run
    from pbx.logs import configure_logging

    configure_logging(config.log.level, config.log.format, sip_trace=config.log.sip_trace)
    try:
        run(config)
    except OSError as error:
        # Typically a port already in use: say which, without a traceback.
        print(f"error: cannot start: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
