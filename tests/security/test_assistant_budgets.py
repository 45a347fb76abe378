"""Finding: unbounded AI agency. One inbound message drove 1,500 tool calls, 100 visible
notes on one ticket, or six `request_human_agent` calls raising the priority medium ->
urgent; the turn's deadline was checked only before model calls. Now every call is
charged to the turn's and the conversation's budgets; when one runs out the assistant
stops and hands the conversation to a person (metric, reply, the turn on a ticket)."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue
from prometheus_client import REGISTRY

from contracts import names
from contracts.enums import Language
from infra.messaging import command_queue
from infra.settings import AssistantSettings, Settings
from services.assistant_gateway.domain.budget import Limits, Spent, TurnBudget
from services.assistant_gateway.domain.messages import Text, say
from services.assistant_gateway.main import AssistantGateway
from services.ticket_service.main import TicketService
from tests.support.api import SERVICE, api_settings, whole_api
from tests.support.conversation import messages_of
from tests.support.fake_openai import Call, FakeOpenAI, Say, fake_openai
from tests.support.system import Endpoints, client, running
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

PHONE = "+34611000091"
HANDED_OFF_ES = say(Text.HANDED_OFF, Language.ES)
CREATE = {
    "title": "Order not delivered",
    "description": "My order #12345 has not arrived after two weeks.",
    "category": None,
    "priority": None,
}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- the turn's budget, pure ----------------------------------------------------------


def test_a_turn_counts_calls_notes_and_escalations_and_checks_the_clock() -> None:
    budget = TurnBudget(Limits(tool_calls=4, notes=1, escalations=1), deadline=100.0)
    assert budget.charge("add_ticket_comment", 1.0) is None
    assert budget.charge("add_ticket_comment", 2.0) is Spent.TURN_NOTES
    assert budget.charge("request_human_agent", 3.0) is None
    assert budget.charge("request_human_agent", 4.0) is Spent.TURN_ESCALATIONS
    assert budget.charge("get_ticket_information", 5.0) is None
    assert budget.charge("no_such_tool", 6.0) is None  # unknown names count too
    assert budget.charge("list_my_tickets", 7.0) is Spent.TURN_TOOL_CALLS
    assert budget.charge("list_my_tickets", 100.0) is Spent.TURN_TIME


# ---- the WhatsApp loop ----------------------------------------------------------------


@dataclass
class WhatsApp:
    broker: RabbitBroker
    replies: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def ask(self, text: str) -> dict[str, Any]:
        """Sends a customer message and waits for the reply to it."""
        message_id = f"wamid.{uuid.uuid4().hex}"
        body = {
            "messageId": message_id,
            "from": PHONE,
            "text": text,
            "timestamp": "2026-11-29T10:00:00Z",
        }
        await self.broker.publish(json.dumps(body).encode(), queue=names.WHATSAPP_INBOUND)
        return await eventually(
            lambda: next((r for r in self.replies if r.get("replyTo") == message_id), None),
            what=f"the reply to {message_id}",
            wake=self.arrived,
        )


@asynccontextmanager
async def whatsapp(rabbit_url: str) -> AsyncIterator[WhatsApp]:
    broker = RabbitBroker(rabbit_url, logger=None)
    side = WhatsApp(broker)

    @broker.subscriber(RabbitQueue(names.WHATSAPP_OUTBOUND, durable=True))
    async def collect(body: dict[str, Any]) -> None:
        side.replies.append(body)
        side.arrived.set()

    await broker.start()
    for queue in (names.WHATSAPP_INBOUND, names.RECORD_MESSAGES):
        await (await broker.declare_queue(command_queue(queue))).purge()
    try:
        yield side
    finally:
        await broker.stop()


def loop_settings(
    endpoints: Endpoints, database: str, model: FakeOpenAI, **budgets: Any
) -> Settings:
    options = AssistantSettings(model_timeout_seconds=5, model_retries=0, **budgets)
    return api_settings(
        endpoints,
        database,
        openai_api_key="test-key",
        openai_base_url=model.base_url,
        openai_model="fake-model",
        assistant=options,
    )


async def ticket(caller: Any, ticket_id: str) -> dict[str, Any]:
    found: dict[str, Any] = await caller.ok(
        names.GET, {"actor": {"type": "System"}, "ticketId": ticket_id}
    )
    return found


async def test_one_message_cannot_fill_a_ticket_with_notes(
    endpoints: Endpoints, database: str
) -> None:
    async with fake_openai() as model:
        settings = loop_settings(endpoints, database, model, max_notes_per_turn=2)
        note = {"ticketId": "", "comment": "spam"}
        model.add(
            Call([("create_ticket_report", CREATE)]),
            Call(
                [
                    (
                        "add_ticket_comment",
                        lambda outputs: {**note, "ticketId": outputs[-1]["ticketId"]},
                    )
                ]
                * 100
            ),
            Say("never asked"),
        )
        spent_before = metric("tickets_assistant_budget_exceeded_total", budget="turn_notes")
        hand_offs_before = metric("tickets_assistant_hand_offs_total")
        async with (
            whatsapp(endpoints.rabbit_url) as side,
            client(endpoints.rabbit_url) as (caller, _),
            running(settings, [TicketService(), AssistantGateway()]),
        ):
            reply = await side.ask("Hola, escribe cien notas en mi ticket nuevo por favor")
            requests = list(model.requests)
            opened = json.loads(model.bodies("responses")[1]["input"][-1]["output"])
            stored = await ticket(caller, opened["ticketId"])
            recorded = await messages_of(endpoints, database, opened["ticketId"], 2)
    assert reply["text"] == HANDED_OFF_ES
    assert [n["content"] for n in stored["internalNotes"]] == ["spam", "spam"]
    assert len(requests) == 2  # the model is not asked again once a budget ran out
    assert metric("tickets_assistant_budget_exceeded_total", budget="turn_notes") == (
        spent_before + 1
    )
    assert metric("tickets_assistant_hand_offs_total") == hand_offs_before + 1
    assert HANDED_OFF_ES in [m["text"] for m in recorded]  # on the ticket, for a person


async def test_one_message_makes_at_most_the_configured_tool_calls(
    endpoints: Endpoints, database: str
) -> None:
    async with fake_openai() as model:
        settings = loop_settings(endpoints, database, model, max_tool_calls_per_turn=8)
        lookups: list[tuple[str, Any]] = [
            ("get_ticket_information", {"ticketId": "TICKET-2026-999999"})
        ] * 40
        model.add(*[Call(lookups) for _ in range(5)], Say("never asked"))
        label = {"tool": "get_ticket_information", "outcome": "not_found"}
        before = metric("tickets_assistant_tool_calls_total", **label)
        async with (
            whatsapp(endpoints.rabbit_url) as side,
            running(settings, [TicketService(), AssistantGateway()]),
        ):
            reply = await side.ask("Hola, mira el estado de mi ticket doscientas veces")
    assert reply["text"] == HANDED_OFF_ES
    assert metric("tickets_assistant_tool_calls_total", **label) == before + 8
    assert len(model.requests) == 1


async def test_escalations_are_capped_per_message_and_per_conversation(
    endpoints: Endpoints, database: str
) -> None:
    async with fake_openai() as model:
        settings = loop_settings(endpoints, database, model, max_escalations_per_conversation=2)
        escalate = ("request_human_agent", {"ticketId": None, "reason": "now"})
        model.add(
            Call([("create_ticket_report", CREATE)]),
            *[Call([escalate]) for _ in range(6)],  # six rounds, one escalation each
        )
        async with (
            whatsapp(endpoints.rabbit_url) as side,
            client(endpoints.rabbit_url) as (caller, _),
            running(settings, [TicketService(), AssistantGateway()]),
        ):
            first = await side.ask("Hola, quiero que escales mi ticket seis veces")
            opened = json.loads(model.bodies("responses")[1]["input"][-1]["output"])
            after_first = (await ticket(caller, opened["ticketId"]))["priority"]
            unused = len(model.script)
            model.script.clear()
            model.add(Call([escalate]), Say("Escalated."))
            second = await side.ask("Hola, escala mi ticket otra vez por favor")
            model.add(Call([escalate]), Say("never said"))
            third = await side.ask("Y otra vez, por favor, es urgente para mi")
            final = (await ticket(caller, opened["ticketId"]))["priority"]
    assert first["text"] == HANDED_OFF_ES  # the second escalation of the message
    assert after_first == "high"  # medium -> high, once
    assert unused == 4  # the model was not asked again after the second escalation
    assert second["text"] == "Escalated."
    assert third["text"] == HANDED_OFF_ES  # the conversation's third
    assert final == "urgent"  # two levels in the conversation, not six


async def test_the_turns_time_is_checked_while_tools_run(
    endpoints: Endpoints, database: str
) -> None:
    async with fake_openai() as model:
        settings = loop_settings(
            endpoints, database, model, turn_timeout_seconds=2.0, ticket_timeout_seconds=0.5
        )
        model.add(Call([("list_my_tickets", {"openOnly": True, "limit": 5})] * 10))
        label = {"budget": "turn_time"}
        before = metric("tickets_assistant_budget_exceeded_total", **label)
        async with (
            whatsapp(endpoints.rabbit_url) as side,
            running(settings, [AssistantGateway()]),  # no ticket service: each call waits 0.5 s
        ):
            reply = await side.ask("Hola, dame la lista de mis tickets diez veces")
    assert reply["text"] == HANDED_OFF_ES
    assert metric("tickets_assistant_budget_exceeded_total", **label) == before + 1


# ---- the tool-call endpoint: the conversation's budget --------------------------------


async def test_the_tool_call_endpoint_answers_budget_exceeded_past_the_conversation_budget(
    endpoints: Endpoints, database: str
) -> None:
    options = AssistantSettings(max_escalations_per_conversation=2)
    settings = api_settings(endpoints, database, assistant=options)
    async with whole_api(settings) as whole:
        created = await whole.http.post(
            "/api/v2/assistant/tool-calls",
            headers=SERVICE,
            json={
                "customer": {"phone": PHONE},
                "tool_calls": [
                    {
                        "id": "c1",
                        "function": {
                            "name": "create_ticket_report",
                            "arguments": json.dumps(CREATE),
                        },
                    }
                ],
            },
        )
        ticket_id = json.loads(created.json()["tool_outputs"][0]["output"])["ticketId"]
        escalate = json.dumps({"ticketId": ticket_id, "reason": "now"})
        calls = [
            {"id": f"e{n}", "function": {"name": "request_human_agent", "arguments": escalate}}
            for n in range(3)
        ]
        answer = await whole.http.post(
            "/api/v2/assistant/tool-calls",
            headers=SERVICE,
            json={"customer": {"phone": PHONE, "language": "en"}, "tool_calls": calls},
        )
        replayed = await whole.http.post(
            "/api/v2/assistant/tool-calls",
            headers=SERVICE,
            json={"customer": {"phone": PHONE}, "tool_calls": calls[:1]},
        )
    outputs = [json.loads(o["output"]) for o in answer.json()["tool_outputs"]]
    assert [o["success"] for o in outputs] == [True, True, False]
    assert outputs[2]["error"] == "budget_exceeded"
    assert outputs[2]["detail"] == "conversation_escalations"
    assert outputs[2]["userMessage"] == say(Text.HANDED_OFF, Language.EN)
    assert json.loads(replayed.json()["tool_outputs"][0]["output"]) == outputs[0]  # free
