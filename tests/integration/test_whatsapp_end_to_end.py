"""The customer's side end to end: a WhatsApp message comes in on Meta's webhook, the
assistant (real `openai` SDK against a scripted server) opens a ticket, and its answer
leaves through the Graph API to the same customer."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from infra.runtime import Service
from infra.settings import AssistantSettings
from services.assistant_gateway.main import AssistantGateway
from services.ticket_service.main import TicketService
from tests.support.fake_meta import change, fake_graph, notification, text
from tests.support.fake_openai import Call, FakeOpenAI, Say, fake_openai
from tests.support.system import Endpoints
from tests.support.whatsapp import (
    channel_app,
    channel_settings,
    empty_whatsapp_queues,
    post_webhook,
)

pytestmark = pytest.mark.integration

CUSTOMER = "+34631000001"
REPORT = {
    "title": "Order not delivered",
    "description": "My order #12345 has not arrived after two weeks.",
    "category": None,
    "priority": None,
}


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with fake_openai() as fake:
        yield fake


async def test_a_customer_message_on_the_webhook_is_answered_through_the_graph_api(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    model.add(
        Call([("create_ticket_report", REPORT)]),
        Say(lambda outputs: f"He abierto el ticket {outputs[-1]['ticketId']}."),
    )
    wamid = f"wamid.{uuid.uuid4().hex}"
    message = text(wamid, CUSTOMER, "Hola, mi pedido #12345 no ha llegado", now_ts())
    await empty_whatsapp_queues(endpoints.rabbit_url)  # what other tests left is not ours
    async with fake_graph() as graph:
        settings = channel_settings(endpoints, database, graph.url).model_copy(
            update={
                "openai_api_key": "test-key",
                "openai_base_url": model.base_url,
                "openai_model": "fake-model",
                "assistant": AssistantSettings(model_timeout_seconds=5.0, model_retries=0),
            }
        )
        services: list[Service] = [TicketService(), AssistantGateway()]
        async with channel_app(settings, others=services) as (client, _):
            accepted = await post_webhook(
                client, notification(change([message], names={CUSTOMER: "Lucía"}))
            )
            await graph.wait_sends(f"reply-{wamid}", 1, timeout=60)
    assert accepted.status_code == 200
    [sent] = graph.for_id(f"reply-{wamid}")
    assert sent["to"] == CUSTOMER.removeprefix("+")
    assert sent["type"] == "text"
    assert sent["text"]["body"].startswith("He abierto el ticket TICKET-")


def now_ts() -> int:
    return int(datetime.now(UTC).timestamp())
