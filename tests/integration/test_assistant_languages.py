"""The language of the customer's texts on the tool-call endpoint: what the caller
declares, else the customer record's, read at most once per `language_memo_seconds` per
customer (services/assistant_gateway/directory.py). Through the whole HTTP app: a
language an agent corrects shows on the next call once that time has passed."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from infra.clock import MovableClock
from tests.support.api import SERVICE, api_settings, whole_api
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PHONE = "+34633000001"
TOOL_CALLS = "/api/v2/assistant/tool-calls"
SPANISH = "No se encontró el ticket solicitado."
ENGLISH = "We couldn't find that ticket."


async def output(
    api: httpx.AsyncClient, call_id: str, tool: str, arguments: dict[str, Any], **customer: Any
) -> dict[str, Any]:
    body = {
        "customer": {"phone": PHONE, **customer},
        "tool_calls": [
            {"id": call_id, "function": {"name": tool, "arguments": json.dumps(arguments)}}
        ],
    }
    answer = await api.post(TOOL_CALLS, json=body, headers=SERVICE)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = json.loads(answer.json()["tool_outputs"][0]["output"])
    return result


async def said(api: httpx.AsyncClient, call_id: str, **customer: Any) -> str:
    """The first sentence of the userMessage of a lookup of a ticket that does not exist."""
    missing = {"ticketId": "TICKET-2026-999999"}
    message: str = (await output(api, call_id, "get_ticket_information", missing, **customer))[
        "userMessage"
    ]
    return message.split(".", 1)[0] + "."


async def test_a_corrected_language_shows_once_the_memo_lapses(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database)
    memo = timedelta(seconds=settings.assistant.language_memo_seconds)
    async with whole_api(settings, clock) as whole:
        api = whole.http
        report = {"title": "Order not delivered", "description": "Order #12345 is late."}
        created = await output(  # the declared language is stored on the customer record
            api,
            "c0",
            "create_ticket_report",
            {**report, "category": None, "priority": None},
            language="en",
        )
        declared = await said(api, "c1", language="en")
        remembered = await said(api, "c2")
        found = await api.get("/api/v2/customers", params={"phone": PHONE}, headers=SERVICE)
        customer_id = found.json()["data"]["id"]
        corrected = await api.patch(
            f"/api/v2/customers/{customer_id}", json={"language": "es"}, headers=SERVICE
        )
        clock.advance(memo - timedelta(seconds=1))
        within = await said(api, "c3")
        clock.advance(timedelta(seconds=1))
        after = await said(api, "c4")
        declared_again = await said(api, "c5", language="en")
    assert created["success"] is True, created
    assert (declared, remembered) == (ENGLISH, ENGLISH)
    assert corrected.status_code == 200, corrected.text
    assert within == ENGLISH  # the documented delay: at most `language_memo_seconds`
    assert after == SPANISH
    assert declared_again == ENGLISH  # a declared language always wins
