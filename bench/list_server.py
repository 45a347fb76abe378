"""The list benchmark's wire server: a mongoeco memory engine seeded in this process, then
served over the wire, as `tickets up` serves it (its own process).

Seeding goes through the engine directly: over the wire, mongoeco's memory engine inserts
one document at a time and checks each `_id` against every stored document, so 10,000
tickets would take minutes (docs/performance.md, creates per second); in process its
`insert_many` takes about 2 s per 1,000 with the service's indexes. What is measured is
only read over the wire.

    python -m bench.list_server --tickets 1000 10000      # prints READY <uri>

Each size is its own database `bench_list_<size>`: the ticket service's indexes, one
admin agent (`ADMIN_ID`), that many tickets of the shape the service stores, and their
statistics rollups.
"""

import argparse
import asyncio
import random
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from bench.bench_create import ticket_template
from contracts.enums import PRIORITY_ORDER, Category, Priority
from infra.clock import SystemClock
from services.ticket_service.documents import TicketDocument
from services.ticket_service.rollup_writer import RollupWriter

ADMIN_ID = "6650f0000000000000000001"
START = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 500
STATUSES = ["new", "open", "in_progress", "pending_customer", "resolved", "closed", "cancelled"]
AGENTS = [None, *(f"6650f00000000000000001{n:02x}" for n in range(5))]


def database_name(size: int) -> str:
    return f"bench_list_{size}"


def _template() -> dict[str, Any]:
    """A stored ticket as the service writes it (its create's document), created at START."""
    document = ticket_template(START)
    document.pop("idempotencyKey", None)
    return document


def tickets(template: dict[str, Any], first: int, stop: int, rng: random.Random) -> list[Any]:
    """Tickets `first..stop`, one every 5 minutes; status, priority, category, customer
    and assignee drawn at random; the outbox published (empty), as it is at rest."""
    batch = []
    for number in range(first, stop):
        created = START + timedelta(minutes=5 * number)
        priority = rng.choice(list(Priority))
        batch.append(
            {
                **template,
                "_id": ObjectId(),
                "ticketId": f"TICKET-2026-{number + 1:06d}",
                "creationKey": f"create:bench:{number}",
                "customerId": f"{rng.randrange(500):024x}",
                "status": rng.choice(STATUSES),
                "priority": str(priority),
                "priorityRank": PRIORITY_ORDER.index(priority),
                "category": str(rng.choice(list(Category))),
                "assignedAgent": rng.choice(AGENTS),
                "createdAt": created,
                "updatedAt": created + timedelta(minutes=rng.randrange(600)),
                "outbox": [],
            }
        )
    return batch


async def seed(client: Any, size: int) -> None:
    database = client[database_name(size)]
    await database["tickets"].create_indexes(TicketDocument.Settings.indexes)
    admin = {"name": "Olga", "email": "olga@example.com", "role": "admin", "isActive": True}
    await database["agents"].insert_one({"_id": ObjectId(ADMIN_ID), **admin, "createdAt": START})
    template, rng = _template(), random.Random(size)
    for first in range(0, size, BATCH):
        await database["tickets"].insert_many(
            tickets(template, first, min(size, first + BATCH), rng)
        )
    # the statistics rollups built, as on a database the service has run on: else its
    # first start rebuilds them over the wire, one insert at a time, while it is measured
    writer = RollupWriter(database, database["tickets"], SystemClock())
    await writer.ensure_indexes()
    assert await writer.rebuild() == size


async def serve(sizes: list[int]) -> None:
    from mongoeco import AsyncMongoClient  # noqa: PLC0415 - the benchmark's server only
    from mongoeco.engines.memory import MemoryEngine  # noqa: PLC0415
    from mongoeco.wire import AsyncMongoEcoProxyServer  # noqa: PLC0415

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    engine = MemoryEngine()
    # the client stays open while serving: the memory engine drops its data when the last
    # connection to it closes
    async with AsyncMongoClient(engine) as client:
        for size in sizes:
            await seed(client, size)
        async with AsyncMongoEcoProxyServer(engine=engine, host="127.0.0.1", port=0) as server:
            sys.stdout.write(f"READY {server.address.uri}\n")
            sys.stdout.flush()
            await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, nargs="+", required=True)
    asyncio.run(serve(parser.parse_args().tickets))


if __name__ == "__main__":
    main()
