"""Rate limits kept in MongoDB, so they hold across any number of API replicas.

Each key is one document in `rate_limits` holding the times of the hits inside the
window (a sliding log). A hit is two atomic updates: drop what left the window, then
push the new time only while fewer than `limit` remain. The second update filters on
"`hits.<limit-1>` does not exist", so concurrent hits can never push past the limit:
the loser's upsert collides on `_id` and is refused.

No TTL index: expiry would follow the server's wall clock, not the service's Clock, and
an idle key is one small document with an empty list.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.enums import TicketStatus
from infra.settings import Settings
from services.ticket_service.domain.errors import RateLimited
from services.ticket_service.repository import TicketRepository

COLLECTION = "rate_limits"
OPEN_STATUSES = [
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.IN_PROGRESS,
    TicketStatus.PENDING_CUSTOMER,
    TicketStatus.REOPENED,
]
"""A customer's tickets that still wait for the support team (not resolved or done)."""


class RateLimiter:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._hits = collection

    async def hit(self, key: str, limit: int, window: timedelta, now: datetime) -> int | None:
        """Count one hit; None when allowed, else the seconds until one is allowed again."""
        await self._hits.update_one({"_id": key}, {"$pull": {"hits": {"$lte": now - window}}})
        try:
            await self._hits.update_one(
                {"_id": key, f"hits.{limit - 1}": {"$exists": False}},
                {"$push": {"hits": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            record = await self._hits.find_one({"_id": key})
            oldest: datetime = min(record["hits"]) if record and record.get("hits") else now
            return max(1, math.ceil((oldest + window - now).total_seconds()))
        return None


@dataclass(frozen=True, slots=True)
class CreationLimits:
    per_customer: int = 10
    window: timedelta = timedelta(hours=1)
    max_open_per_customer: int = 10
    open_cap_retry_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CreationGuard:
    """The section 16.3 rules for opening a ticket, whichever path the request came by."""

    tickets: TicketRepository
    limiter: RateLimiter
    limits: CreationLimits

    async def check(self, customer_id: str, now: datetime) -> None:
        open_count = await self.tickets.count(
            {"customerId": customer_id, "status": {"$in": [str(s) for s in OPEN_STATUSES]}}
        )
        if open_count >= self.limits.max_open_per_customer:
            raise RateLimited(
                f"The customer already has {open_count} open tickets "
                f"(limit {self.limits.max_open_per_customer}); resolve one first",
                int(self.limits.open_cap_retry_after.total_seconds()),
            )
        wait = await self.limiter.hit(
            f"create:{customer_id}", self.limits.per_customer, self.limits.window, now
        )
        if wait is not None:
            raise RateLimited(
                f"Too many tickets created for this customer (at most "
                f"{self.limits.per_customer} per {_span(self.limits.window)}); "
                f"retry in {wait} seconds",
                wait,
            )


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


async def rate_limiting(
    mongo: AsyncMongoClient[dict[str, Any]], settings: Settings, tickets: TicketRepository
) -> tuple[RateLimiter, CreationGuard]:
    """The shared limiter (per-token request budgets) and the ticket-creation guard."""
    limiter = RateLimiter(mongo[settings.mongodb_database][COLLECTION])
    limits = CreationLimits(
        per_customer=settings.tickets_per_customer_per_hour,
        max_open_per_customer=settings.max_open_tickets_per_customer,
    )
    return limiter, CreationGuard(tickets, limiter, limits)
