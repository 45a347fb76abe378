"""`tickets up` as a user runs it: embedded Mongo over SQLite, data kept across restarts."""

import os
from pathlib import Path

import pytest

from contracts import names
from tests.support.cli import clean_env, get, tickets_running
from tests.support.factories import SYSTEM, create_body
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration


async def test_tickets_up_serves_and_keeps_data_across_a_restart(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    if os.environ.get("MONGODB_URL"):
        pytest.skip("this test is about the embedded default")
    env = clean_env(
        RABBITMQ_URL=endpoints.rabbit_url,
        TICKETS_DATA_DIR=str(tmp_path),
        TICKETS_JWT_SECRET="e2e-secret-of-the-tickets-up-test-0123",
    )
    async with tickets_running("up", env=env), client(endpoints.rabbit_url) as (caller, _):
        created = await caller.ok(names.CREATE, create_body())
    assert (tmp_path / "mongo.sqlite").exists()
    async with (
        tickets_running("up", env=env) as running,
        client(endpoints.rabbit_url) as (caller, _),
    ):
        again = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": created["ticketId"]})
        next_one = await caller.ok(names.CREATE, create_body())
        metrics = await get(f"{running.base}/metrics")
    assert again["title"] == created["title"]
    assert next_one["ticketId"].endswith("000002")
    assert metrics.status_code == 200
