"""Composition root of the ticket service."""

from datetime import timedelta
from functools import partial

from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from starlette.types import ASGIApp

from infra.messaging import publish_event
from infra.mongo import init_documents
from infra.runtime import Context
from infra.settings import Settings
from services.ticket_service.agents import AgentDirectory
from services.ticket_service.api import build_api
from services.ticket_service.api_customers import build_customers_router
from services.ticket_service.api_directory import build_directory_router
from services.ticket_service.api_edits import build_edit_router
from services.ticket_service.api_middleware import RequestLog
from services.ticket_service.api_sla import build_sla_router
from services.ticket_service.documents import DOCUMENT_MODELS
from services.ticket_service.handlers import build_router
from services.ticket_service.ratelimit import RateLimiter, rate_limiting
from services.ticket_service.relay import OutboxRelay
from services.ticket_service.repository import (
    AgentRepository,
    CustomerRepository,
    IdempotencyStore,
    TicketRepository,
)
from services.ticket_service.usecases import TicketUseCases


class TicketService:
    name = "ticket_service"

    def __init__(self) -> None:
        self._use_cases: TicketUseCases | None = None
        self._router = build_router(self.use_cases)
        self.relay: OutboxRelay | None = None
        self._settings: Settings | None = None
        self._limiter: RateLimiter | None = None
        self._directory: AgentDirectory | None = None

    def use_cases(self) -> TicketUseCases:
        if self._use_cases is None:
            raise RuntimeError("ticket service not started")
        return self._use_cases

    def routers(self) -> list[RabbitRouter]:
        return [self._router]

    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("ticket service not started")
        return self._settings

    def directory(self) -> AgentDirectory:
        if self._directory is None:
            raise RuntimeError("ticket service not started")
        return self._directory

    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            raise RuntimeError("ticket service not started")
        return self._limiter

    def http_routers(self) -> list[APIRouter]:
        return [
            build_api(self.use_cases, self.settings, self.limiter),
            build_sla_router(self.use_cases, self.settings, self.limiter),
            build_customers_router(self.use_cases, self.settings, self.limiter),
            build_edit_router(self.use_cases, self.settings, self.limiter),
            build_directory_router(self.use_cases, self.directory, self.settings, self.limiter),
        ]

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        return RequestLog(app)

    async def start(self, context: Context) -> None:
        settings = self._settings = context.settings
        await init_documents(context.mongo, settings.mongodb_database, DOCUMENT_MODELS)
        tickets = TicketRepository()
        self._limiter, creation_guard = await rate_limiting(context.mongo, settings, tickets)
        self.relay = OutboxRelay(
            tickets.tickets,
            partial(publish_event, context.broker),
            context.clock,
            grace=timedelta(seconds=settings.relay_grace_seconds),
        )
        self._use_cases = TicketUseCases(
            tickets=tickets,
            customers=CustomerRepository(),
            agents=AgentRepository(),
            idempotency=IdempotencyStore(
                timedelta(seconds=settings.idempotency_lease_seconds), context.clock
            ),
            relay=self.relay,
            clock=context.clock,
            policy=settings.sla,
            creation_guard=creation_guard,
        )
        self._directory = AgentDirectory(
            self._use_cases.agents, partial(publish_event, context.broker), context.clock
        )

    async def started(self, context: Context) -> None:
        relay = self.relay
        assert relay is not None
        context.spawn(
            "outbox-relay", lambda: relay.run(context.settings.relay_sweep_seconds, context.stop)
        )

    async def stop(self) -> None:
        self._use_cases = None
