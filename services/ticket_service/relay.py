"""Outbox relay: publishes committed events with publisher confirms, then marks them sent.

The instance that made a change publishes its events at once; a periodic sweep (and one
at start-up) takes what a crash or a broker outage left behind, claiming each ticket with
a lease so two relays never publish the same entries concurrently. Delivery is
at-least-once across crashes; consumers deduplicate on `eventId`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from infra.clock import Clock

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], str], Awaitable[None]]
"""publish(routing_key, payload, event_id): returns once the broker confirmed."""


class OutboxRelay:
    def __init__(
        self,
        tickets: AsyncCollection[dict[str, Any]],
        publish: Publish,
        clock: Clock,
        *,
        grace: timedelta = timedelta(seconds=10),
        lease: timedelta = timedelta(seconds=30),
        batch: int = 100,
    ) -> None:
        self._tickets = tickets
        self._publish = publish
        self._clock = clock
        self._grace = grace
        self._lease = lease
        self._batch = batch

    async def publish_now(self, ticket_id: str, entries: list[dict[str, Any]]) -> None:
        """Publish the events of a change this process just committed."""
        try:
            await self._deliver(ticket_id, entries)
        except Exception:
            log.warning(
                "event publish failed; the sweep will retry",
                exc_info=True,
                extra={"ticketId": ticket_id},
            )

    async def _deliver(self, ticket_id: str, entries: list[dict[str, Any]]) -> None:
        sent: list[str] = []
        try:
            for entry in entries:
                await self._publish(entry["routingKey"], entry["payload"], entry["eventId"])
                sent.append(entry["eventId"])
        finally:
            if sent:
                await self._tickets.update_one(
                    {"ticketId": ticket_id}, {"$pull": {"outbox": {"eventId": {"$in": sent}}}}
                )

    async def sweep(self) -> int:
        """Publish entries older than the grace period; returns how many went out."""
        now = self._clock.now()
        cursor = self._tickets.find(
            {"outbox.createdAt": {"$lte": now - self._grace}},
            {"ticketId": 1, "relayLeaseUntil": 1},
        ).limit(self._batch)
        published = 0
        async for candidate in cursor:
            published += await self._sweep_one(candidate["ticketId"])
        return published

    async def _sweep_one(self, ticket_id: str) -> int:
        now = self._clock.now()
        claimed = await self._tickets.find_one_and_update(
            {
                "ticketId": ticket_id,
                "$or": [{"relayLeaseUntil": None}, {"relayLeaseUntil": {"$lte": now}}],
            },
            {"$set": {"relayLeaseUntil": now + self._lease}},
            projection={"outbox": 1},
        )
        if claimed is None:
            return 0
        due = [e for e in claimed.get("outbox", []) if e["createdAt"] <= now - self._grace]
        try:
            await self._deliver(ticket_id, due)
        finally:
            await self._tickets.update_one(
                {"ticketId": ticket_id}, {"$set": {"relayLeaseUntil": None}}
            )
        if due:
            log.info("relay swept events", extra={"ticketId": ticket_id, "count": len(due)})
        return len(due)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Sweep at start-up, then every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("relay sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                continue
