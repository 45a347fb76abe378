"""The year's ticket counter over a real Mongo wire server: one number per creation key,
taken over after the lease, given back when it turns out unused."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.mongo import connect
from services.ticket_service.sequence import STORED_KEPT, SequenceAllocator
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
async def numbers(endpoints: Endpoints, database: str) -> AsyncIterator[SequenceAllocator]:
    async with connect(endpoints.mongo_url) as mongo:
        yield SequenceAllocator(mongo[database]["ticket_counters"], LEASE)


async def take(numbers: SequenceAllocator, key: str, at: datetime) -> int:
    reserved = await numbers.number_for(2026, key, at)
    assert reserved is not None
    return reserved.number


async def counter(endpoints: Endpoints, database: str) -> dict[str, Any]:
    async with connect(endpoints.mongo_url) as mongo:
        found = await mongo[database]["ticket_counters"].find_one({"year": 2026})
    assert found is not None
    return found


async def test_a_key_keeps_its_number_until_its_ticket_is_stored(
    numbers: SequenceAllocator, endpoints: Endpoints, database: str
) -> None:
    first = await take(numbers, "a", NOW)
    other = await take(numbers, "b", NOW)
    again = await take(numbers, "a", NOW + timedelta(seconds=20))
    later = await take(numbers, "a", NOW + timedelta(seconds=45))  # renewed at 20 s
    numbers.stored(2026, "a")
    numbers.stored(2026, "b")
    await numbers.flush()
    state = await counter(endpoints, database)
    assert (first, other, again, later) == (1, 2, 1, 1)
    assert state["lastSequence"] == 2
    assert state["pending"] == []


async def test_a_dead_holders_number_goes_to_the_next_key_after_the_lease(
    numbers: SequenceAllocator,
) -> None:
    await numbers.number_for(2026, "dead", NOW)
    within = await take(numbers, "b", NOW + LEASE - timedelta(seconds=1))
    after = await take(numbers, "c", NOW + LEASE + timedelta(seconds=1))
    back = await take(numbers, "dead", NOW + LEASE + timedelta(seconds=2))
    assert (within, after, back) == (2, 1, 3)


async def test_an_unused_number_is_taken_back_when_last_else_given_to_the_next(
    numbers: SequenceAllocator, endpoints: Endpoints, database: str
) -> None:
    await numbers.number_for(2026, "a", NOW)
    await numbers.release(2026, "a")
    taken_back = await counter(endpoints, database)
    await numbers.number_for(2026, "b", NOW)
    await numbers.number_for(2026, "c", NOW)
    await numbers.release(2026, "b")
    reused = await take(numbers, "d", NOW)
    state = await counter(endpoints, database)
    assert (taken_back["lastSequence"], taken_back["pending"]) == (0, [])
    assert reused == 1
    assert state["lastSequence"] == 2
    assert sorted(entry["key"] for entry in state["pending"]) == ["c", "d"]


async def test_a_stored_key_gets_no_number_and_only_the_last_stored_keys_are_kept(
    numbers: SequenceAllocator, endpoints: Endpoints, database: str
) -> None:
    first = await numbers.number_for(2026, "a", NOW)
    assert first is not None
    numbers.stored(2026, "a")
    again = await numbers.number_for(2026, "b", NOW)  # moves "a" to the stored keys
    copy = await numbers.number_for(2026, "a", NOW)
    for n in range(STORED_KEPT):
        numbers.stored(2026, f"old-{n}")
    await numbers.flush()
    state = await counter(endpoints, database)
    assert again is not None
    assert copy is None
    assert state["lastSequence"] == 2
    assert [entry["key"] for entry in state["pending"]] == ["b"]
    assert len(state["stored"]) == STORED_KEPT
    assert "a" not in state["stored"]
