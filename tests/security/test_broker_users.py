"""Finding: every service shared guest/guest on the broker. deploy/rabbitmq gives each one
its own user with only the permissions it needs; here the definitions it generates are
imported into a private virtual host, the five services run each under its own user
(the WhatsApp channel against a fake Graph API), a ticket's life and a customer's
WhatsApp message cross all of them, and what a user must not do is refused."""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiormq
import pytest

from contracts import names
from infra.clock import MovableClock
from infra.mongo import connect
from infra.runtime import Service
from infra.settings import SlaMonitorSettings
from services.assistant_gateway.main import AssistantGateway
from services.notifier.main import Notifier
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from tests.support.fake_meta import change, fake_graph, notification, text
from tests.support.system import Endpoints, client, running, settings_for
from tests.support.waiting import eventually
from tests.support.whatsapp import channel_app, channel_settings, post_webhook

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "deploy" / "rabbitmq" / "definitions.py"
SERVICES = ("ticket_service", "assistant_gateway", "sla_monitor", "notifier")


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def import_users(vhost: str, prefix: str) -> dict[str, str]:
    """Generates the definitions with fresh passwords and imports them; the passwords."""
    table = json.loads(GENERATOR.with_name("permissions.json").read_text())["users"]
    passwords = {service: secrets.token_urlsafe(32) for service in table}
    env = {f"RABBITMQ_PASSWORD_{s.upper()}": p for s, p in passwords.items()}
    generated = subprocess.run(
        [sys.executable, str(GENERATOR), "--vhost", vhost, "--user-prefix", prefix],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    # The broker node reads the file itself (as its own user): a readable file in /tmp,
    # holding only salted hashes of passwords made for this test, removed at once.
    descriptor, name = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(generated)
        Path(name).chmod(0o644)
        rabbitmqctl("import_definitions", name)
    finally:
        Path(name).unlink()
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    return passwords


def remove_users(vhost: str, prefix: str, services: list[str]) -> None:
    for service in services:
        rabbitmqctl("delete_user", f"{prefix}{service}")
    rabbitmqctl("delete_vhost", vhost)


@asynccontextmanager
async def service_users(base: str) -> AsyncIterator[dict[str, str]]:
    """A private vhost and one user per service from the generated definitions; the
    URL each service connects with (and `guest`, for the test's own client)."""
    vhost, prefix = f"tickets-users-{uuid.uuid4().hex[:8]}", f"t{uuid.uuid4().hex[:8]}-"
    passwords = await asyncio.to_thread(import_users, vhost, prefix)
    try:
        host = base.split("@", 1)[1].split("/", 1)[0]
        urls = {s: f"amqp://{prefix}{s}:{p}@{host}/{vhost}" for s, p in passwords.items()}
        yield urls | {"guest": f"amqp://guest:guest@{host}/{vhost}"}
    finally:
        await asyncio.to_thread(remove_users, vhost, prefix, list(passwords))


async def stored(mongo: Any, database: str, collection: str, query: dict[str, Any]) -> None:
    """Until a document matching `query` is in `collection` (written by a consumer)."""

    async def found() -> bool:
        return bool(await mongo[database][collection].find_one(query))

    await eventually(found, what=f"a document in {collection} matching {query}")


async def ignore(_: aio_pika.abc.AbstractIncomingMessage) -> None:
    """A consumer that is never meant to receive anything."""


async def refused(url: str, action: str, queue: str) -> bool:
    """Whether the broker refuses `action` (publish to or consume from `queue`)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        if action == "publish":
            await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=queue)
        else:
            existing = await channel.get_queue(queue, ensure=False)
            await existing.consume(ignore)
        await asyncio.sleep(0)
    except aiormq.exceptions.ChannelAccessRefused:
        return True
    finally:
        await connection.close()
    return False


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
async def test_each_service_works_under_its_own_user_and_nothing_more(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime.now(UTC))
    monitor = SlaMonitorSettings(scan_interval_seconds=0.1, warnings_enabled=False)
    async with service_users(endpoints.rabbit_url) as urls, AsyncExitStack() as stack:
        kinds: dict[str, Callable[[], Service]] = {
            "ticket_service": TicketService,
            "assistant_gateway": AssistantGateway,
            "sla_monitor": SlaMonitor,
            "notifier": Notifier,
        }
        for service in SERVICES:
            settings = settings_for(endpoints, database, sla_monitor=monitor).model_copy(
                update={"rabbitmq_url": urls[service]}
            )
            await stack.enter_async_context(running(settings, [kinds[service]()], clock))
        graph = await stack.enter_async_context(fake_graph())
        channel_user = channel_settings(
            endpoints, database, graph.url, rabbit_url=urls["whatsapp_channel"]
        )
        meta, _ = await stack.enter_async_context(channel_app(channel_user, clock))
        caller, events = await stack.enter_async_context(client(urls["guest"]))
        async with connect(endpoints.mongo_url) as mongo:
            await mongo[database]["webhooks"].insert_one(
                {
                    "_id": "wh_users",
                    "url": "https://crm.example.com/hook",
                    "events": ["*"],
                    "secret": "x" * 40,
                    "active": True,
                    "createdBy": "test",
                    "createdAt": clock.now(),
                    "updatedAt": clock.now(),
                }
            )
            reply = await caller.call(
                names.ASSISTANT_TOOL_CALLS,
                {
                    "customer": {"phone": "+34600000077"},
                    "tool_calls": [
                        {
                            "id": "c1",
                            "function": {
                                "name": "create_ticket_report",
                                "arguments": json.dumps(
                                    {
                                        "title": "Order not delivered",
                                        "description": "My order #12345 has not arrived.",
                                        "category": None,
                                        "priority": "urgent",
                                    }
                                ),
                            },
                        }
                    ],
                },
            )
            created = json.loads(reply["data"]["tool_outputs"][0]["output"])
            ticket_id = created["ticketId"]
            await events.wait_for(1)  # ticket.created, published by the ticket service
            await stored(mongo, database, "sla_timers", {"ticketId": ticket_id})
            await stored(mongo, database, "webhook_deliveries", {"webhookId": "wh_users"})
            # A customer writes on WhatsApp: channel -> gateway -> ticket service, and the
            # assistant's reply goes back out through the channel to the Graph API.
            moment = int(clock.now().timestamp())
            note = text("wamid.users.1", "+34600000078", "Hola, ¿mi pedido?", moment)
            accepted = await post_webhook(meta, notification(change([note])))
            await eventually(lambda: graph.sends, what="the reply sent", wake=graph.arrived)
            clock.advance(timedelta(hours=25))  # past any first-response target
            await eventually(
                lambda: "sla.breached" in [e.get("type") for e in events.events],
                what="an sla.breached event",
                wake=events.arrived,
            )
            types = [e.get("type") for e in events.events]
        notifier_sends = await refused(urls["notifier"], "publish", names.CREATE)
        gateway_steals = await refused(urls["assistant_gateway"], "consume", names.CREATE)
        monitor_steals = await refused(urls["sla_monitor"], "consume", names.WHATSAPP_INBOUND)
        guest_publishes = await refused(urls["guest"], "publish", names.GET)
    assert created["success"] is True, created
    assert accepted.status_code == 200, accepted.text
    assert graph.sends[0]["to"].endswith("34600000078")  # the reply went out
    assert {"ticket.created", "sla.breached"} <= set(types)  # both services published events
    assert notifier_sends  # no write on the default exchange: it cannot send commands
    assert gateway_steals  # nobody but the ticket service reads its command queues
    assert monitor_steals
    assert not guest_publishes  # the check itself can tell an allowed action apart
