"""The agent directory and an admin's changes to agents, over a real ASGI client (real broker,
Mongo wire server): who sees what, 403/404/409/422, and a deactivated agent's token
refused at the next request."""

import asyncio
from typing import Any

import pytest
from bson import ObjectId

from contracts.enums import AgentRole
from tests.integration.test_api_tickets import ok, refused
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import make_agent
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration

AGENTS = "/api/v2/agents"


def names(agents: list[dict[str, Any]]) -> list[str]:
    return [a["name"] for a in agents]


async def test_agents_see_active_colleagues_to_assign_admins_see_every_agent(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        ina_id = await make_agent("Ina", active=False)
        root_id = await make_agent("Root", AgentRole.ADMIN)
        ana, root = bearer(settings, ana_id), bearer(settings, root_id, AgentRole.ADMIN)
        as_agent = await api.get(AGENTS, headers=ana)
        as_admin = ok(await api.get(AGENTS, headers=root))
        as_service = ok(await api.get(AGENTS, headers=SERVICE))
        inactive_only = ok(await api.get(AGENTS, params={"active": "false"}, headers=root))
        admins = ok(await api.get(AGENTS, params={"role": "admin"}, headers=root))
        agent_asks_inactive = ok(await api.get(AGENTS, params={"active": "false"}, headers=ana))
        searched = ok(await api.get(AGENTS, params={"q": "BEN-AGENT@"}, headers=ana))
        second_page = await api.get(AGENTS, params={"limit": 2, "page": 2}, headers=ana)
        colleague = ok(await api.get(f"{AGENTS}/{ben_id}", headers=ana))
        herself = ok(await api.get(f"{AGENTS}/{ana_id}", headers=ana))
        hidden = await api.get(f"{AGENTS}/{ina_id}", headers=ana)
        inactive_for_admin = ok(await api.get(f"{AGENTS}/{ina_id}", headers=root))
        unknown = await api.get(f"{AGENTS}/{ObjectId()}", headers=root)
        malformed = await api.get(f"{AGENTS}/nope", headers=root)
        bad_role = await api.get(AGENTS, params={"role": "boss"}, headers=root)
        anonymous = await api.get(AGENTS)
        # what the short entry is for: assigning a pool ticket to a colleague
        ticket = ok(await api.post("/api/v2/tickets", json=new_ticket(), headers=SERVICE), 201)
        handed = ok(
            await api.put(
                f"/api/v2/tickets/{ticket['ticketId']}/assign",
                json={"agentId": colleague["id"]},
                headers=ana,
            )
        )

    listed = ok(as_agent)
    assert names(listed) == ["Ana", "Ben", "Root"]
    assert listed[1] == {
        "id": ben_id,
        "name": "Ben",
        "fullName": "Ben",
        "email": "ben-agent@example.com",
    }
    assert as_agent.json()["pagination"] == {"page": 1, "limit": 50, "total": 3, "pages": 1}
    assert names(as_admin) == names(as_service) == ["Ana", "Ben", "Ina", "Root"]
    ina = as_admin[2]
    assert (ina["id"], ina["role"], ina["isActive"]) == (ina_id, "agent", False)
    assert "createdAt" in ina
    assert names(inactive_only) == ["Ina"]
    assert names(admins) == ["Root"]
    assert names(agent_asks_inactive) == ["Ana", "Ben", "Root"]
    assert names(searched) == ["Ben"]
    assert names(ok(second_page)) == ["Root"]
    assert set(colleague) == {"id", "name", "fullName", "email"}
    assert (herself["role"], herself["isActive"]) == ("agent", True)
    refused(hidden, 404, "not_found")
    assert inactive_for_admin["isActive"] is False
    refused(unknown, 404, "not_found")
    assert "agentId" in refused(malformed, 422, "validation")
    assert "role" in refused(bad_role, 422, "validation")
    refused(anonymous, 401, "unauthorized")
    assert handed["assignedAgent"] == ben_id


async def test_an_admin_deactivates_an_agent_whose_token_stops_at_once(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (_, log):
        ben_id = await make_agent("Ben")
        root_id = await make_agent("Root", AgentRole.ADMIN)
        ben, root = bearer(settings, ben_id), bearer(settings, root_id, AgentRole.ADMIN)
        before = await api.get("/api/v2/tickets", headers=ben)
        by_agent = await api.patch(f"{AGENTS}/{root_id}", json={"isActive": False}, headers=ben)
        deactivated = ok(
            await api.patch(f"{AGENTS}/{ben_id}", json={"active": False}, headers=root)
        )
        after = [
            await api.get("/api/v2/tickets", headers=ben),
            await api.get(AGENTS, headers=ben),
            await api.post("/api/v2/tickets", json=new_ticket(), headers=ben),
        ]
        again = ok(await api.patch(f"{AGENTS}/{ben_id}", json={"isActive": False}, headers=root))
        reactivated = ok(
            await api.patch(f"{AGENTS}/{ben_id}", json={"isActive": True}, headers=root)
        )
        back = await api.get("/api/v2/tickets", headers=ben)
        await log.wait_for(2)

    assert before.status_code == 200
    refused(by_agent, 403, "forbidden")
    assert (deactivated["id"], deactivated["isActive"]) == (ben_id, False)
    for answer in after:
        assert "inactive" in refused(answer, 401, "unauthorized")
    assert again["isActive"] is False
    assert reactivated["isActive"] is True
    assert back.status_code == 200
    agent_events = [e for e in log.events if e["type"] == "agent.updated"]
    assert [(e["agentId"], e["isActive"], e["role"]) for e in agent_events] == [
        (ben_id, False, "agent"),
        (ben_id, True, "agent"),
    ]


async def test_roles_change_but_the_last_active_admin_stays(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        ben_id = await make_agent("Ben")
        root_id = await make_agent("Root", AgentRole.ADMIN)
        root = bearer(settings, root_id, AgentRole.ADMIN)
        ben = bearer(settings, ben_id)
        hidden_before = await api.get(f"{AGENTS}/{root_id}", headers=ben)
        promoted = ok(await api.patch(f"{AGENTS}/{ben_id}", json={"role": "admin"}, headers=root))
        ben_sees_all = ok(await api.get(AGENTS, headers=ben))
        # two admins demoting each other at once: at least one stays
        duel = await asyncio.gather(
            api.patch(f"{AGENTS}/{ben_id}", json={"role": "agent"}, headers=root),
            api.patch(f"{AGENTS}/{root_id}", json={"role": "agent"}, headers=ben),
        )
        admins = ok(await api.get(AGENTS, params={"role": "admin"}, headers=SERVICE))
        for extra in admins[1:]:  # both kept their role: make one the last admin
            ok(await api.patch(f"{AGENTS}/{extra['id']}", json={"role": "agent"}, headers=SERVICE))
        last_id = admins[0]["id"]
        last = bearer(settings, last_id, AgentRole.ADMIN)
        self_demotion = await api.patch(f"{AGENTS}/{last_id}", json={"role": "agent"}, headers=last)
        self_deactivation = await api.patch(
            f"{AGENTS}/{last_id}", json={"isActive": False}, headers=SERVICE
        )
        bad = {
            "role": await api.patch(f"{AGENTS}/{ben_id}", json={"role": "boss"}, headers=root),
            "body": await api.patch(f"{AGENTS}/{ben_id}", json={}, headers=SERVICE),
            "name": await api.patch(f"{AGENTS}/{ben_id}", json={"name": "X"}, headers=SERVICE),
            "isActive": await api.patch(
                f"{AGENTS}/{ben_id}", json={"isActive": "maybe"}, headers=SERVICE
            ),
        }
        unknown = await api.patch(f"{AGENTS}/{ObjectId()}", json={"role": "admin"}, headers=SERVICE)

    assert hidden_before.status_code == 200  # an active colleague, in short
    assert promoted["role"] == "admin"
    assert "isActive" in ben_sees_all[0]  # the record's role counts at once, not the token's
    outcome = sorted(r.status_code for r in duel)
    assert outcome in ([200, 403], [200, 409], [409, 409]), outcome
    assert len(admins) == (2 if outcome == [409, 409] else 1)
    assert "admin" in refused(self_demotion, 409, "conflict")
    refused(self_deactivation, 409, "conflict")
    for field, answer in bad.items():
        assert field in refused(answer, 422, "validation"), field
    refused(unknown, 404, "not_found")


async def test_the_openapi_document_describes_the_desk_routes(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        schema = (await api.get("/openapi.json")).json()
    envelope = "#/components/schemas/ErrorEnvelope"
    operations = {
        f"{method.upper()} {path}": operation
        for path, methods in schema["paths"].items()
        if path.startswith(("/api/v2/agents", "/api/v2/customers"))
        for method, operation in methods.items()
    }
    assert sorted(operations) == [
        "GET /api/v2/agents",
        "GET /api/v2/agents/{agentId}",
        "GET /api/v2/customers",
        "GET /api/v2/customers/{customerId}",
        "PATCH /api/v2/agents/{agentId}",
        "PATCH /api/v2/customers/{customerId}",
    ]
    for name, operation in operations.items():
        assert operation.get("summary"), name
        assert operation.get("description"), name
        for status in ("401", "404", "422", "429"):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"]["$ref"] == envelope, (name, status)
    assert set(operations["PATCH /api/v2/agents/{agentId}"]["responses"]) >= {"403", "409"}
    for body in ("AgentEdit", "CustomerEdit", "EditBody"):
        assert schema["components"]["schemas"][body]["additionalProperties"] is False, body
