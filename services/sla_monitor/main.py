"""Composition root of the SLA monitor."""

from functools import partial

from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from starlette.types import ASGIApp

from infra.messaging import publish_event
from infra.mongo import init_documents
from infra.runtime import Context
from services.sla_monitor.documents import DOCUMENT_MODELS
from services.sla_monitor.domain.timers import PlanningRules
from services.sla_monitor.handlers import build_router
from services.sla_monitor.metrics import sla_metrics
from services.sla_monitor.planner import TimerPlanner
from services.sla_monitor.repository import TimerRepository
from services.sla_monitor.scanner import Scanner
from services.sla_monitor.tickets_client import TicketClient


class SlaMonitor:
    name = "sla_monitor"

    def __init__(self) -> None:
        self._planner: TimerPlanner | None = None
        self._scanner: Scanner | None = None
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
        metrics = sla_metrics(settings.sla)
        rules = PlanningRules(
            calendar=settings.sla.business_hours,
            warnings=settings.sla_monitor.warnings_enabled,
            auto_close=settings.sla_monitor.auto_close_enabled,
        )
        self._planner = TimerPlanner(self.timers, rules, context.clock, metrics)
        self._scanner = Scanner(
            self.timers,
            TicketClient(context.broker, settings.sla_monitor.request_timeout_seconds),
            partial(publish_event, context.broker),
            context.clock,
            settings.sla_monitor,
            settings.sla,
            metrics,
        )

    async def started(self, context: Context) -> None:
        scanner, planner = self.scanner, self.planner()
        context.spawn("sla-scanner", lambda: scanner.run(context.stop, planner.refresh_gauges))

    async def stop(self) -> None:
        """Nothing to release: the runtime owns the clients and cancels the scan loop."""
