"""Readiness (`/readyz`: MongoDB and RabbitMQ answer now) and the loop that keeps the
dependency and queue-depth gauges fresh for Prometheus."""

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aiormq.exceptions import AMQPError
from faststream.rabbit import RabbitBroker, RabbitQueue

from contracts import names
from infra.loops import every
from infra.metrics import DEPENDENCY_UP, QUEUE_CONSUMERS, QUEUE_DEPTH
from infra.mongo import MongoClient

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
"""A dependency slower than this to answer a check is not ready."""


async def check_dependencies(mongo: MongoClient, broker: RabbitBroker) -> dict[str, str]:
    """`{"mongodb": "ok" | "unavailable: ...", "rabbitmq": ...}`; sets the gauges."""
    checks = {"mongodb": await _mongo(mongo), "rabbitmq": await _rabbit(broker)}
    for dependency, state in checks.items():
        DEPENDENCY_UP.labels(dependency).set(1 if state == "ok" else 0)
    return checks


async def _mongo(mongo: MongoClient) -> str:
    try:
        await asyncio.wait_for(mongo.admin.command("ping"), CHECK_SECONDS)
    except TimeoutError:
        return f"unavailable: no answer within {CHECK_SECONDS:g} s"
    except Exception as error:  # noqa: BLE001 - any failure means not ready; reported, not raised
        return f"unavailable: {type(error).__name__}"
    return "ok"


async def _rabbit(broker: RabbitBroker) -> str:
    try:
        connected = await broker.ping(CHECK_SECONDS)
    except Exception as error:  # noqa: BLE001 - as above
        return f"unavailable: {type(error).__name__}"
    return "ok" if connected else "unavailable: not connected"


def consumed_queues(broker: RabbitBroker) -> list[str]:
    """The shared (durable, non-exclusive) queues this process reads, and the dead letters."""
    queues = [getattr(sub, "queue", None) for sub in broker.subscribers]
    found = {
        queue.name
        for queue in queues
        if isinstance(queue, RabbitQueue)
        and queue.durable
        and not queue.exclusive
        and not queue.auto_delete
    }
    return sorted(found | {names.DEAD_LETTER_QUEUE})


class QueueSampler:
    """Queue depths through a connection of its own: a passive declare of a missing queue
    closes its channel, and that must never be a consumer's channel. A plain connection,
    opened again on the next round after a failure (a robust one would retry forever)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None

    async def sample(self, queues: Iterable[str]) -> None:
        for queue in queues:
            channel = await self._open()
            try:
                declared = await channel.declare_queue(queue, passive=True)
            except AMQPError:
                self._channel = None  # the broker closed it (queue missing): open another
                continue
            result = declared.declaration_result
            QUEUE_DEPTH.labels(queue).set(result.message_count or 0)
            QUEUE_CONSUMERS.labels(queue).set(result.consumer_count or 0)

    async def _open(self) -> AbstractChannel:
        if self._connection is None or self._connection.is_closed:
            self._connection = await aio_pika.connect(self._url, timeout=CHECK_SECONDS)
        if self._channel is None or self._channel.is_closed:
            self._channel = await self._connection.channel()
        return self._channel

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), CHECK_SECONDS)


async def keep_gauges_fresh(
    mongo: MongoClient, broker: RabbitBroker, url: str, interval: float, stop: asyncio.Event
) -> None:
    """Dependency and queue gauges every `interval` seconds until `stop`."""
    sampler = QueueSampler(url)

    async def sample() -> None:
        await check_dependencies(mongo, broker)
        try:
            await asyncio.wait_for(sampler.sample(consumed_queues(broker)), interval)
        except Exception:  # a broker outage: the dependency gauge says so
            log.debug("queue sampling failed", exc_info=True)
            await sampler.close()

    try:
        await every(interval, stop, sample, "dependency gauges")
    finally:
        await sampler.close()
