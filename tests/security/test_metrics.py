"""Finding: `/metrics` was open to anyone who could reach the port. With
`TICKETS_METRICS_TOKEN` it wants that bearer token."""

import pytest

from tests.support.api import api_client, api_settings
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

TOKEN = "metrics-token-for-prometheus-0123456789"


async def test_metrics_want_the_token_when_one_is_set(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database, metrics_token=TOKEN)
    async with api_client(settings) as api:
        answers = [
            await api.get("/metrics", headers=headers)
            for headers in (
                {},
                {"Authorization": "Bearer wrong"},
                {"Authorization": f"Basic {TOKEN}"},
                {b"Authorization": b"Bearer \xe9"},
                {"Authorization": f"Bearer {TOKEN}"},
            )
        ]
        health = await api.get("/healthz")
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 200]
    assert answers[0].json()["code"] == "unauthorized"
    assert "python_info" in answers[-1].text
    assert health.status_code == 200  # liveness stays open for the orchestrator
