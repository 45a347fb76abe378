"""The gateway's own collections: conversation state per customer, and the inbound
WhatsApp messages it has taken on (their id is the key, so a duplicate is seen as one).

Plain PyMongo with pydantic models rather than Beanie: both are small documents changed
by conditional updates, and the gateway must not share Beanie's global document classes
with the ticket service running in the same process.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.enums import Language
from infra.claims import KeyLeases, OnceByKey
from infra.clock import Clock
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
    holder: str | None = None
    """Our token while the outcome is RUN: `replied` only counts while we hold it."""


class InboundLog:
    """Inbound message ids claimed with a lease (`infra.claims.KeyLeases`), open while
    `processing`."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], lease: timedelta) -> None:
        self._collection = database[INBOUND]
        self._leases = KeyLeases(self._collection, lease, unfinished={"status": "processing"})

    async def claim(
        self, message_id: str, phone: str, now: datetime, *, redelivered: bool
    ) -> Claim:
        """`redelivered` (RabbitMQ's flag) tells our own unacknowledged delivery coming
        back after a crash from a second copy of the message published by the sender: it
        takes an unfinished claim over at once."""
        lease = await self._leases.claim(message_id, now, {"phone": phone}, take_over=redelivered)
        record = None if lease.found is None else InboundRecord.model_validate(lease.found)
        if lease.held:
            return Claim(ClaimOutcome.RUN, record, lease.holder)
        if record is not None and record.status is InboundStatus.REPLIED:
            return Claim(ClaimOutcome.PUBLISH_AGAIN, record)
        await self._collection.update_one({"_id": message_id}, {"$inc": {"duplicates": 1}})
        return Claim(ClaimOutcome.SKIP, record)

    async def replied(
        self,
        message_id: str,
        holder: str,
        reply: str,
        *,
        fallback: bool,
        ticket_id: str | None = None,
    ) -> bool:
        """`ticket_id`: the ticket the turn worked on, where the conversation is recorded.
        False when this holder lost its lease: the copy that took over answers."""
        update = {"status": "replied", "reply": reply, "fallback": fallback, "ticketId": ticket_id}
        return await self._leases.complete(message_id, holder, update)

    async def answered(self, message_id: str) -> None:
        await self._collection.update_one({"_id": message_id}, {"$set": {"status": "answered"}})


class _NotKept(Exception):
    """A failed output: answered, not journaled (the same call may be tried again)."""

    def __init__(self, output: dict[str, Any]) -> None:
        super().__init__("tool call failed")
        self.output = output


class ToolJournal:
    """Outputs of state-changing tool calls by idempotency key (`infra.claims.OnceByKey`),
    so a replayed comment or hand-off answers the first output instead of adding a second
    note. A concurrent copy waits for the first as long as it holds its lease, then
    answers its output. A failed output is not kept and leaves nothing behind: the same
    call may run again (a waiting copy then runs it). (Ticket creation needs none: the
    ticket service is idempotent on the key itself.)"""

    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], lease: timedelta, clock: Clock
    ) -> None:
        self._collection = database[TOOL_CALLS]
        self._once = OnceByKey(self._collection, lease, clock, keep_failed=False)

    async def upgrade(self) -> None:
        """Outputs journaled before claims were kept (`output`) become claim results."""
        await self._collection.update_many(
            {"output": {"$ne": None}, "result": None},
            [{"$set": {"result": "$output", "holder": ""}}, {"$unset": "output"}],
        )

    async def once(self, key: str, run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """`run`'s output, run once per key while it succeeds; a replay's is the first."""

        async def work() -> dict[str, Any]:
            output = await run()
            if not output.get("success"):
                raise _NotKept(output)
            return output

        try:
            return await self._once.once(key, work, dict, _replayed)
        except _NotKept as failed:
            return failed.output


async def _replayed(output: dict[str, Any]) -> dict[str, Any]:
    return output
