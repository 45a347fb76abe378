"""The fault suite's load and its ledger: clients that create tickets with idempotency keys
and retry with the same key as a real client would, and the counts a fault must leave
exact (sent, stored, answered with the right ticket, events, gaps, counters)."""

import asyncio
import json
import logging
import math
import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.client import RequestReplyClient, TicketServiceUnavailable
from infra.mongo import connect
from services.ticket_service.domain.ids import parse_ticket_id
from tests.support.factories import create_body
from tests.support.waiting import eventually

log = logging.getLogger(__name__)

SCALE = float(os.environ.get("TICKETS_FAULT_SCALE", "1"))
"""Multiplies the fault suite's load: 2.5 gives the issue's 500 creates over 100 customers."""
ATTEMPT_TIMEOUT_SECONDS = 10.0
RETRYABLE = {"internal", "conflict"}
"""Answers after which a client retries with the same key (the request was not applied,
or is still being applied)."""


def load_size(customers: int = 40, per_customer: int = 5) -> tuple[int, int]:
    return max(1, math.ceil(customers * SCALE)), per_customer


@dataclass
class Outcome:
    key: str
    phone: str
    ticket_ids: list[str] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0

    @property
    def answered(self) -> bool:
        return bool(self.ticket_ids)


@dataclass
class Load:
    """`customers` x `per_customer` creates, at most `concurrency` in flight."""

    rabbit_url: str
    customers: int
    per_customer: int
    concurrency: int = 24
    deadline_seconds: float = 240.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    outcomes: list[Outcome] = field(default_factory=list)
    _progress: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def sent(self) -> int:
        return self.customers * self.per_customer

    def answered_count(self) -> int:
        return sum(1 for outcome in self.outcomes if outcome.answered or outcome.refusals)

    async def wait_answered(self, count: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.answered_count() >= count)

    async def run(self) -> list[Outcome]:
        self.outcomes = [
            Outcome(key=f"{self.run_id}-{c}-{n}", phone=f"+346500{c:05d}")
            for n in range(self.per_customer)
            for c in range(self.customers)
        ]
        client = RequestReplyClient(self.rabbit_url, timeout=ATTEMPT_TIMEOUT_SECONDS)
        gate = asyncio.Semaphore(self.concurrency)
        try:
            async with asyncio.timeout(self.deadline_seconds):
                await asyncio.gather(*[self._one(client, gate, o) for o in self.outcomes])
        except TimeoutError:
            log.warning("load deadline reached; some requests were never answered")
        finally:
            await client.close()
        return self.outcomes

    async def _one(
        self, client: RequestReplyClient, gate: asyncio.Semaphore, outcome: Outcome
    ) -> None:
        body = json.dumps(create_body(outcome.phone, idempotencyKey=outcome.key)).encode()
        async with gate:
            while not outcome.answered and not outcome.refusals:
                outcome.attempts += 1
                reply = await _attempt(client, body)
                if reply is not None and reply.get("ok"):
                    outcome.ticket_ids.append(reply["data"]["ticketId"])
                elif reply is not None and reply["error"]["code"] not in RETRYABLE:
                    outcome.refusals.append(reply["error"])
                else:
                    await asyncio.sleep(0.5 + random.random())
        async with self._progress:
            self._progress.notify_all()


async def _attempt(client: RequestReplyClient, body: bytes) -> dict[str, Any] | None:
    """The reply, or None when none came in time (or the broker is away)."""
    try:
        return await client.request(names.CREATE, body)
    except TicketServiceUnavailable:
        return None


@dataclass
class EventWatch:
    """Every event on `tickets.events`, through a durable queue the test declared before
    the load, read straight from the broker (not through any proxy the test cuts)."""

    created: dict[str, set[str]] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)

    def take(self, event: dict[str, Any]) -> None:
        self.deliveries[event["eventId"]] = self.deliveries.get(event["eventId"], 0) + 1
        if event.get("type") == "ticket.created":
            self.created.setdefault(event["ticketId"], set()).add(event["eventId"])


@asynccontextmanager
async def watching_events(rabbit_url: str) -> AsyncIterator[EventWatch]:
    from faststream.rabbit import RabbitQueue  # noqa: PLC0415

    from infra.messaging import EVENTS  # noqa: PLC0415

    watch = EventWatch()
    broker = RabbitBroker(rabbit_url, logger=None)
    queue = RabbitQueue(f"test-fault-events-{uuid.uuid4().hex[:8]}", durable=True, routing_key="#")

    @broker.subscriber(queue, EVENTS)
    async def collect(body: dict[str, Any]) -> None:
        watch.take(body)

    await broker.start()
    try:
        yield watch
    finally:
        await broker.stop()


@dataclass
class Report:
    """One row of the fault table; every field but `sent`, `stored` and `retries` must
    be 0."""

    sent: int
    stored: int
    retries: int
    """Requests sent again after no answer, `internal` or `conflict`: how hard the fault bit."""
    unanswered: int
    wrong_ticket: int
    refused: int
    duplicates: int
    lost: int
    gaps: int
    events_missing: int
    events_doubled: int

    HEADER: ClassVar[str] = (
        "| fault | sent | stored | retries | unanswered | wrong ticket | refused | duplicates "
        "| lost | gaps | events missing | events doubled |"
    )

    def problems(self) -> dict[str, int]:
        skip = {"sent", "stored", "retries"}
        return {k: v for k, v in self.__dict__.items() if k not in skip and v}

    def row(self, fault: str) -> str:
        return (
            f"| {fault} | {self.sent} | {self.stored} | {self.retries} | {self.unanswered} | "
            f"{self.wrong_ticket} | {self.refused} | {self.duplicates} | {self.lost} | "
            f"{self.gaps} | {self.events_missing} | {self.events_doubled} |"
        )


async def settle(mongo_url: str, database: str, watch: EventWatch, timeout: float = 120) -> None:
    """Until every stored ticket's outbox is published and its creation event arrived."""
    async with connect(mongo_url) as mongo:
        tickets = mongo[database]["tickets"]

        async def settled() -> bool:
            pending = await tickets.count_documents({"outbox.0": {"$exists": True}})
            ids = [t["ticketId"] async for t in tickets.find({}, {"ticketId": 1})]
            return pending == 0 and all(i in watch.created for i in ids)

        await eventually(
            settled,
            what="every outbox published, every creation event arrived",
            timeout=timeout,
            interval=0.5,
        )


def _client_key(ticket: dict[str, Any]) -> str:
    """The idempotency key the client sent (`create:<customerId>:<key>`)."""
    stored = ticket.get("creationKey") or ticket.get("idempotencyKey") or ""
    return str(stored).rsplit(":", 1)[-1]


async def measure(mongo_url: str, database: str, load: Load, watch: EventWatch) -> Report:
    async with connect(mongo_url) as mongo:
        db = mongo[database]
        fields = {"ticketId": 1, "creationKey": 1, "idempotencyKey": 1, "customerId": 1}
        tickets = [t async for t in db.tickets.find({}, fields)]
    by_key = {_client_key(t): t for t in tickets}
    numbers = sorted(parse_ticket_id(t["ticketId"])[1] for t in tickets)
    outcomes = load.outcomes
    return Report(
        sent=load.sent,
        stored=len(tickets),
        retries=sum(o.attempts for o in outcomes) - len(outcomes),
        unanswered=sum(1 for o in outcomes if not o.answered and not o.refusals),
        wrong_ticket=sum(
            1
            for o in outcomes
            if o.answered and {by_key.get(o.key, {}).get("ticketId")} != set(o.ticket_ids)
        ),
        refused=sum(1 for o in outcomes if o.refusals),
        duplicates=len(tickets)
        - len(by_key)
        + sum(1 for o in outcomes if len(set(o.ticket_ids)) > 1),
        lost=sum(1 for o in outcomes if o.key not in by_key),
        gaps=(numbers[-1] - len(numbers)) if numbers else 0,
        events_missing=sum(1 for t in tickets if t["ticketId"] not in watch.created),
        events_doubled=sum(1 for ids in watch.created.values() if len(ids) > 1),
    )
