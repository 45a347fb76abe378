"""The statistics report at 10,000 tickets as a ratio of the same report at 1,000 (goal: at
most 1.5x), each beside its floor measured in the same run: a raw driver read of the same
rollup documents the report reads.

Each size gets its own database (on `MONGODB_URL`, else on mongoeco's memory engine in
this process): tickets spread over the same 30 days, 5 agents, statuses,
priorities, categories, first-response and resolution times, SLA verdicts, reopens and
ratings drawn at random; `RollupWriter.rebuild()` builds the rollups (not timed). Then,
median of `--repeat` calls each:

- the report: `statistics.compute` as the endpoint calls it for an admin (scope `*`), over
  every day, and over a ragged week in Europe/Madrid (ends inside a quarter hour);
- the floor: plain finds of the same documents the report reads (days, the quarter-hour
  documents of the days at the ends, the applied parts of the two partial quarter hours);
- apart, for comparison: the aggregation over the tickets themselves (`statistics.scan`,
  how the report was computed before the rollups).

    .venv/bin/python -m bench.bench_statistics [--small 1000] [--large 10000] [--repeat 7]
"""

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.suite import Goal, Result
from contracts.actors import SystemActor
from infra.clock import SystemClock
from infra.logging import configure_logging
from infra.mongo import connect
from services.ticket_service.rollup_reader import quarter_projection
from services.ticket_service.rollup_writer import RollupWriter
from services.ticket_service.rollups import (
    APPLIED,
    DAYS,
    QUARTERS,
    SLOT,
    day_id,
    day_of,
    hours_and_quarters,
    plan,
    slot_index,
    slot_of,
)
from services.ticket_service.statistics import StatisticsQuery, compute, scan

START = datetime(2026, 5, 1, tzinfo=UTC)
SPREAD_DAYS = 30
AGENTS = [f"{n:024x}" for n in range(1, 6)]
STATUSES = ["new", "open", "in_progress", "pending_customer", "resolved", "closed", "cancelled"]
PRIORITIES = ["low", "medium", "high", "urgent"]
CATEGORIES = ["support", "technical", "billing", "sales", "complaint", "other"]
WHOLE = StatisticsQuery(actor=SystemActor())
WEEK = StatisticsQuery(
    actor=SystemActor(),
    timezone="Europe/Madrid",
    created_from=START + timedelta(days=20, minutes=7, seconds=13),
    created_to=START + timedelta(days=27, hours=3, minutes=2),
)


def _ticket(number: int, rng: random.Random) -> dict[str, Any]:
    created = START + timedelta(seconds=rng.randrange(SPREAD_DAYS * 86_400))
    status = rng.choice(STATUSES)
    agent = rng.choice([None, *AGENTS]) if status in ("new", "open", "cancelled") else None
    agent = agent or (rng.choice(AGENTS) if status != "new" else None)
    resolved = status in ("resolved", "closed")
    responded = status not in ("new", "open", "cancelled")
    ticket: dict[str, Any] = {
        "ticketId": f"TICKET-2026-{number:06d}",
        "revision": 3,
        "createdAt": created,
        "status": status,
        "priority": rng.choice(PRIORITIES),
        "category": rng.choice(CATEGORIES),
        "customerId": f"c{number % 500}",
        "assignedAgent": agent,
        "reopenCount": int(resolved and rng.random() < 0.1),
        "sla": {"firstResponseMet": rng.random() < 0.8 if responded else None},
    }
    if responded:
        ticket["firstResponseTime"] = rng.randrange(60_000, 20_000_000)
    if resolved:
        ticket |= {
            "resolvedBy": agent,
            "resolvedAt": created + timedelta(hours=5),
            "resolutionTime": rng.randrange(600_000, 200_000_000),
        }
        ticket["sla"]["resolutionMet"] = rng.random() < 0.7
        if rng.random() < 0.5:
            ticket["customerSatisfaction"] = {"rating": rng.randint(1, 5)}
    return ticket


class RawAgents:
    """The agents' names, as the endpoint looks them up (one read per agent)."""

    def __init__(self, database: Any) -> None:
        self.agents = database["agents"]

    async def get(self, agent_id: str) -> None:
        await self.agents.find_one({"_id": agent_id})


async def _median(repeat: int, work: Callable[[], Awaitable[object]]) -> float:
    await work()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def _read_rollups(database: Any, query: StatisticsQuery) -> int:
    """The floor: the documents the report reads, by plain finds."""
    where = plan(query.created_from, query.created_to)
    found = 0
    if where.days is not None:
        bounds = {op: m for op, m in zip(("$gte", "$lt"), where.days, strict=True) if m}
        match: dict[str, Any] = {"scope": "*", **({"day": bounds} if bounds else {})}
        found += len(await database[DAYS].find(match, {"_id": 0, "seq": 0}).to_list())
    edge_days: dict[datetime, list[int]] = {}
    for a, b in where.slots:
        for quarter in (a + n * SLOT for n in range((b - a) // SLOT)):
            edge_days.setdefault(day_of(quarter), []).append(slot_index(quarter))
    for day, quarters in edge_days.items():
        fields = quarter_projection(quarters, *hours_and_quarters(quarters))
        found += await database[QUARTERS].find_one({"_id": day_id("*", day)}, fields) is not None
    for piece in where.raw:
        lookup = {"created": slot_of(piece["$gte"])}
        found += len(await database[APPLIED].find(lookup, {"contribution": 1}).to_list())
    return found


@dataclass(frozen=True)
class Size:
    tickets: int
    documents: int
    report: float
    floor: float
    week: float
    week_floor: float
    scan: float


async def measure(client: Any, count: int, repeat: int) -> Size:
    database = client[f"bench_statistics_{count}"]
    await client.drop_database(database.name)
    tickets = database["tickets"]
    # no index on the tickets: the report does not read them, and mongoeco's inserts slow
    # down with a unique one (the full rebuild reads them all anyway)
    rng = random.Random(count)
    for first in range(0, count, 500):
        batch = [_ticket(n, rng) for n in range(first, min(count, first + 500))]
        await tickets.insert_many(batch)
    writer = RollupWriter(database, tickets, SystemClock())
    await writer.ensure_indexes()
    assert await writer.rebuild() == count
    agents = RawAgents(database)
    reference = (await scan(tickets, agents, WHOLE, {})).to_wire()
    assert (await compute(tickets, agents, WHOLE, {})).to_wire() == reference
    size = Size(
        tickets=count,
        documents=await _read_rollups(database, WHOLE),
        report=await _median(repeat, lambda: compute(tickets, agents, WHOLE, {})),
        floor=await _median(repeat, lambda: _read_rollups(database, WHOLE)),
        week=await _median(repeat, lambda: compute(tickets, agents, WEEK, {})),
        week_floor=await _median(repeat, lambda: _read_rollups(database, WEEK)),
        scan=await _median(max(1, repeat // 2), lambda: scan(tickets, agents, WHOLE, {})),
    )
    await client.drop_database(database.name)
    return size


@asynccontextmanager
async def _client() -> AsyncIterator[Any]:
    """A client of `MONGODB_URL`, else of mongoeco's memory engine in this process (its
    wire server takes time per insert that grows with the collection: seeding 10k tickets
    over the wire does not finish)."""
    import os  # noqa: PLC0415

    url = os.environ.get("MONGODB_URL")
    if url:
        client = connect(url)
        try:
            yield client
        finally:
            await client.close()
        return
    from mongoeco import AsyncMongoClient  # noqa: PLC0415 - only without a MongoDB URL
    from mongoeco.engines.memory import MemoryEngine  # noqa: PLC0415

    async with AsyncMongoClient(MemoryEngine()) as client:
        yield client


async def measure_both(small: int, large: int, repeat: int) -> tuple[Size, Size]:
    async with _client() as client:
        return await measure(client, small, repeat), await measure(client, large, repeat)


def results(small: Size, large: Size) -> list[Result]:
    label = f"the same report at {small.tickets:,} tickets"
    return [
        Result(
            f"statistics report, {large.tickets:,} vs {small.tickets:,} tickets (30 days)",
            small.report,
            large.report,
            "ms",
            label,
            Goal("<=", 1.5),
        ),
        Result(
            f"statistics report, ragged week, {large.tickets:,} vs {small.tickets:,} tickets",
            small.week,
            large.week,
            "ms",
            label,
            Goal("<=", 1.5),
        ),
        Result(
            f"statistics report at {large.tickets:,} tickets",
            large.floor,
            large.report,
            "ms",
            f"raw read of its {large.documents} rollup documents",
            note="shown for information",
        ),
        Result(
            f"scan over the tickets (before rollups), {large.tickets:,} vs {small.tickets:,}",
            small.scan,
            large.scan,
            "ms",
            f"the scan at {small.tickets:,} tickets",
            note="the old way, for comparison",
        ),
    ]


async def run(quick: bool) -> list[Result]:
    """The suite's entry: 1k and 10k tickets (100 and 1k quick)."""
    small, large = (100, 1_000) if quick else (1_000, 10_000)
    return results(*await measure_both(small, large, 3 if quick else 7))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    configure_logging("WARNING")
    small, large = asyncio.run(measure_both(args.small, args.large, args.repeat))
    print(f"statistics report, median of {args.repeat}; tickets over {SPREAD_DAYS} days")
    for size in (small, large):
        print(
            f"  {size.tickets:>6} tickets: report {size.report:7.1f} ms (floor: raw read of "
            f"{size.documents} rollup documents {size.floor:6.1f} ms, "
            f"{size.report / size.floor:.1f}x)"
            f"; ragged week {size.week:7.1f} ms (floor {size.week_floor:6.1f} ms); "
            f"scan over the tickets {size.scan:8.1f} ms"
        )
    print(f"  ratio {large.tickets}/{small.tickets}: report {large.report / small.report:.2f}x")
    print(f"    ragged week {large.week / small.week:.2f}x")
    print(f"    floor (raw read) {large.floor / small.floor:.2f}x")
    print(f"    scan over the tickets (before rollups) {large.scan / small.scan:.2f}x")


if __name__ == "__main__":
    main()
