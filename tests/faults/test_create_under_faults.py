"""Creates with idempotency keys while something dies, measured by counts: every request
answered with its own ticket, nothing refused, lost or duplicated, no gap in the numbers,
the customers' counters exact, one creation event per ticket (by eventId).

Two `tickets run ticket_service` processes on a private RabbitMQ virtual host; clients
retry with the same key after a timeout, `internal` or `conflict`, as the README tells
them to. `TICKETS_FAULT_SCALE` scales the load (2.5: the issue's 500 creates over 100
customers); `TICKETS_FAULT_OUTAGE_SECONDS` sets how long the broker is away (15)."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from tests.support.cli import Running, clean_env, free_port, tickets_running
from tests.support.faults import Load, Report, load_size, measure, settle, watching_events
from tests.support.infra import rabbit_vhost
from tests.support.system import Endpoints
from tests.support.tcp_proxy import tcp_proxy

pytestmark = [pytest.mark.integration, pytest.mark.faults]

TEST_BOUND_SECONDS = 420
OUTAGE_SECONDS = float(os.environ.get("TICKETS_FAULT_OUTAGE_SECONDS", "15"))
MONGO_OUTAGE_SECONDS = 10.0


def worker_env(rabbit_url: str, mongo_url: str, database: str) -> dict[str, str]:
    return clean_env(
        RABBITMQ_URL=rabbit_url,
        MONGODB_URL=mongo_url,
        TICKETS_MONGODB_DATABASE=database,
        TICKETS_JWT_SECRET="fault-suite-secret-0123456789abcdef",
        TICKETS_RELAY_SWEEP_SECONDS="1",
        TICKETS_RELAY_GRACE_SECONDS="3",
        TICKETS_IDEMPOTENCY_LEASE_SECONDS="10",
    )


def worker(env: dict[str, str]) -> AbstractAsyncContextManager[Running]:
    return tickets_running("run", "ticket_service", env=env)


Fault = Callable[[Load, list[Running]], Awaitable[None]]
"""What happens a third of the way into the load (the workers as started)."""


async def load_with_fault(
    rabbit: str, env: dict[str, str], mongo_url: str, database: str, fault: Fault
) -> Report:
    """Two workers, the load (its clients on env's RABBITMQ_URL), the fault, the counts."""
    customers, per_customer = load_size()
    async with watching_events(rabbit) as watch, AsyncExitStack() as workers:
        started = [await workers.enter_async_context(worker(env)) for _ in range(2)]
        load = Load(env["RABBITMQ_URL"], customers, per_customer)
        running = asyncio.create_task(load.run())
        await load.wait_answered(load.sent // 3)
        await fault(load, started)
        for _ in [w for w in started if w.process.returncode is not None]:
            await workers.enter_async_context(worker(env))  # what an orchestrator restarts
        await running
        await settle(mongo_url, database, watch)
        return await measure(mongo_url, database, load, watch)


def check(fault: str, report: Report) -> None:
    print(f"{Report.HEADER}\n{report.row(fault)}")  # shown with -s and on failure
    assert report.problems() == {}
    assert report.stored == report.sent


async def test_sigkill_of_a_worker_mid_load(endpoints: Endpoints, database: str) -> None:
    async def kill_one(_: Load, workers: list[Running]) -> None:
        os.killpg(workers[0].process.pid, signal.SIGKILL)
        await workers[0].process.wait()

    async with asyncio.timeout(TEST_BOUND_SECONDS), rabbit_vhost() as rabbit:
        env = worker_env(rabbit, endpoints.mongo_url, database)
        report = await load_with_fault(rabbit, env, endpoints.mongo_url, database, kill_one)
    check("SIGKILL one worker mid-load", report)


async def test_the_broker_away_mid_load_and_back(endpoints: Endpoints, database: str) -> None:
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        rabbit_vhost() as rabbit,
        tcp_proxy(rabbit) as proxy,
    ):

        async def cut_off(_: Load, __: list[Running]) -> None:
            await proxy.cut()  # every connection of the workers and the clients drops
            await asyncio.sleep(OUTAGE_SECONDS)
            proxy.restore()

        env = worker_env(proxy.url_for(rabbit), endpoints.mongo_url, database)
        report = await load_with_fault(rabbit, env, endpoints.mongo_url, database, cut_off)
    check(f"broker away {OUTAGE_SECONDS:g} s mid-load", report)


class MongoProcess:
    """The Mongo wire server over a SQLite file on a fixed port, killed and restarted."""

    def __init__(self, sqlite: Path) -> None:
        self.sqlite = sqlite
        self.port = free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "infra.embedded_mongo",
            "--sqlite",
            str(self.sqlite),
            "--port",
            str(self.port),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), 60)
        assert line.startswith(b"READY "), line

    async def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


@asynccontextmanager
async def mongo_process(sqlite: Path) -> AsyncIterator[MongoProcess]:
    server = MongoProcess(sqlite)
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


async def test_the_mongo_server_killed_mid_load_and_restarted_on_its_file(
    tmp_path: Path,
) -> None:
    database = "faults"
    async with (
        asyncio.timeout(TEST_BOUND_SECONDS),
        rabbit_vhost() as rabbit,
        mongo_process(tmp_path / "mongo.sqlite") as mongo,
    ):

        async def restart(_: Load, __: list[Running]) -> None:
            await mongo.kill()
            await asyncio.sleep(MONGO_OUTAGE_SECONDS)
            await mongo.start()

        env = worker_env(rabbit, mongo.url, database)
        report = await load_with_fault(rabbit, env, mongo.url, database, restart)
    check("Mongo wire server killed and restarted", report)
