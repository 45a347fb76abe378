"""Who the customer is, over the REST API (real ASGI client, real broker, Mongo wire server):
the customer on ticket replies, lookup by id and phone with the read rule, search by phone
and name, and an agent-entered name kept against WhatsApp profile names."""

from typing import Any

import pytest

from contracts import names
from contracts.enums import AgentRole
from tests.integration.test_api_tickets import ok, refused
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import create_body, customer, make_agent
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration

TICKETS = "/api/v2/tickets"
CUSTOMERS = "/api/v2/customers"
PHONE = "+34611222333"


def ids(tickets: list[dict[str, Any]]) -> list[str]:
    return sorted(t["ticketId"] for t in tickets)


async def test_ticket_replies_say_who_the_customer_is(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = bearer(settings, await make_agent("Ana"))
        body = new_ticket(PHONE, customer={"phone": PHONE, "name": "Lucía", "language": "es"})
        created = ok(await api.post(TICKETS, json=body, headers=ana), 201)
        path = f"{TICKETS}/{created['ticketId']}"
        got = await api.get(path, headers=ana)
        listed = ok(await api.get(TICKETS, headers=ana))
        noted = ok(await api.put(f"{path}/notes", json={"content": "called"}, headers=ana))

    expected = {
        "id": created["customerId"],
        "phone": PHONE,
        "phoneNumber": PHONE,
        "name": "Lucía",
        "language": "es",
    }
    assert created["customer"] == expected
    assert ok(got)["customer"] == expected
    assert got.headers["ETag"] == f'"{ok(got)["revision"]}"'
    assert [t["customer"] for t in listed] == [expected]
    assert noted["customer"] == expected


async def test_lookup_by_phone_and_id_shows_only_the_tickets_the_caller_may_read(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        admin_id = await make_agent("Root", AgentRole.ADMIN)
        ana, ben = bearer(settings, ana_id), bearer(settings, ben_id)
        admin = bearer(settings, admin_id, AgentRole.ADMIN)
        anas = ok(await api.post(TICKETS, json=new_ticket(PHONE), headers=ana), 201)
        bens = ok(await api.post(TICKETS, json=new_ticket(PHONE), headers=ben), 201)
        pool = ok(
            await api.post(
                TICKETS, json=new_ticket(PHONE, idempotencyKey="crm-7"), headers=SERVICE
            ),
            201,
        )
        other = ok(await api.post(TICKETS, json=new_ticket("+34699999999"), headers=ana), 201)
        ok(
            await api.put(
                f"{TICKETS}/{bens['ticketId']}/status", json={"status": "resolved"}, headers=ben
            )
        )
        customer_id = anas["customerId"]

        as_ana = await api.get(CUSTOMERS, params={"phone": PHONE}, headers=ana)
        as_ben = ok(await api.get(CUSTOMERS, params={"phone": PHONE}, headers=ben))
        as_admin = ok(await api.get(f"{CUSTOMERS}/{customer_id}", headers=admin))
        literal_plus = ok(await api.get(f"{CUSTOMERS}?phone={PHONE}", headers=SERVICE))
        paged = await api.get(
            f"{CUSTOMERS}/{customer_id}", params={"limit": 1, "page": 2}, headers=admin
        )
        unknown_phone = await api.get(CUSTOMERS, params={"phone": "+34600000000"}, headers=ana)
        unknown_id = await api.get(f"{CUSTOMERS}/{'0' * 24}", headers=ana)
        bad_phone = await api.get(CUSTOMERS, params={"phone": "12"}, headers=ana)
        no_phone = await api.get(CUSTOMERS, headers=ana)
        bad_id = await api.get(f"{CUSTOMERS}/nope", headers=ana)
        anonymous = await api.get(CUSTOMERS, params={"phone": PHONE})

    data = ok(as_ana)
    assert data["id"] == customer_id
    assert (data["phone"], data["phoneNumber"]) == (PHONE, PHONE)
    assert ids(data["tickets"]) == ids([anas, pool])
    assert ids(as_ben["tickets"]) == ids([bens, pool])
    assert ids(as_admin["tickets"]) == ids([anas, bens, pool])
    assert other["ticketId"] not in ids(as_admin["tickets"])
    assert ids(literal_plus["tickets"]) == ids(as_admin["tickets"])
    assert as_ana.json()["pagination"] == {"page": 1, "limit": 20, "total": 2, "pages": 1}
    assert paged.json()["pagination"] == {"page": 2, "limit": 1, "total": 3, "pages": 3}
    assert len(paged.json()["data"]["tickets"]) == 1
    figures = data["statistics"]
    assert figures["totalTickets"] == 3
    assert (figures["openTickets"], figures["resolvedTickets"]) == (2, 1)
    assert figures["averageRating"] is None
    assert figures["lastTicketAt"] == pool["createdAt"]
    assert all(t["customer"]["id"] == customer_id for t in data["tickets"])
    keys = {t["ticketId"]: t["idempotencyKey"] for t in data["tickets"]}
    assert keys[pool["ticketId"]] is None  # shown only to its creator and the System
    system_keys = {t["ticketId"]: t["idempotencyKey"] for t in literal_plus["tickets"]}
    assert system_keys[pool["ticketId"]] == pool["idempotencyKey"] is not None
    assert refused(unknown_phone, 404, "not_found") == "No customer with phone +34600000000"
    refused(unknown_id, 404, "not_found")
    assert "phone" in refused(bad_phone, 422, "validation")
    assert "phone" in refused(no_phone, 422, "validation")
    assert "customerId" in refused(bad_id, 422, "validation")
    refused(anonymous, 401, "unauthorized")


async def test_q_finds_tickets_by_the_customers_phone_and_name(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = bearer(settings, await make_agent("Ana"))
        lucia = ok(
            await api.post(
                TICKETS,
                json=new_ticket(PHONE, customer={"phone": PHONE, "name": "Lucía Pérez"}),
                headers=ana,
            ),
            201,
        )
        other = ok(
            await api.post(
                TICKETS,
                json=new_ticket("+44700900123", customer={"phone": "+44700900123", "name": "Tom"}),
                headers=ana,
            ),
            201,
        )

        async def search(q: str) -> list[str]:
            return ids(ok(await api.get(TICKETS, params={"q": q}, headers=ana)))

        by_phone = await search("611222")
        by_full_phone = await search(PHONE)
        by_name = await search("lucía")
        by_name_and_title = await search("pérez delivered")
        by_name_and_missing = await search("pérez refund")
        by_title = await search("delivered")

    assert by_phone == by_full_phone == by_name == by_name_and_title == [lucia["ticketId"]]
    assert by_name_and_missing == []
    assert by_title == ids([lucia, other])


async def test_an_agent_entered_name_is_never_replaced_by_a_whatsapp_profile_name(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    whatsapp_first = "+34622000111"
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (caller, _):
        ana = bearer(settings, await make_agent("Ana"))
        entered = new_ticket(PHONE, customer={"phone": PHONE, "name": "Lucía García"})
        by_agent = ok(await api.post(TICKETS, json=entered, headers=ana), 201)

        async def message(phone: str, profile: str, message_id: str) -> None:
            actor = customer(phone) | {"name": profile}
            await caller.ok(
                names.CUSTOMER_MESSAGE,
                {
                    "actor": actor,
                    "messageId": message_id,
                    "text": "hola",
                    "receivedAt": "2026-01-01T00:00:00Z",
                },
            )

        await message(PHONE, "Lu 🌸", "m1")
        await caller.ok(names.CREATE, create_body(PHONE, actor=customer(PHONE) | {"name": "Lu 🌸"}))
        kept = ok(await api.get(f"{CUSTOMERS}/{by_agent['customerId']}", headers=ana))

        opened = await caller.ok(
            names.CREATE,
            create_body(whatsapp_first, actor=customer(whatsapp_first) | {"name": "Jo"}),
        )
        await message(whatsapp_first, "Joan 🙂", "m2")
        renamed_by_profile = ok(await api.get(f"{CUSTOMERS}/{opened['customerId']}", headers=ana))
        edited = ok(
            await api.patch(
                f"{CUSTOMERS}/{opened['customerId']}",
                json={"name": "Joan Puig", "language": "en"},
                headers=ana,
            )
        )
        await message(whatsapp_first, "Joanet", "m3")
        after_edit = ok(await api.get(f"{CUSTOMERS}/{opened['customerId']}", headers=ana))
        empty_edit = await api.patch(f"{CUSTOMERS}/{opened['customerId']}", json={}, headers=ana)
        unknown = await api.patch(f"{CUSTOMERS}/{'0' * 24}", json={"name": "X"}, headers=ana)

    assert (kept["name"], kept["nameSource"]) == ("Lucía García", "agent")
    assert (renamed_by_profile["name"], renamed_by_profile["nameSource"]) == ("Joan 🙂", "whatsapp")
    assert (edited["name"], edited["nameSource"], edited["language"]) == (
        "Joan Puig",
        "agent",
        "en",
    )
    assert "tickets" not in edited
    assert (after_edit["name"], after_edit["language"]) == ("Joan Puig", "en")
    refused(empty_edit, 422, "validation")
    refused(unknown, 404, "not_found")
