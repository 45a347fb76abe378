"""Real test infrastructure: a RabbitMQ virtual host and a Mongo wire server per session."""

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote, urlsplit, urlunsplit

from infra.mongo import EmbeddedMongo


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def broker_rows(rabbit_url: str, listing: str, *columns: str) -> list[list[str]]:
    """`rabbitmqctl <listing> -p <the URL's vhost> <columns>`: what the broker itself says
    (consumers' prefetch, messages ready and unacknowledged)."""
    vhost = unquote(urlsplit(rabbit_url).path[1:]) or "/"
    listed = subprocess.run(
        ["rabbitmqctl", "-q", listing, "-p", vhost, *columns],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    rows = [line.split("\t") for line in listed.splitlines() if "\t" in line]
    return [row for row in rows if row != list(columns)]


@asynccontextmanager
async def rabbit_vhost() -> AsyncIterator[str]:
    """A fresh virtual host on the broker (RABBITMQ_URL or the local one), deleted after.

    Without rabbitmqctl the URL is used as given (queues are then shared with whoever
    else uses that vhost)."""
    base = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    parts = urlsplit(base)
    if shutil.which("rabbitmqctl") is None or parts.hostname not in ("localhost", "127.0.0.1"):
        yield base
        return
    vhost = f"tickets-test-{uuid.uuid4().hex[:12]}"
    user = parts.username or "guest"
    await asyncio.to_thread(_rabbitmqctl, "add_vhost", vhost)
    await asyncio.to_thread(_rabbitmqctl, "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    try:
        yield urlunsplit(parts._replace(path=f"/{vhost}"))
    finally:
        await asyncio.to_thread(_rabbitmqctl, "delete_vhost", vhost)


@asynccontextmanager
async def mongo_server() -> AsyncIterator[str]:
    """MONGODB_URL when set (a real MongoDB), else a mongoeco wire server in memory."""
    url = os.environ.get("MONGODB_URL")
    if url:
        yield url
        return
    server = EmbeddedMongo(sqlite_path=None)
    try:
        yield await server.start()
    finally:
        await server.stop()
