"""Start real ticket-service instances and talk to them over RabbitMQ, as callers do."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from faststream.rabbit import RabbitBroker, RabbitQueue

from contracts.client import RequestReplyClient
from infra.clock import Clock
from infra.messaging import EVENTS
from infra.mongo import connect
from infra.runtime import Runtime, Service
from infra.settings import Settings
from services.ticket_service.documents import TicketDocument
from services.ticket_service.main import TicketService
from tests.support.waiting import WAIT_SECONDS, eventually


@dataclass(frozen=True)
class Endpoints:
    rabbit_url: str
    mongo_url: str


def settings_for(endpoints: Endpoints, database: str, **overrides: Any) -> Settings:
    return Settings(
        mongodb_url=endpoints.mongo_url,
        rabbitmq_url=endpoints.rabbit_url,
        mongodb_database=database,
        relay_sweep_seconds=3600,
        **overrides,
    )


@asynccontextmanager
async def running(
    settings: Settings, services: list[Service] | None = None, clock: Clock | None = None
) -> AsyncIterator[Runtime]:
    runtime = Runtime(settings, services or [TicketService()], clock)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


class Caller:
    """A client of the command queues (the one client, sending raw bodies so tests can
    send anything) and a broker to publish one-way messages with."""

    def __init__(self, broker: RabbitBroker, requests: RequestReplyClient) -> None:
        self.broker = broker
        self.requests = requests

    async def call(self, queue: str, payload: Any, timeout: float = 30.0) -> dict[str, Any]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.requests.request(queue, body, timeout=timeout)

    async def ok(self, queue: str, payload: Any) -> dict[str, Any]:
        reply = await self.call(queue, payload)
        assert reply["ok"] is True, reply
        data: dict[str, Any] = reply["data"]
        return data


@dataclass
class EventLog:
    """Every event published on `tickets.events`, in arrival order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    markers: set[str] = field(default_factory=set)
    broker: RabbitBroker | None = None

    def of(self, ticket_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("ticketId") == ticket_id]

    async def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> None:
        await eventually(
            lambda: len(self.events) >= count,
            what=f"{count} events (have {len(self.events)})",
            timeout=timeout,
            wake=self.arrived,
        )

    async def barrier(self) -> None:
        """Returns once every event published before the call has arrived: a marker
        published now on the same exchange reaches this log's queue after them (one queue
        keeps the order in which RabbitMQ accepted the messages). What a test wants to rule
        out must be published before the call (e.g. wait until the outbox is empty)."""
        assert self.broker is not None
        marker = uuid.uuid4().hex
        await self.broker.publish(
            {"testMarker": marker}, exchange=EVENTS, routing_key="test.marker"
        )
        await eventually(
            lambda: marker in self.markers, what=f"the marker {marker}", wake=self.arrived
        )


@asynccontextmanager
async def client(rabbit_url: str) -> AsyncIterator[tuple[Caller, EventLog]]:
    """A caller plus a private queue bound to every event routing key."""
    broker = RabbitBroker(rabbit_url, logger=None)
    log = EventLog()
    queue = RabbitQueue(
        f"test-events-{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True, routing_key="#"
    )

    @broker.subscriber(queue, EVENTS)
    async def collect(body: dict[str, Any]) -> None:
        if "testMarker" in body:
            log.markers.add(body["testMarker"])
        else:
            log.events.append(body)
        log.arrived.set()

    await broker.start()
    await broker.declare_exchange(EVENTS)
    log.broker = broker
    requests = RequestReplyClient(rabbit_url)
    try:
        yield Caller(broker, requests), log
    finally:
        await requests.close()
        await broker.stop()


async def published() -> None:
    """Waits until no ticket holds an event its relay has still to publish (after this no
    relay publishes again; pair it with `EventLog.barrier` to rule out a late duplicate)."""
    tickets = TicketDocument.get_pymongo_collection()
    await eventually(
        lambda: _none_pending(tickets), what="every ticket's outbox published and emptied"
    )


async def _none_pending(tickets: Any) -> bool:
    pending: int = await tickets.count_documents({"outbox.0": {"$exists": True}})
    return pending == 0


async def drop_database(endpoints: Endpoints, database: str) -> None:
    mongo = connect(endpoints.mongo_url)
    try:
        await mongo.drop_database(database)
    finally:
        await mongo.close()
