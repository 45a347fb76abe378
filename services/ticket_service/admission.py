"""A customer's ticket creations, kept on the customer's own document, so the hourly limit
and the open-ticket cap count each creation once, however often it is retried.

`ticketCreations` holds `{key, at, by}` for each creation admitted within the hourly
window: one atomic update drops what left the window and adds the creation only if its
key is not there yet and the window has room. A retry (same key) finds its entry and
spends nothing; concurrent creations can never pass the limit. `by` tells the call that
added an entry from a retry that found it, so a refused or replayed call removes only an
entry it added itself.

`countedTickets` remembers the last ticket ids added to `statistics.totalTickets`, which
makes that count idempotent: the creator, a retry and the outbox relay's sweep (for a
creator that died after storing its ticket) may all ask, and the ticket counts once.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from infra.settings import Settings
from services.ticket_service.domain.errors import NotFound, RateLimited

Raw = dict[str, Any]
RESERVATION_LEASE = timedelta(minutes=2)
"""An admitted creation whose ticket is not stored after this no longer holds a place
under the open-ticket cap (its creator died; a retry with its key still works)."""
COUNTED_KEPT = 200
"""Ticket ids remembered per customer to keep the ticket count idempotent."""
UNLIMITED = 1 << 30


@dataclass(frozen=True, slots=True)
class CreationLimits:
    per_customer: int = 10
    window: timedelta = timedelta(hours=1)
    max_open_per_customer: int = 10
    open_cap_retry_after: timedelta = timedelta(hours=1)

    def rate_limited(self, oldest: datetime, now: datetime) -> RateLimited:
        wait = max(1, math.ceil((oldest + self.window - now).total_seconds()))
        return RateLimited(
            f"Too many tickets created for this customer (at most {self.per_customer} "
            f"per {_span(self.window)}); retry in {wait} seconds",
            wait,
        )

    def open_cap(self, open_count: int) -> RateLimited:
        return RateLimited(
            f"The customer already has {open_count} open tickets "
            f"(limit {self.max_open_per_customer}); resolve one first",
            int(self.open_cap_retry_after.total_seconds()),
        )


@dataclass(frozen=True, slots=True)
class Admission:
    key: str
    nonce: str
    admitted: bool
    """False: the hourly limit is reached (`oldest` says when a place frees)."""
    added: bool
    """This call added the entry (a retry that found it spends nothing)."""
    in_flight: tuple[str, ...]
    """Keys of the customer's other creations admitted within the reservation lease."""
    oldest: datetime | None


def _admit(key: str, nonce: str, now: datetime, window_start: datetime, limit: int) -> list[Raw]:
    entries = "$ticketCreations"
    within = {
        "$filter": {
            "input": {"$ifNull": [entries, []]},
            "cond": {"$gt": ["$$this.at", window_start]},
        }
    }
    full_or_known = {
        "$or": [
            {"$in": [{"$literal": key}, f"{entries}.key"]},
            {"$gte": [{"$size": entries}, limit]},
        ]
    }
    mine = [{"key": {"$literal": key}, "at": now, "by": nonce}]
    return [
        {"$set": {"ticketCreations": within}},
        {
            "$set": {
                "ticketCreations": {
                    "$cond": [full_or_known, entries, {"$concatArrays": [entries, mine]}]
                }
            }
        },
    ]


class CustomerCreations:
    def __init__(self, customers: AsyncCollection[Raw]) -> None:
        self._customers = customers

    async def admit(
        self, customer_id: str, key: str, now: datetime, limits: CreationLimits, *, limited: bool
    ) -> Admission:
        """Add the creation to the customer's window (unless the limit is reached, when
        `limited`); what the window holds afterwards."""
        nonce = uuid.uuid4().hex
        limit = limits.per_customer if limited else UNLIMITED
        record = await self._customers.find_one_and_update(
            {"_id": ObjectId(customer_id)},
            _admit(key, nonce, now, now - limits.window, limit),
            return_document=ReturnDocument.AFTER,
            projection={"ticketCreations": 1},
        )
        if record is None:
            raise NotFound(f"Customer {customer_id} not found")
        entries: list[Raw] = record.get("ticketCreations", [])
        mine = next((e for e in entries if e["key"] == key), None)
        recent = now - RESERVATION_LEASE
        return Admission(
            key=key,
            nonce=nonce,
            admitted=mine is not None,
            added=mine is not None and mine.get("by") == nonce,
            in_flight=tuple(e["key"] for e in entries if e["key"] != key and e["at"] > recent),
            oldest=min((e["at"] for e in entries), default=None),
        )

    async def withdraw(self, customer_id: str, admission: Admission) -> None:
        """Take back the entry this call added (refused, or a replay of an old ticket)."""
        if admission.added:
            await self._customers.update_one(
                {"_id": ObjectId(customer_id)},
                {"$pull": {"ticketCreations": {"key": admission.key, "by": admission.nonce}}},
            )

    async def count_swept(self, ticket: Raw, entries: list[Raw]) -> None:
        """The outbox relay is about to publish what a writer left behind: if that is a
        creation, its writer may have died before counting the ticket."""
        if any(entry.get("routingKey") == "ticket.created" for entry in entries):
            await self.count(ticket["customerId"], ticket["ticketId"])

    async def count(self, customer_id: str, ticket_id: str) -> bool:
        """Add the ticket to `statistics.totalTickets` unless it was already counted."""
        result = await self._customers.update_one(
            {"_id": ObjectId(customer_id), "countedTickets": {"$ne": ticket_id}},
            {
                "$inc": {"statistics.totalTickets": 1},
                "$push": {"countedTickets": {"$each": [ticket_id], "$slice": -COUNTED_KEPT}},
            },
        )
        return result.modified_count == 1


def creation_limits(settings: Settings) -> CreationLimits:
    return CreationLimits(
        per_customer=settings.tickets_per_customer_per_hour,
        max_open_per_customer=settings.max_open_tickets_per_customer,
    )


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
