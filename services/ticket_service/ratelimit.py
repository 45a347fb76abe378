"""The limits on opening tickets, over the shared sliding-window limiter (`infra.ratelimit`).

The limiter's collection `rate_limits` also holds each customer's `opening:<customerId>`
reservations for the open-ticket cap (`CreationGuard`).
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.enums import TicketStatus
from infra.ratelimit import COLLECTION, RateLimiter
from infra.settings import Settings
from services.ticket_service.domain.errors import RateLimited
from services.ticket_service.domain.lifecycle import TERMINAL_OR_DONE
from services.ticket_service.repository import TicketRepository

__all__ = [  # RateLimiter too: routers built before it moved to infra import it from here
    "OPEN_STATUSES",
    "RESERVATION_LEASE",
    "CreationGuard",
    "CreationLimits",
    "RateLimiter",
    "rate_limiting",
]

RESERVATION_LEASE = timedelta(minutes=2)
OPEN_STATUSES = [s for s in TicketStatus if s not in TERMINAL_OR_DONE]
"""A customer's tickets that still wait for the support team (not resolved or done)."""


@dataclass(frozen=True, slots=True)
class CreationLimits:
    per_customer: int = 10
    window: timedelta = timedelta(hours=1)
    max_open_per_customer: int = 10
    open_cap_retry_after: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CreationGuard:
    """The section 16.3 rules for opening a ticket, whichever path the request came by.

    The open-ticket cap is exact under concurrency: a creation first adds a reservation to
    the customer's `opening:<customerId>` document (one atomic push that returns every
    reservation in flight), then counts the open tickets, and keeps the reservation until
    its ticket is stored. Of any two concurrent creations, the later push sees the other's
    reservation or, once that is released, its stored ticket, so both are counted. A
    reservation whose creator died lapses after `RESERVATION_LEASE` on the service's clock.
    """

    tickets: TicketRepository
    limiter: RateLimiter
    limits: CreationLimits
    reservations: AsyncCollection[dict[str, Any]]

    @asynccontextmanager
    async def admit(self, customer_id: str, now: datetime) -> AsyncIterator[None]:
        """Check both limits; the caller stores the ticket inside the block."""
        key, mine = f"opening:{customer_id}", uuid.uuid4().hex
        in_flight = await self._reserve(key, mine, now)
        try:
            await self._check_open(customer_id, in_flight - 1)
            await self._check_rate(customer_id, now)
            yield
        finally:
            await self.reservations.update_one({"_id": key}, {"$pull": {"pending": {"id": mine}}})

    async def _reserve(self, key: str, mine: str, now: datetime) -> int:
        """Add a reservation; how many are in flight with it."""
        stale = {"$pull": {"pending": {"at": {"$lte": now - RESERVATION_LEASE}}}}
        await self.reservations.update_one({"_id": key}, stale)
        push = {"$push": {"pending": {"id": mine, "at": now}}}
        try:
            record = await self._push(key, push)
        except DuplicateKeyError:  # a concurrent first upsert made the document: push into it
            record = await self._push(key, push)
        return len(record["pending"])

    async def _push(self, key: str, update: dict[str, Any]) -> dict[str, Any]:
        record = await self.reservations.find_one_and_update(
            {"_id": key}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert record is not None  # an upsert returning the document after it always has one
        return record

    async def _check_open(self, customer_id: str, others_in_flight: int) -> None:
        stored = await self.tickets.count(
            {"customerId": customer_id, "status": {"$in": [str(s) for s in OPEN_STATUSES]}}
        )
        open_count = stored + others_in_flight
        if open_count >= self.limits.max_open_per_customer:
            raise RateLimited(
                f"The customer already has {open_count} open tickets "
                f"(limit {self.limits.max_open_per_customer}); resolve one first",
                int(self.limits.open_cap_retry_after.total_seconds()),
            )

    async def _check_rate(self, customer_id: str, now: datetime) -> None:
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
    collection = mongo[settings.mongodb_database][COLLECTION]
    limiter = RateLimiter(collection)
    limits = CreationLimits(
        per_customer=settings.tickets_per_customer_per_hour,
        max_open_per_customer=settings.max_open_tickets_per_customer,
    )
    return limiter, CreationGuard(tickets, limiter, limits, collection)
