"""Work done once per key across replicas (`infra/claims.py`) over a real Mongo wire server."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest

from infra.claims import CLAIM_INSERTS, GIVEN_UP, KeyLeases, OnceByKey
from infra.clock import MovableClock
from infra.mongo import connect
from services.assistant_gateway.documents import ClaimOutcome, InboundLog
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
Raw = dict[str, Any]


@pytest.fixture
async def records(endpoints: Endpoints, database: str) -> AsyncIterator[Any]:
    async with connect(endpoints.mongo_url) as mongo:
        yield mongo[database]["claims"]


async def replay(stored: Raw) -> Raw:
    return stored


def keep(value: Raw) -> Raw:
    return value


class Held:
    """Work that runs until released, counting its runs."""

    def __init__(self, result: Raw) -> None:
        self.result = result
        self.runs = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> Raw:
        self.runs += 1
        self.started.set()
        await self.release.wait()
        return self.result


async def test_duplicates_wait_as_long_as_the_holder_keeps_its_lease(records: Any) -> None:
    clock = MovableClock(START)
    once = OnceByKey(records, LEASE, clock)
    work = Held({"ticket": "T-1"})
    first = asyncio.create_task(once.once("k", work, keep, replay))
    await work.started.wait()
    polls: list[float] = []
    waited_long = asyncio.Event()
    claim = once.claim

    async def counted_claim(key: str, now: datetime) -> Any:
        polls.append(asyncio.get_running_loop().time())
        if polls[-1] - polls[0] > 6:  # longer than the old fixed 5 s wait
            waited_long.set()
        return await claim(key, now)

    once.claim = counted_claim  # type: ignore[method-assign]
    duplicates = [asyncio.create_task(once.once("k", work, keep, replay)) for _ in range(3)]
    clock.advance(LEASE - timedelta(seconds=1))  # the holder is slow, but within its lease
    await asyncio.wait_for(waited_long.wait(), 60)
    work.release.set()
    results = await asyncio.gather(first, *duplicates)
    assert results == [{"ticket": "T-1"}] * 4
    assert work.runs == 1


async def test_a_dead_holders_key_is_taken_over_once_its_lease_runs_out(records: Any) -> None:
    clock = MovableClock(START)
    await records.insert_one(
        {"_id": "k", "claimedAt": clock.now(), "holder": "dead", "result": None}
    )
    once = OnceByKey(records, LEASE, clock)
    work = Held({"ticket": "T-2"})
    work.release.set()
    waiting = asyncio.create_task(once.once("k", work, keep, replay))
    await asyncio.sleep(0)
    clock.advance(LEASE + timedelta(seconds=1))
    assert await asyncio.wait_for(waiting, 30) == {"ticket": "T-2"}
    record = await records.find_one({"_id": "k"})
    assert record["result"] == {"ticket": "T-2"}
    assert record["holder"] != "dead"


async def test_failed_work_keeps_the_claim_and_gives_up_its_lease(records: Any) -> None:
    clock = MovableClock(START)
    once = OnceByKey(records, LEASE, clock)

    async def fails() -> Raw:
        raise RuntimeError("MongoDB went away mid-work")

    with pytest.raises(RuntimeError):
        await once.once("k", fails, keep, replay)
    left = await records.find_one({"_id": "k"})
    work = Held({"ticket": "T-3"})
    work.release.set()
    retried = await asyncio.wait_for(once.once("k", work, keep, replay), 30)
    assert left["result"] is None
    assert left["claimedAt"] == GIVEN_UP
    assert retried == {"ticket": "T-3"}
    assert work.runs == 1


async def test_without_keeping_failures_a_failed_claim_is_gone_and_a_waiting_copy_runs(
    records: Any,
) -> None:
    clock = MovableClock(START)
    once = OnceByKey(records, LEASE, clock, keep_failed=False)
    failing = Held({})
    first = asyncio.create_task(once.once("k", failing, keep, replay))
    await failing.started.wait()
    work = Held({"ticket": "T-4"})
    work.release.set()
    refused = asyncio.Event()
    claim = once.claim

    async def watched_claim(key: str, now: datetime) -> Any:
        found = await claim(key, now)
        if found.holder is None and found.result is None:
            refused.set()
        return found

    once.claim = watched_claim  # type: ignore[method-assign]
    copy = asyncio.create_task(once.once("k", work, keep, replay))
    await refused.wait()  # the copy found the key held and waits
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    answered = await asyncio.wait_for(copy, 30)
    assert answered == {"ticket": "T-4"}
    assert work.runs == 1
    assert await records.find_one({"_id": "k"}) == {
        "_id": "k",
        "claimedAt": START,
        "holder": ANY,
        "result": {"ticket": "T-4"},
    }

    async def fails() -> Raw:
        raise RuntimeError("the ticket service refused")

    with pytest.raises(RuntimeError):
        await once.once("other", fails, keep, replay)
    assert await records.find_one({"_id": "other"}) is None


async def test_a_holder_that_lost_its_lease_does_not_overwrite_the_result(records: Any) -> None:
    clock = MovableClock(START)
    once = OnceByKey(records, LEASE, clock)
    slow = Held({"ticket": "slow"})
    first = asyncio.create_task(once.once("k", slow, keep, replay))
    await slow.started.wait()
    clock.advance(LEASE + timedelta(seconds=1))
    quick = Held({"ticket": "quick"})
    quick.release.set()
    taken_over = await asyncio.wait_for(once.once("k", quick, keep, replay), 30)
    slow.release.set()
    await first
    later = await once.once("k", quick, keep, replay)
    assert taken_over == later == {"ticket": "quick"}


# ---- the lease-claim itself (KeyLeases) ------------------------------------------------


async def test_of_two_concurrent_claimers_one_holds_the_key(records: Any) -> None:
    leases = KeyLeases(records, LEASE)
    first, second = await asyncio.gather(
        leases.claim("k", START, {"phone": "+1"}), leases.claim("k", START, {"phone": "+2"})
    )
    assert sorted([first.held, second.held]) == [False, True]
    winner = first if first.held else second
    stored = await records.find_one({"_id": "k"})
    assert stored["holder"] == winner.holder
    assert stored["result"] is None


async def test_a_claim_is_taken_over_only_after_its_lease_on_the_moved_clock(
    records: Any,
) -> None:
    clock = MovableClock(START)
    leases = KeyLeases(records, LEASE)
    first = await leases.claim("k", clock.now())
    clock.advance(LEASE - timedelta(seconds=1))
    early = await leases.claim("k", clock.now())
    clock.advance(timedelta(seconds=2))
    late = await leases.claim("k", clock.now())
    assert first.held
    assert not early.held
    assert late.held
    assert early.found is not None
    assert early.found["holder"] == first.holder
    assert (await records.find_one({"_id": "k"}))["claimedAt"] == clock.now()


async def test_a_released_claim_is_taken_over_at_once_and_a_finished_one_never(
    records: Any,
) -> None:
    leases = KeyLeases(records, LEASE)
    first = await leases.claim("k", START)
    assert first.holder is not None
    await leases.release("k", first.holder)
    second = await leases.claim("k", START)
    assert second.holder is not None
    assert await leases.complete("k", second.holder, {"result": {"ticket": "T-5"}})
    later = await leases.claim("k", START + LEASE * 10, take_over=True)
    assert not later.held
    assert later.found is not None
    assert later.found["result"] == {"ticket": "T-5"}


async def test_a_holder_that_lost_its_lease_does_not_complete_over_the_winner(
    records: Any,
) -> None:
    leases = KeyLeases(records, LEASE)
    slow = await leases.claim("k", START)
    quick = await leases.claim("k", START + LEASE + timedelta(seconds=1))
    assert slow.holder is not None
    assert quick.holder is not None
    assert await leases.complete("k", quick.holder, {"result": {"ticket": "quick"}})
    assert not await leases.complete("k", slow.holder, {"result": {"ticket": "slow"}})
    await leases.release("k", slow.holder)
    await leases.delete("k", slow.holder)
    stored = await records.find_one({"_id": "k"})
    assert stored["result"] == {"ticket": "quick"}
    assert stored["holder"] == quick.holder


class Vanishing:
    """The collection as a claimer sees it when the record it ran into is deleted just
    before each read (and, with `reclaimed_by`, claimed by that claimer right after)."""

    def __init__(self, records: Any, reclaimed_by: KeyLeases | None = None) -> None:
        self._records = records
        self._reclaimed_by = reclaimed_by
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    async def find_one(self, query: Raw) -> Raw | None:
        self.reads += 1
        await self._records.delete_one(query)
        found: Raw | None = await self._records.find_one(query)
        if self._reclaimed_by is not None:
            await self._reclaimed_by.claim(query["_id"], START)
        return found


async def test_a_vanished_record_is_claimed_again_once(records: Any) -> None:
    await records.insert_one({"_id": "k", "claimedAt": START, "holder": "other", "result": None})
    vanishing = Vanishing(records)
    lease = await KeyLeases(vanishing, LEASE).claim("k", START)  # type: ignore[arg-type]
    assert lease.held
    assert lease.found is None
    assert vanishing.reads == 1
    assert (await records.find_one({"_id": "k"}))["holder"] == lease.holder


async def test_a_vanished_record_claimed_by_another_meanwhile_is_theirs(records: Any) -> None:
    await records.insert_one({"_id": "k", "claimedAt": START, "holder": "gone", "result": None})
    other = KeyLeases(records, LEASE)
    vanishing = Vanishing(records, reclaimed_by=other)
    lease = await KeyLeases(vanishing, LEASE).claim("k", START)  # type: ignore[arg-type]
    assert not lease.held
    assert lease.found is None
    assert vanishing.reads == CLAIM_INSERTS  # it vanished on every read: bounded anyway
    stored = await records.find_one({"_id": "k"})
    assert stored["holder"] not in {"gone", None}


# ---- the assistant gateway's inbound log, on the same lease-claim -----------------------


@pytest.fixture
async def inbound_log(endpoints: Endpoints, database: str) -> AsyncIterator[InboundLog]:
    async with connect(endpoints.mongo_url) as mongo:
        yield InboundLog(mongo[database], LEASE)


async def test_one_of_two_concurrent_copies_of_an_inbound_message_runs(
    inbound_log: InboundLog,
) -> None:
    claims = await asyncio.gather(
        *(inbound_log.claim("wamid.1", "+34600000001", START, redelivered=False) for _ in "ab")
    )
    assert sorted(c.outcome for c in claims) == [ClaimOutcome.RUN, ClaimOutcome.SKIP]


async def test_a_gateway_holder_that_lost_its_claim_does_not_record_its_reply(
    inbound_log: InboundLog,
) -> None:
    slow = await inbound_log.claim("wamid.2", "+34600000001", START, redelivered=False)
    retried = await inbound_log.claim("wamid.2", "+34600000001", START, redelivered=True)
    assert slow.outcome is retried.outcome is ClaimOutcome.RUN
    assert slow.holder is not None
    assert retried.holder is not None
    assert await inbound_log.replied("wamid.2", retried.holder, "Hola", fallback=False)
    assert not await inbound_log.replied("wamid.2", slow.holder, "Adiós", fallback=True)
    again = await inbound_log.claim("wamid.2", "+34600000001", START, redelivered=True)
    assert again.outcome is ClaimOutcome.PUBLISH_AGAIN
    assert again.record is not None
    assert (again.record.reply, again.record.fallback) == ("Hola", False)
