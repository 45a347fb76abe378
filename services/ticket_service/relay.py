"""Outbox relay: publishes committed entries with publisher confirms, then removes them.

An entry is an event for the `tickets.events` exchange (`routingKey`) or a message for a
queue (`queue`, e.g. an agent's reply for `whatsapp.outbound`); `onSent` fields are set
on the document once the entry is removed, if it still matches `onSentIf`. The instance
that made a change publishes its entries at once; a periodic sweep (and one at start-up)
takes what a crash or a broker outage left behind, claiming each document with a lease so
two relays never publish the same entries concurrently. Delivery is at-least-once across crashes;
consumers deduplicate on `eventId` (the AMQP message id).

One relay serves one collection whose documents carry an `outbox` (tickets by
`ticketId`, conversation messages by `_id`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from infra.clock import Clock
from infra.due import Claimed, DueWork
from infra.loops import dependency_of, every
from services.ticket_service import metrics

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], str], Awaitable[None]]
"""publish(routing_key or queue, payload, event_id): returns once the broker confirmed."""
BeforeSweep = Callable[[dict[str, Any], list[dict[str, Any]]], Awaitable[None]]
"""before_sweep(document, entries): runs before a sweep publishes what a writer left
behind (`document` holds the key and `customerId`): the writer's unfinished bookkeeping."""


class OutboxRelay:
    def __init__(
        self,
        documents: AsyncCollection[dict[str, Any]],
        publish: Publish,
        clock: Clock,
        *,
        key: str = "ticketId",
        send: Publish | None = None,
        grace: timedelta = timedelta(seconds=10),
        lease: timedelta = timedelta(seconds=30),
        batch: int = 100,
        before_sweep: BeforeSweep | None = None,
    ) -> None:
        self._documents = documents
        self._publish = publish
        self._send = send
        self._clock = clock
        self._key = key
        self._grace = grace
        self._lease = lease
        self._batch = batch
        self._before_sweep = before_sweep
        self._due = DueWork(
            documents,
            due="outbox.createdAt",
            lease="relayLeaseUntil",
            holder="relayHolder",
            key=key,
        )
        """A document is due when an outbox entry is older than the grace period; a writer
        that wrote it with `relayLeaseUntil` set holds it with no token."""

    def claimed_until(self, now: datetime) -> datetime:
        """The lease a document written with `relayLeaseUntil` already set holds: its
        writer publishes it, no sweep or replay touches it meanwhile."""
        return now + self._lease

    async def publish_now(self, key: Any, entries: list[dict[str, Any]]) -> None:
        """Publish the entries of a change this process just committed."""
        try:
            await self._deliver(key, entries)
        except Exception as error:
            dependency = dependency_of(error)
            log.warning(
                "event publish failed; the sweep will retry",
                exc_info=dependency is None,
                extra={
                    **self._about(key),
                    "dependency": dependency,
                    "error": f"{type(error).__name__}: {error}"[:300],
                },
            )

    async def publish_claimed(self, key: Any, entries: list[dict[str, Any]]) -> None:
        """Like `publish_now` for a document written already claimed; releases the claim."""
        try:
            await self.publish_now(key, entries)
        finally:
            await self._release(key)

    async def flush(self, key: Any) -> int:
        """Publish whatever the document's outbox holds now, if no one else holds it."""
        return await self._sweep_one(key, timedelta(0))

    async def _deliver(self, key: Any, entries: list[dict[str, Any]]) -> None:
        sent: list[dict[str, Any]] = []
        try:
            for entry in entries:
                await self._publish_entry(entry)
                sent.append(entry)
        finally:
            if sent:
                ids = [entry["eventId"] for entry in sent]
                pull = {"$pull": {"outbox": {"eventId": {"$in": ids}}}}
                await self._documents.update_one({self._key: key}, pull)
                for entry in sent:
                    await self._mark_sent(key, entry)

    async def _mark_sent(self, key: Any, entry: dict[str, Any]) -> None:
        """`onSent` fields, only while the document still matches `onSentIf` (a reply's
        `queued` never hides a delivery report that came back first)."""
        if on_sent := entry.get("onSent"):
            condition = entry.get("onSentIf") or {}
            await self._documents.update_one({self._key: key, **condition}, {"$set": on_sent})

    async def _publish_entry(self, entry: dict[str, Any]) -> None:
        queue = entry.get("queue")
        if queue is None:
            await self._publish(entry["routingKey"], entry["payload"], entry["eventId"])
            return
        if self._send is None:
            raise RuntimeError(f"this relay cannot send to queue {queue}")
        await self._send(queue, entry["payload"], entry["eventId"])

    async def sweep(self) -> int:
        """Publish entries older than the grace period; returns how many went out."""
        now = self._clock.now()
        candidates = await self._due.candidates(
            now, self._batch, due_by=now - self._grace, sort=False, projection={self._key: 1}
        )
        published = 0
        for candidate in candidates:
            published += await self._sweep_one(candidate[self._key], self._grace)
        await self.measure_backlog()
        return published

    async def measure_backlog(self) -> None:
        """The outbox gauges of this collection: documents with unsent entries, and the
        age of the oldest entry."""
        pending = {"outbox.createdAt": {"$exists": True}}
        count = await self._documents.count_documents(pending)
        oldest = None
        if count:
            cursor = self._documents.find(pending, {"outbox.createdAt": 1})
            async for document in cursor.sort("outbox.createdAt", 1).limit(1):
                oldest = min(entry["createdAt"] for entry in document["outbox"])
        metrics.set_backlog(self._documents.name, count, oldest, self._clock.now())

    async def _sweep_one(self, key: Any, grace: timedelta) -> int:
        now = self._clock.now()
        claimed = await self._due.claim_row(
            key,
            now,
            self._lease,
            due_by=None,
            projection={"outbox": 1, self._key: 1, "customerId": 1},
        )
        if claimed is None:
            return 0
        document = claimed.row
        due = [e for e in document.get("outbox", []) if e["createdAt"] <= now - grace]
        try:
            if due and self._before_sweep is not None:
                await self._before_sweep(document, due)
            await self._deliver(key, due)
        finally:
            await self._due.release(claimed, self._clock.now())
        if due:
            log.info("relay swept entries", extra={**self._about(key), "count": len(due)})
        return len(due)

    def _about(self, key: Any) -> dict[str, str]:
        return {"ticketId" if self._key == "ticketId" else "documentId": str(key)}

    async def _release(self, key: Any) -> None:
        """Gives up the writer's lease, unless a sweep took the document over meanwhile."""
        await self._due.release(Claimed({self._key: key}, None), self._clock.now())

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Sweep at start-up, then every `interval` seconds until `stop` is set."""
        await every(interval, stop, self.sweep, "outbox relay")
