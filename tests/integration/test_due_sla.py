"""The SLA timers' minute buckets over a real Mongo wire server: what the bucket walk
cannot see, the sweep finds; timers stored before buckets get theirs at start-up."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.clock import MovableClock
from infra.due import MinuteWalk, bucket_of
from infra.mongo import connect
from services.sla_monitor.domain.timers import TimerState
from services.sla_monitor.repository import TimerRepository
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 5, 4, 10, 0, 30, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
async def timers(endpoints: Endpoints, database: str) -> AsyncIterator[TimerRepository]:
    async with connect(endpoints.mongo_url) as mongo:
        yield TimerRepository(mongo[database])


def _timer(name: str, due_at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"{name}:resolution_breach",
        "ticketId": name,
        "kind": "resolution_breach",
        "state": TimerState.PENDING.value,
        "dueAt": due_at,
        "leaseUntil": None,
        **fields,
    }


async def _scan(timers: TimerRepository, walk: MinuteWalk, now: datetime) -> set[str]:
    """The timers one scan fires, walking as `Scanner.scan_once` does."""
    found: set[str] = set()
    while True:
        buckets = walk.next(now)
        due = await timers.due(now, 100, buckets)
        for raw in due:
            claimed = await timers.claim(raw, now, LEASE)
            if claimed is not None and await timers.finish(claimed, TimerState.FIRED, "", now):
                found.add(raw["ticketId"])
        if walk.done(now, buckets):
            return found


async def test_a_timer_written_behind_the_walk_is_found_by_the_next_sweep(
    timers: TimerRepository,
) -> None:
    clock = MovableClock(START)
    walk = MinuteWalk(sweep_every=timedelta(minutes=10))
    assert await _scan(timers, walk, clock.now()) == set()  # the first scan sweeps
    clock.advance(timedelta(minutes=5))
    assert await _scan(timers, walk, clock.now()) == set()  # walked up to now
    late = clock.now() - timedelta(minutes=4)  # a writer whose clock is minutes behind
    await timers.timers.insert_one(_timer("T-LATE", late, dueBucket=bucket_of(late)))
    on_time = clock.now() + timedelta(seconds=20)
    await timers.timers.insert_one(_timer("T-ON-TIME", on_time, dueBucket=bucket_of(on_time)))

    assert await _scan(timers, walk, clock.now()) == set()  # its minute was walked already
    clock.advance(timedelta(seconds=30))
    assert await _scan(timers, walk, clock.now()) == {"T-ON-TIME"}  # by its bucket
    clock.set(START + timedelta(minutes=10))
    assert await _scan(timers, walk, clock.now()) == {"T-LATE"}  # the safety sweep


async def test_timers_stored_before_buckets_get_theirs_at_start_up(
    timers: TimerRepository,
) -> None:
    clock = MovableClock(START)
    later = START + timedelta(hours=2, seconds=15)
    await timers.timers.insert_many(
        [
            _timer("T-DUE", START - timedelta(hours=1)),
            _timer("T-LATER", later),
            _timer("T-FIRING", START - timedelta(hours=1), state="firing", leaseUntil=later),
            _timer("T-FIRED", START - timedelta(hours=1), state="fired"),
        ]
    )
    assert await timers.backfill_buckets(clock.now()) == 3
    assert await timers.backfill_buckets(clock.now()) == 0
    stored = {raw["ticketId"]: raw async for raw in timers.timers.find({})}
    assert stored["T-DUE"]["dueBucket"] == bucket_of(START)
    assert stored["T-LATER"]["dueBucket"] == bucket_of(later)
    assert stored["T-FIRING"]["dueBucket"] == bucket_of(later)
    assert "dueBucket" not in stored["T-FIRED"]

    walk = MinuteWalk()
    walk.done(clock.now(), None)  # as if the start-up sweep had run
    assert await _scan(timers, walk, clock.now()) == {"T-DUE"}
    clock.set(later)
    assert await _scan(timers, walk, clock.now()) == {"T-LATER", "T-FIRING"}
