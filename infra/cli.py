"""The `tickets` command: `tickets up` runs every service, `tickets run <service>` one."""

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

import uvicorn

from infra.http import build_app
from infra.logging import configure_logging
from infra.runtime import Runtime, Service
from infra.settings import Settings

log = logging.getLogger("tickets")

SERVICES: dict[str, str] = {
    "ticket_service": "services.ticket_service.main:TicketService",
    "assistant_gateway": "services.assistant_gateway.main:AssistantGateway",
    "sla_monitor": "services.sla_monitor.main:SlaMonitor",
    "notifier": "services.notifier.main:Notifier",
}
"""Service name -> `module:class`; imported only when that service runs."""


def load_service(name: str) -> Service:
    module_name, class_name = SERVICES[name].split(":")
    service: Service = getattr(importlib.import_module(module_name), class_name)()
    return service


def serve(settings: Settings, names: Sequence[str]) -> None:
    runtime = Runtime(settings, [load_service(name) for name in names])
    app = build_app(runtime)
    where = f"http://{settings.http_host}:{settings.http_port}"
    mongo = settings.mongodb_url or f"embedded ({settings.data_dir / 'mongo.sqlite'})"
    print(  # noqa: T201 - the one line a person starting the system looks for
        f"tickets: {', '.join(names)} listening on {where} (docs {where}/docs, "
        f"health {where}/healthz); MongoDB {mongo}; RabbitMQ {_safe(settings.rabbitmq_url)}",
        flush=True,
    )
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)


def _safe(url: str) -> str:
    """The URL without its password."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('@', 1)[1]}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="every service in one process (embedded defaults)")
    up.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
    run = commands.add_parser("run", help="one service, for production")
    run.add_argument("service", choices=sorted(SERVICES))
    run.add_argument("--port", type=int, default=None)
    commands.add_parser("tools", help="print the assistant's tool definitions as JSON")
    return parser


def print_tools() -> None:
    """Both shapes (Responses API, Chat Completions), to paste into a bot's configuration."""
    from services.assistant_gateway.domain.tools import tool_definitions  # noqa: PLC0415

    print(json.dumps(tool_definitions(), indent=2, ensure_ascii=False))  # noqa: T201


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "tools":
        print_tools()
        return 0
    settings = Settings()
    if getattr(args, "port", None) is not None:
        settings = settings.model_copy(update={"http_port": args.port})
    configure_logging(settings.log_level)
    if args.command == "up":
        serve(settings, list(SERVICES))
    elif args.command == "run":
        serve(settings, [args.service])
    return 0


if __name__ == "__main__":
    sys.exit(main())
