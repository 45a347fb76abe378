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
from infra.messaging import declare_topology, make_broker
from infra.mongo import EmbeddedMongo, MongoClient, connect
from infra.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What the runtime hands each service when it starts."""

    settings: Settings
    clock: Clock
    broker: RabbitBroker
    mongo: MongoClient
    stop: asyncio.Event = field(default_factory=asyncio.Event)

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
        self, settings: Settings, services: list[Service], clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.services = services
        self.clock = clock or SystemClock()
        self.embedded: EmbeddedMongo | None = None
        self.context: Context | None = None

    async def start(self) -> Context:
        url = self.settings.mongodb_url
        if url is None:
            self.embedded = EmbeddedMongo(self.settings.data_dir / "mongo.sqlite")
            url = await self.embedded.start()
        broker = make_broker(self.settings.rabbitmq_url)
        for service in self.services:
            for router in service.routers():
                broker.include_router(router)
        context = Context(self.settings, self.clock, broker, connect(url))
        self.context = context
        for service in self.services:
            await service.start(context)
        await broker.start()
        await declare_topology(broker)
        for service in self.services:
            await service.started(context)
        log.info("services started", extra={"services": [s.name for s in self.services]})
        return context

    async def stop(self) -> None:
        context, self.context = self.context, None
        if context is not None:
            context.stop.set()
            for service in reversed(self.services):
                with contextlib.suppress(Exception):
                    await service.stop()
            for task in context.tasks:
                task.cancel()
            await asyncio.gather(*context.tasks, return_exceptions=True)
            await context.broker.stop()
            await context.mongo.close()
        if self.embedded is not None:
            await self.embedded.stop()
            self.embedded = None
