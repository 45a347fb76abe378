"""The demo's movable clock over a real ASGI client (real broker, Mongo wire server): only
an admin or an API key moves it, only forward, and every service of the process sees the
later time; a process without `--demo` has no such route."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest

from contracts.enums import AgentRole
from infra.clock import OffsetClock
from infra.runtime import Runtime
from infra.settings import Settings
from services.ticket_service.main import TicketService
from tests.integration.test_openapi_document import typed
from tests.support.api import (
    SERVICE,
    api_client,
    api_settings,
    bearer,
    new_ticket,
    served_app,
)
from tests.support.factories import make_agent
from tests.support.system import Endpoints
from tickets.demo.clock_api import PATH, demo_clock_router

pytestmark = pytest.mark.integration


@asynccontextmanager
async def demo_process(
    settings: Settings,
) -> AsyncIterator[tuple[httpx.AsyncClient, OffsetClock]]:
    """The ticket service as `tickets up --demo` serves it: the movable clock and its route."""
    clock = OffsetClock()
    runtime = Runtime(settings, [TicketService()], clock, demo=True)
    async with served_app(runtime, [demo_clock_router(clock)]) as api:
        yield api, clock


def data(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()["data"]
    return body


async def test_an_admin_or_a_key_moves_the_clock_forward_and_the_services_see_it(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with demo_process(settings) as (api, _):
        admin = bearer(settings, await make_agent("Root", AgentRole.ADMIN), AgentRole.ADMIN)
        agent = bearer(settings, await make_agent("Ana"))
        before = data(await api.get(PATH, headers=agent))
        by_admin = data(await api.post(PATH, json={"advanceSeconds": 3600}, headers=admin))
        by_key = data(await api.post(PATH, json={"advanceSeconds": 86400}, headers=SERVICE))
        created = await api.post("/api/v2/tickets", json=new_ticket(), headers=SERVICE)
    assert before["offsetSeconds"] == 0
    assert by_admin["offsetSeconds"] == 3600
    assert by_key["offsetSeconds"] == 3600 + 86400
    assert datetime.fromisoformat(by_key["now"]) - datetime.now(UTC) > timedelta(hours=24)
    # the ticket service of the same process stamps the later time
    assert created.status_code == 201, created.text
    stamped = datetime.fromisoformat(created.json()["data"]["createdAt"])
    assert stamped - datetime.now(UTC) > timedelta(hours=24)


async def test_the_clock_refuses_agents_bad_bodies_and_strangers(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with demo_process(settings) as (api, clock):
        agent = bearer(settings, await make_agent("Ana"))
        by_agent = await api.post(PATH, json={"advanceSeconds": 60}, headers=agent)
        anonymous = await api.post(PATH, json={"advanceSeconds": 60})
        bad = [
            await api.post(PATH, json=body, headers=SERVICE)
            for body in (
                {"advanceSeconds": 0},
                {"advanceSeconds": -60},
                {"advanceSeconds": "soon"},
                {"advanceSeconds": 10**9},
                {"advanceSeconds": 60, "rewind": True},
                {},
            )
        ]
        not_json = await api.post(PATH, content=b"{advance", headers=SERVICE)
    assert by_agent.status_code == 403
    assert by_agent.json()["code"] == "forbidden"
    assert anonymous.status_code == 401
    for answer in [*bad, not_json]:
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "validation"
    assert clock.offset == timedelta(0)


async def test_without_demo_mode_there_is_no_clock_to_move(
    endpoints: Endpoints, database: str
) -> None:
    async with api_client(api_settings(endpoints, database)) as api:
        moved = await api.post(PATH, json={"advanceSeconds": 86400}, headers=SERVICE)
        read = await api.get(PATH, headers=SERVICE)
    assert moved.status_code == 404
    assert read.status_code == 404


async def test_the_clock_is_declared_like_every_other_operation(
    endpoints: Endpoints, database: str
) -> None:
    async with demo_process(api_settings(endpoints, database)) as (api, _):
        document = (await api.get("/openapi.json")).json()
        answered = await api.post(PATH, json={"advanceSeconds": 60}, headers=SERVICE)
    item = document["paths"][PATH]
    assert {item["get"]["operationId"], item["post"]["operationId"]} == {
        "readClock",
        "advanceClock",
    }
    for operation in (item["get"], item["post"]):
        assert operation["security"] == [{"agentToken": []}, {"apiKey": ["tickets"]}]
        assert typed(operation["responses"]["200"])
        for status in ("401", "429", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}
    post = item["post"]
    assert {"403", "413", "422"} <= set(post["responses"])
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["advanceSeconds"]
    reading = document["components"]["schemas"]["ClockReading"]
    jsonschema.validate(answered.json()["data"], reading)
