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


@pytest.fixture
async def http(endpoints: Endpoints, database: str) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Runtime(settings_for(endpoints, database), [TicketService()]))
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
    missing = await http.get("/api/v2/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": "Not Found", "code": "not_found"}
    wrong = await http.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["allow"]
