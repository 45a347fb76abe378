"""`tickets.v1.list` at 10,000 tickets as a ratio of the same list at 1,000 (goal: at most
2x), with the emulator's part measured apart in the same run.

One wire server (`bench.list_server`, mongoeco's memory engine in its own process) holds
both sizes, each in its own database with the service's indexes, one admin and that many
tickets of the service's shape. For each size a ticket service runs in this process on
that database and an admin's lists go over the real `tickets.v1.list` queue
(contracts.client TicketsClient), median of `--repeat` calls each:

- newest: the first page, default sort (`-createdAt`), no filter;
- open: the first page of `status=open`;
- cursor: page 5 by `nextCursor` (pages 1-4 walked untimed, then page 5 timed).

In the same run, the emulator's part: the same queries sent raw with PyMongo (the page's
`find(filter).sort(sort, ticketId).limit(21)` and, on a first page, the `count` of the
filter), on the same server, at both sizes.

    .venv/bin/python -m bench.bench_list [--small 1000] [--large 10000] [--repeat 7]
"""

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bench.list_server import ADMIN_ID, database_name
from bench.suite import Goal, Result
from contracts.actors import AgentActor
from contracts.client import TicketsClient
from contracts.commands import ListTickets
from contracts.enums import TicketStatus
from infra.logging import configure_logging
from infra.mongo import connect
from infra.runtime import Runtime
from infra.settings import Settings
from services.ticket_service.listing import after, build_query, build_sort, decode_cursor
from services.ticket_service.main import TicketService
from tests.support.infra import rabbit_vhost

ADMIN = AgentActor(id=ADMIN_ID)
NEWEST = ListTickets(actor=ADMIN)
OPEN = ListTickets(actor=ADMIN, status=[TicketStatus.OPEN])
DEEP_PAGE = 5
EVERY = {"_id": {"$exists": True}}
"""The predicate the service counts an unfiltered list with (repository.py)."""


@asynccontextmanager
async def list_server(sizes: list[int]) -> AsyncIterator[str]:
    """`bench.list_server` seeded with `sizes`: its URL once it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.list_server",
        "--tickets",
        *map(str, sizes),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 600)).decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"bench.list_server did not start: {line!r}")
        yield line.split()[1]
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def _median_ms(repeat: int, work: Callable[[], Awaitable[object]]) -> float:
    await work()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


@dataclass(frozen=True)
class Figures:
    """One size: the project's lists and the raw queries they send, median ms."""

    tickets: int
    newest: float
    open: float
    cursor: float
    raw_newest: float
    raw_open: float
    raw_cursor: float


async def _cursor_to(client: TicketsClient, page: int) -> str:
    """The nextCursor that leads to `page`, walked from the first page."""
    cursor = None
    for _ in range(page - 1):
        listed = await client.list(NEWEST.model_copy(update={"cursor": cursor}))
        cursor = listed.pagination.next_cursor
        assert cursor is not None
    assert cursor is not None
    return cursor


def _raw(tickets: Any, command: ListTickets) -> Callable[[], Awaitable[object]]:
    """The page's queries as plain PyMongo calls: the find, and the count on a first page."""
    query = build_query(command)
    if command.cursor is not None:
        query = {"$and": [query, after(command.sort, decode_cursor(command))]}
    sort = build_sort(command.sort)

    async def queries() -> None:
        await tickets.find(query, {"outbox": 0}).sort(sort).limit(command.limit + 1).to_list()
        if command.cursor is None:
            await tickets.database.command({"count": tickets.name, "query": query or EVERY})

    return queries


async def measure(rabbit_url: str, mongo_url: str, size: int, repeat: int) -> Figures:
    settings = Settings(
        mongodb_url=mongo_url,
        rabbitmq_url=rabbit_url,
        mongodb_database=database_name(size),
        relay_sweep_seconds=3600,
        log_level="WARNING",
    )
    runtime = Runtime(settings, [TicketService()])
    await runtime.start()
    mongo = connect(mongo_url)
    try:
        async with TicketsClient(rabbit_url, timeout=600) as client:
            cursor = await _cursor_to(client, DEEP_PAGE)
            deep = NEWEST.model_copy(update={"cursor": cursor})
            listed = await client.list(NEWEST)
            assert listed.pagination.total == size, listed.pagination
            tickets = mongo[database_name(size)]["tickets"]
            return Figures(
                tickets=size,
                newest=await _median_ms(repeat, lambda: client.list(NEWEST)),
                open=await _median_ms(repeat, lambda: client.list(OPEN)),
                cursor=await _median_ms(repeat, lambda: client.list(deep)),
                raw_newest=await _median_ms(repeat, _raw(tickets, NEWEST)),
                raw_open=await _median_ms(repeat, _raw(tickets, OPEN)),
                raw_cursor=await _median_ms(repeat, _raw(tickets, deep)),
            )
    finally:
        await mongo.close()
        await runtime.stop()


async def measure_both(small: int, large: int, repeat: int) -> tuple[Figures, Figures]:
    async with AsyncExitStack() as stack:
        rabbit_url = await stack.enter_async_context(rabbit_vhost())
        mongo_url = await stack.enter_async_context(list_server([small, large]))
        return (
            await measure(rabbit_url, mongo_url, small, repeat),
            await measure(rabbit_url, mongo_url, large, repeat),
        )


EMULATOR = (
    "The emulator's part: mongoeco's memory engine serves an index only for an equality on "
    "a single-field index, so it sorts and counts by walking the collection; on MongoDB "
    "the (sortField, ticketId) and (status, ...) indexes serve both."
)
LISTS = (
    ("newest", "first page, newest (admin)", "find + count"),
    ("open", "first page, status=open", "find + count"),
    ("cursor", f"page {DEEP_PAGE} by nextCursor", "find"),
)


def results(small: Figures, large: Figures) -> list[Result]:
    sizes = f"{large.tickets:,} vs {small.tickets:,} tickets"
    found = []
    for key, what, queries in LISTS:
        found.append(
            Result(
                f"tickets.v1.list {what}, {sizes}",
                getattr(small, key),
                getattr(large, key),
                "ms",
                f"the same list at {small.tickets:,} tickets",
                Goal("<=", 2),
                note=f"raw {queries}: {getattr(small, 'raw_' + key):.1f} ms at "
                f"{small.tickets:,}, {getattr(large, 'raw_' + key):.1f} ms at {large.tickets:,}",
            )
        )
    for key, what, queries in LISTS:
        found.append(
            Result(
                f"raw {queries} of the list's {what}, {sizes}",
                getattr(small, "raw_" + key),
                getattr(large, "raw_" + key),
                "ms",
                f"the same queries at {small.tickets:,} tickets",
                note=EMULATOR,
            )
        )
    return found


async def run(quick: bool) -> list[Result]:
    """The suite's entry: 1k and 10k tickets, 7 calls each (quick: 100 and 1k, 3 calls)."""
    small, large, repeat = (100, 1_000, 3) if quick else (1_000, 10_000, 7)
    return results(*await measure_both(small, large, repeat))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    small, large = asyncio.run(measure_both(args.small, args.large, args.repeat))
    print(f"tickets.v1.list, admin, median of {args.repeat} (ms)")
    for figures in (small, large):
        print(
            f"  {figures.tickets:>6} tickets: newest {figures.newest:8.1f} "
            f"(raw find+count {figures.raw_newest:8.1f}); open {figures.open:8.1f} "
            f"(raw {figures.raw_open:8.1f}); page {DEEP_PAGE} by cursor {figures.cursor:8.1f} "
            f"(raw find {figures.raw_cursor:8.1f})"
        )
    for key, what, _ in LISTS:
        ratio = getattr(large, key) / getattr(small, key)
        raw = getattr(large, "raw_" + key) / getattr(small, "raw_" + key)
        print(f"  {what}: {ratio:.2f}x (raw queries {raw:.2f}x)")


if __name__ == "__main__":
    main()
