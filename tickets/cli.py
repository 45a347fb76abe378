"""The `tickets` command: `tickets up` runs every service, `tickets run <service>` one."""

import argparse
import asyncio
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from contracts.enums import AgentRole
from infra.auth import InvalidToken, with_persistent_jwt_secret
from infra.clock import OffsetClock, SystemClock
from infra.dependencies import without_password
from infra.http import build_app
from infra.logging import configure_logging
from infra.runtime import Runtime, Service
from infra.secret_strength import check_secrets
from infra.settings import Settings
from infra.startup import StartupError, load_settings, unknown_variables
from tickets import keys
from tickets import serve as serving
from tickets.demo import command as demo_command
from tickets.demo.clock_api import demo_clock_router
from tickets.serve import bind

log = logging.getLogger("tickets")

DISTRIBUTION = "whatsapp-tickets"

SERVICES: dict[str, str] = {
    "ticket_service": "services.ticket_service.main:TicketService",
    "assistant_gateway": "services.assistant_gateway.main:AssistantGateway",
    "sla_monitor": "services.sla_monitor.main:SlaMonitor",
    "notifier": "services.notifier.main:Notifier",
    "whatsapp_channel": "services.whatsapp_channel.main:WhatsAppChannel",
}
"""Service name -> `module:class`; imported only when that service runs."""


def load_service(name: str) -> Service:
    module_name, class_name = SERVICES[name].split(":")
    service: Service = getattr(importlib.import_module(module_name), class_name)()
    return service


def serve(settings: Settings, names: Sequence[str], *, demo: bool = False) -> None:
    """The port first (nothing is consumed when it is taken), then the services. `demo`
    (`tickets up --demo` only): a movable clock with its route, the scripted model."""
    sock = bind(settings.http_host, settings.http_port)
    services = [load_service(name) for name in names]
    clock = OffsetClock() if demo else SystemClock()
    runtime = Runtime(settings, services, clock, demo=demo)
    routers = [demo_clock_router(clock)] if isinstance(clock, OffsetClock) else []
    port = sock.getsockname()[1]
    asyncio.run(
        serving.serve(
            runtime,
            build_app(runtime, routers),
            sock,
            lambda: _banner(settings, names, port, demo=demo),
        )
    )


def _banner(settings: Settings, names: Sequence[str], port: int, *, demo: bool) -> None:
    where = f"http://{settings.http_host}:{port}"
    mongo = settings.mongodb_url or f"embedded ({settings.data_dir / 'mongo.sqlite'})"
    model = "scripted" if not settings.openai_api_key else settings.openai_model
    mode = f"; demo mode (model {model}, movable clock): run `tickets demo`" if demo else ""
    print(  # noqa: T201 - the one line a person starting the system looks for
        f"tickets: {', '.join(names)} listening on {where} (docs {where}/docs, "
        f"health {where}/healthz); MongoDB {without_password(mongo)}; "
        f"RabbitMQ {without_password(settings.rabbitmq_url)}{mode}",
        flush=True,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickets", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="every service in one process (embedded defaults)")
    up.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
    up.add_argument(
        "--demo",
        action="store_true",
        help="a trial system for `tickets demo`: a clock it may move forward, and a scripted "
        "assistant when OPENAI_API_KEY is unset (never on a system with real customers)",
    )
    run = commands.add_parser("run", help="one service, for production")
    run.add_argument("service", choices=sorted(SERVICES))
    run.add_argument("--port", type=int, default=None)
    commands.add_parser("tools", help="print the assistant's tool definitions as JSON")
    agents = commands.add_parser("agents", help="create agents and issue their bearer tokens")
    agent_commands = agents.add_subparsers(dest="agents_command", required=True)
    create = agent_commands.add_parser("create", help="create an agent and print a token")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=["agent", "admin"], default="agent")
    token = agent_commands.add_parser("token", help="print a new token for an agent")
    token.add_argument("email")
    for verb, what in (("deactivate", "take an agent's access away"), ("activate", "give it back")):
        agent_commands.add_parser(verb, help=what).add_argument("email")
    keys.add_parser(commands)
    _migrate_parser(commands)
    _statistics_parser(commands)
    demo_command.add_parser(commands)
    return parser


def _migrate_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    migrate = commands.add_parser("migrate", help="bring an existing CRM's data in")
    what = migrate.add_subparsers(dest="migrate_command", required=True)
    conversations = what.add_parser(
        "conversations", help="a ticket for each conversation, linked back (linkedTicketId)"
    )
    conversations.add_argument("--from", dest="source", required=True, metavar="MONGODB_URL")
    conversations.add_argument("--collection", required=True, help="the conversations")
    conversations.add_argument("--filter", default="{}", metavar="JSON", help="MongoDB query")
    conversations.add_argument(
        "--customers", default="customers", help="collection of the customers (customerId)"
    )
    conversations.add_argument("--dry-run", action="store_true", help="report, write nothing")


def _statistics_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    statistics = commands.add_parser("statistics", help="the statistics rollups")
    what = statistics.add_subparsers(dest="statistics_command", required=True)
    rebuild = what.add_parser(
        "rebuild", help="recount the rollups from the tickets (safe while services run)"
    )
    rebuild.add_argument(
        "--from",
        dest="since",
        metavar="DATE",
        help="only the UTC days from this one on (YYYY-MM-DD); all days without it",
    )


def statistics_command(settings: Settings, args: argparse.Namespace) -> int:
    """The count on stdout; exit 2 for a date that does not parse."""
    from services.ticket_service import statistics_cli  # noqa: PLC0415

    try:
        since = statistics_cli.parse_day(args.since) if args.since else None
    except ValueError:
        wrong = f"tickets: error: --from {args.since!r} is not a date like 2026-01-31"
        print(wrong, file=sys.stderr)  # noqa: T201
        return 2
    counted = asyncio.run(statistics_cli.rebuild(settings, since))
    where = f"created from {since:%Y-%m-%d} (UTC) on" if since else "in all"
    print(f"statistics rebuilt: {counted} tickets {where}")  # noqa: T201
    return 0


def agents_command(settings: Settings, args: argparse.Namespace) -> int:
    """Only the token goes to stdout, so `TOKEN=$(tickets agents ...)` works."""
    from services.ticket_service import agents_cli  # noqa: PLC0415

    settings = with_persistent_jwt_secret(settings)
    if args.agents_command in ("activate", "deactivate"):
        active = args.agents_command == "activate"
        return agents_cli.access_command(settings, args.email, active=active)
    now = SystemClock().now()
    try:
        if args.agents_command == "create":
            role = AgentRole(args.role)
            work = agents_cli.create_agent(settings, args.name, args.email, role, now)
        else:
            work = agents_cli.token_for(settings, args.email, now)
        agent, token = asyncio.run(work)
    except (agents_cli.AgentCommandError, InvalidToken) as error:
        print(f"tickets: {error}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"agent {agent.id} {agent.email} ({agent.role})", file=sys.stderr)  # noqa: T201
    print(token)  # noqa: T201
    return 0


def migrate_command(settings: Settings, args: argparse.Namespace) -> int:
    """The summary on stdout; progress and each bad record on stderr. Exit 1 when a
    conversation could not be migrated now (run again), 0 otherwise."""
    from services.ticket_service import migrate  # noqa: PLC0415

    options = migrate.Options(
        source_url=args.source,
        collection=args.collection,
        query=migrate.parse_filter(args.filter),
        dry_run=args.dry_run,
        customers=args.customers,
    )
    summary = asyncio.run(migrate.migrate(settings, options))
    print(summary.line(options.dry_run))  # noqa: T201
    return 1 if summary.failed else 0


def print_tools() -> None:
    """Both shapes (Responses API, Chat Completions), to paste into a bot's configuration."""
    from services.assistant_gateway.domain.tools import tool_definitions  # noqa: PLC0415

    print(json.dumps(tool_definitions(), indent=2, ensure_ascii=False))  # noqa: T201


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 2 for a bad setting, 1 when a dependency or the port is unavailable."""
    args = _parser().parse_args(argv)
    if args.command == "tools":
        print_tools()
        return 0
    for warning in unknown_variables(os.environ):
        print(f"tickets: warning: {warning}", file=sys.stderr)  # noqa: T201
    try:
        settings = load_settings()
        check_secrets(settings)
    except StartupError as error:
        print(f"tickets: error: {error}", file=sys.stderr)  # noqa: T201
        return 2
    try:
        return _command(settings, args)
    except StartupError as error:
        print(f"tickets: error: {error}", file=sys.stderr)  # noqa: T201
        return 1


def _command(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "port", None) is not None:
        settings = settings.model_copy(update={"http_port": args.port})
    configure_logging(settings.log_level)
    if args.command == "agents":
        return agents_command(settings, args)
    if args.command == "migrate":
        return migrate_command(settings, args)
    if args.command == "statistics":
        return statistics_command(settings, args)
    if args.command == "keys":
        return keys.keys_command(settings, args)
    if args.command == "demo":
        return demo_command.run(settings, args)
    if args.command == "up":
        serve(with_persistent_jwt_secret(settings), list(SERVICES), demo=args.demo)
    elif args.command == "run":
        serve(settings, [args.service])
    return 0


if __name__ == "__main__":
    sys.exit(main())
