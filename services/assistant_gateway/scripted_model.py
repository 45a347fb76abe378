"""A model without a provider, for `tickets up --demo` when OPENAI_API_KEY is unset: the
assistant's loop, tools, budgets and recording all run for real, only the decisions come
from a short script instead of an LLM.

The script, per customer message: a ticket id in the message, or the ticket a tool last
named in the conversation, is looked up (`get_ticket_information`); with none, or when
that ticket is closed or cancelled, a ticket is opened with the message
(`create_ticket_report`). The answer says what the tool returned, in the customer's
language (Spanish or English), or relays its `userMessage` when it failed.
"""

import json
import re
import uuid
from typing import Any

from contracts.enums import Language, TicketStatus
from services.assistant_gateway.domain.messages import guess_language
from services.assistant_gateway.domain.transcript import (
    Entry,
    FunctionCall,
    FunctionOutput,
    UserMessage,
)
from services.assistant_gateway.llm_client import ModelStep

CREATE = "create_ticket_report"
LOOK_UP = "get_ticket_information"
TICKET_ID = re.compile(r"\bTICKET-\d{4}-\d{6,}\b", re.IGNORECASE)
FINISHED = {TicketStatus.CLOSED, TicketStatus.CANCELLED}
TITLE_WORDS = 8

REPLIES: dict[str, dict[Language, str]] = {
    "opened": {
        Language.ES: "He abierto el ticket {ticketId} con tu mensaje. Una persona de nuestro "
        "equipo te escribirá por aquí.",
        Language.EN: "I opened ticket {ticketId} with your message. A person from our team "
        "will write to you here.",
    },
    "status": {
        Language.ES: "Tu ticket {ticketId} está {status}; la persona que lo atiende ve tu mensaje.",
        Language.EN: "Your ticket {ticketId} is {status}; the person handling it sees your "
        "message.",
    },
}


STATUS_NAMES: dict[Language, dict[TicketStatus, str]] = {
    Language.ES: {
        TicketStatus.NEW: "nuevo",
        TicketStatus.OPEN: "abierto",
        TicketStatus.IN_PROGRESS: "en curso",
        TicketStatus.PENDING_CUSTOMER: "a la espera de tu respuesta",
        TicketStatus.RESOLVED: "resuelto",
        TicketStatus.CLOSED: "cerrado",
        TicketStatus.CANCELLED: "cancelado",
        TicketStatus.REOPENED: "reabierto",
    },
    Language.EN: {
        TicketStatus.NEW: "new",
        TicketStatus.OPEN: "open",
        TicketStatus.IN_PROGRESS: "in progress",
        TicketStatus.PENDING_CUSTOMER: "waiting for your reply",
        TicketStatus.RESOLVED: "resolved",
        TicketStatus.CLOSED: "closed",
        TicketStatus.CANCELLED: "cancelled",
        TicketStatus.REOPENED: "reopened",
    },
}


class ScriptedModel:
    """Stateless: each step reads the transcript the gateway keeps, like a real model."""

    async def step(self, instructions: str, entries: list[Entry]) -> ModelStep:
        turn = _current_turn(entries)
        message = turn[0] if turn else None
        if not isinstance(message, UserMessage):
            return ModelStep("")  # nothing to answer: the loop falls back
        language = guess_language(message.text) or _language_of(instructions)
        answered = _last_output(turn)
        if answered is None:
            ticket_id = _ticket_in(message.text) or _last_ticket(entries)
            if ticket_id is None:
                return _call(CREATE, _report(message.text))
            return _call(LOOK_UP, {"ticketId": ticket_id})
        call, result = answered
        if call.name == LOOK_UP and _finished(result) and not _called(turn, CREATE):
            return _call(CREATE, _report(message.text))
        return ModelStep(_answer(call.name, result, language))


def _current_turn(entries: list[Entry]) -> list[Entry]:
    """The entries from the customer's latest message on."""
    for index in range(len(entries) - 1, -1, -1):
        if isinstance(entries[index], UserMessage):
            return entries[index:]
    return []


def _last_output(turn: list[Entry]) -> tuple[FunctionCall, dict[str, Any]] | None:
    calls = {e.call_id: e for e in turn if isinstance(e, FunctionCall)}
    outputs = [e for e in turn if isinstance(e, FunctionOutput) and e.call_id in calls]
    if not outputs:
        return None
    return calls[outputs[-1].call_id], _decoded(outputs[-1].output)


def _called(turn: list[Entry], name: str) -> bool:
    return any(isinstance(e, FunctionCall) and e.name == name for e in turn)


def _decoded(output: str) -> dict[str, Any]:
    try:
        value = json.loads(output)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _ticket_in(text: str) -> str | None:
    found = TICKET_ID.search(text)
    return found.group().upper() if found else None


def _last_ticket(entries: list[Entry]) -> str | None:
    """The ticket a successful tool output named most recently."""
    for entry in reversed(entries):
        if isinstance(entry, FunctionOutput):
            result = _decoded(entry.output)
            if result.get("success") and isinstance(result.get("ticketId"), str):
                return str(result["ticketId"])
    return None


def _finished(result: dict[str, Any]) -> bool:
    return bool(result.get("success")) and result.get("status") in FINISHED


def _language_of(instructions: str) -> Language:
    return Language.EN if "use English" in instructions else Language.ES


def _report(text: str) -> dict[str, str]:
    words = " ".join(text.split()[:TITLE_WORDS])
    title = words if len(words) >= 5 else f"WhatsApp: {words}"
    description = text if len(text.strip()) >= 10 else f"Customer wrote: {text}"
    return {"title": title[:200], "description": description[:5000]}


def _call(name: str, arguments: dict[str, str]) -> ModelStep:
    call = FunctionCall(
        call_id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=json.dumps(arguments)
    )
    return ModelStep("", [call])


def _answer(tool: str, result: dict[str, Any], language: Language) -> str:
    if not result.get("success"):
        return str(result.get("userMessage") or result.get("error") or "")
    kind = "opened" if tool == CREATE else "status"
    status = str(result.get("status"))
    names: dict[str, str] = {str(key): value for key, value in STATUS_NAMES[language].items()}
    values = {"ticketId": str(result.get("ticketId")), "status": names.get(status, status)}
    return REPLIES[kind][language].format(**values)
