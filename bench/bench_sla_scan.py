"""Scan cost against the number of open tickets: 100,000 pending timers not yet due plus
100 due, as a ratio of the cost with 1,000 not due plus 100 due (the floor, measured in the
same run). The scan finds due timers through the (state, dueAt) index, so on MongoDB the
ratio stays near 1: cost grows with what is due, not with how many tickets are open.

    .venv/bin/python -m bench.bench_sla_scan             # MONGODB_URL, else in-process
    .venv/bin/python -m bench.bench_sla_scan --open 20000 --repeat 3

With `MONGODB_URL` set it runs against that server. Without it, it runs in-process on the
embedded engine (mongoeco, SQLite or memory): seeding 100,000 documents through the
embedded wire server takes hours (its inserts slow down as a collection grows), and
that engine answers range queries by scanning, which the `collection scan` line
measures for comparison; read its ratio next to the indexed one. Each measured scan is
the scanner's own database work: the due query, one claiming update per due timer and
one finishing update. The due timers are put back to pending (untimed) between repeats.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import IndexModel

from infra.mongo import connect
from services.sla_monitor.documents import SlaTimer
from services.sla_monitor.domain.timers import TimerState
from services.sla_monitor.repository import TimerRepository

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DUE = 100
BATCH = 5_000
LEASE = timedelta(seconds=60)


def _timer(index: int, due_at: datetime, prefix: str) -> dict[str, Any]:
    return {
        "_id": f"TICKET-2026-{index:06d}:{prefix}",
        "ticketId": f"TICKET-2026-{index:06d}",
        "kind": "resolution_breach",
        "state": TimerState.PENDING.value,
        "dueAt": due_at,
        "targetDueAt": due_at,
        "targetSeconds": 14_400,
        "cycle": "c",
        "revision": 1,
        "priority": "high",
        "bucket": index % 7,
    }


@asynccontextmanager
async def database(engine: str) -> AsyncIterator[Any]:
    url = os.environ.get("MONGODB_URL")
    if url:
        client = connect(url)
        name = f"bench_sla_{os.getpid()}"
        try:
            yield client[name]
        finally:
            await client.drop_database(name)
            await client.close()
        return
    from mongoeco import AsyncMongoClient  # noqa: PLC0415 - only without a MongoDB URL
    from mongoeco.engines.memory import MemoryEngine  # noqa: PLC0415
    from mongoeco.engines.sqlite import SQLiteEngine  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as directory:
        store = SQLiteEngine(str(Path(directory) / "bench.sqlite"))
        async with AsyncMongoClient(MemoryEngine() if engine == "memory" else store) as client:
            yield client["bench_sla"]


async def seed(db: Any, name: str, open_count: int) -> Any:
    collection = db[name]
    indexes: list[IndexModel] = SlaTimer.Settings.indexes
    await collection.create_indexes(indexes)
    later = NOW + timedelta(days=3)
    for start in range(0, open_count, BATCH):
        stop = min(open_count, start + BATCH)
        await collection.insert_many(
            [_timer(i, later + timedelta(seconds=i), "open") for i in range(start, stop)]
        )
    await collection.insert_many(
        [_timer(i, NOW - timedelta(seconds=i + 1), "due") for i in range(DUE)]
    )
    return collection


async def scan(repository: TimerRepository) -> float:
    """One scan's database work; returns its seconds."""
    started = time.perf_counter()
    due = await repository.due(NOW, 200)
    for raw in due:
        claimed = await repository.claim(raw, NOW, LEASE)
        assert claimed is not None
        await repository.finish(claimed, TimerState.FIRED, "bench", NOW)
    elapsed = time.perf_counter() - started
    assert len(due) == DUE, len(due)
    await repository.timers.update_many(
        {"state": TimerState.FIRED.value}, {"$set": {"state": TimerState.PENDING.value}}
    )
    return elapsed


async def collection_scan(collection: Any) -> float:
    """An unindexed query over the same collection, for comparison."""
    started = time.perf_counter()
    await collection.count_documents({"bucket": 3, "priority": "high"})
    return time.perf_counter() - started


async def measure(db: Any, open_count: int, repeat: int) -> tuple[float, float, float]:
    seeding = time.perf_counter()
    name = f"timers_{open_count}"
    collection = await seed(db, name, open_count)
    seeded = time.perf_counter() - seeding
    repository = TimerRepository(db)
    repository.timers = collection
    await scan(repository)  # warm-up
    scans = [await scan(repository) for _ in range(repeat)]
    full = [await collection_scan(collection) for _ in range(repeat)]
    return statistics.median(scans), statistics.median(full), seeded


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=100_000, help="pending timers not due")
    parser.add_argument("--floor", type=int, default=1_000, help="the floor's open timers")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine", choices=("memory", "sqlite"), default="memory")
    args = parser.parse_args()
    where = "MONGODB_URL" if os.environ.get("MONGODB_URL") else f"in-process {args.engine}"
    async with database(args.engine) as db:
        floor, floor_full, _ = await measure(db, args.floor, args.repeat)
        large, large_full, seeded = await measure(db, args.open, args.repeat)
    print(f"sla scan benchmark on {where}; {DUE} due timers, median of {args.repeat}")
    print(f"  floor  {args.floor:>7} open + {DUE} due: scan {floor * 1000:8.2f} ms")
    print(
        f"  large  {args.open:>7} open + {DUE} due: scan {large * 1000:8.2f} ms "
        f"(seeded in {seeded:.1f} s)"
    )
    print(f"  scan cost ratio {args.open}/{args.floor} open: {large / floor:.2f}x")
    print(f"  collection scan ratio (no index, for comparison): {large_full / floor_full:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
