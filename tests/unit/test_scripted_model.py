"""The demo's scripted model, step by step over transcripts as the gateway keeps them: which
tool it calls, and what it tells the customer about the result (Spanish or English)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.enums import Language
from infra.clock import OffsetClock
from services.assistant_gateway.domain.prompt import instructions
from services.assistant_gateway.domain.tools import (
    CreateTicketReportArguments,
    GetTicketInformationArguments,
)
from services.assistant_gateway.domain.transcript import (
    AssistantMessage,
    Entry,
    FunctionCall,
    FunctionOutput,
    UserMessage,
)
from services.assistant_gateway.llm_client import ModelStep
from services.assistant_gateway.scripted_model import ScriptedModel

SPANISH = instructions(Language.ES)
ENGLISH = instructions(Language.EN)


async def step(entries: list[Entry], prompt: str = SPANISH) -> ModelStep:
    return await ScriptedModel().step(prompt, entries)


def answered(call: FunctionCall, output: dict[str, Any]) -> list[Entry]:
    return [call, FunctionOutput(call_id=call.call_id, output=json.dumps(output))]


def only_call(result: ModelStep) -> FunctionCall:
    assert result.text == ""
    [call] = result.calls
    return call


async def test_a_first_message_opens_a_ticket_with_valid_arguments() -> None:
    call = only_call(await step([UserMessage(text="Hola, mi pedido #12345 no ha llegado")]))
    assert call.name == "create_ticket_report"
    arguments = CreateTicketReportArguments.model_validate_json(call.arguments)
    assert arguments.description == "Hola, mi pedido #12345 no ha llegado"
    assert arguments.title == "Hola, mi pedido #12345 no ha llegado"


async def test_a_short_message_still_makes_valid_arguments() -> None:
    call = only_call(await step([UserMessage(text="Hola")]))
    arguments = CreateTicketReportArguments.model_validate_json(call.arguments)
    assert arguments.title == "WhatsApp: Hola"
    assert arguments.description == "Customer wrote: Hola"


async def test_after_opening_it_tells_the_ticket_id_in_the_customers_language() -> None:
    call = only_call(await step([UserMessage(text="Hola, mi pedido no ha llegado")]))
    created = {"success": True, "ticketId": "TICKET-2026-000007", "status": "new"}
    spanish = await step(
        [UserMessage(text="Hola, mi pedido no ha llegado"), *answered(call, created)]
    )
    english = await step(
        [UserMessage(text="Hi, my order has not arrived"), *answered(call, created)]
    )
    assert spanish.calls == []
    assert spanish.text.startswith("He abierto el ticket TICKET-2026-000007")
    assert english.text.startswith("I opened ticket TICKET-2026-000007")


async def test_a_customer_with_a_ticket_gets_its_status() -> None:
    first = FunctionCall(call_id="c1", name="create_ticket_report", arguments="{}")
    history: list[Entry] = [
        UserMessage(text="Hola, mi pedido no ha llegado"),
        *answered(first, {"success": True, "ticketId": "TICKET-2026-000007"}),
        AssistantMessage(text="He abierto el ticket TICKET-2026-000007"),
    ]
    turn: list[Entry] = [UserMessage(text="Es el 7781-ES")]
    call = only_call(await step([*history, *turn]))
    assert call.name == "get_ticket_information"
    arguments = GetTicketInformationArguments.model_validate_json(call.arguments)
    assert arguments.ticket_id == "TICKET-2026-000007"
    status = {"success": True, "ticketId": "TICKET-2026-000007", "status": "in_progress"}
    reply = await step([*history, *turn, *answered(call, status)])
    assert reply.text.startswith("Tu ticket TICKET-2026-000007 está en curso")


async def test_a_ticket_id_in_the_message_wins_over_the_conversation() -> None:
    first = FunctionCall(call_id="c1", name="create_ticket_report", arguments="{}")
    history = answered(first, {"success": True, "ticketId": "TICKET-2026-000007"})
    message = UserMessage(text="What about ticket-2026-000003?")
    call = only_call(await step([UserMessage(text="Hi"), *history, message], ENGLISH))
    assert json.loads(call.arguments) == {"ticketId": "TICKET-2026-000003"}


async def test_a_closed_ticket_means_a_new_one_for_a_new_message() -> None:
    look_up = FunctionCall(call_id="c2", name="get_ticket_information", arguments="{}")
    closed = {"success": True, "ticketId": "TICKET-2026-000007", "status": "closed"}
    turn: list[Entry] = [UserMessage(text="The charger broke again"), *answered(look_up, closed)]
    call = only_call(await step(turn, ENGLISH))
    assert call.name == "create_ticket_report"
    created = {"success": True, "ticketId": "TICKET-2026-000009", "status": "new"}
    reply = await step([*turn, *answered(call, created)], ENGLISH)
    assert reply.text.startswith("I opened ticket TICKET-2026-000009")


async def test_a_failed_tool_is_relayed_with_its_user_message() -> None:
    call = FunctionCall(call_id="c3", name="create_ticket_report", arguments="{}")
    failure = {"success": False, "error": "rate_limited", "userMessage": "Demasiados tickets."}
    reply = await step([UserMessage(text="Hola otra vez"), *answered(call, failure)])
    assert reply.text == "Demasiados tickets."
    garbled: list[Entry] = [
        UserMessage(text="Hola"),
        call,
        FunctionOutput(call_id="c3", output="{oops"),
    ]
    assert (await step(garbled)).calls == []


async def test_nothing_to_answer_is_an_empty_step() -> None:
    assert await step([]) == ModelStep("")


def test_the_offset_clock_only_moves_forward() -> None:
    clock = OffsetClock()
    start = clock.now()
    moved = clock.advance(timedelta(days=1))
    assert moved - start >= timedelta(days=1)
    assert clock.offset == timedelta(days=1)
    assert clock.now() >= moved
    for backwards in (timedelta(0), timedelta(seconds=-1)):
        with pytest.raises(ValueError, match="forward"):
            clock.advance(backwards)
    assert clock.offset == timedelta(days=1)
    assert moved.tzinfo == UTC
    assert datetime.now(UTC) + timedelta(hours=23) < clock.now()
