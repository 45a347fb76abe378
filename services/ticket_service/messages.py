"""Persistence of ticket conversations: the `ticket_messages` collection.

One document per message, written once with its outbox (the `ticket.message_added` event
and, for a reply, the `whatsapp.outbound` message) and `applied: false`; applying it to
the ticket (first response, attachments) is a second write that flips `applied`. A
`dedupeKey` (the WhatsApp message id, or an agent's Idempotency-Key) is unique per
ticket, so a duplicate delivery or a retried request finds the message already there.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.conversation import TicketMessage

MESSAGES = "ticket_messages"
Raw = dict[str, Any]

INDEXES = [
    IndexModel([("ticketId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)]),
    IndexModel(
        [("ticketId", ASCENDING), ("dedupeKey", ASCENDING)],
        unique=True,
        partialFilterExpression={"dedupeKey": {"$type": "string"}},
        name="dedupeKey_unique",
    ),
    IndexModel("outbox.createdAt", name="outbox_pending"),
    IndexModel("applied"),
    IndexModel("recordedAt"),
]


@dataclass(frozen=True, slots=True)
class Stored:
    """A message as stored, with what the write path needs besides the message."""

    message: TicketMessage
    applied: bool
    request_hash: str | None
    outbox: list[Raw]


def _stored(raw: Raw) -> Stored:
    message = TicketMessage.model_validate({**raw, "id": raw["_id"]})
    return Stored(message, bool(raw.get("applied")), raw.get("requestHash"), raw.get("outbox", []))


class MessageStore:
    def __init__(self, database: AsyncDatabase[Raw]) -> None:
        self.messages = database[MESSAGES]

    async def ensure_indexes(self) -> None:
        await self.messages.create_indexes(INDEXES)

    async def insert(
        self,
        message: TicketMessage,
        *,
        customer_id: str,
        outbox: list[Raw],
        dedupe_key: str | None,
        now: datetime,
        request_hash: str | None = None,
        claimed_until: datetime | None = None,
    ) -> bool:
        """False when a message with the same `dedupe_key` is already on the ticket."""
        document = message.model_dump(by_alias=True, exclude={"id"})
        document |= {
            "_id": message.id,
            "customerId": customer_id,
            "dedupeKey": dedupe_key,
            "requestHash": request_hash,
            "applied": False,
            "recordedAt": now,
            "outbox": outbox,
            "relayLeaseUntil": claimed_until,
        }
        try:
            await self.messages.insert_one(document)
        except DuplicateKeyError:
            if dedupe_key is None:
                raise
            return False
        return True

    async def by_key(self, ticket_id: str, dedupe_key: str) -> Stored | None:
        raw = await self.messages.find_one({"ticketId": ticket_id, "dedupeKey": dedupe_key})
        return None if raw is None else _stored(raw)

    async def get(self, message_id: str) -> Stored | None:
        raw = await self.messages.find_one({"_id": message_id})
        return None if raw is None else _stored(raw)

    async def page(self, ticket_id: str, skip: int, limit: int) -> tuple[list[TicketMessage], int]:
        """Oldest first; ties on the send time are broken by id, so pages never overlap."""
        query = {"ticketId": ticket_id}
        total = await self.messages.count_documents(query)
        cursor = (
            self.messages.find(query, {"outbox": 0})
            .sort([("createdAt", ASCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [_stored(raw).message async for raw in cursor], total

    async def mark_applied(self, message_id: str) -> None:
        await self.messages.update_one({"_id": message_id}, {"$set": {"applied": True}})

    async def unapplied(self, query: Raw, limit: int) -> list[TicketMessage]:
        cursor = self.messages.find({**query, "applied": False}, {"outbox": 0})
        cursor = cursor.sort([("createdAt", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_stored(raw).message async for raw in cursor]
