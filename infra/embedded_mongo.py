"""The embedded Mongo wire server (mongoeco), run as a child process.

The only module outside the tests that imports mongoeco: everything else talks to a
MongoDB URL. Prints `READY <uri>` on stdout once it accepts connections and stops on
SIGTERM/SIGINT or when its parent's stdin closes.

With `TICKETS_EMBEDDED_MONGO_PASSWORD` in its environment (the parent makes a random one
per start and never writes it down), every command needs the user `tickets` with that
password (SCRAM-SHA-256), so other local users cannot read or change the data over TCP.
The SQLite files are created 0600 in a 0700 directory.
"""

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from infra.files import private_directory, private_files

USER = "tickets"
PASSWORD_VARIABLE = "TICKETS_EMBEDDED_MONGO_PASSWORD"  # noqa: S105 - a variable name
MECHANISM = "SCRAM-SHA-256"
ROOT = {"role": "root", "db": "admin"}


async def serve(sqlite_path: Path | None, host: str, port: int) -> None:
    from mongoeco.engines.memory import MemoryEngine  # noqa: PLC0415 - child process only
    from mongoeco.engines.sqlite import SQLiteEngine  # noqa: PLC0415
    from mongoeco.wire import AsyncMongoEcoProxyServer, WireAuthUser  # noqa: PLC0415

    engine: MemoryEngine | SQLiteEngine
    private_files()
    if sqlite_path is None:
        engine = MemoryEngine()
    else:
        private_directory(sqlite_path.parent, sqlite_path.name)
        engine = SQLiteEngine(str(sqlite_path))
    password = os.environ.pop(PASSWORD_VARIABLE, None)
    users = (
        (WireAuthUser(USER, password, mechanisms=(MECHANISM,), roles=(ROOT,)),) if password else ()
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: _on_stdin(stop))
    async with AsyncMongoEcoProxyServer(
        engine=engine, host=host, port=port, auth_users=users
    ) as server:
        sys.stdout.write(f"READY {server.address.uri}\n")
        sys.stdout.flush()
        await stop.wait()


def _on_stdin(stop: asyncio.Event) -> None:
    """The parent keeps our stdin open; end of file means it is gone."""
    data = b""
    with contextlib.suppress(OSError):
        data = os.read(sys.stdin.fileno(), 1024)
    if not data:
        stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite", type=Path, default=None, help="SQLite file; memory if unset")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run_or_report(serve(args.sqlite, args.host, args.port))


def run_or_report(work: Coroutine[Any, Any, None]) -> None:
    """Runs `work`; if it raises, the parent (reading our stdout for READY) gets one line
    `FAILED <reason>` instead of a traceback, and we exit 1."""
    try:
        asyncio.run(work)
    except Exception as error:  # noqa: BLE001 - told to the parent in one line, not a traceback
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        sys.stdout.write(f"FAILED {reason}\n")
        sys.stdout.flush()
        sys.exit(1)


if __name__ == "__main__":
    main()
