"""`tickets up` as a user runs it: embedded Mongo over SQLite, data kept across restarts."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from contracts import names
from tests.support.factories import SYSTEM, create_body
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration

TICKETS = Path(sys.executable).with_name("tickets")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def tickets_up(data_dir: Path, rabbit_url: str) -> AsyncIterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "RABBITMQ_URL": rabbit_url,
        "TICKETS_DATA_DIR": str(data_dir),
        "TICKETS_JWT_SECRET": "e2e-secret",
        "TICKETS_LOG_LEVEL": "WARNING",
    }
    env.pop("MONGODB_URL", None)
    process = await asyncio.create_subprocess_exec(
        str(TICKETS), "up", "--port", str(port), env=env, stdout=asyncio.subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert f"listening on {base}" in banner
        await _wait_healthy(base)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)


async def _wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{base}/healthz")).json().get("ok"):
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("tickets up never became healthy")


async def test_tickets_up_serves_and_keeps_data_across_a_restart(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    if os.environ.get("MONGODB_URL"):
        pytest.skip("this test is about the embedded default")
    async with (
        tickets_up(tmp_path, endpoints.rabbit_url),
        client(endpoints.rabbit_url) as (
            caller,
            _,
        ),
    ):
        created = await caller.ok(names.CREATE, create_body())
    assert (tmp_path / "mongo.sqlite").exists()
    async with (
        tickets_up(tmp_path, endpoints.rabbit_url) as base,
        client(endpoints.rabbit_url) as (caller, _),
    ):
        again = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": created["ticketId"]})
        next_one = await caller.ok(names.CREATE, create_body())
        async with httpx.AsyncClient() as http:
            metrics = await http.get(f"{base}/metrics")
    assert again["title"] == created["title"]
    assert next_one["ticketId"].endswith("000002")
    assert metrics.status_code == 200
