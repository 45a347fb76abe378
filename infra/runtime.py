"""Runs one or several services in one process: Mongo (embedded when no URL is set),
one RabbitMQ connection, and the services' subscribers, background loops and routes."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter
from faststream.rabbit import RabbitBroker, RabbitRouter
from starlette.types import ASGIApp

from infra.clock import Clock, SystemClock
from infra.dependencies import open_mongo, start_broker
from infra.health import keep_gauges_fresh
from infra.messaging import declare_topology, make_broker
from infra.mongo import EmbeddedMongo, MongoClient
from infra.secret_strength import check_secrets
from infra.settings import Settings

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 1.5
"""What messages being handled get to finish when the process is told to stop."""
STEP_SECONDS = 0.5
"""Bound of every other step of a stop (loops ending, a service releasing its clients)."""


@dataclass
class Context:
    """What the runtime hands each service when it starts."""

    settings: Settings
    clock: Clock
    broker: RabbitBroker
    mongo: MongoClient
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    demo: bool = False
    """`tickets up --demo`: a trial system (the assistant gateway's scripted model)."""

    def spawn(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(work(), name=name)
        self.tasks.append(task)
        return task

    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Service(Protocol):
    name: str

    def routers(self) -> list[RabbitRouter]: ...

    def http_routers(self) -> list[APIRouter]: ...

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        """Wrap the process's ASGI app (Socket.IO mounts itself here); most return it."""

    async def start(self, context: Context) -> None:
        """Connect stores and build use cases; called before the broker consumes."""

    async def started(self, context: Context) -> None:
        """Called once the broker is up: start background loops here."""

    async def stop(self) -> None: ...


class Runtime:
    def __init__(
        self,
        settings: Settings,
        services: list[Service],
        clock: Clock | None = None,
        *,
        demo: bool = False,
    ) -> None:
        self.settings = settings
        self.services = services
        self.clock = clock or SystemClock()
        self.demo = demo
        self.embedded: EmbeddedMongo | None = None
        self.context: Context | None = None

    async def start(self) -> Context:
        """Raises StartupError (one line) when MongoDB or RabbitMQ does not answer within
        `startup_timeout_seconds`, WeakSecret for a secret too short. A start that fails
        half-way stops what it started (consumers, loops, the embedded database) before it
        raises; `stop()` may be called again."""
        try:
            return await self._start()
        except BaseException:
            await asyncio.shield(self.stop())
            raise

    async def _start(self) -> Context:
        settings = self.settings
        check_secrets(settings)
        url = settings.mongodb_url
        if url is None:
            self.embedded = EmbeddedMongo(settings.data_dir / "mongo.sqlite")
            url = await self.embedded.start()
        mongo = await open_mongo(url, settings.startup_timeout_seconds)
        broker = make_broker(
            settings.rabbitmq_url, settings.messaging, graceful_timeout=STOP_GRACE_SECONDS
        )
        for service in self.services:
            for router in service.routers():
                broker.include_router(router)
        context = Context(settings, self.clock, broker, mongo, demo=self.demo)
        self.context = context
        for service in self.services:
            await service.start(context)
        await start_broker(broker, settings.rabbitmq_url, settings.startup_timeout_seconds)
        await declare_topology(broker)
        for service in self.services:
            await service.started(context)
        context.spawn(
            "ops-gauges",
            lambda: keep_gauges_fresh(
                mongo, broker, settings.rabbitmq_url, settings.metrics_refresh_seconds, context.stop
            ),
        )
        log.info("services started", extra={"services": [s.name for s in self.services]})
        return context

    async def stop(self) -> None:
        """Background loops end first (their claims carry leases), then consuming stops
        and messages in flight get `STOP_GRACE_SECONDS` to finish (an unfinished one is
        never acked, so RabbitMQ hands it to another consumer), then the services and the
        clients; every step is bounded."""
        context, self.context = self.context, None
        if context is not None:
            context.stop.set()
            for task in context.tasks:
                task.cancel()
            if context.tasks:
                await asyncio.wait(context.tasks, timeout=STEP_SECONDS)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.broker.stop(), STOP_GRACE_SECONDS + STEP_SECONDS)
            for service in reversed(self.services):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(service.stop(), STEP_SECONDS)
            await context.mongo.close()
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None
