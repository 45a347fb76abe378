"""Sliding-window limits (`infra/ratelimit.py`) over a real Mongo wire server: one
database command per allowed hit, never past the limit under concurrency, all or none
across the logs of one key; and the request counter's fixed windows."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from infra.ratelimit import RateLimiter, RequestCounter
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=1)


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command.get(event.command_name) == "limits":
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Starts are what is counted."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Starts are what is counted."""


@pytest.fixture
async def mongo(endpoints: Endpoints) -> AsyncIterator[tuple[AsyncMongoClient[Any], Commands]]:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        endpoints.mongo_url, tz_aware=True, event_listeners=[commands]
    )
    try:
        yield client, commands
    finally:
        await client.close()


@pytest.fixture
async def limits(
    endpoints: Endpoints, database: str
) -> AsyncIterator[tuple[RateLimiter, Commands]]:
    commands = Commands()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        endpoints.mongo_url, tz_aware=True, event_listeners=[commands]
    )
    try:
        yield RateLimiter(mongo[database]["limits"]), commands
    finally:
        await mongo.close()


async def test_an_allowed_hit_is_one_command_and_the_limit_holds_in_the_window(
    limits: tuple[RateLimiter, Commands],
) -> None:
    limiter, commands = limits
    assert await limiter.hit("k", 3, WINDOW, START) is None
    assert commands.names == ["createIndexes", "update"]  # the `key` index, once per limiter
    commands.names.clear()
    for second in (10, 20):
        assert await limiter.hit("k", 3, WINDOW, START + timedelta(seconds=second)) is None
    assert commands.names == ["update", "update"]
    assert await limiter.hit("k", 3, WINDOW, START + timedelta(seconds=30)) == 30
    assert await limiter.hit("k", 3, WINDOW, START + timedelta(seconds=60)) is None
    assert await limiter.hit("k", 3, WINDOW, START + timedelta(seconds=61)) == 9


async def test_concurrent_hits_never_pass_the_limit(limits: tuple[RateLimiter, Commands]) -> None:
    limiter, _ = limits
    waits = await asyncio.gather(*(limiter.hit("busy", 5, WINDOW, START) for _ in range(20)))
    assert sum(wait is None for wait in waits) == 5


async def test_take_charges_every_log_or_none(limits: tuple[RateLimiter, Commands]) -> None:
    limiter, commands = limits
    both = {"calls": 3, "notes": 1}
    assert await limiter.take("customer", both, WINDOW, START) is None
    assert commands.names == ["createIndexes", "update"]
    commands.names.clear()
    refused = await limiter.take("customer", both, WINDOW, START + timedelta(seconds=5))
    assert refused == ("notes", 55)
    assert await limiter.take("customer", {"calls": 3}, WINDOW, START) is None
    assert await limiter.take("customer", {"calls": 3}, WINDOW, START) is None
    assert await limiter.take("customer", {"calls": 3}, WINDOW, START) == ("calls", 60)


async def test_a_log_is_found_by_its_key_field_and_keeps_its_key_as_id(
    mongo: tuple[AsyncMongoClient[Any], Commands], database: str
) -> None:
    collection = mongo[0][database]["limits"]
    assert await RateLimiter(collection).hit("assistant:+34600000001", 2, WINDOW, START) is None
    assert await collection.find_one({"key": "assistant:+34600000001"}) == {
        "_id": "assistant:+34600000001",
        "key": "assistant:+34600000001",
        "hits": [START],
    }
    indexes = await collection.index_information()
    assert any(index["key"] == [("key", 1)] for index in indexes.values())


async def test_a_log_an_older_version_wrote_without_the_key_field_keeps_counting(
    mongo: tuple[AsyncMongoClient[Any], Commands], database: str
) -> None:
    """Written before the `key` field (or by an older replica during an upgrade): the first
    hit gives it the field, and its earlier hits still count against the limit."""
    collection = mongo[0][database]["limits"]
    await collection.insert_one({"_id": "assistant:old", "hits": [START, START]})
    limiter = RateLimiter(collection)
    at = START + timedelta(seconds=10)
    assert await limiter.hit("assistant:old", 3, WINDOW, at) is None
    assert await limiter.hit("assistant:old", 3, WINDOW, at) == 50
    assert await collection.find_one({"_id": "assistant:old"}) == {
        "_id": "assistant:old",
        "key": "assistant:old",
        "hits": [START, START, at],
    }


async def test_the_request_counter_counts_each_clock_minute_with_one_command_a_hit(
    mongo: tuple[AsyncMongoClient[Any], Commands], database: str
) -> None:
    client, commands = mongo
    counter = RequestCounter(client[database]["limits"])
    at = START + timedelta(seconds=10)  # a window is a clock minute, START one's beginning
    assert [await counter.hit("k", 3, WINDOW, at) for _ in range(3)] == [None, None, None]
    assert commands.names == ["update"] * 3
    assert await counter.hit("k", 3, WINDOW, at + timedelta(seconds=20)) == 30
    commands.names.clear()
    assert await counter.hit("k", 3, WINDOW, START + timedelta(seconds=60)) is None
    assert commands.names == ["update", "update"]  # the minute's first hit opens it
    assert await counter.hit("k", 3, WINDOW, START + timedelta(seconds=61)) is None


async def test_concurrent_requests_never_pass_the_count_even_as_a_window_opens(
    mongo: tuple[AsyncMongoClient[Any], Commands], database: str
) -> None:
    counter = RequestCounter(mongo[0][database]["limits"])
    for at in (START, START + timedelta(minutes=1)):
        waits = await asyncio.gather(*(counter.hit("busy", 5, WINDOW, at) for _ in range(20)))
        assert sum(wait is None for wait in waits) == 5
        assert set(waits) == {None, 60}


async def test_the_counter_takes_over_a_key_an_older_version_kept_as_a_log(
    mongo: tuple[AsyncMongoClient[Any], Commands], database: str
) -> None:
    collection = mongo[0][database]["limits"]
    await collection.insert_one({"_id": "api:key:bot", "hits": [START] * 3})
    counter = RequestCounter(collection)
    assert await counter.hit("api:key:bot", 3, WINDOW, START) is None
    assert await collection.find_one({"_id": "api:key:bot"}) == {
        "_id": "api:key:bot",
        "windowStart": START,
        "count": 1,
    }


async def test_a_hit_timed_just_before_a_window_another_hit_opened_counts_in_that_window(
    mongo: tuple[AsyncMongoClient[Any], Commands], database: str
) -> None:
    """Concurrent requests read the clock before their update runs: one that read it just
    before the minute turned must not be refused because another opened the new minute."""
    collection = mongo[0][database]["limits"]
    counter = RequestCounter(collection)
    assert await counter.hit("k", 3, WINDOW, START + timedelta(seconds=60)) is None
    assert await counter.hit("k", 3, WINDOW, START + timedelta(seconds=59.9)) is None
    stored = await collection.find_one({"_id": "k"})
    assert stored is not None
    assert (stored["windowStart"], stored["count"]) == (START + timedelta(seconds=60), 2)
