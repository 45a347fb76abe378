"""`tickets keys create|list|revoke`: named, scoped service API keys kept (hashed) in the
`api_keys` collection. Only the new key goes to stdout, so `KEY=$(tickets keys ...)` works."""

import argparse
import asyncio
import json
import sys

from infra.api_keys import KeyCommandError, KeyStore, Scope
from infra.clock import SystemClock
from infra.dependencies import database_of
from infra.settings import Settings


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = commands.add_parser("keys", help="create, list and revoke service API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="make a key and print it (shown once)")
    create.add_argument("--name", required=True, help="e.g. whatsapp-bot, crm")
    create.add_argument(
        "--scope",
        action="append",
        choices=[str(scope) for scope in Scope],
        required=True,
        help="tickets: the REST API as the System; assistant: the tool-call endpoint",
    )
    actions.add_parser("list", help="every key: name, scopes, created, revoked")
    revoke = actions.add_parser("revoke", help="refuse a key from the next request on")
    revoke.add_argument("name")


async def _run(settings: Settings, args: argparse.Namespace) -> str | None:
    now = SystemClock().now()
    async with database_of(settings) as database:
        store = KeyStore(database)
        if args.keys_command == "create":
            return await store.create(args.name, {Scope(s) for s in args.scope}, now)
        if args.keys_command == "revoke":
            await store.revoke(args.name, now)
            print(f"key {args.name} revoked", file=sys.stderr)  # noqa: T201
            return None
        for record in await store.listing():
            print(json.dumps(record, default=str))  # noqa: T201
        return None


def keys_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        key = asyncio.run(_run(settings, args))
    except KeyCommandError as error:
        print(f"tickets: {error}", file=sys.stderr)  # noqa: T201
        return 1
    if key is not None:
        print(f"key {args.name} ({', '.join(sorted(args.scope))})", file=sys.stderr)  # noqa: T201
        print(key)  # noqa: T201
    return 0
