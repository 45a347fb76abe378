"""The gateway's own collections: conversation state per customer, and the inbound
WhatsApp messages it has taken on (their id is the key, so a duplicate is seen as one).

Plain PyMongo with pydantic models rather than Beanie: both are small documents changed
by conditional updates, and the gateway must not share Beanie's global document classes
with the ticket service running in the same process.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.enums import Language
from services.assistant_gateway.domain.transcript import Entry, trimmed

log = logging.getLogger(__name__)

CONVERSATIONS = "assistant_conversations"
INBOUND = "assistant_inbound"
TOOL_CALLS = "assistant_tool_calls"
SAVE_ATTEMPTS = 5


class Conversation(BaseModel):
    phone: str = Field(alias="_id")
    language: Language | None = None
    transcript: list[Entry] = Field(default_factory=list)
    revision: int = 0
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class ConversationStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], keep: int) -> None:
        self._collection = database[CONVERSATIONS]
        self._keep = keep

    async def load(self, phone: str) -> Conversation:
        """A stored history that no longer parses (an older schema, a hand edit) is set
        aside rather than retried forever: the customer is answered without it."""
        raw = await self._collection.find_one({"_id": phone})
        if raw is None:
            return Conversation(_id=phone)
        try:
            return Conversation.model_validate(raw)
        except ValidationError:
            log.warning("stored conversation unreadable; starting it afresh")
            revision = raw.get("revision")
            return Conversation(_id=phone, revision=revision if isinstance(revision, int) else 0)

    async def append(
        self, phone: str, entries: list[Entry], language: Language, now: datetime
    ) -> None:
        """Appends to whatever is stored now: a concurrent turn's entries are kept (the
        write is conditional on the revision read, retried on a lost race)."""
        for _ in range(SAVE_ATTEMPTS):
            current = await self.load(phone)
            transcript = trimmed([*current.transcript, *entries], self._keep)
            update = {
                "$set": {
                    "language": language.value,
                    "transcript": [entry.model_dump(mode="json") for entry in transcript],
                    "revision": current.revision + 1,
                    "updatedAt": now,
                }
            }
            try:
                result = await self._collection.update_one(
                    {"_id": phone, "revision": current.revision}, update, upsert=True
                )
            except DuplicateKeyError:
                continue
            if result.matched_count or result.upserted_id is not None:
                return
        log.warning("conversation not saved after retries", extra={"attempts": SAVE_ATTEMPTS})


class InboundStatus(StrEnum):
    PROCESSING = "processing"
    REPLIED = "replied"
    ANSWERED = "answered"


class InboundRecord(BaseModel):
    message_id: str = Field(alias="_id")
    phone: str
    status: InboundStatus
    claimed_at: datetime = Field(alias="claimedAt")
    reply: str | None = None
    fallback: bool = False
    ticket_id: str | None = Field(default=None, alias="ticketId")
    duplicates: int = 0


class ClaimOutcome(StrEnum):
    RUN = "run"
    """Ours to answer (first delivery, our own crashed attempt, or an expired lease)."""
    PUBLISH_AGAIN = "publish_again"
    """The reply was decided but maybe not published: publish the stored reply."""
    SKIP = "skip"
    """Answered already, or another copy is being answered right now."""


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    record: InboundRecord | None = None


class InboundLog:
    def __init__(self, database: AsyncDatabase[dict[str, Any]], lease: timedelta) -> None:
        self._collection = database[INBOUND]
        self._lease = lease

    async def claim(
        self, message_id: str, phone: str, now: datetime, *, redelivered: bool
    ) -> Claim:
        """`redelivered` (RabbitMQ's flag) tells our own unacknowledged delivery coming
        back after a crash from a second copy of the message published by the sender."""
        fresh = {"_id": message_id, "phone": phone, "status": "processing", "claimedAt": now}
        try:
            await self._collection.insert_one(fresh)
        except DuplicateKeyError:
            pass
        else:
            return Claim(ClaimOutcome.RUN)
        raw = await self._collection.find_one({"_id": message_id})
        if raw is None:
            return await self.claim(message_id, phone, now, redelivered=redelivered)
        record = InboundRecord.model_validate(raw)
        if record.status is InboundStatus.REPLIED:
            return Claim(ClaimOutcome.PUBLISH_AGAIN, record)
        if record.status is InboundStatus.PROCESSING and (
            redelivered or record.claimed_at + self._lease <= now
        ):
            taken = await self._collection.update_one(
                {"_id": message_id, "status": "processing", "claimedAt": record.claimed_at},
                {"$set": {"claimedAt": now}},
            )
            if taken.modified_count:
                return Claim(ClaimOutcome.RUN, record)
        await self._collection.update_one({"_id": message_id}, {"$inc": {"duplicates": 1}})
        return Claim(ClaimOutcome.SKIP, record)

    async def replied(
        self, message_id: str, reply: str, *, fallback: bool, ticket_id: str | None = None
    ) -> None:
        """`ticket_id`: the ticket the turn worked on, where the conversation is recorded."""
        update = {"status": "replied", "reply": reply, "fallback": fallback, "ticketId": ticket_id}
        await self._collection.update_one({"_id": message_id}, {"$set": update})

    async def answered(self, message_id: str) -> None:
        await self._collection.update_one({"_id": message_id}, {"$set": {"status": "answered"}})


class JournalOutcome(StrEnum):
    RUN = "run"
    DONE = "done"
    BUSY = "busy"


@dataclass(frozen=True, slots=True)
class JournalClaim:
    outcome: JournalOutcome
    output: dict[str, Any] | None = None


class ToolJournal:
    """Outputs of state-changing tool calls by idempotency key, so a replayed comment or
    hand-off answers the first output instead of adding a second note. (Ticket creation
    needs none: the ticket service is idempotent on the key itself.)"""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], lease: timedelta) -> None:
        self._collection = database[TOOL_CALLS]
        self._lease = lease

    async def claim(self, key: str, now: datetime) -> JournalClaim:
        try:
            await self._collection.insert_one({"_id": key, "claimedAt": now})
        except DuplicateKeyError:
            pass
        else:
            return JournalClaim(JournalOutcome.RUN)
        raw = await self._collection.find_one({"_id": key})
        if raw is None:
            return await self.claim(key, now)
        if raw.get("output") is not None:
            return JournalClaim(JournalOutcome.DONE, raw["output"])
        if raw["claimedAt"] + self._lease > now:
            return JournalClaim(JournalOutcome.BUSY)
        taken = await self._collection.update_one(
            {"_id": key, "claimedAt": raw["claimedAt"], "output": None},
            {"$set": {"claimedAt": now}},
        )
        return JournalClaim(JournalOutcome.RUN if taken.modified_count else JournalOutcome.BUSY)

    async def complete(self, key: str, output: dict[str, Any]) -> None:
        await self._collection.update_one({"_id": key}, {"$set": {"output": output}})

    async def release(self, key: str) -> None:
        """A failed call leaves nothing behind: the same call may be tried again."""
        await self._collection.delete_one({"_id": key, "output": None})
