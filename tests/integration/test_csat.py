"""CSAT over WhatsApp on the real broker and Mongo wire server: a resolution asks once on
`whatsapp.outbound`, the customer's "5" is the rating (once), "9" is refused with a
message, a number after the window is an ordinary message; the full WhatsApp path answers
a rating without the model."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.tickets import Ticket
from infra.clock import MovableClock
from infra.messaging import EVENTS
from infra.mongo import connect
from services.assistant_gateway.main import AssistantGateway
from services.ticket_service.conversation import new_message_id
from services.ticket_service.csat import CsatRequestStore
from services.ticket_service.csat_handlers import CSAT_QUEUE
from services.ticket_service.domain import csat
from services.ticket_service.main import TicketService
from tests.integration.test_assistant_conversation import WhatsApp, model
from tests.integration.test_assistant_tool_calls import one
from tests.integration.test_conversation_inbound import support
from tests.support.conversation import Outbound, messages_of, outbound
from tests.support.factories import SYSTEM, agent_actor, create_body, customer, make_agent
from tests.support.fake_openai import FakeOpenAI
from tests.support.system import Caller, Endpoints, client, running, settings_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
__all__ = ["model"]  # the fake OpenAI server fixture

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ENGLISH = "+34655000001"
SPANISH = "+34655000002"


@pytest.fixture(autouse=True)
async def fresh_csat_queue(endpoints: Endpoints) -> None:
    """The queue is durable and the session's vhost shared: earlier tests' resolutions
    (same ticket ids, other databases) are not ours."""
    broker = RabbitBroker(endpoints.rabbit_url, logger=None)
    await broker.connect()
    try:
        await broker.declare_exchange(EVENTS)
        await (await broker.declare_queue(CSAT_QUEUE)).purge()
    finally:
        await broker.stop()


async def resolved_ticket(caller: Caller, agent: str, phone: str, **customer_fields: Any) -> str:
    body = create_body(phone, actor=customer(phone) | customer_fields)
    ticket = await caller.ok(names.CREATE, body)
    as_agent = {"actor": agent_actor(agent), "ticketId": ticket["ticketId"]}
    await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
    await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "resolved"})
    return str(ticket["ticketId"])


async def asked(side: Outbound, ticket_id: str) -> dict[str, Any]:
    return await side.wait_for(lambda m: m.get("ticketId") == ticket_id)


async def asked_on(side: WhatsApp, ticket_id: str, timeout: float = 30) -> dict[str, Any]:
    return await eventually(
        lambda: next((r for r in side.replies if r.get("ticketId") == ticket_id), None),
        what=f"the rating question for {ticket_id}",
        timeout=timeout,
        wake=side.arrived,
    )


def message(phone: str, text: str, message_id: str, at: datetime) -> dict[str, Any]:
    return {
        "actor": customer(phone),
        "messageId": message_id,
        "text": text,
        "receivedAt": at.isoformat(),
    }


async def test_a_resolution_asks_once_and_the_customers_number_is_the_rating_once(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = settings_for(endpoints, database)
    async with (
        outbound(endpoints.rabbit_url) as side,
        running(settings, clock=clock),
        client(endpoints.rabbit_url) as (caller, log),
    ):
        agent = await make_agent()
        ticket_id = await resolved_ticket(caller, agent, ENGLISH, language="en")
        question = await asked(side, ticket_id)
        # the same resolution announced again (a redelivery) asks nothing more: the next
        # ticket's question, behind it in the same queue, is the marker that it was handled
        resolved_event = next(
            e
            for e in log.of(ticket_id)
            if e["type"] == "ticket.status_changed" and e["newStatus"] == "resolved"
        )
        await caller.broker.publish(
            json.dumps(resolved_event).encode(),
            exchange=EVENTS,
            routing_key="ticket.status_changed",
        )
        spanish_id = await resolved_ticket(caller, agent, SPANISH)
        spanish_question = await asked(side, spanish_id)
        conversation = await messages_of(endpoints, database, ticket_id, 1)

        at = START + timedelta(hours=1)
        clock.set(at)
        refused = await caller.ok(names.CUSTOMER_MESSAGE, message(ENGLISH, "9", "wamid.r1", at))
        rated = await caller.ok(names.CUSTOMER_MESSAGE, message(ENGLISH, " 5 ", "wamid.r2", at))
        redelivered = await caller.ok(
            names.CUSTOMER_MESSAGE, message(ENGLISH, " 5 ", "wamid.r2", at)
        )
        again = await caller.ok(names.CUSTOMER_MESSAGE, message(ENGLISH, "4", "wamid.r3", at))
        words = await caller.ok(
            names.CUSTOMER_MESSAGE, message(SPANISH, "5 estrellas", "wamid.s1", at)
        )
        after_words = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": spanish_id})
        late = START + settings.csat.window + timedelta(minutes=2)
        clock.set(late)
        too_late = await caller.ok(names.CUSTOMER_MESSAGE, message(ENGLISH, "3", "wamid.r4", late))
        final = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": ticket_id})

    assert question["to"] == ENGLISH
    assert question["purpose"] == "csat"  # outside the 24 h window: the CSAT template
    assert "rate" in question["text"]
    assert ticket_id in question["text"]
    assert "valorarías" in spanish_question["text"]
    assert [m["ticketId"] for m in side.messages].count(ticket_id) == 1
    ask = conversation[0]
    assert (ask["direction"], ask["author"]["type"], ask["text"]) == (
        "outbound",
        "assistant",
        question["text"],
    )
    assert ask["_id"] == question["messageId"]

    assert refused["action"] == "csat_refused"
    assert refused["reply"] == "9 is not a valid rating. Please reply with a number from 1 to 5."
    assert refused["ticket"]["customerSatisfaction"] is None
    assert (rated["action"], rated["rating"]) == ("csat_rated", 5)
    assert rated["reply"] == f"Thank you! We recorded your rating of 5 for ticket {ticket_id}."
    assert rated["ticket"]["status"] == "resolved"  # a rating never reopens
    assert redelivered == rated
    assert again["action"] == "csat_already_rated"
    assert "already recorded your rating of 5" in again["reply"]
    assert words["action"] == "reopened"  # more than a number: an ordinary message
    assert after_words["customerSatisfaction"] is None
    assert too_late["action"] == "reopened"  # after the window a number is a message too
    assert final["customerSatisfaction"]["rating"] == 5
    assert final["status"] == "reopened"


async def test_only_whatsapp_tickets_are_asked(endpoints: Endpoints, database: str) -> None:
    settings = settings_for(endpoints, database)
    async with (
        outbound(endpoints.rabbit_url) as side,
        running(settings),
        client(endpoints.rabbit_url) as (caller, _),
    ):
        agent = await make_agent()
        by_email = await caller.ok(names.CREATE, create_body(ENGLISH, channel="email"))
        as_agent = {"actor": agent_actor(agent), "ticketId": by_email["ticketId"]}
        await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
        await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "resolved"})
        marker = await resolved_ticket(caller, agent, SPANISH)  # behind it in the queue
        await asked(side, marker)
    assert [m["ticketId"] for m in side.messages] == [marker]


async def test_with_csat_turned_off_a_number_is_an_ordinary_message(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    off = settings.model_copy(update={"csat": settings.csat.model_copy(update={"enabled": False})})
    async with running(off), client(endpoints.rabbit_url) as (caller, _):
        agent = await make_agent()
        ticket_id = await resolved_ticket(caller, agent, ENGLISH)
        now = datetime.now(UTC)
        answer = await caller.ok(names.CUSTOMER_MESSAGE, message(ENGLISH, "5", "wamid.o1", now))
    assert answer["action"] == "reopened"
    assert answer["ticket"]["ticketId"] == ticket_id
    assert answer["ticket"]["customerSatisfaction"] is None


async def test_on_whatsapp_the_customers_number_is_answered_without_the_model(
    endpoints: Endpoints, database: str, model: FakeOpenAI
) -> None:
    async with support(endpoints, database, model) as system:
        agent = await make_agent()
        ticket_id = await system.open_ticket(agent)
        resolve = await system.api.put(
            f"/api/v2/tickets/{ticket_id}/status",
            json={"status": "resolved"},
            headers=system.auth(agent),
        )
        await asked_on(system.side, ticket_id)
        five = await system.side.send("5")
        thanks = await system.side.reply_to(five)
        nine = await system.side.send("9")
        refusal = await system.side.reply_to(nine)
        conversation = await messages_of(endpoints, database, ticket_id, 5)
        ticket = (
            await system.api.get(f"/api/v2/tickets/{ticket_id}", headers=system.auth(agent))
        ).json()

    assert resolve.status_code == 200, resolve.text
    assert (
        thanks["text"]
        == f"¡Gracias! Hemos registrado tu valoración de 5 para el ticket {ticket_id}."
    )
    assert refusal["text"].startswith("Ya registramos tu valoración de 5")
    assert model.requests == []  # the model was never asked
    # (the test's WhatsApp side stamps its messages with a fixed, earlier time)
    question = next(m["text"] for m in conversation if "valorarías" in m["text"])
    assert question.startswith(f"Tu ticket {ticket_id} está resuelto")
    assert sorted((m["direction"], m["author"]["type"], m["text"]) for m in conversation) == sorted(
        [
            ("inbound", "customer", "5"),
            ("inbound", "customer", "9"),
            ("outbound", "assistant", question),
            ("outbound", "assistant", thanks["text"]),
            ("outbound", "assistant", refusal["text"]),
        ]
    )
    assert ticket["data"]["customerSatisfaction"]["rating"] == 5
    assert ticket["data"]["status"] == "resolved"


async def test_the_rate_ticket_tool_rates_a_resolved_ticket_once_for_its_own_customer(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_for(endpoints, database)
    async with (
        running(settings, [TicketService(), AssistantGateway()]),
        client(endpoints.rabbit_url) as (caller, _),
    ):
        agent = await make_agent()
        nothing = await one(caller, "rate_ticket", rate(None, 5), "c0", phone=ENGLISH)
        open_one = await caller.ok(names.CREATE, create_body(ENGLISH))
        not_yet = await one(
            caller, "rate_ticket", rate(open_one["ticketId"], 5), "c1", phone=ENGLISH
        )
        first = await resolved_ticket(caller, agent, ENGLISH)
        latest = await resolved_ticket(caller, agent, ENGLISH)
        theirs = await one(caller, "rate_ticket", rate(first, 1), "c2", phone=SPANISH)
        out_of_range = await one(caller, "rate_ticket", rate(first, 9), "c3", phone=ENGLISH)
        rated_latest = await one(
            caller, "rate_ticket", rate(None, 4) | {"comment": "Quick"}, "c4", phone=ENGLISH
        )
        replayed = await one(caller, "rate_ticket", rate(None, 4), "c4", phone=ENGLISH)
        rated_first = await one(caller, "rate_ticket", rate(first.lower(), 2), "c5", phone=ENGLISH)
        again = await one(caller, "rate_ticket", rate(first, 5), "c6", phone=ENGLISH)
        stored = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": first})
        stored_latest = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": latest})

    assert (nothing["success"], nothing["error"]) == (False, "not_found")
    assert nothing["userMessage"] == "No tienes tickets resueltos que valorar."
    assert (not_yet["success"], not_yet["error"]) == (False, "invalid_transition")
    assert "aún no está resuelto" in not_yet["userMessage"]
    assert (theirs["success"], theirs["error"]) == (False, "not_found")
    assert (out_of_range["success"], out_of_range["error"]) == (False, "invalid_arguments")
    assert rated_latest == {
        "success": True,
        "ticketId": latest,
        "rating": 4,
        "message": f"¡Gracias! Registramos tu valoración de 4 para el ticket {latest}.",
    }
    assert replayed == rated_latest
    assert (rated_first["success"], rated_first["ticketId"], rated_first["rating"]) == (
        True,
        first,
        2,
    )
    assert (again["success"], again["error"]) == (False, "already_rated")
    assert again["userMessage"] == f"Ya registramos tu valoración de 2 para el ticket {first}."
    assert stored["customerSatisfaction"]["rating"] == 2
    assert stored_latest["customerSatisfaction"] == {
        "rating": 4,
        "comment": "Quick",
        "submittedAt": stored_latest["customerSatisfaction"]["submittedAt"],
    }


def rate(ticket_id: str | None, rating: int) -> dict[str, Any]:
    return {"ticketId": ticket_id, "rating": rating, "comment": None}


async def test_a_request_recorded_by_a_worker_that_died_before_asking_is_asked_once(
    endpoints: Endpoints, database: str
) -> None:
    """The state a crash between the two writes leaves: the request stored, no question
    sent. The event comes again (RabbitMQ redelivers it): the question goes out once,
    under the message id the request recorded."""
    settings = settings_for(endpoints, database)
    off = settings.model_copy(update={"csat": settings.csat.model_copy(update={"enabled": False})})
    async with client(endpoints.rabbit_url) as (caller, log):
        async with running(off):
            agent = await make_agent()
            ticket_id = await resolved_ticket(caller, agent, ENGLISH)
            stored = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": ticket_id})
        resolution = next(
            e
            for e in log.of(ticket_id)
            if e["type"] == "ticket.status_changed" and e["newStatus"] == "resolved"
        )
        mongo = connect(endpoints.mongo_url)
        try:
            left = csat.new_request(
                Ticket.model_validate(stored),
                datetime.now(UTC),
                settings.csat.window,
                None,
                new_message_id(),
            )
            assert left is not None
            await CsatRequestStore(mongo[database]).record(left)
        finally:
            await mongo.close()
        async with outbound(endpoints.rabbit_url) as side, running(settings):
            for _ in range(2):
                await caller.broker.publish(
                    json.dumps(resolution).encode(),
                    exchange=EVENTS,
                    routing_key="ticket.status_changed",
                )
            marker = await resolved_ticket(caller, agent, SPANISH)
            await asked(side, marker)
            conversation = await messages_of(endpoints, database, ticket_id, 1)
    questions = [m for m in side.messages if m["ticketId"] == ticket_id]
    assert [q["messageId"] for q in questions] == [left.message_id]
    assert [m["_id"] for m in conversation] == [left.message_id]
