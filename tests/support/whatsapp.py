"""Running the WhatsApp channel in tests: its settings against the fake Graph API, the app
through a real ASGI client, and taps on the WhatsApp queues."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from bson import ObjectId
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from contracts import names
from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import Clock
from infra.http import build_app
from infra.messaging import command_queue
from infra.mongo import connect
from infra.runtime import Runtime, Service
from infra.settings import Settings, WhatsAppSettings
from services.whatsapp_channel.main import WhatsAppChannel
from tests.support.api import API_KEY, BASE_URL, JWT_SECRET
from tests.support.fake_meta import (
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    VERIFY_TOKEN,
    VERSION,
    signed,
)
from tests.support.system import Endpoints, settings_for
from tests.support.waiting import eventually

WEBHOOK = "/api/v2/whatsapp/webhook"
OUTBOUND = RabbitQueue(names.WHATSAPP_OUTBOUND, durable=True)


def channel_settings(
    endpoints: Endpoints,
    database: str,
    graph_url: str,
    rabbit_url: str | None = None,
    **options: Any,
) -> Settings:
    defaults: dict[str, Any] = {
        "verify_token": VERIFY_TOKEN,
        "app_secret": APP_SECRET,
        "access_token": TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "graph_base_url": graph_url,
        "graph_api_version": VERSION,
        "send_poll_seconds": 0.05,
        "relay_sweep_seconds": 3600,
        "publish_timeout_seconds": 2,
        "template_name": "ticket_update",
        "template_language": "es",
        "template_parameters": ["{ticketId}", "{text}"],
    }
    whatsapp = WhatsAppSettings.model_validate(defaults | options)
    settings = settings_for(
        endpoints, database, jwt_secret=JWT_SECRET, api_keys=API_KEY, whatsapp=whatsapp
    )
    if rabbit_url is not None:
        settings = settings.model_copy(update={"rabbitmq_url": rabbit_url})
    return settings


@asynccontextmanager
async def channel_app(
    settings: Settings, clock: Clock | None = None, others: list[Service] | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, WhatsAppChannel]]:
    """The channel (and `others`) in one runtime, served through a real ASGI client."""
    channel = WhatsAppChannel()
    app = build_app(Runtime(settings, [channel, *(others or [])], clock))
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=BASE_URL) as c,
    ):
        yield c, channel


async def post_webhook(client: httpx.AsyncClient, payload: dict[str, Any]) -> httpx.Response:
    body, headers = signed(payload)
    return await client.post(WEBHOOK, content=body, headers=headers)


async def agent_headers(endpoints: Endpoints, settings: Settings) -> dict[str, str]:
    """An active agent in the ticket service's `agents` collection, and their token."""
    mongo = connect(endpoints.mongo_url)
    agent_id = ObjectId()
    try:
        await mongo[settings.mongodb_database]["agents"].insert_one(
            {
                "_id": agent_id,
                "name": "Ana",
                "email": f"ana-{agent_id}@example.com",
                "role": "agent",
                "isActive": True,
                "createdAt": datetime.now(UTC),
            }
        )
    finally:
        await mongo.close()
    token = issue_token(settings, str(agent_id), AgentRole.AGENT, datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tap:
    """Every message that reaches one queue while the tap runs: (AMQP message id, body)."""

    seen: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def ids(self) -> list[str | None]:
        return [message_id for message_id, _ in self.seen]

    def count(self, message_id: str) -> int:
        return self.ids().count(message_id)

    def body(self, message_id: str) -> dict[str, Any]:
        return next(body for mid, body in self.seen if mid == message_id)

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        return [b for _, b in self.seen if all(b.get(k) == v for k, v in fields.items())]

    async def wait_where(self, timeout: float = 60, **fields: Any) -> dict[str, Any]:
        found = await eventually(
            lambda: self.where(**fields),
            what=f"an inbound message with {fields}",
            timeout=timeout,
            wake=self.arrived,
        )
        return found[0]

    async def wait_for(self, message_id: str, timeout: float = 60) -> dict[str, Any]:
        await eventually(
            lambda: message_id in self.ids(),
            what=f"the inbound message {message_id}",
            timeout=timeout,
            wake=self.arrived,
        )
        return self.body(message_id)


@asynccontextmanager
async def inbound_tap(rabbit_url: str) -> AsyncIterator[Tap]:
    """Consumes `whatsapp.inbound` (emptied first: what other tests left is not ours)."""
    async with _tap(rabbit_url, command_queue(names.WHATSAPP_INBOUND)) as tap:
        yield tap


@asynccontextmanager
async def delivery_tap(rabbit_url: str) -> AsyncIterator[Tap]:
    """Consumes `tickets.v1.record_delivery` in the ticket service's place."""
    async with _tap(rabbit_url, command_queue(names.RECORD_DELIVERY)) as tap:
        yield tap


@asynccontextmanager
async def _tap(rabbit_url: str, queue: RabbitQueue) -> AsyncIterator[Tap]:
    broker = RabbitBroker(rabbit_url, logger=None)
    tap = Tap()
    await broker.connect()
    declared = await broker.declare_queue(queue)
    await declared.purge()

    @broker.subscriber(queue)
    async def collect(message: RabbitMessage) -> None:
        tap.seen.append((message.message_id, json.loads(message.body)))
        tap.arrived.set()

    await broker.start()
    try:
        yield tap
    finally:
        await broker.stop()


@asynccontextmanager
async def outbound_publisher(rabbit_url: str) -> AsyncIterator[RabbitBroker]:
    """Publishes on `whatsapp.outbound` as the ticket service and the gateway do."""
    broker = RabbitBroker(rabbit_url, logger=None)
    await broker.connect()
    declared = await broker.declare_queue(OUTBOUND)
    await declared.purge()
    try:
        yield broker
    finally:
        await broker.stop()


async def publish_outbound(broker: RabbitBroker, **fields: Any) -> str:
    message_id = str(fields.pop("messageId", None) or f"msg-{uuid.uuid4().hex[:12]}")
    body = {"messageId": message_id, **fields}
    await broker.publish(
        json.dumps(body).encode(),
        queue=names.WHATSAPP_OUTBOUND,
        persist=True,
        content_type="application/json",
    )
    return message_id


async def empty_whatsapp_queues(rabbit_url: str) -> None:
    broker = RabbitBroker(rabbit_url, logger=None)
    await broker.connect()
    try:
        for queue in (command_queue(names.WHATSAPP_INBOUND), OUTBOUND):
            declared = await broker.declare_queue(queue)
            await declared.purge()
    finally:
        await broker.stop()
