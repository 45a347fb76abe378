"""Notifier test helpers: serve a runtime over a real uvicorn on loopback, connect real
Socket.IO clients, publish events on the real exchange, receive webhooks over HTTP."""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import socketio
import uvicorn
from aiohttp import web
from faststream.rabbit import RabbitBroker

from contracts.enums import Category, Channel, Priority, SlaKind, Source, TicketStatus
from contracts.events import EventBase, SlaBreached, TicketCreated
from contracts.tickets import SlaBlock, TicketSummary
from infra.clock import Clock
from infra.http import build_app
from infra.messaging import EVENTS, publish_event
from infra.runtime import Runtime, Service
from services.notifier.handlers import webhook_queue
from tests.support.waiting import eventually


@dataclass
class Served:
    url: str
    runtime: Runtime


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def serving(
    settings: Any, services: list[Service], clock: Clock | None = None
) -> AsyncIterator[Served]:
    """The process `tickets run` would start, on a free loopback port, inside the test.
    The shared webhook queue is emptied first: what other tests left there is not ours."""
    await drain_webhook_queue(settings.rabbitmq_url)
    runtime = Runtime(settings, services, clock)
    sock = _loopback_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        build_app(runtime), lifespan="on", log_config=None, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    def listening() -> bool:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        return bool(server.started)

    await eventually(listening, what="the notifier to listen")
    try:
        yield Served(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def drain_webhook_queue(rabbit_url: str) -> None:
    """The shared durable queue keeps every event other tests published while no notifier
    ran; a webhook test starts from an empty one so only its own events make deliveries."""
    broker = RabbitBroker(rabbit_url, logger=None)
    await broker.connect()
    try:
        await broker.declare_exchange(EVENTS)
        queue = await broker.declare_queue(webhook_queue())
        await queue.purge()
    finally:
        await broker.stop()


@dataclass
class Inbox:
    """A connected Socket.IO client and every push it received, in order."""

    client: socketio.AsyncClient
    pushes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server ends the session."""

    def named(self, event: str) -> list[dict[str, Any]]:
        return [data for name, data in self.pushes if name == event]

    def about(self, ticket_id: str) -> list[str]:
        return [name for name, data in self.pushes if data.get("ticketId") == ticket_id]

    async def wait_for(self, event: str, ticket_id: str, timeout: float = 30) -> dict[str, Any]:

        def push() -> dict[str, Any] | None:
            for name, data in self.pushes:
                if name == event and data.get("ticketId") == ticket_id:
                    return data
            return None

        return await eventually(
            push, what=f"a {event} push for {ticket_id}", timeout=timeout, wake=self.arrived
        )


class Refused(Exception):
    """The server refused the connection; args[0] lists what `connect_error` carried."""


async def connect(
    url: str,
    token: str | None = None,
    *,
    header: bool = False,
    transport: str = "websocket",
) -> Inbox:
    """Raises Refused when the server refuses."""
    client = socketio.AsyncClient(reconnection=False)
    inbox = Inbox(client)

    async def any_push(event: str, data: dict[str, Any]) -> None:
        inbox.pushes.append((event, data))
        inbox.arrived.set()

    refusals: list[object] = []

    async def refused(data: object) -> None:
        refusals.append(data)

    async def dropped(*_: object) -> None:
        inbox.gone.set()

    client.on("*", any_push)
    client.on("disconnect", dropped)
    client.on("connect_error", refused)

    headers = {"Authorization": f"Bearer {token}"} if header and token else {}
    auth = {"token": token} if token and not header else None
    try:
        await client.connect(
            url, auth=auth, headers=headers, transports=[transport], wait_timeout=30
        )
    except socketio.exceptions.ConnectionError as error:
        raise Refused(refusals) from error
    return inbox


async def hang_up(inbox: Inbox) -> None:
    """A long-polling client would wait for its pending poll (up to the ping interval)."""
    if inbox.client.transport() == "polling":
        await inbox.client.eio.disconnect(abort=True)
    else:
        await inbox.client.disconnect()


@asynccontextmanager
async def publisher(rabbit_url: str) -> AsyncIterator[RabbitBroker]:
    broker = RabbitBroker(rabbit_url, logger=None)
    await broker.start()
    await broker.declare_exchange(EVENTS)
    try:
        yield broker
    finally:
        await broker.stop()


async def publish(broker: RabbitBroker, event: EventBase, event_id: str | None = None) -> None:
    """Publishes as the ticket service's relay does (the routing key is the type)."""
    payload = event.to_wire()
    kind = str(payload["type"])
    await publish_event(broker, kind, payload, event_id or event.event_id)


def summary(
    ticket_id: str,
    *,
    assigned_agent: str | None = None,
    status: TicketStatus = TicketStatus.NEW,
    priority: Priority = Priority.HIGH,
) -> TicketSummary:
    now = datetime.now(UTC)
    return TicketSummary(
        ticket_id=ticket_id,
        title="Order not delivered",
        status=status,
        priority=priority,
        category=Category.BILLING,
        customer_id="cust-1",
        conversation_id="conv-1",
        assigned_agent=assigned_agent,
        source=Source.AI,
        channel=Channel.WHATSAPP,
        created_at=now,
        revision=1,
        sla=SlaBlock(first_response_target=3_600_000, resolution_target=86_400_000),
    )


def new_ticket_id() -> str:
    return f"TICKET-2026-{uuid.uuid4().int % 1_000_000:06d}"


def created(ticket_id: str, assigned_agent: str | None = None) -> TicketCreated:
    return TicketCreated(
        event_id=uuid.uuid4().hex,
        occurred_at=datetime.now(UTC),
        ticket_id=ticket_id,
        ticket=summary(ticket_id, assigned_agent=assigned_agent),
    )


def breached(ticket_id: str, assigned_agent: str | None) -> SlaBreached:
    now = datetime.now(UTC)
    return SlaBreached(
        event_id=uuid.uuid4().hex,
        occurred_at=now,
        ticket_id=ticket_id,
        kind=SlaKind.FIRST_RESPONSE,
        priority=Priority.URGENT,
        customer_id="cust-1",
        assigned_agent=assigned_agent,
        target_seconds=900,
        elapsed_seconds=901,
        due_at=now,
    )


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint on loopback answering with the scripted statuses (then 200);
    while `gate` is unset it holds every request (a slow endpoint)."""

    statuses: list[int] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(await request.read(), dict(request.headers)))
        self.arrived.set()
        await self.gate.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok" if status < 400 else "boom")


@asynccontextmanager
async def receiving(
    statuses: list[int] | None = None, *, slow: bool = False
) -> AsyncIterator[Receiver]:
    receiver = Receiver(statuses=list(statuses or []))
    if not slow:
        receiver.gate.set()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    sock = _loopback_socket()
    site = web.SockSite(runner, sock)
    await site.start()
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    try:
        yield receiver
    finally:
        receiver.gate.set()
        await runner.cleanup()
        sock.close()
