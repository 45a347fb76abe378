"""`tickets.v1.create` throughput (creates/s) against a raw-driver floor on the same engine
of the embedded Mongo wire server (mongoeco: SQLite, the default, and memory).

Project: one ticket service in this process; `--creates` customers' own creates (five per
customer, each with an idempotencyKey) sent `--concurrency` at a time over the real
`tickets.v1.create` queue, each answered with its ticket.

Floor, measured in the same run on a fresh server of the same engine: the same number of
creates, `--concurrency` at a time, each sending as many plain PyMongo commands of the same
kinds as the project's create sends (the `a customer's next ticket` row of
docs/performance.md, counted by tests/integration/test_round_trips.py): the customer's
upsert, a query of their open tickets, the year counter's `$inc`, the insert of a ticket
document of the project's size (the same upsert by ticketId, `infra.mongo.insert_keyed`),
and the outbox update. A second floor does two commands
(counter + insert), the least a numbered ticket needs. No broker, no validation, no
pipelines: what is left over the floor is the project's own work (parsing, the pure
domain, the relay's publish) and the cost of its conditional updates in the engine.

CPU seconds of this process and of the wire server during each phase say where the
time goes (the server runs in its own process; this process holds the service, the
client and the broker client).

    .venv/bin/python -m bench.bench_create [--engine sqlite|memory|both] [--creates 600]

`python -m bench` runs it through `run(quick)` (quick: the memory engine, 100 creates).
"""

import argparse
import asyncio
import os
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.suite import Result
from contracts import names
from contracts.client import RequestReplyClient
from contracts.enums import ActorType, Category, Channel, Priority, Source
from contracts.sla import SlaPolicy
from infra.logging import configure_logging
from infra.mongo import EmbeddedMongo, MongoClient, connect, insert_keyed
from infra.runtime import Runtime
from infra.settings import Settings
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.model import ActorRef
from services.ticket_service.main import TicketService
from services.ticket_service.repository import outbox_entries
from tests.support.infra import rabbit_vhost

PERFORMANCE = Path(__file__).parents[1] / "docs" / "performance.md"
PER_CUSTOMER = 5
CREATE = {
    "title": "Order not delivered",
    "description": "My order #12345 has not arrived after two weeks.",
    "source": "ai",
}


@dataclass(frozen=True)
class Phase:
    creates: int
    seconds: float
    own_cpu: float
    server_cpu: float

    @property
    def per_second(self) -> float:
        return self.creates / self.seconds


@dataclass(frozen=True)
class Results:
    engine: str
    ops_documented: int
    floor_ops: int
    floor: Phase
    two_ops: Phase
    project: Phase

    @property
    def ratio(self) -> float:
        return self.floor.per_second / self.project.per_second


def documented_ops() -> int:
    """The round trips of a customer's create, as docs/performance.md states them."""
    text = PERFORMANCE.read_text(encoding="utf-8")
    found = re.search(r"\| `tickets\.v1\.create` \| a customer's next ticket \| (\d+) \|", text)
    assert found, f"no create row in {PERFORMANCE}"
    return int(found[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def embedded(engine: str) -> AsyncIterator[tuple[str, int]]:
    """A fresh wire server on `engine`: its URL and process id."""
    with tempfile.TemporaryDirectory(prefix="bench-create-") as folder:
        path = Path(folder) / "bench.sqlite" if engine == "sqlite" else None
        server = EmbeddedMongo(sqlite_path=path)
        url = await server.start()
        process = server._process  # the bench reads the server's CPU time
        try:
            yield url, process.pid if process else 0
        finally:
            await server.stop()


async def _phase(
    work: Callable[[int], Awaitable[None]], creates: int, concurrency: int, server_pid: int
) -> Phase:
    """`creates` calls of `work`, `concurrency` at a time, after a warm-up of 20."""
    await asyncio.gather(*(work(1_000_000 + i) for i in range(20)))
    numbers = iter(range(creates))

    async def worker() -> None:
        for i in numbers:
            await work(i)

    own, server, start = time.process_time(), _cpu_seconds(server_pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return Phase(
        creates=creates,
        seconds=seconds,
        own_cpu=time.process_time() - own,
        server_cpu=_cpu_seconds(server_pid) - server,
    )


def ticket_template(now: datetime) -> dict[str, Any]:
    """A stored ticket of the project's shape and size (without its ids), as the service's
    create writes it at `now`; bench.list_server seeds its tickets from it too."""
    data = ops.NewTicket(
        ticket_id="TICKET-2026-000000",
        title=CREATE["title"],
        description=CREATE["description"],
        customer_id="0" * 24,
        category=Category.SUPPORT,
        priority=Priority.MEDIUM,
        source=Source.AI,
        channel=Channel.WHATSAPP,
        conversation_id=None,
        idempotency_key=None,
    )
    change = ops.open_ticket(data, ActorRef(ActorType.CUSTOMER, "0" * 24), now, SlaPolicy())
    document = change.ticket.model_dump(by_alias=True)
    document["outbox"] = outbox_entries(change.events, now)
    return document


def _phone(i: int) -> str:
    return f"+3479{i // PER_CUSTOMER:08d}"


async def _floor(
    mongo: MongoClient, database: str, *, two_only: bool
) -> Callable[[int], Awaitable[None]]:
    db = mongo[database]
    await db["tickets"].create_index("ticketId", unique=True)
    await db["tickets"].create_index([("customerId", 1), ("status", 1)])
    await db["customers"].create_index("phoneNumber", unique=True)
    await db["counters"].create_index("year", unique=True)
    template = ticket_template(datetime.now(UTC))

    async def create(i: int) -> None:
        now, ticket_id = datetime.now(UTC), f"T-{uuid.uuid4().hex}"
        customer_id = "0" * 24
        if not two_only:
            customer = await db["customers"].find_one_and_update(
                {"phoneNumber": _phone(i)},
                {
                    "$setOnInsert": {"createdAt": now},
                    "$push": {"ticketCreations": {"key": ticket_id, "at": now}},
                },
                upsert=True,
            )
            customer_id = str(customer["_id"]) if customer else customer_id
            await (
                db["tickets"]
                .find(
                    {"customerId": customer_id, "status": {"$in": ["new", "open"]}},
                    {"status": 1},
                )
                .to_list()
            )
        await db["counters"].find_one_and_update(
            {"year": now.year}, {"$inc": {"lastSequence": 1}}, upsert=True
        )
        ticket = {**template, "ticketId": ticket_id, "customerId": customer_id}
        await insert_keyed(db["tickets"], {"ticketId": ticket_id}, ticket)
        if not two_only:
            await db["tickets"].update_one({"ticketId": ticket_id}, {"$set": {"outbox": []}})

    return create


FLOOR_OPS = 5
"""Commands per create of the full floor above."""


@asynccontextmanager
async def _project(
    rabbit_url: str, mongo_url: str, run: str
) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
    settings = Settings(
        mongodb_url=mongo_url,
        rabbitmq_url=rabbit_url,
        mongodb_database=f"{run}_project",
        relay_sweep_seconds=3600,
        log_level="WARNING",
    )
    runtime = Runtime(settings, [TicketService()])
    await runtime.start()
    try:
        async with RequestReplyClient(rabbit_url, timeout=60) as requests:

            async def create(i: int) -> None:
                body = {
                    **CREATE,
                    "actor": {"type": "Customer", "phone": _phone(i)},
                    "customer": {"phone": _phone(i)},
                    "idempotencyKey": f"bench-{run}-{i}",
                }
                reply = await requests.request(names.CREATE, body)
                if not reply["ok"]:
                    raise RuntimeError(f"create failed: {reply}")

            yield create
    finally:
        await runtime.stop()


async def measure(engine: str, rabbit_url: str, creates: int, concurrency: int) -> Results:
    run = f"bench_{uuid.uuid4().hex[:8]}"
    async with embedded(engine) as (mongo_url, pid):
        mongo = connect(mongo_url)
        try:
            floor_work = await _floor(mongo, f"{run}_floor", two_only=False)
            floor = await _phase(floor_work, creates, concurrency, pid)
            two_work = await _floor(mongo, f"{run}_two", two_only=True)
            two_ops = await _phase(two_work, creates, concurrency, pid)
        finally:
            await mongo.close()
    async with (
        embedded(engine) as (mongo_url, pid),
        _project(rabbit_url, mongo_url, run) as project_work,
    ):
        project = await _phase(project_work, creates, concurrency, pid)
    return Results(engine, documented_ops(), FLOOR_OPS, floor, two_ops, project)


def report(results: Results) -> str:
    def line(name: str, phase: Phase) -> str:
        return (
            f"  {name:<38} {phase.per_second:8.1f} creates/s   "
            f"cpu: this process {phase.own_cpu:6.1f} s, wire server {phase.server_cpu:6.1f} s"
            f" (of {phase.seconds:.1f} s)"
        )

    return "\n".join(
        [
            f"tickets.v1.create on mongoeco {results.engine}, {results.project.creates} creates",
            f"  a customer's create: {results.ops_documented} round trips "
            f"(docs/performance.md); floor: {results.floor_ops} raw commands",
            line(f"floor: {results.floor_ops} raw commands", results.floor),
            line("floor: 2 raw commands (counter+insert)", results.two_ops),
            line("project over the queue", results.project),
            f"  ratio floor / project                  {results.ratio:8.2f}x",
        ]
    )


def results(measured: Results) -> list[Result]:
    """For the suite: the project against the floor of as many commands, and (for
    information) against the two-command floor."""
    engine = f"mongoeco {measured.engine}"
    return [
        Result(
            f"creates/s, customers' creates ({engine})",
            measured.floor.per_second,
            measured.project.per_second,
            "/s",
            f"{measured.floor_ops} raw PyMongo commands per create, same kinds, same concurrency",
            note=f"{measured.ops_documented} round trips per create (docs/performance.md); "
            f"wire server CPU {measured.project.server_cpu:.1f} s of "
            f"{measured.project.seconds:.1f} s",
        ),
        Result(
            f"creates/s vs counter + insert only ({engine})",
            measured.two_ops.per_second,
            measured.project.per_second,
            "/s",
            "2 raw PyMongo commands per create (counter, insert)",
        ),
    ]


async def run(quick: bool) -> list[Result]:
    """The suite's entry: both engines, 600 creates (quick: memory, 100)."""
    engines, creates = (["memory"], 100) if quick else (["sqlite", "memory"], 600)
    found: list[Result] = []
    async with rabbit_vhost() as rabbit_url:
        for engine in engines:
            found += results(await measure(engine, rabbit_url, creates, 16))
    return found


async def _main(engines: list[str], creates: int, concurrency: int) -> None:
    configure_logging("WARNING")
    async with rabbit_vhost() as rabbit_url:
        for engine in engines:
            print(report(await measure(engine, rabbit_url, creates, concurrency)), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engine", choices=["sqlite", "memory", "both"], default="both")
    parser.add_argument("--creates", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    engines = ["sqlite", "memory"] if args.engine == "both" else [args.engine]
    asyncio.run(_main(engines, args.creates, args.concurrency))


if __name__ == "__main__":
    main()
