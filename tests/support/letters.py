"""Dead letters as a test sees them: a private queue bound to the dead-letter fanout
exchange (other tests' letters in the shared queue are left alone)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aio_pika

from contracts import names
from infra.inbox import QUEUE_HEADER, REASON_HEADER
from tests.support.waiting import eventually


@dataclass(frozen=True)
class Letter:
    body: bytes
    queue: str
    """The queue the message was set aside from (`x-original-queue`)."""
    reason: str
    headers: dict[str, object]
    correlation_id: str | None


@dataclass
class DeadLetters:
    """Every dead letter since the watch began."""

    found: list[Letter] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def from_queue(self, queue: str) -> list[Letter]:
        return [letter for letter in self.found if letter.queue == queue]

    async def wait_for(self, bodies: set[bytes], timeout: float = 60) -> None:
        await self._until(lambda: bodies <= {letter.body for letter in self.found}, timeout)

    async def wait_for_count(self, queue: str, count: int, timeout: float = 60) -> None:
        await self._until(lambda: len(self.from_queue(queue)) >= count, timeout)

    async def _until(self, done: Callable[[], bool], timeout: float) -> None:
        await eventually(done, what="the dead letters", timeout=timeout, wake=self.arrived)


@asynccontextmanager
async def dead_letters(rabbit_url: str) -> AsyncIterator[DeadLetters]:
    letters = DeadLetters()
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            names.DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            headers: dict[str, object] = dict(message.headers)
            letters.found.append(
                Letter(
                    body=message.body,
                    queue=str(headers.get(QUEUE_HEADER, "")),
                    reason=str(headers.get(REASON_HEADER, "")),
                    headers=headers,
                    correlation_id=message.correlation_id,
                )
            )
            letters.arrived.set()

        await queue.consume(collect, no_ack=True)
        yield letters
    finally:
        await connection.close()
