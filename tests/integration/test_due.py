"""Due-work claiming (`infra/due.py`) over a real Mongo wire server."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.clock import MovableClock
from infra.due import MINUTE, DueWork, MinuteWalk, bucket_of
from infra.mongo import connect
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 5, 4, 10, 0, 30, tzinfo=UTC)
LEASE = timedelta(seconds=30)
Raw = dict[str, Any]


@pytest.fixture
async def rows(endpoints: Endpoints, database: str) -> AsyncIterator[Any]:
    async with connect(endpoints.mongo_url) as mongo:
        yield mongo[database]["due_rows"]


def _work(rows: Any) -> DueWork:
    return DueWork(rows, bucket="dueBucket", where={"state": "pending"})


async def _seed(rows: Any, due: int, later: int, now: datetime) -> None:
    work = _work(rows)
    documents: list[Raw] = [
        {"_id": f"due-{i:03d}", "state": "pending", "dueAt": now - timedelta(seconds=i)}
        for i in range(due)
    ] + [
        {"_id": f"later-{i:03d}", "state": "pending", "dueAt": now + timedelta(hours=1 + i)}
        for i in range(later)
    ]
    for document in documents:
        document.update(work.bucket_fields(document["dueAt"], now - timedelta(minutes=5)))
    await rows.insert_many(documents)


async def test_concurrent_claimers_never_claim_the_same_row(rows: Any) -> None:
    clock = MovableClock(START)
    await _seed(rows, due=60, later=5, now=clock.now())
    workers = [_work(rows) for _ in range(6)]

    async def drain(work: DueWork) -> list[str]:
        mine: list[str] = []
        while claimed := await work.claim(clock.now(), LEASE, 7):
            mine += [c.row["_id"] for c in claimed]
        return mine

    taken = await asyncio.gather(*(drain(work) for work in workers))
    every_claim = [row for mine in taken for row in mine]
    assert sorted(every_claim) == [f"due-{i:03d}" for i in range(60)]  # each once, none later
    assert sum(1 for mine in taken if mine) > 1


async def test_a_lease_that_ran_out_is_taken_over_and_the_old_holder_cannot_complete(
    rows: Any,
) -> None:
    clock = MovableClock(START)
    await _seed(rows, due=1, later=0, now=clock.now())
    work = _work(rows)
    (first,) = await work.claim(clock.now(), LEASE, 10)
    assert await work.claim(clock.now(), LEASE, 10) == []  # held

    clock.advance(LEASE - timedelta(milliseconds=1))
    assert await work.claim(clock.now(), LEASE, 10) == []  # still held
    clock.advance(timedelta(milliseconds=1))
    (second,) = await work.claim(clock.now(), LEASE, 10)  # its worker died: taken over
    assert second.holder != first.holder

    assert not await work.complete(first, {"state": "done"})
    assert not await work.reschedule(first, clock.now() + timedelta(hours=1), clock.now())
    assert not await work.release(first, clock.now())
    assert (await rows.find_one({"_id": "due-000"}))["state"] == "pending"

    assert await work.complete(second, {"state": "done"})
    stored = await rows.find_one({"_id": "due-000"})
    assert stored["state"] == "done"
    assert stored["claimedBy"] is None
    assert stored["dueBucket"] is None


async def test_reschedule_and_release_make_a_row_due_again_when_they_say(rows: Any) -> None:
    clock = MovableClock(START)
    await _seed(rows, due=2, later=0, now=clock.now())
    work = _work(rows)
    assert await work.claim(clock.now(), LEASE, 0) == []  # no room: nothing, not everything
    first, second = await work.claim(clock.now(), LEASE, 10)
    retry_at = clock.now() + timedelta(minutes=3)
    assert await work.reschedule(first, retry_at, clock.now())
    assert await work.release(second, clock.now())

    (again,) = await work.claim(clock.now(), LEASE, 10)
    assert again.row["_id"] == second.row["_id"]
    clock.set(retry_at)
    buckets = [bucket_of(retry_at)]
    (retried,) = await work.claim(clock.now(), LEASE, 10, buckets=buckets)
    assert retried.row["_id"] == first.row["_id"]


async def test_buckets_find_what_is_due_and_a_claimed_row_under_its_lease_minute(
    rows: Any,
) -> None:
    clock = MovableClock(START)
    await _seed(rows, due=3, later=3, now=clock.now())
    work = _work(rows)
    walk = MinuteWalk()
    assert walk.next(clock.now()) is None  # the first scan sweeps
    walk.done(clock.now(), None)
    buckets = walk.next(clock.now())
    assert buckets == [bucket_of(clock.now()) - MINUTE, bucket_of(clock.now())]
    claimed = await work.claim(clock.now(), LEASE, 10, buckets=buckets)
    assert len(claimed) == 3  # the older due rows' buckets are the write's minute

    clock.advance(timedelta(minutes=2))  # their worker died; the lease's minute is walked
    buckets = walk.next(clock.now())
    assert buckets is not None
    assert bucket_of(START + LEASE) in buckets
    assert len(await work.claim(clock.now(), LEASE, 10, buckets=buckets)) == 3


def test_the_walk_catches_up_in_chunks_and_sweeps_when_far_behind() -> None:
    walk = MinuteWalk(chunk=60, max_behind=timedelta(hours=24), sweep_every=timedelta(hours=48))
    walk.done(START, None)
    later = START + timedelta(hours=3)
    walked: list[datetime] = []
    while True:
        buckets = walk.next(later)
        assert buckets is not None
        assert len(buckets) <= 60
        walked += buckets
        if walk.done(later, buckets):
            break
    minutes = int((bucket_of(later) - bucket_of(START)) / MINUTE) + 2
    assert walked == [bucket_of(START) - MINUTE + MINUTE * i for i in range(minutes)]
    assert walk.next(later + timedelta(hours=25)) is None
    assert walk.next(later + timedelta(hours=48)) is None
