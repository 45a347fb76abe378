"""Finding: any agent read any ticket by replaying its idempotency key (now 404, nothing
revealed), and the keys were shown to every agent who could read the ticket."""

from typing import Any

import httpx
import pytest

from contracts import names
from contracts.enums import AgentRole
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import agent_actor, create_body, make_agent
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration

TICKETS = "/api/v2/tickets"


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


async def test_a_replayed_key_answers_404_to_an_agent_who_cannot_read_the_ticket(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (caller, _):
        ana, bob = await make_agent("Ana"), await make_agent("Bob")
        admin = await make_agent("Root", AgentRole.ADMIN)
        as_ana, as_bob = bearer(settings, ana), bearer(settings, bob)
        # The assistant opens a ticket in the pool, keyed by its tool call id.
        opened = await caller.ok(names.CREATE, create_body(idempotencyKey="call_abc123"))
        ticket_id, customer_id = opened["ticketId"], opened["customerId"]
        seen_in_pool = data(await api.get(f"{TICKETS}/{ticket_id}", headers=as_ana))
        path = f"{TICKETS}/{ticket_id}"
        await api.put(f"{path}/assign", json={"agentId": bob}, headers=bearer(settings, admin))
        secret_note = {"content": "Customer's card ends 4242, refund pending"}
        await api.put(f"{path}/notes", json=secret_note, headers=as_bob)
        replay = {"idempotencyKey": "call_abc123"}
        by_id = await api.post(
            TICKETS,
            json=new_ticket(customerId=customer_id, customer=None, **replay),
            headers=as_ana,
        )
        by_phone = await api.post(TICKETS, json=new_ticket(**replay), headers=as_ana)
        over_queue = await caller.call(
            names.CREATE, create_body(actor=agent_actor(ana), source="agent", **replay)
        )
        by_bob = await api.post(TICKETS, json=new_ticket(**replay), headers=as_bob)
        by_service = await api.post(TICKETS, json=new_ticket(**replay), headers=SERVICE)
        listed = data(await api.get(TICKETS, headers=SERVICE))
    assert seen_in_pool["idempotencyKey"] is None  # the key is not shown to a non-creator
    for refused in (by_id, by_phone):
        assert refused.status_code == 404, refused.text
        assert refused.json()["code"] == "not_found"
        assert ticket_id not in refused.text
        assert "4242" not in refused.text
    assert over_queue["ok"] is False
    assert over_queue["error"]["code"] == "not_found"
    assert ticket_id not in str(over_queue)
    assert data(by_bob, 201)["ticketId"] == ticket_id  # the assignee may read it: same ticket
    assert data(by_service, 201)["ticketId"] == ticket_id
    assert len(listed) == 1  # no replay made a ticket


async def test_the_key_is_shown_to_its_creator_and_the_system_only(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana, bob = await make_agent("Ana"), await make_agent("Bob")
        admin = await make_agent("Root", AgentRole.ADMIN)
        body = new_ticket(assignToSelf=False, idempotencyKey="ana-form-7")
        created = data(await api.post(TICKETS, json=body, headers=bearer(settings, ana)), 201)
        path = f"{TICKETS}/{created['ticketId']}"
        views = {
            who: data(await api.get(path, headers=headers))
            for who, headers in (
                ("ana", bearer(settings, ana)),
                ("bob", bearer(settings, bob)),
                ("admin", bearer(settings, admin)),
                ("service", SERVICE),
            )
        }
        bob_list = data(await api.get(TICKETS, headers=bearer(settings, bob)))
    assert created["idempotencyKey"].endswith(":ana-form-7")
    assert views["ana"]["idempotencyKey"] == created["idempotencyKey"]
    assert views["service"]["idempotencyKey"] == created["idempotencyKey"]
    assert views["bob"]["idempotencyKey"] is None
    assert views["admin"]["idempotencyKey"] is None
    assert [t["idempotencyKey"] for t in bob_list] == [None]
