"""PATCH /api/v2/tickets/{ticketId} (and tickets.v1.update) over the real broker and Mongo
wire server: optimistic locking, escalation with its event and re-planned SLA, bad input."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts import names
from contracts.enums import AgentRole
from tests.integration.test_api_tickets import ok, refused
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import agent_actor, customer, make_agent
from tests.support.system import Endpoints, EventLog, client
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TICKETS = "/api/v2/tickets"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def events_of(log: EventLog, ticket_id: str, count: int) -> list[dict[str, Any]]:
    await eventually(
        lambda: len(log.of(ticket_id)) >= count,
        what=f"{count} events of {ticket_id}",
        wake=log.arrived,
    )
    return log.of(ticket_id)


async def test_an_agent_reclassifies_a_ticket_and_a_priority_raise_is_an_escalation(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (_, log):
        ana = bearer(settings, await make_agent("Ana"))
        ticket = ok(await api.post(TICKETS, json=new_ticket(priority="medium"), headers=ana), 201)
        ticket_id, path = ticket["ticketId"], f"{TICKETS}/{ticket['ticketId']}"
        before = await events_of(log, ticket_id, 4)  # created, assigned, 2 status changes
        edited = await api.patch(
            path,
            json={"category": "billing", "tags": [" Refund ", "VIP", "vip"], "subcategory": "card"},
            headers={**ana, "If-Match": f'"{ticket["revision"]}"'},
        )
        raised = await api.patch(
            path,
            json={"priority": "urgent", "reason": "VIP customer"},
            headers={**ana, "If-Match": edited.headers["ETag"]},
        )
        lowered = ok(
            await api.patch(
                path,
                json={"priority": "high", "expectedRevision": ok(raised)["revision"]},
                headers=ana,
            )
        )
        unchanged = ok(await api.patch(path, json={"category": "billing"}, headers=ana))
        events = await events_of(log, ticket_id, len(before) + 3)

    data = ok(edited)
    assert (data["category"], data["tags"], data["subcategory"]) == (
        "billing",
        ["refund", "vip"],
        "card",
    )
    assert data["revision"] == ticket["revision"] + 1
    assert edited.headers["ETag"] == f'"{data["revision"]}"'
    assert data["customer"]["phone"] == "+34600000001"
    urgent = ok(raised)
    created = at(ticket["createdAt"])
    assert urgent["priority"] == "urgent"
    assert at(urgent["sla"]["firstResponseDueAt"]) == created + timedelta(minutes=15)
    assert at(urgent["sla"]["resolutionDueAt"]) == created + timedelta(hours=4)
    assert urgent["sla"]["firstResponseTarget"] == 15 * 60 * 1000
    assert at(lowered["sla"]["resolutionDueAt"]) == created + timedelta(hours=24)
    assert unchanged["revision"] == lowered["revision"]
    updated, escalated, relaxed = events[len(before) :]
    assert updated["type"] == "ticket.updated"
    assert updated["changes"] == {
        "category": "billing",
        "subcategory": "card",
        "tags": ["refund", "vip"],
    }
    assert escalated["type"] == "ticket.priority_escalated"
    assert (escalated["oldPriority"], escalated["newPriority"]) == ("medium", "urgent")
    assert escalated["reason"] == "VIP customer"
    assert escalated["ticket"]["sla"]["resolutionDueAt"] == urgent["sla"]["resolutionDueAt"]
    assert relaxed["type"] == "ticket.updated"
    assert relaxed["changes"] == {"priority": "high", "previousPriority": "urgent"}
    assert at(relaxed["ticket"]["sla"]["firstResponseDueAt"]) == created + timedelta(hours=1)
    assert len(events) == len(before) + 3  # the no-op wrote nothing


async def test_a_stale_revision_or_a_lost_race_is_409_and_changes_nothing(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = bearer(settings, await make_agent("Ana"))
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=ana), 201)
        path, revision = f"{TICKETS}/{ticket['ticketId']}", ticket["revision"]
        ok(await api.put(f"{path}/notes", json={"content": "moved on"}, headers=ana))
        stale_header = await api.patch(
            path, json={"priority": "high"}, headers={**ana, "If-Match": f'"{revision}"'}
        )
        stale_body = await api.patch(
            path, json={"priority": "high", "expectedRevision": revision}, headers=ana
        )
        current = ok(await api.get(path, headers=ana))
        racers = await asyncio.gather(
            *(
                api.patch(
                    path,
                    json={"tags": [f"racer-{n}"]},
                    headers={**ana, "If-Match": f'W/"{current["revision"]}"'},
                )
                for n in range(5)
            )
        )
        any_revision = await api.patch(
            path, json={"category": "sales"}, headers={**ana, "If-Match": "*"}
        )
        final = ok(await api.get(path, headers=ana))

    assert "revision" in refused(stale_header, 409, "conflict")
    refused(stale_body, 409, "conflict")
    assert current["priority"] == "medium"
    assert sorted(r.status_code for r in racers) == [200, 409, 409, 409, 409]
    winner = next(ok(r) for r in racers if r.status_code == 200)
    assert ok(any_revision)["category"] == "sales"
    assert final["tags"] == winner["tags"]
    assert final["revision"] == current["revision"] + 2


async def test_bad_edits_are_refused_in_the_envelope(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (caller, _):
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        ana, ben = bearer(settings, ana_id), bearer(settings, ben_id)
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=ana), 201)
        path = f"{TICKETS}/{ticket['ticketId']}"
        answers = {
            "category": await api.patch(path, json={"category": "gossip"}, headers=ana),
            "priority": await api.patch(path, json={"priority": "asap"}, headers=ana),
            "body": await api.patch(path, json={}, headers=ana),
            "status": await api.patch(path, json={"status": "closed"}, headers=ana),
            "tags": await api.patch(path, json={"tags": ["x" * 51]}, headers=ana),
            "If-Match": await api.patch(
                path, json={"tags": []}, headers={**ana, "If-Match": "revision three"}
            ),
            "expectedRevision": await api.patch(
                path,
                json={"tags": [], "expectedRevision": 1},
                headers={**ana, "If-Match": '"2"'},
            ),
            "JSON": await api.patch(
                path, content=b"{not json", headers={**ana, "Content-Type": "application/json"}
            ),
        }
        not_hers = await api.patch(path, json={"priority": "high"}, headers=ben)
        unknown = await api.patch(f"{TICKETS}/TICKET-2026-999999", json={"tags": []}, headers=ana)
        cancelled = ok(
            await api.post(TICKETS, json=new_ticket(priority="low"), headers=SERVICE), 201
        )
        cancelled_path = f"{TICKETS}/{cancelled['ticketId']}"
        ok(await api.put(f"{cancelled_path}/status", json={"status": "cancelled"}, headers=SERVICE))
        frozen = await api.patch(cancelled_path, json={"priority": "urgent"}, headers=SERVICE)
        retagged = await api.patch(cancelled_path, json={"tags": ["spam"]}, headers=SERVICE)
        by_customer = await caller.call(
            names.UPDATE,
            {"actor": customer(), "ticketId": ticket["ticketId"], "priority": "urgent"},
        )
        by_queue = await caller.ok(
            names.UPDATE,
            {"actor": agent_actor(ana_id), "ticketId": ticket["ticketId"], "category": "account"},
        )
        untouched = ok(await api.get(path, headers=ana))

    for field, answer in answers.items():
        assert field in refused(answer, 422, "validation"), field
    refused(not_hers, 404, "not_found")
    refused(unknown, 404, "not_found")
    assert "cancelled" in refused(frozen, 409, "invalid_transition")
    assert ok(retagged)["tags"] == ["spam"]
    assert by_customer["ok"] is False
    assert by_customer["error"]["code"] == "forbidden"
    assert by_queue["category"] == "account"
    assert (untouched["priority"], untouched["category"], untouched["tags"]) == (
        "medium",
        "account",
        [],
    )


async def test_admins_and_services_edit_any_ticket(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = bearer(settings, await make_agent("Ana"))
        root = bearer(settings, await make_agent("Root", AgentRole.ADMIN), AgentRole.ADMIN)
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=ana), 201)
        path = f"{TICKETS}/{ticket['ticketId']}"
        by_admin = ok(await api.patch(path, json={"priority": "high"}, headers=root))
        by_service = ok(await api.patch(path, json={"tags": ["b2b"]}, headers=SERVICE))
    assert by_admin["priority"] == "high"
    assert by_service["tags"] == ["b2b"]
