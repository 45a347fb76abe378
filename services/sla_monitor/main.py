"""Composition root of the SLA monitor."""

from functools import partial

from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from starlette.types import ASGIApp

from contracts.client import TicketsClient
from contracts.tickets import TicketSummary
from infra import logging as log_context
from infra.messaging import publish_event
from infra.mongo import init_documents
from infra.runtime import Context
from services.sla_monitor.documents import DOCUMENT_MODELS
from services.sla_monitor.domain.timers import PlanningRules
from services.sla_monitor.handlers import build_router
from services.sla_monitor.metrics import sla_metrics
from services.sla_monitor.planner import TimerPlanner
from services.sla_monitor.repository import TimerRepository
from services.sla_monitor.resync import ResyncResult, resync, resync_until_done
from services.sla_monitor.scanner import Scanner


class SlaMonitor:
    name = "sla_monitor"

    def __init__(self) -> None:
        self._planner: TimerPlanner | None = None
        self._scanner: Scanner | None = None
        self._tickets: TicketsClient | None = None
        self._router = build_router(self.planner)
        self.timers: TimerRepository | None = None

    def planner(self) -> TimerPlanner:
        if self._planner is None:
            raise RuntimeError("sla monitor not started")
        return self._planner

    @property
    def scanner(self) -> Scanner:
        if self._scanner is None:
            raise RuntimeError("sla monitor not started")
        return self._scanner

    def routers(self) -> list[RabbitRouter]:
        return [self._router]

    def http_routers(self) -> list[APIRouter]:
        return []

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        return app

    async def start(self, context: Context) -> None:
        settings = context.settings
        await init_documents(context.mongo, settings.mongodb_database, DOCUMENT_MODELS)
        self.timers = TimerRepository(context.mongo[settings.mongodb_database])
        await self.timers.backfill_buckets(context.clock.now())
        metrics = sla_metrics(settings.sla)
        rules = PlanningRules(
            calendar=settings.sla.business_hours,
            warnings=settings.sla_monitor.warnings_enabled,
            auto_close=settings.sla_monitor.auto_close_enabled,
        )
        self._planner = TimerPlanner(self.timers, rules, context.clock, metrics)
        self._tickets = TicketsClient(
            settings.rabbitmq_url,
            timeout=settings.sla_monitor.request_timeout_seconds,
            trace=log_context.correlation_id.get,
        )
        self._scanner = Scanner(
            self.timers,
            self._tickets,
            partial(publish_event, context.broker),
            context.clock,
            settings.sla_monitor,
            settings.sla,
            metrics,
            rules,
        )

    async def started(self, context: Context) -> None:
        scanner, planner = self.scanner, self.planner()
        context.spawn("sla-scanner", lambda: scanner.run(context.stop, planner.refresh_gauges))
        if context.settings.sla_monitor.resync_on_start:
            tickets = self._client()
            context.spawn(
                "sla-resync", lambda: resync_until_done(tickets, self._plan, context.stop)
            )

    async def resync(self) -> ResyncResult:
        """Plan every open ticket from its current state (what start-up does)."""
        return await resync(self._client(), self._plan)

    def _client(self) -> TicketsClient:
        if self._tickets is None:
            raise RuntimeError("sla monitor not started")
        return self._tickets

    async def _plan(self, ticket: TicketSummary) -> int:
        return await self.planner().on_ticket(ticket, backfill=True)

    async def stop(self) -> None:
        """The runtime cancels the scan loop first; then the tickets client closes."""
        tickets, self._tickets = self._tickets, None
        if tickets is not None:
            await tickets.close()
