"""Scan cost against the number of open tickets: 100,000 pending timers not yet due plus
100 due, as a ratio of the cost with 1,000 not due plus 100 due (the floor: the same code
doing the same work, measured in the same run). One scan is the scanner's own database
work: the due query over the minute buckets since the last scan (one equality lookup per
minute on the `dueBucket` index, as `Scanner.scan_once` asks for them through
`MinuteWalk`), then one claiming and one finishing update per due timer (by `_id`). Both
parts are printed apart, with their own ratios, next to the ratio of an unindexed count
over the same collections (a collection scan). The scanner's full sweep (the range query
`{state, dueAt <= now}`, at start and every 10 minutes as a safety net) is timed apart,
and added to the scan's cost in proportion (one sweep per 120 scans of 5 s).

    .venv/bin/python -m bench.bench_sla_scan             # MONGODB_URL, else in-process
    .venv/bin/python -m bench.bench_sla_scan --open 20000 --repeat 3 --budget 300

With `MONGODB_URL` set it runs against that server, where the `dueBucket` index serves
the bucket lookups and the `(state, dueAt)` index the full sweep. Without it, it runs
in-process on mongoeco's engine (memory, or SQLite with `--engine sqlite`); that engine
uses single-field equality indexes only, so the bucket lookups use the index while the
full sweep scans the collection (its ratio follows the unindexed one; read the parts,
not only the total). The whole run gives up after `--budget` seconds (default 900) and
exits 1. The due timers are put back to pending (untimed) between repeats.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import IndexModel

from bench.suite import Goal, Result
from infra.due import MinuteWalk, bucket_of
from infra.mongo import connect
from services.sla_monitor.documents import SlaTimer
from services.sla_monitor.domain.timers import TimerState
from services.sla_monitor.repository import TimerRepository

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DUE = 100
BATCH = 5_000
LEASE = timedelta(seconds=60)
LAST_SCAN = NOW - timedelta(minutes=2)
"""When the previous scan finished: this one walks the minutes since."""
SCANS_PER_SWEEP = 120
"""A full sweep every 10 minutes, a scan every 5 s (the defaults)."""


def _timer(index: int, due_at: datetime, prefix: str) -> dict[str, Any]:
    return {
        "_id": f"TICKET-2026-{index:06d}:{prefix}",
        "ticketId": f"TICKET-2026-{index:06d}",
        "kind": "resolution_breach",
        "state": TimerState.PENDING.value,
        "dueAt": due_at,
        "dueBucket": bucket_of(due_at),
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
        await asyncio.sleep(0)  # the in-process engine never suspends: let --budget cut in
    await collection.insert_many(
        [_timer(i, NOW - timedelta(seconds=i + 1), "due") for i in range(DUE)]
    )
    return collection


@dataclass(frozen=True)
class Scan:
    query: float
    """The due query through `TimerRepository.due`, over the walked minute buckets."""
    claims: float
    """One claiming and one finishing update per due timer (by `_id`)."""
    sweep: float
    """The full sweep's range query (`TimerRepository.due` without buckets)."""

    @property
    def total(self) -> float:
        return self.query + self.claims

    @property
    def amortized(self) -> float:
        return self.total + self.sweep / SCANS_PER_SWEEP


async def scan(repository: TimerRepository) -> Scan:
    """One scan's database work, the due query and the claims timed apart."""
    walk = MinuteWalk()
    walk.done(LAST_SCAN, None)
    buckets = walk.next(NOW)
    started = time.perf_counter()
    due = await repository.due(NOW, 200, buckets)
    queried = time.perf_counter()
    for raw in due:
        claimed = await repository.claim(raw, NOW, LEASE)
        assert claimed is not None
        await repository.finish(claimed, TimerState.FIRED, "bench", NOW)
    done = time.perf_counter()
    assert len(due) == DUE, len(due)
    swept = await repository.due(NOW, 200)
    sweep = time.perf_counter() - done
    assert swept == [], swept
    for raw in due:
        fields = {"state": TimerState.PENDING.value, "dueBucket": bucket_of(raw["dueAt"])}
        await repository.timers.update_one({"_id": raw["_id"]}, {"$set": fields})
    await asyncio.sleep(0)
    return Scan(queried - started, done - queried, sweep)


async def collection_scan(collection: Any) -> float:
    """An unindexed query over the same collection, for comparison."""
    started = time.perf_counter()
    await collection.count_documents({"bucket": 3, "priority": "high"})
    return time.perf_counter() - started


@dataclass(frozen=True)
class Measured:
    scan: Scan
    unindexed: float
    seeded: float


@dataclass
class Setup:
    repository: TimerRepository
    collection: Any
    seeded: float


async def prepare(db: Any, open_count: int) -> Setup:
    seeding = time.perf_counter()
    collection = await seed(db, f"timers_{open_count}", open_count)
    seeded = time.perf_counter() - seeding
    repository = TimerRepository(db)
    repository.timers = collection
    repository.due_work = replace(repository.due_work, collection=collection)
    await scan(repository)  # warm-up
    return Setup(repository, collection, seeded)


async def measure(
    db: Any, floor_count: int, open_count: int, repeat: int
) -> tuple[Measured, Measured]:
    """The floor's and the large collection's scans taken in turn, so a change of load on
    the machine weighs on both alike."""
    setups = [await prepare(db, floor_count), await prepare(db, open_count)]
    scans: list[list[Scan]] = [[], []]
    full: list[list[float]] = [[], []]
    for _ in range(repeat):
        for index, setup in enumerate(setups):
            scans[index].append(await scan(setup.repository))
            full[index].append(await collection_scan(setup.collection))
    floor, large = (
        Measured(
            Scan(
                statistics.median(s.query for s in taken),
                statistics.median(s.claims for s in taken),
                statistics.median(s.sweep for s in taken),
            ),
            statistics.median(counts),
            setup.seeded,
        )
        for taken, counts, setup in zip(scans, full, setups, strict=True)
    )
    return floor, large


def report(where: str, args: argparse.Namespace, floor: Measured, large: Measured) -> None:
    ms = 1000
    print(f"sla scan benchmark on {where}; {DUE} due timers, median of {args.repeat} scans")
    print("  measured: the scanner's database work for one scan = the due query over the")
    print(f"  minute buckets since the last scan + {DUE} claims + {DUE} finishes; apart: the")
    print(f"  full sweep (range query), one per {SCANS_PER_SWEEP} scans")
    for label, count, m in (("floor", args.floor, floor), ("large", args.open, large)):
        print(
            f"  {label} {count:>7} open + {DUE} due: scan {m.scan.total * ms:8.2f} ms "
            f"(due query {m.scan.query * ms:8.2f} ms, claims {m.scan.claims * ms:8.2f} ms; "
            f"full sweep {m.scan.sweep * ms:8.2f} ms; seeded in {m.seeded:.1f} s)"
        )
    ratio = large.scan.total / floor.scan.total
    print(f"  scan cost ratio {args.open}/{args.floor} open: {ratio:.2f}x")
    print(f"    due query alone: {large.scan.query / floor.scan.query:.2f}x")
    print(f"    claims alone:    {large.scan.claims / floor.scan.claims:.2f}x")
    amortized = large.scan.amortized / floor.scan.amortized
    print(f"  with the full sweep amortized (1/{SCANS_PER_SWEEP}): {amortized:.2f}x")
    print(f"    full sweep alone: {large.scan.sweep / floor.scan.sweep:.2f}x")
    print(f"  unindexed count ratio (a collection scan): {large.unindexed / floor.unindexed:.2f}x")
    if not os.environ.get("MONGODB_URL"):
        print(
            "  note: mongoeco's engine uses single-field equality indexes only: the bucket\n"
            "  lookups use the dueBucket index, the full sweep scans the collection (its\n"
            "  ratio follows the unindexed one); with MONGODB_URL the (state, dueAt) index\n"
            "  serves the sweep too"
        )


async def run(quick: bool) -> list[Result]:
    """The suite's entry (`python -m bench`): 100k vs 1k open, 5 scans each (quick: 5k vs
    1k, 2 scans), on the memory engine unless MONGODB_URL is set."""
    open_count, repeat = (5_000, 2) if quick else (100_000, 5)
    async with database("memory") as db:
        floor, large = await measure(db, 1_000, open_count, repeat)
    label = f"the same scan with 1,000 open + {DUE} due"
    emulator = "mongoeco's engine scans the collection for it (no range index)"
    ms = 1000
    return [
        Result(
            f"SLA scan, {open_count:,} vs 1,000 open ({DUE} due)",
            floor.scan.total * ms,
            large.scan.total * ms,
            "ms",
            label,
            Goal("<=", 1.5),
        ),
        Result(
            "SLA scan with the full sweep amortized (1 per 120 scans)",
            floor.scan.amortized * ms,
            large.scan.amortized * ms,
            "ms",
            label,
            Goal("<=", 1.5),
        ),
        Result(
            "SLA full sweep alone (range query)",
            floor.scan.sweep * ms,
            large.scan.sweep * ms,
            "ms",
            label,
            note=f"The emulator's part: {emulator}; on MongoDB the (state, dueAt) index serves it.",
        ),
        Result(
            "unindexed count (a collection scan), for comparison",
            floor.unindexed * ms,
            large.unindexed * ms,
            "ms",
            "the same count over 1,000 open",
        ),
    ]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open", type=int, default=100_000, help="pending timers not due")
    parser.add_argument("--floor", type=int, default=1_000, help="the floor's open timers")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine", choices=("memory", "sqlite"), default="memory")
    parser.add_argument(
        "--budget", type=float, default=900.0, help="seconds before the run gives up"
    )
    args = parser.parse_args()
    where = "MONGODB_URL" if os.environ.get("MONGODB_URL") else f"in-process {args.engine}"
    try:
        async with asyncio.timeout(args.budget), database(args.engine) as db:
            floor, large = await measure(db, args.floor, args.open, args.repeat)
    except TimeoutError:
        print(f"sla scan benchmark on {where}: not done within --budget {args.budget:.0f} s")
        return 1
    report(where, args, floor, large)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
