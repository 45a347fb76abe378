"""Schemathesis against the app's own OpenAPI schema: no generated request gets a 5xx.

Cases come from schemathesis' Hypothesis strategies (valid and invalid data, for every
`/api/v2/tickets` operation, with an admin token so they get past authentication, and
again against a real ticket id); each is sent through the ASGI app of a running service,
and the test checks that every case got past authentication and every handler really ran.
Bounded: a fixed number of examples per operation and mode, no Hypothesis database.
"""

from typing import Any

import httpx
import pytest
import schemathesis

from contracts.enums import AgentRole
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import make_agent
from tests.support.fuzz import EXAMPLES_PER_OPERATION, as_httpx, generate
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

OURS = (
    r"^(/api/v2/tickets(/statistics|/agent/\{agentId\}|/customer/\{customerId\}"
    r"|/\{ticketId\}(/assign|/unassign|/status|/notes)?)?"
    r"|/api/v2/customers(/\{customerId\})?|/api/v2/agents(/\{agentId\})?)$"
)


async def test_generated_requests_never_get_a_server_error(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database, api_requests_per_minute=100_000)
    async with api_client(settings) as api:
        boss = await make_agent("Boss", AgentRole.ADMIN)
        # An empty X-API-Key counts as absent, so the admin's token decides who calls.
        headers = {**bearer(settings, boss, AgentRole.ADMIN), "X-API-Key": ""}
        ticket = (await api.post("/api/v2/tickets", json=new_ticket(), headers=SERVICE)).json()
        raw = (await api.get("/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(raw).include(path_regex=OURS)
        results: list[Any] = list(schema.get_all_operations())
        operations = [result.ok() for result in results]
        plans = [
            (operation, mode, fixed)
            for operation in operations
            for mode, fixed in (
                (schemathesis.GenerationMode.POSITIVE, {}),
                (schemathesis.GenerationMode.NEGATIVE, {}),
                (schemathesis.GenerationMode.POSITIVE, {"ticketId": ticket["data"]["ticketId"]}),
            )
            if not fixed or "{ticketId}" in operation.path
        ]
        server_errors: list[str] = []
        statuses: dict[str, set[int]] = {}
        sent = 0
        for operation, mode, fixed in plans:
            strategy = operation.as_strategy(
                generation_mode=mode, headers=headers, path_parameters=fixed or None
            )
            for case in generate(strategy):
                response: httpx.Response = await api.request(**as_httpx(case))
                sent += 1
                statuses.setdefault(operation.label, set()).add(response.status_code)
                if response.status_code >= 500:
                    server_errors.append(f"{case.as_curl_command()} -> {response.status_code}")
    assert len(operations) == 17
    assert sent >= 17 * EXAMPLES_PER_OPERATION
    assert server_errors == []
    # The token got every case past authentication, and each operation's handler ran on
    # some case (an answer other than a request validation refusal).
    assert all(401 not in seen for seen in statuses.values()), statuses
    assert {label: seen for label, seen in statuses.items() if not seen - {422}} == {}
    assert {label for label, seen in statuses.items() if 200 in seen} >= {
        "GET /api/v2/tickets",
        "GET /api/v2/tickets/statistics",
        "GET /api/v2/tickets/{ticketId}",
        "PUT /api/v2/tickets/{ticketId}/notes",
    }
