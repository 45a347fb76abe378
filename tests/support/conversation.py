"""Helpers for conversation tests: wait for what the services write, read it back."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from faststream.rabbit import RabbitBroker

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.messaging import WHATSAPP_OUTBOUND
from infra.mongo import connect
from infra.settings import Settings
from tests.support.system import Endpoints
from tests.support.waiting import eventually

POLL_SECONDS = 0.05


async def _stored(
    endpoints: Endpoints,
    database: str,
    collection: str,
    query: dict[str, Any],
    count: int,
    timeout: float,
) -> list[dict[str, Any]]:
    """Waits until `count` documents match (a positive marker); oldest first."""
    mongo = connect(endpoints.mongo_url)
    try:

        async def stored() -> list[dict[str, Any]] | None:
            cursor = mongo[database][collection].find(query)
            found = await cursor.sort([("createdAt", 1), ("_id", 1)]).to_list()
            return found if len(found) >= count else None

        return await eventually(
            stored,
            what=f"{count} documents in {collection} matching {query}",
            timeout=timeout,
            interval=POLL_SECONDS,
        )
    finally:
        await mongo.close()


async def tickets_tagged(
    endpoints: Endpoints, database: str, tag: str, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    return await _stored(endpoints, database, "tickets", {"tags": tag}, count, timeout)


async def messages_of(
    endpoints: Endpoints, database: str, ticket_id: str, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    """The ticket's conversation as stored, once it holds `count` messages."""
    query = {"ticketId": ticket_id}
    return await _stored(endpoints, database, "ticket_messages", query, count, timeout)


@dataclass
class Outbound:
    """The WhatsApp sender's side of `whatsapp.outbound`: every message, in order."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:

        def first() -> dict[str, Any] | None:
            return next((m for m in self.messages if match(m)), None)

        return await eventually(
            first, what="a matching message", timeout=timeout, wake=self.arrived
        )

    def of(self, message_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("messageId") == message_id]


@asynccontextmanager
async def outbound(rabbit_url: str) -> AsyncIterator[Outbound]:
    """Consumes `whatsapp.outbound` (emptied first: earlier tests' replies are not ours)."""
    broker = RabbitBroker(rabbit_url, logger=None)
    side = Outbound()

    @broker.subscriber(WHATSAPP_OUTBOUND)
    async def collect(body: dict[str, Any]) -> None:
        side.messages.append(body)
        side.arrived.set()

    await broker.connect()
    await (await broker.declare_queue(WHATSAPP_OUTBOUND)).purge()
    await broker.start()
    try:
        yield side
    finally:
        await broker.stop()


@asynccontextmanager
async def http(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as session:
        yield session


def agent_headers(
    settings: Settings, agent_id: str, now: datetime | None = None, **headers: str
) -> dict[str, str]:
    """A bearer token issued `now` (the server's clock when a test moves it)."""
    token = issue_token(settings, agent_id, AgentRole.AGENT, now or datetime.now(UTC))
    return {"Authorization": f"Bearer {token}", **headers}


class LogLines(logging.Handler):
    """The messages a logger emits, with a wait for one (a positive marker)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self._arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self._arrived.set()

    async def seen(self, message: str, timeout: float = 30) -> None:
        await eventually(
            lambda: message in self.messages,
            what=f"the log line {message!r}",
            timeout=timeout,
            wake=self._arrived,
        )


@contextmanager
def logged(name: str) -> Iterator[LogLines]:
    logger = logging.getLogger(name)
    lines = LogLines()
    logger.addHandler(lines)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
