"""Outbound messages in MongoDB: claimed one at a time by conditional updates, so with any
number of channel replicas each is sent by one worker."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.delivery import REPORT_RANK
from infra.due import Claimed, DueWork
from services.whatsapp_channel.documents import INDEXES, SENDS, SendRecord
from services.whatsapp_channel.domain.sending import DUE_STATES, SendState
from services.whatsapp_channel.domain.webhook import StatusReport

BLOCKING_STATES = (SendState.PENDING, SendState.RETRYING, SendState.SENDING)
"""An older message to the same customer in one of these goes first."""
Raw = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeliveryVerdict:
    """The channel's own word on a delivery: `failed` (dead) or `unknown` (answer lost)."""

    status: str
    at: datetime
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ClaimedSend:
    record: SendRecord
    claim: Claimed


@dataclass(frozen=True, slots=True)
class Finished:
    recorded: bool
    """False: the claim was lost (another worker took the send over)."""
    delivery_changed: bool
    """The verdict replaced a lower delivery report: the ticket service must hear of it."""


def _verdict_stages(verdict: DeliveryVerdict | None) -> list[Raw]:
    """Sets the verdict as the delivery unless WhatsApp already reported something higher."""
    if verdict is None:
        return []
    rank = REPORT_RANK[verdict.status]
    delivery: Raw = {"status": verdict.status, "at": verdict.at}
    if verdict.error is not None:
        delivery["error"] = verdict.error
    higher = {"$lt": [{"$ifNull": ["$deliveryRank", 0]}, rank]}
    return [
        {
            "$set": {
                "delivery": {"$cond": [higher, {"$literal": delivery}, "$delivery"]},
                "deliveryRank": {"$cond": [higher, rank, "$deliveryRank"]},
                "reportPending": {"$cond": [higher, True, "$reportPending"]},
            }
        }
    ]


def _raises(before: Raw | None, verdict: DeliveryVerdict | None) -> bool:
    if before is None or verdict is None:
        return False
    return int(before.get("deliveryRank") or 0) < REPORT_RANK[verdict.status]


class SendStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.sends = database[SENDS]
        self.due_work = DueWork(
            self.sends,
            due="nextAttemptAt",
            lease="leaseUntil",
            where={"state": {"$in": list(DUE_STATES)}},
        )
        """A send is due at `nextAttemptAt`; a claim makes it `sending` for a lease."""

    async def ensure_indexes(self) -> None:
        await self.sends.create_indexes(INDEXES[SENDS])

    async def add(self, record: SendRecord) -> bool:
        """False when this outbound message id is already known (a redelivery)."""
        try:
            await self.sends.insert_one(record.stored())
        except DuplicateKeyError:
            return False
        return True

    async def get(self, send_id: str) -> SendRecord | None:
        found = await self.sends.find_one({"_id": send_id})
        return None if found is None else SendRecord.model_validate(found)

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[ClaimedSend]:
        """Due sends, oldest first, each claimed by one conditional update (`sending`,
        one more attempt); a send whose customer has an older one unsent waits its turn."""
        claimed: list[ClaimedSend] = []
        for doc in await self.due_work.candidates(now, limit):
            record = SendRecord.model_validate(doc)
            if await self._older_unsent(record):
                continue
            won = await self.due_work.claim_row(
                record.id,
                now,
                lease,
                due_by=now,
                condition={"state": record.state, "attempts": record.attempts},
                set_fields={"state": SendState.SENDING, "lastAttemptAt": now},
                inc={"attempts": 1},
            )
            if won is not None:
                claimed.append(ClaimedSend(SendRecord.model_validate(won.row), won))
        return claimed

    async def _older_unsent(self, record: SendRecord) -> bool:
        older = await self.sends.find_one(
            {
                "to": record.to,
                "createdAt": {"$lt": record.created_at},
                "state": {"$in": list(BLOCKING_STATES)},
            },
            {"_id": 1},
        )
        return older is not None

    async def finish(
        self, claimed: ClaimedSend, fields: dict[str, Any], verdict: DeliveryVerdict | None = None
    ) -> Finished:
        """Records the attempt's outcome if the claim is still ours, with the channel's
        `verdict` on the delivery in the same update (a dead send whose worker died
        before a second write would never show `failed`)."""
        literal = {name: {"$literal": value} for name, value in fields.items()}
        stages = [{"$set": {**literal, **self.due_work.given_up()}}, *_verdict_stages(verdict)]
        before = await self.sends.find_one_and_update(
            self.due_work.held_by(claimed.claim),
            stages,
            projection={"deliveryRank": 1},
            return_document=ReturnDocument.BEFORE,
        )
        return Finished(before is not None, _raises(before, verdict))

    async def expire_claims(self, now: datetime) -> list[str]:
        """Claims whose worker died: the call may have gone out, so they end `unknown`
        (the delivery says so too, in the same update). Returns those whose delivery
        changed."""
        verdict = DeliveryVerdict("unknown", now)
        stages = [
            {"$set": {"state": {"$literal": SendState.UNKNOWN}, **self.due_work.given_up()}},
            *_verdict_stages(verdict),
        ]
        expired: list[str] = []
        for doc in await self.due_work.expired(now, {"state": SendState.SENDING}):
            before = await self.sends.find_one_and_update(
                {**self.due_work.still_expired(doc, now), "state": SendState.SENDING},
                stages,
                projection={"deliveryRank": 1},
                return_document=ReturnDocument.BEFORE,
            )
            if before is not None:
                expired.append(str(doc["_id"]))
        return expired

    async def apply_status(self, report: StatusReport) -> SendRecord | None:
        """WhatsApp's report on one of our messages, found by its WhatsApp id or by the
        callback data we sent (our id). Only a higher report replaces the current one;
        returns the send when the report changed it."""
        error = report.errors[0].to_wire() if report.errors else None
        which = [{"whatsappMessageId": report.whatsapp_message_id}]
        if report.callback_data:
            which.append({"_id": report.callback_data})
        record = await self._deliver(
            {"$or": which},
            report.status,
            report.at,
            error,
            {"whatsappMessageId": report.whatsapp_message_id},
        )
        if record is not None and record.state is SendState.UNKNOWN:
            settled = SendState.DEAD if report.status == "failed" else SendState.SENT
            await self.sends.update_one(  # the report settles what a lost answer left open
                {"_id": record.id, "state": SendState.UNKNOWN},
                {"$set": {"state": settled, "sentAt": report.at}},
            )
        return record

    async def _deliver(
        self,
        which: dict[str, Any],
        status: str,
        at: datetime,
        error: dict[str, Any] | None,
        also: dict[str, Any],
    ) -> SendRecord | None:
        rank = REPORT_RANK[status]
        delivery: dict[str, Any] = {"status": status, "at": at}
        if error is not None:
            delivery["error"] = error
        fields = {**also, "delivery": delivery, "deliveryRank": rank, "reportPending": True}
        found = await self.sends.find_one_and_update(
            {**which, "deliveryRank": {"$lt": rank}},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return None if found is None else SendRecord.model_validate(found)

    async def reports_due(self, limit: int) -> list[SendRecord]:
        cursor = self.sends.find({"reportPending": True}).limit(limit)
        return [SendRecord.model_validate(doc) async for doc in cursor]

    async def reported(self, record: SendRecord) -> None:
        """Clears the flag unless a newer report came in meanwhile."""
        await self.sends.update_one(
            {"_id": record.id, "deliveryRank": record.delivery_rank},
            {"$set": {"reportPending": False}},
        )
