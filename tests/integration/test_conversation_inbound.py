"""The customer's side of the conversation on the ticket: WhatsApp messages in over the
real broker, the assistant (scripted model behind the official SDK) answering, both
recorded on the ticket, listed over REST and pushed to real Socket.IO clients."""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from contracts import names
from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.messaging import command_queue
from infra.runtime import Service
from infra.settings import Settings
from services.assistant_gateway.main import AssistantGateway
from services.notifier.main import Notifier
from services.ticket_service.main import TicketService
from tests.integration.test_assistant_conversation import (
    PHONE,
    WhatsApp,
    gateway_settings,
    model,
    whatsapp,
)
from tests.support.conversation import (
    agent_headers,
    http,
    logged,
    messages_of,
    tickets_tagged,
)
from tests.support.factories import SYSTEM, make_agent
from tests.support.fake_openai import Call, Fail, FakeOpenAI, Say
from tests.support.notifier_system import Inbox, connect, created, publish, publisher, serving
from tests.support.system import Caller, Endpoints, client, running, settings_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
__all__ = ["model"]  # the fake OpenAI server fixture

SECRET = "conversation-inbound-secret-0123456789abcdef"


@dataclass
class Support:
    """The whole system on one port, the WhatsApp side, the bus and an HTTP session."""

    url: str
    settings: Settings
    side: WhatsApp
    caller: Caller
    api: httpx.AsyncClient

    def auth(self, agent: str) -> dict[str, str]:
        return agent_headers(self.settings, agent)

    async def open_ticket(self, agent: str, title: str = "Order not delivered") -> str:
        body = {
            "title": title,
            "description": "Order #12345 has not arrived after two weeks.",
            "customer": {"phone": PHONE},
        }
        response = await self.api.post("/api/v2/tickets", json=body, headers=self.auth(agent))
        assert response.status_code == 201, response.text
        return str(response.json()["data"]["ticketId"])

    async def messages(self, agent: str, ticket_id: str, **query: Any) -> httpx.Response:
        return await self.api.get(
            f"/api/v2/tickets/{ticket_id}/messages", params=query, headers=self.auth(agent)
        )

    async def send(self, text: str, attachments: list[dict[str, Any]] | None = None) -> str:
        message_id = f"wamid.{uuid.uuid4().hex}"
        body = {
            "messageId": message_id,
            "from": PHONE,
            "name": "Lucía",
            "text": text,
            "timestamp": datetime.now(UTC).isoformat(),
            **({"attachments": attachments} if attachments else {}),
        }
        await self.side.broker.publish(
            json.dumps(body).encode(), queue=names.WHATSAPP_INBOUND, persist=True
        )
        return message_id


@asynccontextmanager
async def support(endpoints: Endpoints, database: str, model: FakeOpenAI) -> AsyncIterator[Support]:
    settings = gateway_settings(endpoints, database, model).model_copy(
        update={"jwt_secret": SECRET}
    )
    services: list[Service] = [TicketService(), AssistantGateway(), Notifier()]
    async with (
        whatsapp(endpoints.rabbit_url) as side,
        serving(settings, services) as served,
        client(endpoints.rabbit_url) as (caller, _),
        http(served.url) as api,
    ):
        yield Support(served.url, settings, side, caller, api)


async def pushed(
    inbox: Inbox, ticket_id: str, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    """Waits for `count` `ticket_message` pushes about the ticket."""

    def found() -> list[dict[str, Any]] | None:
        pushes = [
            data
            for name, data in inbox.pushes
            if name == "ticket_message" and data["ticketId"] == ticket_id
        ]
        return pushes if len(pushes) >= count else None

    return await eventually(
        found,
        what=f"{count} ticket_message pushes about {ticket_id}",
        timeout=timeout,
        wake=inbox.arrived,
    )


async def test_the_customers_message_and_the_reply_are_on_the_ticket_and_pushed_to_its_readers(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    model.add(Say("Gracias, Ana lo revisa ahora."))
    async with support(endpoints, database, model) as s, publisher(endpoints.rabbit_url) as bus:
        ana, ben = await make_agent("Ana"), await make_agent("Ben")
        root = await make_agent("Root", AgentRole.ADMIN)
        ticket_id = await s.open_ticket(ana)
        inboxes = {
            name: await connect(s.url, issue_token(s.settings, agent, role, datetime.now(UTC)))
            for name, agent, role in (
                ("ana", ana, AgentRole.AGENT),
                ("ben", ben, AgentRole.AGENT),
                ("root", root, AgentRole.ADMIN),
            )
        }
        message_id = await s.send("Aquí está el número de seguimiento: 123")
        await s.side.reply_to(message_id)
        to_ana = await pushed(inboxes["ana"], ticket_id, 2)
        to_root = await pushed(inboxes["root"], ticket_id, 2)
        marker = f"TICKET-2026-{uuid.uuid4().int % 1_000_000:06d}"
        await publish(bus, created(marker))  # a pool ticket: every agent hears of it
        for inbox in inboxes.values():
            await inbox.wait_for("ticket_created", marker)
        as_ana = await s.messages(ana, ticket_id)
        as_ben = await s.messages(ben, ticket_id)
        page_two = await s.messages(root, ticket_id, page=2, limit=1)
        bad_page = await s.messages(ana, ticket_id, limit=500)

    listed = as_ana.json()
    assert as_ana.status_code == 200
    assert listed["pagination"] == {"page": 1, "limit": 50, "total": 2, "pages": 1}
    inbound, reply = listed["data"]
    assert inbound["direction"] == "inbound"
    assert inbound["author"]["type"] == "customer"
    assert inbound["author"]["name"] == "Lucía"
    assert inbound["text"] == "Aquí está el número de seguimiento: 123"
    assert inbound["externalId"] == message_id
    assert inbound["delivery"] == {"status": "received"}
    assert reply["direction"] == "outbound"
    assert reply["author"] == {"type": "assistant", "id": None, "name": "Assistant"}
    assert reply["text"] == "Gracias, Ana lo revisa ahora."
    assert reply["replyTo"] == message_id
    assert [p["message"] for p in to_ana] == [inbound, reply]
    assert [p["message"]["id"] for p in to_root] == [inbound["id"], reply["id"]]
    assert len([n for n, d in inboxes["ana"].pushes if n == "ticket_message"]) == 2
    assert [n for n, _ in inboxes["ben"].pushes if n == "ticket_message"] == []
    assert as_ben.status_code == 404
    assert page_two.json()["data"] == [reply]
    assert bad_page.status_code == 422


async def test_inbound_media_becomes_message_and_ticket_attachments(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    model.add(Say("Recibido, gracias."), Say("Anotado."))
    photo = {"type": "image", "mediaId": "media-1", "mimeType": "image/jpeg", "sha256": "ab"}
    place = {
        "type": "location",
        "location": {"latitude": 40.4168, "longitude": -3.7038, "name": "Sol"},
    }
    async with support(endpoints, database, model) as s:
        ana = await make_agent("Ana")
        ticket_id = await s.open_ticket(ana)
        first = await s.send("[image]", [photo])
        await s.side.reply_to(first)
        second = await s.send("Estoy aquí", [place])
        await s.side.reply_to(second)
        stored = await messages_of(endpoints, database, ticket_id, 4)
        ticket = (await s.api.get(f"/api/v2/tickets/{ticket_id}", headers=s.auth(ana))).json()[
            "data"
        ]
        listed = (await s.messages(ana, ticket_id)).json()["data"]

    image, _, location, _ = stored
    assert image["text"] == "[image]"
    assert image["attachments"] == [
        {
            "url": "/api/v2/whatsapp/media/media-1",
            "type": "image",
            "filename": None,
            "size": None,
            "mimeType": "image/jpeg",
            "mediaId": "media-1",
        }
    ]
    assert listed[0]["attachments"] == image["attachments"]
    assert location["text"] == "Estoy aquí"
    assert location["attachments"][0]["url"] == "geo:40.4168,-3.7038"
    assert location["attachments"][0]["filename"] == "Sol"
    on_ticket = ticket["attachments"]
    assert [(a["url"], a["type"]) for a in on_ticket] == [
        ("/api/v2/whatsapp/media/media-1", "image"),
        ("geo:40.4168,-3.7038", "location"),
    ]
    assert on_ticket[0]["messageId"] == image["_id"]
    assert on_ticket[0]["uploadedByType"] == "Customer"


async def test_the_message_lands_on_the_ticket_the_assistant_worked_on(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    async with support(endpoints, database, model) as s:
        ana = await make_agent("Ana")
        older = await s.open_ticket(ana, "Refund not received")
        newer = await s.open_ticket(ana)  # the most recently updated one
        model.add(
            Call([("get_ticket_information", {"ticketId": older})]),
            Say("Tu reembolso está en proceso."),
        )
        message_id = await s.send("¿Qué pasa con mi reembolso?")
        await s.side.reply_to(message_id)
        on_older = await messages_of(endpoints, database, older, 2)
        on_newer = await s.messages(ana, newer)

    assert [m["externalId"] for m in on_older] == [message_id, f"reply-{message_id}"]
    assert on_newer.json()["data"] == []


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_when_the_model_fails_the_message_waits_on_a_ticket_for_a_person(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    model.add(Fail(500), Fail(503))
    fallbacks = _sample("tickets_assistant_replies_total", {"kind": "fallback"})
    opened = _sample("tickets_conversation_needs_human_total", {"outcome": "opened"})
    existing = _sample("tickets_conversation_needs_human_total", {"outcome": "existing"})
    async with support(endpoints, database, model) as s:
        ana = await make_agent("Ana")
        first = await s.send("Hola, mi pedido llegó roto")
        fallback = await s.side.reply_to(first)
        [ticket] = await tickets_tagged(endpoints, database, "needs-human", 1)
        second = await s.send("¿Hay alguien?")
        await s.side.reply_to(second)
        conversation = await messages_of(endpoints, database, ticket["ticketId"], 4)
        pool = await s.api.get("/api/v2/tickets", params={"q": "roto"}, headers=s.auth(ana))

    assert fallback["text"].startswith("Gracias por tu mensaje")
    assert ticket["source"] == "ai"
    assert ticket["status"] == "new"
    assert ticket["assignedAgent"] is None  # in the pool: every agent sees it
    assert ticket["description"] == "Hola, mi pedido llegó roto"
    assert [(m["direction"], m["text"]) for m in conversation] == [
        ("inbound", "Hola, mi pedido llegó roto"),
        ("outbound", fallback["text"]),
        ("inbound", "¿Hay alguien?"),
        ("outbound", fallback["text"]),
    ]
    assert [t["ticketId"] for t in pool.json()["data"]] == [ticket["ticketId"]]
    assert _sample("tickets_assistant_replies_total", {"kind": "fallback"}) == fallbacks + 2
    labels = {"outcome": "opened"}
    assert _sample("tickets_conversation_needs_human_total", labels) == opened + 1
    labels = {"outcome": "existing"}
    assert _sample("tickets_conversation_needs_human_total", labels) == existing + 1


def record_command(message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "actor": SYSTEM,
        "customer": {"phone": PHONE},
        "messages": [
            {
                "messageId": message_id,
                "direction": "inbound",
                "authorType": "customer",
                "text": "Sent from the CRM's web chat",
                "sentAt": "2026-11-29T10:00:00+01:00",
            }
        ],
        **extra,
    }


async def test_other_services_record_messages_once_over_the_queue(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    async with support(endpoints, database, model) as s:
        ana = await make_agent("Ana")
        nothing_open = await s.caller.call(names.RECORD_MESSAGES, record_command("web-0"))
        ticket_id = await s.open_ticket(ana)
        first = await s.caller.call(names.RECORD_MESSAGES, record_command("web-1"))
        again = await s.caller.call(names.RECORD_MESSAGES, record_command("web-1"))
        refusals = {
            "no customer": await s.caller.call(
                names.RECORD_MESSAGES, {**record_command("web-2"), "customer": None}
            ),
            "an agent": await s.caller.call(
                names.RECORD_MESSAGES,
                {**record_command("web-3"), "actor": {"type": "Agent", "id": ana}},
            ),
            "no text": await s.caller.call(
                names.RECORD_MESSAGES,
                record_command("web-4")
                | {
                    "messages": [
                        {
                            "messageId": "x",
                            "direction": "inbound",
                            "authorType": "customer",
                            "sentAt": "2026-11-29T10:00:00Z",
                        }
                    ]
                },
            ),
            "not JSON": await s.caller.call(names.RECORD_MESSAGES, b"{not json"),
        }
        listed = await s.messages(ana, ticket_id)

    assert nothing_open == {
        "ok": True,
        "data": {"ticketId": None, "recorded": [], "ticketOpened": False},
    }
    assert first["ok"] is True
    assert first["data"]["ticketId"] == ticket_id
    assert len(first["data"]["recorded"]) == 1
    assert again["data"] == {"ticketId": ticket_id, "recorded": [], "ticketOpened": False}
    for case, reply in refusals.items():
        assert reply["ok"] is False, case
        assert reply["error"]["code"] == "validation", case
    [message] = listed.json()["data"]
    assert message["text"] == "Sent from the CRM's web chat"
    assert message["createdAt"] == "2026-11-29T09:00:00Z"


async def test_a_one_way_record_survives_a_storage_outage(
    endpoints: Endpoints, database: str
) -> None:
    """Sent without reply_to (as the gateway does): while MongoDB is away the command goes
    back to the queue, and the next ticket service records it."""
    settings = settings_for(endpoints, database)
    async with client(endpoints.rabbit_url) as (caller, _):
        records = await caller.broker.declare_queue(command_queue(names.RECORD_MESSAGES))
        await records.purge()
        async with running(settings) as broken:
            context = broken.context
            assert context is not None
            await context.mongo.close()  # the store is gone for this instance
            body = record_command("web-outage", ifNoTicket="open_for_human")
            with logged("services.ticket_service.message_handlers") as lines:
                await caller.broker.publish(
                    json.dumps(body).encode(), queue=names.RECORD_MESSAGES, persist=True
                )
                await lines.seen("record_messages failed; requeued")
        async with running(settings):
            [ticket] = await tickets_tagged(endpoints, database, "needs-human", 1)
            stored = await messages_of(endpoints, database, ticket["ticketId"], 1)

    assert [m["externalId"] for m in stored] == ["web-outage"]
    assert stored[0]["text"] == "Sent from the CRM's web chat"
