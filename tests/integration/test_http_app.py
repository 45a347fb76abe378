"""The shared HTTP app: ops routes and the envelope for unknown paths and methods."""

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from infra.http import build_app
from infra.runtime import Runtime
from services.ticket_service.main import TicketService
from tests.support.system import Endpoints, settings_for

pytestmark = pytest.mark.integration

KEY = "http-app-test-key-of-32-bytes-or-more"


@pytest.fixture
async def http(endpoints: Endpoints, database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(endpoints, database, api_keys=KEY)
    app = build_app(Runtime(settings, [TicketService()]))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_health_metrics_and_asyncapi(http: httpx.AsyncClient) -> None:
    health = (await http.get("/healthz")).json()
    assert health == {"ok": True, "services": ["ticket_service"]}
    metrics = await http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "python_info" in metrics.text
    asyncapi = (await http.get("/asyncapi.json")).json()
    assert "tickets.v1.create" in asyncapi["channels"]


async def test_unknown_paths_and_methods_answer_in_the_envelope(http: httpx.AsyncClient) -> None:
    unauthenticated = await http.get("/api/v2/nothing-here")
    assert unauthenticated.status_code == 401  # nothing under /api/ answers a stranger
    missing = await http.get("/api/v2/nothing-here", headers={"X-API-Key": KEY})
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": "Not Found", "code": "not_found"}
    wrong = await http.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]


async def test_oversized_bodies_are_refused_before_any_route_reads_them(
    http: httpx.AsyncClient,
) -> None:
    big = b"{" + b" " * (1_048_576 + 1) + b"}"
    declared = await http.post(
        "/api/v2/tickets", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    streamed = await http.post("/api/v2/tickets", content=chunks())
    assert streamed.status_code == 413
    small = await http.post("/api/v2/tickets", json={"title": "x"})
    assert small.status_code == 401  # normal handling below the limit

    async def small_chunks() -> AsyncIterator[bytes]:
        yield b'{"title": '
        yield b'"x"}'

    replayed = await http.post(
        "/api/v2/tickets",
        content=small_chunks(),
        headers={"x-api-key": KEY, "content-type": "application/json"},
    )
    assert replayed.status_code == 422  # the streamed body reached the route, field by field
    assert "description" in replayed.text
