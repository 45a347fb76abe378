"""The agents' REST API through a real ASGI client over the real RabbitMQ and Mongo server."""

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.enums import AgentRole
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import SYSTEM, make_agent
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration

TICKETS = "/api/v2/tickets"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    message: str = body["error"]
    return message


async def test_an_agent_works_a_ticket_through_every_route(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = await make_agent("Ana")
        as_ana = bearer(settings, ana)
        created = ok(
            await api.post(TICKETS, json=new_ticket(assignToSelf=False), headers=as_ana), 201
        )
        ticket_id = created["ticketId"]
        path = f"{TICKETS}/{ticket_id}"
        assert (created["status"], created["source"], created["assignedAgent"]) == (
            "new",
            "agent",
            None,
        )

        viewed = ok(await api.get(path, headers=as_ana))
        assigned = ok(await api.put(f"{path}/assign", json={"agentId": ana}, headers=as_ana))
        noted = ok(
            await api.put(f"{path}/notes", json={"content": "Called the courier"}, headers=as_ana)
        )
        waiting = ok(
            await api.put(
                f"{path}/status",
                json={"status": "pending_customer", "reason": "asked for the address"},
                headers=as_ana,
            )
        )
        released = ok(await api.put(f"{path}/unassign", json={}, headers=as_ana))
        listed = ok(await api.get(TICKETS, headers=as_ana))
        customer_tickets = ok(
            await api.get(f"{TICKETS}/customer/{created['customerId']}", headers=as_ana)
        )
        viewed_again = ok(await api.get(path, headers=as_ana))

    assert viewed["status"] == "open"
    first_view = viewed["statusHistory"][-1]
    assert (first_view["from"], first_view["to"], first_view["automated"]) == ("new", "open", True)
    assert (first_view["changedBy"], first_view["changedByType"]) == (ana, "Agent")
    assert (assigned["assignedAgent"], assigned["status"]) == (ana, "in_progress")
    assert [n["content"] for n in noted["internalNotes"]] == ["Called the courier"]
    assert noted["internalNotes"][0]["isVisible"] is False
    assert waiting["status"] == "pending_customer"
    assert waiting["statusHistory"][-1]["reason"] == "asked for the address"
    assert (released["assignedAgent"], released["status"]) == (None, "pending_customer")
    assert [t["ticketId"] for t in listed] == [ticket_id]
    assert [t["ticketId"] for t in customer_tickets] == [ticket_id]
    assert viewed_again["revision"] == released["revision"]


async def test_an_agent_creating_a_ticket_takes_it_and_a_service_key_creates_as_system(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = await make_agent("Ana")
        mine = ok(await api.post(TICKETS, json=new_ticket(), headers=bearer(settings, ana)), 201)
        by_service = ok(
            await api.post(
                TICKETS,
                json=new_ticket(customerId=mine["customerId"], customer=None),
                headers=SERVICE,
            ),
            201,
        )
        done = ok(await api.post(TICKETS, json=new_ticket(), headers=bearer(settings, ana)), 201)
        ok(
            await api.put(
                f"{TICKETS}/{done['ticketId']}/status",
                json={"status": "resolved"},
                headers=bearer(settings, ana),
            )
        )
        agent_view = ok(await api.get(f"{TICKETS}/agent/{ana}", headers=bearer(settings, ana)))
        resolved_view = ok(
            await api.get(f"{TICKETS}/agent/{ana}", params={"status": "resolved"}, headers=SERVICE)
        )
    assert (mine["assignedAgent"], mine["status"]) == (ana, "in_progress")
    assert (by_service["source"], by_service["status"]) == ("system", "new")
    assert by_service["customerId"] == mine["customerId"]
    assert [t["ticketId"] for t in agent_view] == [mine["ticketId"]]  # unresolved by default
    assert [t["ticketId"] for t in resolved_view] == [done["ticketId"]]


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    (new_ticket(title="   abc    "), "title"),
    (new_ticket(title="x" * 201), "title"),
    (new_ticket(description="too short"), "description"),
    (new_ticket(description="x" * 5001), "description"),
    (new_ticket(priority="whenever"), "priority"),
    (new_ticket(category="gossip"), "category"),
    (new_ticket(status="closed"), "status"),
    (new_ticket(sla={"firstResponseMet": True}), "sla"),
    (new_ticket(statusHistory=[]), "statusHistory"),
    (new_ticket(ticketId="TICKET-2026-999999"), "ticketId"),
    (new_ticket(customer={"phone": "12"}), "customer.phone"),
    (new_ticket(customerId="not-an-id", customer=None), "customerId"),
    ({"title": "Order not delivered", "description": "x" * 20}, "customerId or customer"),
]


async def test_bad_bodies_are_refused_naming_the_field_and_nothing_is_created(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        as_ana = bearer(settings, await make_agent("Ana"))
        messages = [
            refused(await api.post(TICKETS, json=body, headers=as_ana), 422, "validation")
            for body, _ in BAD_BODIES
        ]
        malformed = await api.post(
            TICKETS,
            content=b'{"title": "broken',
            headers={**as_ana, "Content-Type": "application/json"},
        )
        not_utf8 = await api.post(
            TICKETS,
            content=b'{"title": "\xfe\xff"}',
            headers={**as_ana, "Content-Type": "application/json"},
        )
        bad_queries = [
            await api.get(TICKETS, params=params, headers=as_ana)
            for params in (
                {"limit": 101},
                {"page": 0},
                {"status": "sleeping"},
                {"createdFrom": "2026-01-01T00:00:00"},
                {"sort": "title"},
                {"unknown": "x"},
            )
        ]
        bad_path = await api.get(f"{TICKETS}/TICKET-1", headers=as_ana)
        remaining = ok(await api.get(TICKETS, headers=as_ana))
    for message, (_, field) in zip(messages, BAD_BODIES, strict=True):
        assert field in message, message
    refused(malformed, 422, "validation")
    assert "body" in refused(not_utf8, 422, "validation")
    for response in bad_queries:
        refused(response, 422, "validation")
    assert "ticketId" in refused(bad_path, 422, "validation")
    assert remaining == []


def _every_route(ticket_id: str, agent_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    path = f"{TICKETS}/{ticket_id}"
    return [
        ("GET", TICKETS, None),
        ("GET", f"{TICKETS}/statistics", None),
        ("GET", path, None),
        ("POST", TICKETS, new_ticket()),
        ("PUT", f"{path}/assign", {"agentId": agent_id}),
        ("PUT", f"{path}/unassign", {}),
        ("PUT", f"{path}/status", {"status": "cancelled"}),
        ("PUT", f"{path}/notes", {"content": "hello"}),
        ("GET", f"{TICKETS}/agent/{agent_id}", None),
        ("GET", f"{TICKETS}/customer/0123456789abcdef01234567", None),
    ]


async def test_every_route_answers_401_without_or_with_a_bad_credential(
    endpoints: Endpoints, database: str
) -> None:
    # Many failures from one address: lift the failed-authentication limits (tested apart).
    settings = api_settings(
        endpoints, database, auth_failures_per_address=10_000, auth_failures_per_credential=10_000
    )
    async with api_client(settings) as api:
        ana = await make_agent("Ana")
        retired = await make_agent("Rita", active=False)
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=SERVICE), 201)
        other_secret = settings.model_copy(
            update={"jwt_secret": "another-secret-entirely-0123456789abcdef"}
        )
        credentials: list[dict[str, str] | dict[bytes, bytes]] = [
            {},
            {"Authorization": "Bearer not.a.jwt"},
            {"Authorization": "Basic YW5hOnNlY3JldA=="},
            bearer(other_secret, ana),
            bearer(settings, retired),
            bearer(settings, "0123456789abcdef01234567"),
            {"X-API-Key": "wrong-key"},
            {b"X-API-Key": b"cl\xe9"},  # not ASCII (Latin-1 in the header)
            {b"Authorization": b"Bearer \xe9.\xe9.\xe9"},
        ]
        answers = [
            (method, path, headers, await api.request(method, path, json=body, headers=headers))
            for method, path, body in _every_route(ticket["ticketId"], ana)
            for headers in credentials
        ]
        untouched = ok(await api.get(f"{TICKETS}/{ticket['ticketId']}", headers=SERVICE))
    for method, path, headers, response in answers:
        assert response.status_code == 401, (method, path, headers, response.text)
        assert response.json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (untouched["status"], untouched["revision"]) == ("new", ticket["revision"])


async def test_an_expired_token_is_refused(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database, jwt_ttl_seconds=1)
    async with api_client(settings) as api:
        ana = await make_agent("Ana")
        stale = bearer(settings, ana, now=datetime.now(UTC) - timedelta(minutes=5))
        message = refused(await api.get(TICKETS, headers=stale), 401, "unauthorized")
    assert "expired" in message


async def test_another_agents_ticket_is_404_on_every_route_but_an_admin_sees_it(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana, bob = await make_agent("Ana"), await make_agent("Bob")
        boss = await make_agent("Boss", AgentRole.ADMIN)
        as_bob = bearer(settings, bob)
        anas = ok(await api.post(TICKETS, json=new_ticket(), headers=bearer(settings, ana)), 201)
        path = f"{TICKETS}/{anas['ticketId']}"
        answers = [
            await api.get(path, headers=as_bob),
            await api.put(f"{path}/assign", json={"agentId": bob}, headers=as_bob),
            await api.put(f"{path}/unassign", json={}, headers=as_bob),
            await api.put(f"{path}/status", json={"status": "resolved"}, headers=as_bob),
            await api.put(f"{path}/notes", json={"content": "mine now"}, headers=as_bob),
            await api.get(f"{TICKETS}/agent/{ana}", headers=as_bob),
            await api.get(f"{TICKETS}/TICKET-2026-424242", headers=as_bob),
            # a token claiming admin does not make Bob one: the role is the agent record's
            await api.get(path, headers=bearer(settings, bob, AgentRole.ADMIN)),
        ]
        bobs_list = ok(await api.get(TICKETS, headers=as_bob))
        bobs_view_of_customer = ok(
            await api.get(f"{TICKETS}/customer/{anas['customerId']}", headers=as_bob)
        )
        admin_view = ok(await api.get(path, headers=bearer(settings, boss, AgentRole.ADMIN)))
        admin_agent_view = ok(
            await api.get(f"{TICKETS}/agent/{ana}", headers=bearer(settings, boss))
        )
        unknown_agent = await api.get(
            f"{TICKETS}/agent/0123456789abcdef01234567", headers=bearer(settings, boss)
        )
    for response in answers:
        assert "not found" in refused(response, 404, "not_found")
    assert bobs_list == []
    assert bobs_view_of_customer == []
    assert admin_view["assignedAgent"] == ana
    assert [t["ticketId"] for t in admin_agent_view] == [anas["ticketId"]]
    refused(unknown_agent, 404, "not_found")


async def test_an_invalid_transition_is_409_naming_the_valid_next_statuses(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        as_ana = bearer(settings, await make_agent("Ana"))
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=as_ana), 201)
        path = f"{TICKETS}/{ticket['ticketId']}/status"
        closing = await api.put(path, json={"status": "closed"}, headers=as_ana)
        stale = await api.put(
            path,
            json={"status": "resolved", "expectedRevision": ticket["revision"] - 1},
            headers=as_ana,
        )
        cancelled = ok(await api.put(path, json={"status": "cancelled"}, headers=as_ana))
        after_cancel = await api.put(path, json={"status": "open"}, headers=as_ana)
    message = refused(closing, 409, "invalid_transition")
    assert "from in_progress to closed" in message
    assert "cancelled, pending_customer, resolved" in message
    refused(stale, 409, "conflict")
    assert cancelled["status"] == "cancelled"
    assert "none (terminal status)" in refused(after_cancel, 409, "invalid_transition")


async def test_assigning_to_an_unknown_agent_is_400_and_an_unknown_customer_404(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        as_ana = bearer(settings, await make_agent("Ana"))
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=as_ana), 201)
        response = await api.put(
            f"{TICKETS}/{ticket['ticketId']}/assign",
            json={"agentId": "0123456789abcdef01234567"},
            headers=as_ana,
        )
        for_nobody = await api.post(
            TICKETS,
            json=new_ticket(customerId="0123456789abcdef01234567", customer=None),
            headers=as_ana,
        )
        listed = ok(await api.get(TICKETS, headers=as_ana))
    assert "agentId" in refused(response, 400, "validation")
    assert "0123456789abcdef01234567" in refused(for_nobody, 404, "not_found")
    assert [t["ticketId"] for t in listed] == [ticket["ticketId"]]


async def test_the_openapi_document_describes_every_route_body_and_error(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        docs = await api.get("/docs")
        schema = (await api.get("/openapi.json")).json()
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    envelope = "#/components/schemas/ErrorEnvelope"
    operations = {
        f"{method.upper()} {path}": operation
        for path, methods in schema["paths"].items()
        if path.startswith(TICKETS)
        for method, operation in methods.items()
    }
    writes = {"POST", "PUT", "PATCH"}
    assert len(operations) == 15
    for name, operation in operations.items():
        assert operation.get("summary"), name
        assert operation.get("description"), name
        errors = {"401", "404", "422", "429"} | ({"409"} if name.split()[0] in writes else set())
        for status in errors:
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"]["$ref"] == envelope, (name, status)
        assert "security" in operation or "security" in schema, name
    bodies = {"NewTicket", "AssignBody", "UnassignBody", "StatusBody", "NoteBody", "EditBody"}
    bodies |= {"ReplyBody", "ResponseBody"}
    for body in bodies:
        assert schema["components"]["schemas"][body]["additionalProperties"] is False, body


async def test_pages_cover_every_ticket_once_with_the_right_arithmetic(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        priorities = ["low", "medium", "high", "urgent"]
        for i in range(23):
            body = new_ticket(f"+3461{i:07d}", priority=priorities[i % 4], category="billing")
            ok(await api.post(TICKETS, json=body, headers=SERVICE), 201)
        pages = [
            await api.get(TICKETS, params={"limit": 10, "page": n}, headers=SERVICE)
            for n in (1, 2, 3, 4)
        ]
        by_priority = [
            await api.get(
                TICKETS, params={"limit": 7, "page": n, "sort": "-priority"}, headers=SERVICE
            )
            for n in (1, 2, 3, 4)
        ]
        urgent_or_high = await api.get(
            TICKETS, params={"priority": "urgent,high", "limit": 100}, headers=SERVICE
        )
    bodies = [p.json() for p in pages]
    cursors = [b["pagination"].pop("nextCursor") for b in bodies]
    assert [b["pagination"] for b in bodies] == [
        {"page": n, "limit": 10, "total": 23, "pages": 3} for n in (1, 2, 3, 4)
    ]
    assert [c is not None for c in cursors] == [True, True, False, False]
    assert [b["count"] for b in bodies] == [10, 10, 3, 0]
    seen = [t["ticketId"] for b in bodies for t in b["data"]]
    assert len(seen) == len(set(seen)) == 23
    assert seen == sorted(seen, reverse=True)
    ordered = [t for p in by_priority for t in p.json()["data"]]
    ranks = [priorities.index(t["priority"]) for t in ordered]
    assert len({t["ticketId"] for t in ordered}) == 23
    assert ranks == sorted(ranks, reverse=True)
    assert {t["priority"] for t in urgent_or_high.json()["data"]} == {"urgent", "high"}
    assert urgent_or_high.json()["pagination"]["total"] == 11


async def test_filters_and_full_text_search(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = await make_agent("Ana")
        as_ana = bearer(settings, ana)
        refund = ok(
            await api.post(
                TICKETS,
                json=new_ticket(
                    "+34600000011",
                    title="Refund for damaged blender",
                    description="The blender arrived with a cracked jar.",
                    category="billing",
                ),
                headers=as_ana,
            ),
            201,
        )
        login = ok(
            await api.post(
                TICKETS,
                json=new_ticket(
                    "+34600000012",
                    title="Cannot log in to the app",
                    description="Password reset email never arrives, blender unrelated.",
                    category="account",
                    assignToSelf=False,
                ),
                headers=as_ana,
            ),
            201,
        )

        async def ids(**params: Any) -> list[str]:
            data = ok(await api.get(TICKETS, params=params, headers=as_ana))
            return sorted(t["ticketId"] for t in data)

        by_title = await ids(q="refund")
        by_description = await ids(q="cracked")
        by_both = await ids(q="blender")
        by_id = await ids(q=login["ticketId"].lower())
        nothing = await ids(q="submarine")
        by_category = await ids(category="account")
        by_agent = await ids(assignedAgent=ana)
        pool = await ids(assignedAgent="none")
        by_customer = await ids(customerId=refund["customerId"])
        in_range = await ids(createdFrom=refund["createdAt"], createdTo=refund["createdAt"])
        after_all = await ids(createdFrom="2999-01-01T00:00:00Z")
    assert by_title == [refund["ticketId"]]
    assert by_description == [refund["ticketId"]]
    assert by_both == sorted([refund["ticketId"], login["ticketId"]])
    assert by_id == [login["ticketId"]]
    assert nothing == []
    assert by_category == [login["ticketId"]]
    assert by_agent == [refund["ticketId"]]
    assert pool == [login["ticketId"]]
    assert by_customer == [refund["ticketId"]]
    assert in_range == [refund["ticketId"]]
    assert after_all == []


async def test_every_request_logs_one_line_with_the_request_id_it_returns(
    endpoints: Endpoints, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        with caplog.at_level(logging.INFO, logger="tickets.http"):
            given = await api.get(TICKETS, headers={**SERVICE, "X-Request-ID": "frontend-42.a_b"})
            invalid = await api.get(TICKETS, headers={**SERVICE, "X-Request-ID": "bad id\n"})
            anonymous = await api.get(TICKETS)
    lines = [r for r in caplog.records if r.name == "tickets.http"]
    assert given.headers["X-Request-ID"] == "frontend-42.a_b"
    assert invalid.headers["X-Request-ID"] not in ("", "bad id\n")
    assert len(invalid.headers["X-Request-ID"]) == 32
    assert anonymous.status_code == 401
    returned = [r.headers["X-Request-ID"] for r in (given, invalid, anonymous)]
    assert [getattr(r, "requestId", None) for r in lines] == returned
    assert [getattr(r, "status", None) for r in lines] == [200, 200, 401]
    assert getattr(lines[0], "caller", "").startswith("key:")
    json.dumps(lines[0].__dict__, default=str)


async def test_every_route_refuses_bad_input_with_422_naming_the_field(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana = await make_agent("Ana")
        as_ana = bearer(settings, ana)
        ticket = ok(await api.post(TICKETS, json=new_ticket(), headers=as_ana), 201)
        path = f"{TICKETS}/{ticket['ticketId']}"
        cases: list[tuple[str, str, dict[str, Any] | None, dict[str, Any], str]] = [
            ("GET", TICKETS, None, {"page": "first"}, "page"),
            ("GET", f"{TICKETS}/statistics", None, {"createdFrom": "yesterday"}, "createdFrom"),
            ("GET", f"{TICKETS}/statistics", None, {"bogus": "1"}, "bogus"),
            # valid ISO 8601, but before year 1 or after 9999 once in UTC
            ("GET", TICKETS, None, {"createdFrom": "0001-01-01T00:00:00+01:00"}, "createdFrom"),
            (
                "GET",
                f"{TICKETS}/statistics",
                None,
                {"createdTo": "9999-12-31T23:59:59-01:00"},
                "createdTo",
            ),
            ("GET", f"{TICKETS}/TICKET-2026-1", None, {}, "ticketId"),
            ("POST", TICKETS, {**new_ticket(), "source": "ai"}, {}, "source"),
            ("PUT", f"{path}/assign", {}, {}, "agentId"),
            ("PUT", f"{path}/assign", {"agentId": ana, "assignedAgent": ana}, {}, "assignedAgent"),
            ("PUT", f"{path}/unassign", {"status": "new"}, {}, "status"),
            ("PUT", f"{path}/status", {"status": "done"}, {}, "status"),
            (
                "PUT",
                f"{path}/status",
                {"status": "resolved", "resolutionNotes": "x" * 2001},
                {},
                "resolutionNotes",
            ),
            ("PUT", f"{path}/notes", {"content": "   "}, {}, "content"),
            ("PUT", f"{path}/notes", {"content": "ok", "agent": ana}, {}, "agent"),
            ("GET", f"{TICKETS}/agent/{ana}", None, {"limit": "0"}, "limit"),
            ("GET", f"{TICKETS}/customer/not-hex", None, {}, "customerId"),
            (
                "GET",
                f"{TICKETS}/agent/{ana}",
                None,
                {"createdTo": "9999-12-31T23:59:59-01:00"},
                "createdTo",
            ),
        ]
        answers = [
            (field, await api.request(method, url, json=body, params=params, headers=as_ana))
            for method, url, body, params, field in cases
        ]
        after = ok(await api.get(path, headers=as_ana))
    for field, response in answers:
        assert field in refused(response, 422, "validation"), (field, response.text)
    assert after["revision"] == ticket["revision"]
    assert after["internalNotes"] == []


async def _cursor_pages(
    api: httpx.AsyncClient, params: dict[str, Any], between: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page by cursor, running `between()` concurrently with each page's request."""
    seen: list[str] = []
    paginations: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        wanted = {**params, **({"cursor": cursor} if cursor else {})}
        response, _ = await asyncio.gather(
            api.get(TICKETS, params=wanted, headers=SERVICE), between()
        )
        body = response.json()
        assert response.status_code == 200, body
        seen += [t["ticketId"] for t in body["data"]]
        paginations.append(body["pagination"])
        cursor = body["pagination"]["nextCursor"]
        if cursor is None:
            return seen, paginations


@pytest.mark.parametrize("sort", ["-createdAt", "priority", "-updatedAt", "slaDueAt"])
async def test_cursor_pages_visit_every_ticket_once_while_tickets_are_created(
    endpoints: Endpoints, database: str, sort: str
) -> None:
    settings = api_settings(endpoints, database)
    priorities = ["low", "medium", "high", "urgent"]
    created = iter(range(1000))

    async def create_two() -> None:
        for _ in range(2):
            i = next(created)
            body = new_ticket(f"+3462{i:07d}", priority=priorities[i % 4])
            ok(await api.post(TICKETS, json=body, headers=SERVICE), 201)

    async with api_client(settings) as api:
        for _ in range(9):
            await create_two()
        before = {
            t["ticketId"]
            for t in ok(await api.get(TICKETS, params={"limit": 100}, headers=SERVICE))
        }
        seen, paginations = await _cursor_pages(api, {"limit": 4, "sort": sort}, create_two)
    assert len(before) == 18
    assert len(seen) == len(set(seen)), "a ticket came on two pages"
    assert before <= set(seen), "a ticket that existed before paging was skipped"
    assert [p["page"] for p in paginations] == list(range(1, len(paginations) + 1))
    assert all(p["limit"] == 4 for p in paginations)
    assert paginations[0]["total"] >= 18
    assert [(p["total"], p["pages"]) for p in paginations[1:]] == [(None, None)] * (
        len(paginations) - 1
    )


async def test_a_malformed_or_foreign_cursor_is_refused_with_the_error_envelope(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (caller, _):
        for i in range(3):
            ok(await api.post(TICKETS, json=new_ticket(f"+3463{i:07d}"), headers=SERVICE), 201)
        first = (await api.get(TICKETS, params={"limit": 2}, headers=SERVICE)).json()
        cursor = first["pagination"]["nextCursor"]
        assert first["pagination"]["page"] == 1
        assert cursor

        async def listed(**params: Any) -> httpx.Response:
            return await api.get(TICKETS, params={"limit": 2, **params}, headers=SERVICE)

        last = (await listed(cursor=cursor)).json()
        unreadable = await listed(cursor="bm90LWEtY3Vyc29y")
        other_sort = await listed(cursor=cursor, sort="priority")
        other_filter = await listed(cursor=cursor, category="billing")
        not_base64 = await listed(cursor="a cursor?")
        with_page = await listed(cursor=cursor, page=2)
        tampered = await listed(cursor=cursor[:-3] + ("AAA" if cursor[-3:] != "AAA" else "BBB"))
        by_queue = await caller.call("tickets.v1.list", {"actor": SYSTEM, "cursor": "bm90"})
    assert [t["ticketId"] for t in last["data"]]
    assert last["pagination"]["nextCursor"] is None
    assert last["pagination"]["page"] == 2
    assert "cursor" in refused(unreadable, 400, "validation")
    assert "other filters or another sort" in refused(other_sort, 400, "validation")
    assert "other filters or another sort" in refused(other_filter, 400, "validation")
    assert "cursor" in refused(not_base64, 422, "validation")
    assert "page or cursor" in refused(with_page, 422, "validation")
    assert "cursor" in refused(tampered, 400, "validation")
    assert by_queue["ok"] is False
    assert by_queue["error"]["code"] == "validation"
    assert "cursor" in by_queue["error"]["message"]


async def test_the_openapi_document_describes_the_cursor_and_next_cursor(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        schema = (await api.get("/openapi.json")).json()
    listing = schema["paths"][TICKETS]["get"]
    assert "cursor" in {p["name"] for p in listing["parameters"]}
    assert "400" in listing["responses"]
    pagination = schema["components"]["schemas"]["TicketPagination"]["properties"]
    assert "nextCursor" in pagination
