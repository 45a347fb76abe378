"""`tickets demo [--url URL] [--step-timeout SECONDS]`: the story against a running
`tickets up --demo`, with the same settings (the database it uses, RABBITMQ_URL, the JWT
secret). Progress on stdout; a step that does not happen is one line on stderr, exit 1."""

import argparse
import asyncio
import logging
import sys

from infra.auth import with_persistent_jwt_secret
from infra.settings import Settings
from tickets.demo.progress import StepFailed

STEP_TIMEOUT_SECONDS = 30.0
QUIET_LOGGERS = ("httpx", "aio_pika", "aiormq", "socketio", "engineio", "infra", "tickets")


def add_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    demo = commands.add_parser(
        "demo", help="drive a WhatsApp ticket's whole story against `tickets up --demo`"
    )
    demo.add_argument(
        "--url", help="where the system listens (default http://127.0.0.1:<TICKETS_HTTP_PORT>)"
    )
    demo.add_argument(
        "--step-timeout",
        type=float,
        default=STEP_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"how long each step may take (default {STEP_TIMEOUT_SECONDS:g})",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Imports the clients only when the demo runs (not for every `tickets` command)."""
    from tickets.demo.story import Demo  # noqa: PLC0415

    for name in QUIET_LOGGERS:  # the progress display is the output; warnings still show
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    url = args.url or f"http://127.0.0.1:{settings.http_port}"
    demo = Demo(with_persistent_jwt_secret(settings), url, args.step_timeout, sys.stdout)
    try:
        asyncio.run(demo.run())
    except StepFailed as error:
        print(f"tickets: error: {error}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print("tickets: demo interrupted", file=sys.stderr)  # noqa: T201
        return 130
    return 0
