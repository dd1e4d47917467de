"""`pbx token create|list|revoke|hash`: the admin API's tokens, kept in the PBX database.

    pbx token create alice --role supervisor --config pbx.yaml   prints the secret once
    pbx token create desk-1001 --role agent --agent 1001 --config pbx.yaml
    pbx token list --config pbx.yaml
    pbx token revoke alice --config pbx.yaml
    echo "$SECRET" | pbx token hash                                the sha256 for `admin.tokens`

The database is the one the PBX of that config uses (SQLite in data_dir, or PostgreSQL shared by
every node), so a token works on a running PBX at once, and a revoked one stops working within
30 s (tokens.CACHE_SECONDS).
"""

from __future__ import annotations

import argparse
import sys
import time

from sdk.admin import ROLES


def add_token_commands(commands) -> None:
    token = commands.add_parser("token", help="create, list and revoke admin API tokens")
    actions = token.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="create a token and print its secret (shown once)")
    create.add_argument("name", help="who the token is for (unique)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--agent", help="the agent a token of the agent role is")
    create.add_argument("--config", required=True)
    listing = actions.add_parser("list", help="the tokens in the database (never their secrets)")
    listing.add_argument("--config", required=True)
    revoke = actions.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.add_argument("--config", required=True)
    actions.add_parser("hash", help="print the sha256 of a secret read from stdin (for admin.tokens in the config)")


def run_token_command(args: argparse.Namespace) -> int:
    from pbx.admin.tokens import TokenRecord, TokenStore, check_role, hash_secret, new_secret

    if args.token_command == "hash":
        secret = sys.stdin.readline().strip()
        if not secret:
            print("error: give the secret on stdin", file=sys.stderr)
            return 2
        print(hash_secret(secret))
        return 0
    from pbx.config import ConfigError, load_config
    from pbx.plugin_host import open_database

    try:
        config = load_config(args.config)
        if args.token_command == "create":
            check_role(args.role, args.agent)
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    database = open_database(config.data_dir, config.database)
    store = TokenStore(database)
    try:
        database.run_sync(store.setup)
        if args.token_command == "create":
            secret = new_secret()
            database.run_sync(store.add, TokenRecord(args.name, args.role, hash_secret(secret), args.agent, time.time()))
            print(secret)
            print(f"token {args.name!r} ({args.role}) created: keep the line above, it is not shown again",
                  file=sys.stderr)
        elif args.token_command == "list":
            for record in database.run_sync(store.all):
                agent = f" agent={record.agent}" if record.agent else ""
                created = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.created_at))
                print(f"{record.name}\t{record.role}{agent}\tcreated {created}")
        elif not database.run_sync(store.remove, args.name):
            print(f"error: no token named {args.name!r}", file=sys.stderr)
            return 1
        else:
            print(f"token {args.name!r} revoked")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        database.close()
    return 0
