"""The embedded default at 100,000 tickets: mongoeco's SQLite and memory engines side by
side, each as `tickets up` starts it (a wire server in its own process).

For each engine, the ticket service runs against the wire server (in this process, its
indexes made at start); one ticket is created through `tickets.v1.create` and copied
raw (`insert_many`, batches of 200, new `_id`, `ticketId`, customer, status, priority
and creation time each) up to 1,000, then up to 100,000 tickets. At 1,000 and at 100,000:
- creates through `tickets.v1.create` (20 in a row, new customers), creates/s;
- get (`tickets.v1.get` by ticketId), median ms;
- list (`tickets.v1.list`, first page of 20 newest; and the open tickets of one
  priority), median ms;
- the wire server's resident memory (RSS) and, for SQLite, the file's size.
The copies go in at the engine's bulk insert rate, shown too. Each figure at 100,000 is
shown against the same at 1,000 (the floor): how the engine grows with the data.

    .venv/bin/python -m bench.bench_embedded [--tickets 100000]    # or python -m bench --big
"""

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from bench.suite import Result
from contracts.actors import CustomerActor, SystemActor
from contracts.client import TicketsClient
from contracts.commands import CreateTicket, CustomerByPhone, GetTicket, ListTickets
from contracts.enums import Priority, Source, TicketStatus
from infra.logging import configure_logging
from infra.mongo import EmbeddedMongo, connect
from infra.runtime import Runtime
from infra.settings import Settings
from services.ticket_service.main import TicketService
from tests.support.infra import rabbit_vhost

NEEDS_BIG = True
SMALL = 1_000
BATCH = 200
DATABASE = "bench_embedded"
STATUSES = [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.CLOSED]


@dataclass
class Figures:
    """One engine at one size."""

    creates_per_second: float = 0.0
    get_ms: float = 0.0
    list_ms: float = 0.0
    filtered_list_ms: float = 0.0
    rss_mb: float = 0.0
    file_mb: float = 0.0


@dataclass
class Engine:
    name: str
    small: Figures = field(default_factory=Figures)
    large: Figures = field(default_factory=Figures)
    inserts_per_second: float = 0.0
    tickets: int = 0


def _progress(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _server_pid() -> int:
    """The embedded wire server: our child running `infra.embedded_mongo`."""
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"infra.embedded_mongo" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise RuntimeError("the embedded wire server is not our child")


def _file_mb(file: Path | None) -> float:
    """The SQLite file with its write-ahead log."""
    if file is None:
        return 0.0
    parts = [file, file.with_name(file.name + "-wal")]
    return sum(part.stat().st_size for part in parts if part.exists()) / 2**20


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _median_ms(call: Callable[[int], Awaitable[object]], times: int) -> float:
    samples = []
    for i in range(times):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _create(i: int, tag: str) -> CreateTicket:
    phone = f"+3461{abs(hash(tag)) % 100:02d}{i:05d}"
    return CreateTicket(
        actor=CustomerActor(phone=phone),
        title="Order not delivered",
        description="My order #12345 has not arrived after two weeks.",
        source=Source.AI,
        customer=CustomerByPhone(phone=phone),
        idempotency_key=f"embedded-{tag}-{i}",
    )


class Copier:
    """Raw copies of one real ticket document."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = {k: v for k, v in template.items() if k not in ("_id", "outbox")}
        self.template.pop("idempotencyKey", None)
        self.random = random.Random(7)
        self.start = datetime(2025, 1, 1, tzinfo=UTC)

    def copy(self, i: int) -> dict[str, Any]:
        created = self.start + timedelta(minutes=5 * i)
        return {
            **self.template,
            "_id": ObjectId(),
            "ticketId": f"TICKET-2025-{i:06d}",
            "customerId": str(ObjectId()),
            "status": self.random.choice(STATUSES).value,
            "priority": self.random.choice(list(Priority)).value,
            "createdAt": created,
            "updatedAt": created,
        }


async def _fill(tickets: Any, copier: Copier, start: int, stop: int) -> float:
    """Copies `start..stop`; the engine's insert rate in documents per second."""
    started = time.perf_counter()
    for first in range(start, stop, BATCH):
        await tickets.insert_many([copier.copy(i) for i in range(first, min(stop, first + BATCH))])
    return (stop - start) / max(time.perf_counter() - started, 1e-9)


async def _figures(client: TicketsClient, size: int, pid: int, file: Path | None) -> Figures:
    system = SystemActor()
    tag = uuid.uuid4().hex[:6]
    started = time.perf_counter()
    for i in range(20):
        await client.create(_create(i, tag))
    creates = 20 / (time.perf_counter() - started)
    _progress(f"creates {creates:.1f}/s")
    ids = [f"TICKET-2025-{(size * k) // 7:06d}" for k in range(1, 7)]

    async def get(i: int) -> None:
        await client.get(GetTicket(actor=system, ticket_id=ids[i % len(ids)]))

    async def newest(_: int) -> None:
        await client.list(ListTickets(actor=system))

    async def filtered(_: int) -> None:
        await client.list(ListTickets(actor=system, priority=[Priority.URGENT], open_only=True))

    return Figures(
        creates_per_second=creates,
        get_ms=await _median_ms(get, 12),
        list_ms=await _median_ms(newest, 5),
        filtered_list_ms=await _median_ms(filtered, 5),
        rss_mb=_rss_mb(pid),
        file_mb=_file_mb(file),
    )


async def measure_engine(name: str, tickets: int, rabbit_url: str) -> Engine:
    engine = Engine(name, tickets=tickets)
    with tempfile.TemporaryDirectory() as directory:
        file = Path(directory) / "mongo.sqlite" if name == "sqlite" else None
        server = EmbeddedMongo(sqlite_path=file)
        url = await server.start(timeout=60)
        pid = _server_pid()
        settings = Settings(
            mongodb_url=url,
            rabbitmq_url=rabbit_url,
            mongodb_database=DATABASE,
            relay_sweep_seconds=3600,
            log_level="WARNING",
        )
        runtime = Runtime(settings, [TicketService()])
        await runtime.start()
        mongo = connect(url)
        try:
            async with TicketsClient(rabbit_url, timeout=600) as client:
                await client.create(_create(0, "template"))
                template = await mongo[DATABASE]["tickets"].find_one({})
                assert template is not None
                copier = Copier(template)
                collection = mongo[DATABASE]["tickets"]
                _progress(f"{name}: copying up to {SMALL:,}")
                await _fill(collection, copier, 0, SMALL)
                _progress(f"{name}: measuring at {SMALL:,}")
                engine.small = await _figures(client, SMALL, pid, file)
                _progress(f"{name}: copying up to {tickets:,}")
                engine.inserts_per_second = await _fill(collection, copier, SMALL, tickets)
                _progress(f"{name}: measuring at {tickets:,}")
                engine.large = await _figures(client, tickets, pid, file)
        finally:
            await mongo.close()
            await runtime.stop()
            await server.stop()
    return engine


async def measure(tickets: int, engines: tuple[str, ...] = ("sqlite", "memory")) -> list[Engine]:
    async with rabbit_vhost() as rabbit_url:
        return [await measure_engine(name, tickets, rabbit_url) for name in engines]


def results(engines: list[Engine]) -> list[Result]:
    rows = []
    for engine in engines:
        size = f"{engine.tickets:,}"
        at = f"{engine.name} engine"
        floor = f"the same at {SMALL:,} tickets"
        for what, unit, small, large in (
            (
                "creates/s (20 in a row)",
                "/s",
                engine.small.creates_per_second,
                engine.large.creates_per_second,
            ),
            ("get by ticketId", "ms", engine.small.get_ms, engine.large.get_ms),
            ("list, newest 20", "ms", engine.small.list_ms, engine.large.list_ms),
            (
                "list, open urgent",
                "ms",
                engine.small.filtered_list_ms,
                engine.large.filtered_list_ms,
            ),
            ("wire server RSS", "MB", engine.small.rss_mb, engine.large.rss_mb),
        ):
            rows.append(Result(f"{at}, {size} tickets: {what}", small, large, unit, floor))
        rows.append(
            Result(
                f"{at}: bulk insert of the copies",
                engine.inserts_per_second,
                engine.inserts_per_second,
                "docs/s",
                "the same figure (shown for the rate)",
            )
        )
        if engine.name == "sqlite":
            rows.append(
                Result(
                    f"{at}, {size} tickets: SQLite file",
                    engine.small.file_mb,
                    engine.large.file_mb,
                    "MB",
                    floor,
                )
            )
    return rows


async def run(quick: bool) -> list[Result]:
    """`python -m bench --big`: 100,000 tickets (quick: 5,000)."""
    return results(await measure(5_000 if quick else 100_000))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "memory"), action="append")
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    engines = tuple(args.engine or ("sqlite", "memory"))
    for row in results(asyncio.run(measure(args.tickets, engines))):
        figures = f"{row.floor:,.1f} -> {row.project:,.1f} {row.unit}"
        print(f"{row.measurement}: {figures} ({row.ratio:.2f}x)")


if __name__ == "__main__":
    os.environ.setdefault("TICKETS_LOG_LEVEL", "WARNING")
    main()
