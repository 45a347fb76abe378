"""Conversation state over the Mongo wire server: an unreadable history never blocks a reply."""

from datetime import UTC, datetime

import pytest

from contracts.enums import Language
from infra.mongo import connect
from services.assistant_gateway.documents import CONVERSATIONS, ConversationStore
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

PHONE = "+34600000009"


async def test_an_unreadable_history_is_set_aside_and_the_next_turn_is_saved(
    endpoints: Endpoints, database: str
) -> None:
    mongo = connect(endpoints.mongo_url)
    try:
        db = mongo[database]
        await db[CONVERSATIONS].insert_one(
            {"_id": PHONE, "transcript": [{"not": "an entry"}], "revision": 7}
        )
        store = ConversationStore(db, keep=40)
        loaded = await store.load(PHONE)
        await store.append(PHONE, [], Language.ES, datetime(2026, 1, 1, tzinfo=UTC))
        stored = await db[CONVERSATIONS].find_one({"_id": PHONE})
    finally:
        await mongo.close()
    assert (loaded.transcript, loaded.revision) == ([], 7)
    assert stored is not None
    assert (stored["transcript"], stored["revision"], stored["language"]) == ([], 8, "es")
