"""Sends due webhook deliveries: signed, concurrently, each with its own timeout, so one
slow endpoint never holds up the others; failures are retried with backoff, then dead."""

import asyncio
import json
import logging
from collections import Counter
from datetime import timedelta

import httpx

from infra.clock import Clock
from infra.loops import every
from services.notifier import metrics
from services.notifier.documents import Delivery
from services.notifier.domain.webhooks import DeliveryStatus, Outcome, RetryPolicy, after_attempt
from services.notifier.repository import ClaimedDelivery, WebhookStore
from services.notifier.sender import MAX_ADDRESSES, Attempt, Request, WebhookSender
from services.notifier.targets import Resolver, system_resolver

log = logging.getLogger(__name__)


def body_of(delivery: Delivery) -> bytes:
    envelope = {
        "eventId": delivery.event_id,
        "type": delivery.event_type,
        "occurredAt": delivery.payload.get("occurredAt"),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookWorker:
    def __init__(
        self,
        store: WebhookStore,
        clock: Clock,
        policy: RetryPolicy,
        timeout: float,
        max_in_flight: int,
        max_per_endpoint: int,
        allow_private_targets: bool = False,
        client: httpx.AsyncClient | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._max_in_flight = max_in_flight
        self._max_per_endpoint = max_per_endpoint
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._sender = WebhookSender(
            self._client, resolver, timeout, allow_private=allow_private_targets
        )
        self._lease = timedelta(seconds=timeout * (MAX_ADDRESSES + 1) + 5)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._busy: Counter[str] = Counter()
        """In-flight requests per webhook id."""

    async def run_once(self) -> int:
        """Claims what is due now and sends it all; returns how many were attempted."""
        claimed = await self._claim()
        await asyncio.gather(*(self._deliver(delivery) for delivery in claimed))
        return len(claimed)

    async def run(self, poll_seconds: float, stop: asyncio.Event) -> None:
        """Keeps up to `max_in_flight` sends going without waiting for a whole batch."""
        await every(poll_seconds, stop, self._start_due, "webhook deliveries")

    async def _start_due(self) -> None:
        for delivery in await self._claim():
            self._start(delivery)

    async def _claim(self) -> list[ClaimedDelivery]:
        """Due deliveries up to the free room, each endpoint up to `max_per_endpoint`
        in flight: a slow endpoint holding its share leaves room for the others."""
        room = self._max_in_flight - len(self._in_flight)
        claimed: list[ClaimedDelivery] = []
        now = self._clock.now()
        for webhook_id in await self._store.due_webhooks(now) if room > 0 else []:
            share = min(room - len(claimed), self._max_per_endpoint - self._busy[webhook_id])
            if share > 0:
                claimed += await self._store.claim_due(now, self._lease, share, webhook_id)
            if len(claimed) >= room:
                break
        return claimed

    def _start(self, claimed: ClaimedDelivery) -> None:
        webhook_id = claimed.delivery.webhook_id
        self._busy[webhook_id] += 1
        task = asyncio.create_task(self._deliver_logged(claimed))
        self._in_flight.add(task)

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.discard(task)
            self._busy[webhook_id] -= 1
            if self._busy[webhook_id] <= 0:
                del self._busy[webhook_id]

        task.add_done_callback(done)

    async def _deliver_logged(self, claimed: ClaimedDelivery) -> None:
        """A failure to record the outcome leaves the lease to expire: it is tried again."""
        try:
            await self._deliver(claimed)
        except Exception:
            log.exception("webhook delivery failed", extra={"deliveryId": claimed.delivery.id})

    async def close(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._client.aclose()

    async def _deliver(self, claimed: ClaimedDelivery) -> None:
        delivery = claimed.delivery
        webhook = await self._store.get(delivery.webhook_id)
        now = self._clock.now()
        if webhook is None or not webhook.active:
            attempt = Attempt(None, "webhook deleted or disabled", final=True)
        else:
            attempt = await self._sender.send(
                webhook, Request(body_of(delivery), _headers(delivery), now)
            )
        if attempt.final:
            outcome = Outcome(DeliveryStatus.DEAD, None)
        else:
            outcome = after_attempt(self._policy, delivery.attempts, attempt.error is None, now)
        if not await self._store.record(
            claimed, outcome, attempt.status_code, attempt.error, self._clock.now()
        ):
            log.warning("webhook claim lost before recording", extra={"deliveryId": delivery.id})
            return
        metrics.WEBHOOK_DELIVERIES.labels(outcome.status.value).inc()
        log.info(
            "webhook attempt",
            extra={
                "deliveryId": delivery.id,
                "webhookId": delivery.webhook_id,
                "eventId": delivery.event_id,
                "ticketId": delivery.payload.get("ticketId"),
                "attempt": delivery.attempts,
                "outcome": outcome.status.value,
                "statusCode": attempt.status_code,
                "error": attempt.error,
            },
        )


def _headers(delivery: Delivery) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Tickets-Event": delivery.event_type,
        "X-Tickets-Event-Id": delivery.event_id,
        "X-Tickets-Delivery": delivery.id,
    }
