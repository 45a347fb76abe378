"""Both sides of support over the WhatsApp channel, on a running server: the customer
writes on Meta's webhook, the assistant opens the ticket, an agent answers from the
ticket (as text inside the 24-hour window, as the approved template or a 409 outside it),
and WhatsApp's `failed` report shows on the message and reaches the agent over Socket.IO."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import MovableClock
from infra.runtime import Service
from infra.settings import AssistantSettings, Settings
from services.assistant_gateway.main import AssistantGateway
from services.notifier.main import Notifier
from services.ticket_service.main import TicketService
from services.ticket_service.nudges import WindowNudger
from services.whatsapp_channel.main import WhatsAppChannel
from tests.support.factories import make_agent
from tests.support.fake_meta import (
    FakeGraph,
    change,
    fake_graph,
    notification,
    signed,
    status,
    text,
)
from tests.support.fake_openai import Call, FakeOpenAI, Say, fake_openai
from tests.support.notifier_system import Inbox, connect, hang_up, serving
from tests.support.system import Endpoints
from tests.support.waiting import eventually
from tests.support.whatsapp import WEBHOOK, channel_settings, empty_whatsapp_queues

pytestmark = pytest.mark.integration

REPORT = {
    "title": "Order not delivered",
    "description": "My order #12345 has not arrived after two weeks.",
    "category": None,
    "priority": None,
}


@dataclass
class Support:
    api: httpx.AsyncClient
    graph: FakeGraph
    clock: MovableClock
    settings: Settings
    agent: str
    tickets: TicketService

    def auth(self, **headers: str) -> dict[str, str]:
        token = issue_token(self.settings, self.agent, AgentRole.AGENT, self.clock.now())
        return {"Authorization": f"Bearer {token}", **headers}

    async def customer_writes(self, phone: str, words: str) -> str:
        wamid = f"wamid.{uuid.uuid4().hex}"
        message = text(wamid, phone, words, int(self.clock.now().timestamp()))
        body, headers = signed(notification(change([message], names={phone: "Lucía"})))
        response = await self.api.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 200, response.text
        return wamid

    async def reply(self, ticket_id: str, words: str, key: str | None = None) -> httpx.Response:
        headers = self.auth(**({"Idempotency-Key": key} if key else {}))
        path = f"/api/v2/tickets/{ticket_id}/messages"
        return await self.api.post(path, json={"text": words}, headers=headers)

    async def get(self, path: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/v2{path}", headers=self.auth())
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def messages(self, ticket_id: str) -> list[dict[str, Any]]:
        response = await self.api.get(f"/api/v2/tickets/{ticket_id}/messages", headers=self.auth())
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        return items


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with fake_openai() as fake:
        yield fake


@asynccontextmanager
async def support(
    endpoints: Endpoints, database: str, model: FakeOpenAI, **whatsapp: Any
) -> AsyncIterator[tuple[Support, Inbox]]:
    """Every service `tickets up` runs, on a movable clock, an agent connected to Socket.IO."""
    await empty_whatsapp_queues(endpoints.rabbit_url)
    clock = MovableClock(datetime.now(UTC).replace(microsecond=0))
    async with fake_graph() as graph:
        settings = channel_settings(endpoints, database, graph.url, **whatsapp).model_copy(
            update={
                "openai_api_key": "test-key",
                "openai_base_url": model.base_url,
                "openai_model": "fake-model",
                "assistant": AssistantSettings(model_timeout_seconds=5.0, model_retries=0),
                "jwt_ttl_seconds": 14 * 24 * 3600,
                "relay_sweep_seconds": 0.2,
            }
        )
        ticket_service = TicketService()
        services: list[Service] = [
            ticket_service,
            AssistantGateway(),
            Notifier(),
            WhatsAppChannel(),
        ]
        async with (
            serving(settings, services, clock) as served,
            httpx.AsyncClient(base_url=served.url, timeout=30) as api,
        ):
            agent = await make_agent("Ana")
            desk = Support(api, graph, clock, settings, agent, ticket_service)
            token = desk.auth()["Authorization"].removeprefix("Bearer ")
            inbox = await connect(served.url, token)
            try:
                yield desk, inbox
            finally:
                await hang_up(inbox)


async def opened_ticket(desk: Support, model: FakeOpenAI, phone: str) -> str:
    """The customer writes; the assistant opens a ticket and answers on WhatsApp."""
    model.add(
        Call([("create_ticket_report", REPORT)]),
        Say(lambda outputs: f"Ticket {outputs[-1]['ticketId']}"),
    )
    wamid = await desk.customer_writes(phone, "Hola, mi pedido #12345 no ha llegado")
    await desk.graph.wait_sends(f"reply-{wamid}", 1, timeout=60)
    [answer] = desk.graph.for_id(f"reply-{wamid}")
    return str(answer["text"]["body"]).removeprefix("Ticket ")


async def test_an_agent_reply_goes_as_text_inside_the_window_as_the_template_outside_once(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    phone = "+34641000001"
    async with support(endpoints, database, model) as (desk, inbox):
        ticket_id = await opened_ticket(desk, model, phone)
        inside = (await desk.reply(ticket_id, "Hola Lucía, lo miro ahora")).json()["data"]
        await desk.graph.wait_sends(inside["id"], 1)
        open_window = (await desk.get(f"/tickets/{ticket_id}"))["whatsappWindow"]
        desk.clock.advance(timedelta(hours=25))
        closed_window = (await desk.get(f"/tickets/{ticket_id}"))["whatsappWindow"]
        first = await desk.reply(ticket_id, "Ya salió tu pedido.\nLlega mañana", key="k-1")
        again = await desk.reply(ticket_id, "Ya salió tu pedido.\nLlega mañana", key="k-1")
        outside = first.json()["data"]
        await desk.graph.wait_sends(outside["id"], 1)
        marker = (await desk.reply(ticket_id, "(marker)")).json()["data"]
        await desk.graph.wait_sends(marker["id"], 1)

        wamid = desk.graph.accepted_for(outside["id"])[0]["wamid"]
        ts = int(desk.clock.now().timestamp())
        report = status(wamid, phone, "failed", ts, error_code=131026)
        body, headers = signed(notification(change(statuses=[report])))
        assert (await desk.api.post(WEBHOOK, content=body, headers=headers)).status_code == 200
        pushed = await inbox.wait_for("ticket_message_delivery", ticket_id)
        messages = await desk.messages(ticket_id)
    [as_text] = desk.graph.for_id(inside["id"])
    assert (as_text["type"], as_text["text"]["body"]) == ("text", "Hola Lucía, lo miro ahora")
    assert as_text["to"] == phone.removeprefix("+")
    assert open_window["open"] is True
    assert closed_window["open"] is False
    assert closed_window["closesAt"] == open_window["closesAt"]
    assert again.json()["data"]["id"] == outside["id"]
    [as_template] = desk.graph.for_id(outside["id"])  # once, though requested twice
    assert as_template["type"] == "template"
    assert as_template["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": ticket_id},
        {"type": "text", "text": "Ya salió tu pedido. Llega mañana"},
    ]
    assert pushed["messageId"] == outside["id"]
    assert pushed["delivery"]["status"] == "failed"
    assert pushed["delivery"]["error"]["code"] == 131026
    shown = next(m for m in messages if m["id"] == outside["id"])
    assert shown["delivery"]["status"] == "failed"
    assert shown["delivery"]["sentAs"] == "template"
    assert shown["delivery"]["error"] == {
        "code": 131026,
        "title": "Message undeliverable",
        "detail": "The recipient cannot receive this message",
    }


async def test_with_refusal_chosen_a_reply_outside_the_window_is_a_409_that_says_when(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    phone = "+34641000002"
    async with support(endpoints, database, model, outside_window="refuse") as (desk, _):
        ticket_id = await opened_ticket(desk, model, phone)
        window = (await desk.get(f"/tickets/{ticket_id}"))["whatsappWindow"]
        desk.clock.advance(timedelta(hours=24))
        refused = await desk.reply(ticket_id, "¿Sigues ahí?")
        messages = await desk.messages(ticket_id)
        await desk.customer_writes(phone, "Sí, aquí sigo")
        model.add(Say("Gracias"))
        accepted = await wait_accepted(desk, ticket_id, "Perfecto, te cuento")
        await desk.graph.wait_sends(accepted["id"], 1)
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "conflict"
    closes_at = datetime.fromisoformat(window["closesAt"])
    assert f"window closed at {closes_at.isoformat()}" in body["error"]
    assert not any(m["text"] == "¿Sigues ahí?" for m in messages)
    assert desk.graph.for_id(accepted["id"])[0]["type"] == "text"


async def wait_accepted(desk: Support, ticket_id: str, words: str) -> dict[str, Any]:
    """The customer's new message reaches the ticket service through the assistant; until
    it has, the reply is still refused."""

    async def accepted() -> dict[str, Any] | None:
        response = await desk.reply(ticket_id, words)
        if response.status_code == 201:
            data: dict[str, Any] = response.json()["data"]
            return data
        if response.status_code != 409:
            raise RuntimeError(f"the reply was refused for good: {response.text}")
        return None

    return await eventually(accepted, what=f"the reply on {ticket_id} accepted", interval=0.1)


async def test_a_pending_ticket_reminds_the_customer_once_before_the_window_closes(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    phone = "+34641000003"
    nudge = {"name": "ticket_waiting", "language": "es", "parameters": ["{ticketId}"]}
    options = {"nudge_template": nudge, "nudge_scan_seconds": 3600}
    async with support(endpoints, database, model, **options) as (desk, inbox):
        ticket_id = await opened_ticket(desk, model, phone)
        path = f"/api/v2/tickets/{ticket_id}"
        taken = await desk.api.put(
            f"{path}/assign", json={"agentId": desk.agent}, headers=desk.auth()
        )
        waiting = await desk.api.put(
            f"{path}/status", json={"status": "pending_customer"}, headers=desk.auth()
        )
        nudger = WindowNudger(desk.tickets.conversations(), timedelta(hours=2))
        early = await nudger.scan()  # 22 h before the window closes: too early
        desk.clock.advance(timedelta(hours=22, minutes=30))
        first = await nudger.scan()
        again = [await nudger.scan(), await nudger.scan()]
        reminder = await pushed_reminder(inbox)
        messages = await desk.messages(ticket_id)
        [sent_message] = [m for m in messages if m["author"]["name"] == "WhatsApp reminder"]
        await desk.graph.wait_sends(sent_message["id"], 1)
    assert (taken.status_code, waiting.status_code) == (200, 200)
    assert (early, first, again) == (0, 1, [0, 0])
    assert reminder["ticketId"] == ticket_id
    assert reminder["message"]["author"]["type"] == "assistant"  # never the first response
    [sent] = desk.graph.for_id(sent_message["id"])
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "ticket_waiting"
    assert sent["template"]["components"][0]["parameters"] == [{"type": "text", "text": ticket_id}]
    assert ticket_id in sent_message["text"]


async def pushed_reminder(inbox: Inbox) -> dict[str, Any]:
    """The `ticket_message` push of the reminder (the agent sees it on the ticket)."""

    def reminder() -> dict[str, Any] | None:
        return next(
            (
                data
                for data in inbox.named("ticket_message")
                if data["message"]["author"].get("name") == "WhatsApp reminder"
            ),
            None,
        )

    return await eventually(reminder, what="the reminder's push", wake=inbox.arrived)


async def test_the_rating_question_after_the_window_goes_as_the_csat_template(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    phone = "+34641000004"
    csat = {"name": "csat_request", "language": "es", "parameters": ["{ticketId}"]}
    async with support(endpoints, database, model, csat_template=csat) as (desk, _):
        ticket_id = await opened_ticket(desk, model, phone)
        path = f"/api/v2/tickets/{ticket_id}"
        assign = {"agentId": desk.agent}
        taken = await desk.api.put(f"{path}/assign", json=assign, headers=desk.auth())
        desk.clock.advance(timedelta(hours=25))
        resolved = await desk.api.put(
            f"{path}/status",
            json={"status": "resolved", "reason": "Parcel delivered"},
            headers=desk.auth(),
        )
        question = await rating_question(desk, ticket_id)
        await desk.graph.wait_sends(question["id"], 1)
    assert (taken.status_code, resolved.status_code) == (200, 200)
    [sent] = desk.graph.for_id(question["id"])
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "csat_request"
    assert sent["template"]["components"][0]["parameters"] == [{"type": "text", "text": ticket_id}]


async def rating_question(desk: Support, ticket_id: str) -> dict[str, Any]:
    """The survey's message on the ticket, once the ticket service has written it."""

    async def question() -> dict[str, Any] | None:
        return next(
            (
                message
                for message in await desk.messages(ticket_id)
                if message["author"].get("name") == "Satisfaction survey"
            ),
            None,
        )

    return await eventually(question, what=f"the survey on {ticket_id}", interval=0.1)
