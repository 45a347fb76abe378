"""`tickets.v1.record_sla_breach` over the real queue: who may send it, stale and repeated
records, and concurrent senders (several monitor replicas, or a retry after a crash)."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from contracts import names
from infra.clock import MovableClock
from services.ticket_service.main import TicketService
from tests.integration.test_sla_monitor import MONDAY, ONE_SECOND, due, settle, sla_settings
from tests.support.factories import SYSTEM, agent_actor, create_body, make_agent
from tests.support.system import Endpoints, EventLog, client, running

pytestmark = pytest.mark.integration


def record(ticket: dict[str, Any], kind: str, detected: Any, **extra: Any) -> dict[str, Any]:
    field = "firstResponseDueAt" if kind == "first_response" else "resolutionDueAt"
    return {
        "actor": SYSTEM,
        "ticketId": ticket["ticketId"],
        "kind": kind,
        "dueAt": ticket["sla"][field],
        "detectedAt": detected.isoformat(),
        **extra,
    }


def breach_updates(log: EventLog, ticket_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in log.of(ticket_id)
        if e["type"] == "ticket.updated" and "sla.firstResponseBreachAt" in e.get("changes", {})
    ]


async def test_a_breach_is_recorded_once_however_many_senders_and_stale_ones_are_refused(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database)
    async with (
        running(settings, [TicketService()], clock),
        client(endpoints.rabbit_url) as (caller, log),
    ):
        agent = await make_agent()
        late = await caller.ok(names.CREATE, create_body("+34640000001", priority="low"))
        answered = await caller.ok(names.CREATE, create_body("+34640000002", priority="low"))
        as_agent = {"actor": agent_actor(agent), "ticketId": answered["ticketId"]}
        await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
        await caller.ok(names.MARK_FIRST_RESPONSE, as_agent)
        due_at = due(late, "firstResponseDueAt")
        clock.set(due_at)
        by_agent = await caller.call(
            names.RECORD_SLA_BREACH,
            {**record(late, "first_response", due_at), "actor": agent_actor(agent)},
        )
        unknown = await caller.call(
            names.RECORD_SLA_BREACH,
            record({**late, "ticketId": "TICKET-2026-999999"}, "first_response", due_at),
        )
        early = await caller.call(
            names.RECORD_SLA_BREACH, record(late, "first_response", due_at - ONE_SECOND)
        )
        stale = await caller.call(
            names.RECORD_SLA_BREACH, record(answered, "first_response", due_at)
        )
        replies = await asyncio.gather(
            *[
                caller.call(names.RECORD_SLA_BREACH, record(late, "first_response", due_at))
                for _ in range(5)
            ]
        )
        clock.advance(timedelta(minutes=5))
        repeated = await caller.call(
            names.RECORD_SLA_BREACH, record(late, "first_response", due_at, escalatePriority=True)
        )
        await settle(caller, log)
        final = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": late["ticketId"]})
        untouched = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": answered["ticketId"]})
    assert by_agent["error"]["code"] == "validation"
    assert unknown["error"]["code"] == "not_found"
    assert early["error"]["code"] == "conflict"
    assert stale["error"]["code"] == "invalid_transition"
    assert all(r["ok"] for r in replies), replies
    assert repeated["ok"] is True
    assert final["sla"]["firstResponseBreachAt"] == late["sla"]["firstResponseDueAt"]
    assert final["sla"]["firstResponseMet"] is False
    assert final["priority"] == "low", "a repeated record escalates nothing"
    assert final["revision"] == late["revision"] + 1, "one change, whoever sent it"
    assert len(breach_updates(log, late["ticketId"])) == 1
    assert not [e for e in log.of(late["ticketId"]) if e["type"] == "ticket.priority_escalated"]
    assert untouched["sla"]["firstResponseBreachAt"] is None
    assert breach_updates(log, answered["ticketId"]) == []
