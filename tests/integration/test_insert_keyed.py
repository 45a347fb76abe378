"""`infra.mongo.insert_keyed` over a real Mongo wire server: it stores a new document with
the key's fields, and answers a taken key, or a collision on another unique index, with
DuplicateKeyError as insert_one would, leaving the stored document as it was."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from infra.mongo import connect, insert_keyed
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration


@pytest.fixture
async def things(endpoints: Endpoints, database: str) -> AsyncIterator[AsyncCollection[Any]]:
    mongo = connect(endpoints.mongo_url)
    try:
        collection = mongo[database]["things"]
        await collection.create_index("name", unique=True)
        await collection.create_index("serial", unique=True)
        yield collection
    finally:
        await mongo.close()


async def test_a_new_document_is_stored_with_the_keys_fields(
    things: AsyncCollection[Any],
) -> None:
    await insert_keyed(things, {"_id": "t1", "name": "one"}, {"serial": 1, "colour": "red"})
    assert await things.find_one({"name": "one"}) == {
        "_id": "t1",
        "name": "one",
        "serial": 1,
        "colour": "red",
    }


async def test_a_taken_key_raises_and_changes_nothing(things: AsyncCollection[Any]) -> None:
    await insert_keyed(things, {"name": "one"}, {"serial": 1, "colour": "red"})
    with pytest.raises(DuplicateKeyError):
        await insert_keyed(things, {"name": "one"}, {"serial": 2, "colour": "blue"})
    stored = await things.find({}, {"_id": 0}).to_list()
    assert stored == [{"name": "one", "serial": 1, "colour": "red"}]


async def test_a_collision_on_another_unique_index_raises(things: AsyncCollection[Any]) -> None:
    await insert_keyed(things, {"name": "one"}, {"serial": 1})
    with pytest.raises(DuplicateKeyError):
        await insert_keyed(things, {"name": "two"}, {"serial": 1})
    assert await things.count_documents({}) == 1


async def test_of_concurrent_inserts_of_one_key_exactly_one_stores(
    things: AsyncCollection[Any],
) -> None:
    outcomes = await asyncio.gather(
        *(insert_keyed(things, {"name": "raced"}, {"serial": n}) for n in range(8)),
        return_exceptions=True,
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    assert all(isinstance(o, DuplicateKeyError) for o in outcomes if o is not None)
    assert await things.count_documents({"name": "raced"}) == 1
