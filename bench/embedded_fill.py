"""Fills the embedded database with copies of one real ticket through mongoeco's own bulk
insert (`insert_many` on its API: one engine call per batch), not through the wire server.

Why not through the wire server: its `insert` command inserts the documents of a batch one
by one (`insert_one` each), and on the memory engine every single-document write (insert,
upsert, update by `_id`) compares the new `_id` with every stored document, so filling N
tickets that way costs about N²/2 comparisons (43 copies/s at 1,000-4,000 tickets, hours to
100,000). The engine's batch insert checks `_id` against its own key map instead and keeps
the service's indexes as it goes, at a flat rate.

    python -m bench.embedded_fill --template T.bson --tickets N --first K --sqlite FILE
        adds copies K..N-1 to the SQLite file (no wire server may have it open) and exits,
        printing `FILLED <copies> <seconds>`.
    python -m bench.embedded_fill --template T.bson --tickets N
        a memory engine: the service's ticket indexes, the template database (every
        collection as the service left it after one create), copies 1..N-1; then serves it
        as `infra.embedded_mongo` does (same wire server, same user), printing
        `FILLED <copies> <seconds>`, then `READY <uri>`.

The template file is the BSON of {collection: [documents]} of the service's database after
one ticket was created through `tickets.v1.create` (see `bench_embedded`).
"""

import argparse
import asyncio
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
from bson import ObjectId

from contracts.enums import Priority, TicketStatus
from services.ticket_service.documents import TicketDocument

BATCH = 1_000
STATUSES = [TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.CLOSED]


class Copier:
    """Copies of one real ticket document: new `_id`, `ticketId` (TICKET-2025-<i>),
    customer, status, priority and creation time each; no idempotency key, no outbox."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.template = {k: v for k, v in template.items() if k not in ("_id", "outbox")}
        self.template.pop("idempotencyKey", None)
        self.start = datetime(2025, 1, 1, tzinfo=UTC)

    def copy(self, i: int) -> dict[str, Any]:
        pick = random.Random(i)  # the same copy i whatever the batches
        created = self.start + timedelta(minutes=5 * i)
        return {
            **self.template,
            "_id": ObjectId(),
            "ticketId": f"TICKET-2025-{i:06d}",
            "customerId": str(ObjectId()),
            "status": pick.choice(STATUSES).value,
            "priority": pick.choice(list(Priority)).value,
            "outbox": [],
            "createdAt": created,
            "updatedAt": created,
        }


def read_template(path: Path) -> dict[str, list[dict[str, Any]]]:
    decoded: dict[str, list[dict[str, Any]]] = bson.decode(
        path.read_bytes(), codec_options=bson.CodecOptions(tz_aware=True)
    )
    return decoded


def write_template(path: Path, database: dict[str, list[dict[str, Any]]]) -> None:
    path.write_bytes(bson.encode(database))


async def add_copies(tickets: Any, copier: Copier, first: int, stop: int) -> None:
    """`tickets`: a mongoeco API collection (its insert_many is the engine's batch insert)."""
    for start in range(first, stop, BATCH):
        batch = [copier.copy(i) for i in range(start, min(stop, start + BATCH))]
        await tickets.insert_many(batch, ordered=False)
        if (start // BATCH) % 10 == 9:
            print(f"  filled {start + len(batch):,}", file=sys.stderr, flush=True)


def _template_ticket(database: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return database["tickets"][0]


async def fill_sqlite(
    file: Path, database_name: str, template: Path, first: int, stop: int
) -> None:
    from mongoeco.api import AsyncMongoClient  # noqa: PLC0415 - the child only
    from mongoeco.engines.sqlite import SQLiteEngine  # noqa: PLC0415

    copier = Copier(_template_ticket(read_template(template)))
    started = time.perf_counter()
    async with AsyncMongoClient(SQLiteEngine(str(file))) as client:
        await add_copies(client[database_name]["tickets"], copier, first, stop)
    print(f"FILLED {stop - first} {time.perf_counter() - started:.3f}", flush=True)


async def fill_memory(database_name: str, template: Path, stop: int) -> Any:
    """A memory engine holding the template database and copies 1..stop-1."""
    from mongoeco.api import AsyncMongoClient  # noqa: PLC0415 - the child only
    from mongoeco.engines.memory import MemoryEngine  # noqa: PLC0415

    database = read_template(template)
    engine = MemoryEngine()
    client = AsyncMongoClient(engine)
    target = client[database_name]
    started = time.perf_counter()
    # the service's ticket indexes first (as its first start made them): kept per batch
    await target["tickets"].create_indexes(TicketDocument.Settings.indexes)
    for name, documents in database.items():
        if documents:
            await target[name].insert_many(documents)
    await add_copies(target["tickets"], Copier(_template_ticket(database)), 1, stop)
    seconds = time.perf_counter() - started
    print(f"FILLED {stop - 1} {seconds:.3f}", flush=True)
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--template", type=Path, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--tickets", type=int, required=True)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--sqlite", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    if args.sqlite is not None:
        asyncio.run(
            fill_sqlite(args.sqlite, args.database, args.template, args.first, args.tickets)
        )
        return
    _serve_filled_memory(args.database, args.template, args.tickets, args.host)


def _serve_filled_memory(database: str, template: Path, tickets: int, host: str) -> None:
    """`infra.embedded_mongo.serve` on the memory engine, handed the filled one."""
    import mongoeco.engines.memory  # noqa: PLC0415 - the child only

    from infra import embedded_mongo  # noqa: PLC0415

    async def run() -> None:
        engine = await fill_memory(database, template, tickets)
        mongoeco.engines.memory.MemoryEngine = lambda: engine  # type: ignore[assignment,misc]
        await embedded_mongo.serve(None, host, 0)

    embedded_mongo.run_or_report(run())


if __name__ == "__main__":
    main()
