"""Webhook endpoints and deliveries in MongoDB (PyMongo's async client, no Beanie: several
notifier instances may share one process in tests, and Beanie binds classes globally)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from infra.due import Claimed, DueWork
from infra.mongo import insert_new
from services.notifier.documents import (
    DELIVERIES,
    DELIVERY_INDEXES,
    WEBHOOK_INDEXES,
    WEBHOOKS,
    Delivery,
    Webhook,
    new_delivery_id,
)
from services.notifier.domain.webhooks import DUE_STATUSES, DeliveryStatus, Outcome, wants


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    delivery: Delivery
    claim: Claimed


class WebhookStore:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.webhooks = database[WEBHOOKS]
        self.deliveries = database[DELIVERIES]
        self.due_work = DueWork(
            self.deliveries, due="nextAttemptAt", where={"status": {"$in": list(DUE_STATUSES)}}
        )
        """A delivery is due at `nextAttemptAt`; a claim holds it for a lease (a worker
        that dies leaves it to the next claim once the lease runs out)."""

    async def ensure_indexes(self) -> None:
        await self.webhooks.create_indexes(WEBHOOK_INDEXES)
        await self.deliveries.create_indexes(DELIVERY_INDEXES)

    async def add(self, webhook: Webhook) -> None:
        await self.webhooks.insert_one(webhook.stored())

    async def get(self, webhook_id: str) -> Webhook | None:
        found = await self.webhooks.find_one({"_id": webhook_id})
        return None if found is None else Webhook.model_validate(found)

    async def all(self) -> list[Webhook]:
        cursor = self.webhooks.find({}).sort("createdAt", ASCENDING)
        return [Webhook.model_validate(doc) async for doc in cursor]

    async def update(self, webhook_id: str, fields: dict[str, Any]) -> Webhook | None:
        found = await self.webhooks.find_one_and_update(
            {"_id": webhook_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return None if found is None else Webhook.model_validate(found)

    async def rotate(
        self, webhook_id: str, secret: str, previous_until: datetime, now: datetime
    ) -> Webhook | None:
        """The current secret becomes the previous one until `previous_until`; a
        concurrent rotation is applied after this one, never lost in between."""
        for _ in range(5):
            current = await self.get(webhook_id)
            if current is None:
                return None
            found = await self.webhooks.find_one_and_update(
                {"_id": webhook_id, "secret": current.secret},
                {
                    "$set": {
                        "secret": secret,
                        "previousSecret": current.secret,
                        "previousSecretUntil": previous_until,
                        "updatedAt": now,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
            if found is not None:
                return Webhook.model_validate(found)
        raise RuntimeError(f"webhook {webhook_id}: its secret kept changing during a rotation")

    async def remove(self, webhook_id: str) -> bool:
        """Deliveries stay for the record; pending ones die at their next attempt."""
        result = await self.webhooks.delete_one({"_id": webhook_id})
        return result.deleted_count == 1

    async def enqueue(
        self, event_id: str, event_type: str, payload: dict[str, Any], now: datetime
    ) -> int:
        """One pending delivery per active matching endpoint; a repeat is a no-op.
        Returns how many were new."""
        cursor = self.webhooks.find({"active": True}, {"events": 1})
        targets = [doc["_id"] async for doc in cursor if wants(doc.get("events", []), event_type)]
        if not targets:
            return 0
        documents = [
            Delivery(
                id=new_delivery_id(),
                webhook_id=webhook_id,
                event_id=event_id,
                event_type=event_type,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            ).stored()
            for webhook_id in targets
        ]
        return await insert_new(self.deliveries, documents)

    async def due_webhooks(self, now: datetime) -> list[str]:
        """The endpoints that have deliveries due now."""
        due = self.due_work.due_filter(now, now)
        webhook_ids: list[str] = await self.deliveries.distinct("webhookId", due)
        return webhook_ids

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int, webhook_id: str
    ) -> list[ClaimedDelivery]:
        """Up to `limit` of the endpoint's due deliveries, oldest first, each taken by one
        worker for `lease` (one attempt more); a lost race skips it."""
        claimed = await self.due_work.claim(
            now,
            lease,
            limit,
            where={"webhookId": webhook_id},
            set_fields={"lastAttemptAt": now},
            inc={"attempts": 1},
        )
        return [ClaimedDelivery(Delivery.model_validate(c.row), c) for c in claimed]

    async def record(
        self,
        claimed: ClaimedDelivery,
        outcome: Outcome,
        status_code: int | None,
        error: str | None,
        now: datetime,
    ) -> bool:
        """The attempt's outcome, unless the claim was lost (its lease ran out and another
        worker took the delivery over)."""
        fields: dict[str, Any] = {
            "status": outcome.status,
            "lastStatusCode": status_code,
            "lastError": error,
        }
        if outcome.status is DeliveryStatus.DELIVERED:
            fields["deliveredAt"] = now
        next_attempt = outcome.next_attempt_at or now
        return await self.due_work.reschedule(claimed.claim, next_attempt, now, fields)

    async def deliveries_of(
        self, webhook_id: str, status: DeliveryStatus | None, skip: int, limit: int
    ) -> tuple[list[Delivery], int]:
        query: dict[str, Any] = {"webhookId": webhook_id}
        if status is not None:
            query["status"] = status
        total = await self.deliveries.count_documents(query)
        cursor = self.deliveries.find(query).sort("createdAt", DESCENDING).skip(skip).limit(limit)
        return [Delivery.model_validate(doc) async for doc in cursor], total

    async def retry(self, webhook_id: str, delivery_id: str, now: datetime) -> Delivery | None:
        """A dead delivery back to pending, with a fresh set of attempts."""
        found = await self.deliveries.find_one_and_update(
            {"_id": delivery_id, "webhookId": webhook_id, "status": DeliveryStatus.DEAD},
            {"$set": {"status": DeliveryStatus.PENDING, "attempts": 0, "nextAttemptAt": now}},
            return_document=ReturnDocument.AFTER,
        )
        return None if found is None else Delivery.model_validate(found)
