"""Composition root of the notifier: Socket.IO pushes and outbound webhooks."""

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import socketio
from fastapi import APIRouter
from faststream.rabbit import RabbitRouter
from starlette.types import ASGIApp

from contracts.agents import AgentUpdated
from contracts.events import Event
from infra.gate import Failures
from infra.identity import Authenticator
from infra.loops import every
from infra.ratelimit import COLLECTION as RATE_LIMITS
from infra.ratelimit import RateLimiter
from infra.runtime import Context
from services.notifier import metrics
from services.notifier.api import build_api
from services.notifier.delivery import WebhookWorker
from services.notifier.domain.pushes import push_for
from services.notifier.domain.recent import RecentIds
from services.notifier.domain.webhooks import RetryPolicy
from services.notifier.handlers import build_router
from services.notifier.handshakes import HandshakeGuard
from services.notifier.repository import WebhookStore
from services.notifier.sockets import PushServer, allowed_origins
from services.notifier.targets import (
    Resolver,
    TargetRefused,
    checked_addresses,
    parse_target,
    system_resolver,
)

log = logging.getLogger(__name__)


class Notifier:
    name = "notifier"

    def __init__(self, resolver: Resolver = system_resolver) -> None:
        """`resolver` answers where webhook hosts point (tests give their own DNS)."""
        self.instance_id = uuid.uuid4().hex[:12]
        self._resolver = resolver
        self._context: Context | None = None
        self._authenticator: Authenticator | None = None
        self._store: WebhookStore | None = None
        self._recent = RecentIds(10_000)
        self.worker: WebhookWorker | None = None
        self.sockets = PushServer("", self.authenticator)
        self._router = build_router(self.instance_id, self.push, self.enqueue, self.agent_changed)
        self._api = build_api(self.store, self._now, self.check_target)

    def context(self) -> Context:
        if self._context is None:
            raise RuntimeError("notifier not started")
        return self._context

    def authenticator(self) -> Authenticator:
        if self._authenticator is None:
            raise RuntimeError("notifier not started")
        return self._authenticator

    def store(self) -> WebhookStore:
        if self._store is None:
            raise RuntimeError("notifier not started")
        return self._store

    def _now(self) -> datetime:
        return self.context().clock.now()

    def routers(self) -> list[RabbitRouter]:
        return [self._router]

    def http_routers(self) -> list[APIRouter]:
        return [self._api]

    def wrap_http(self, app: ASGIApp) -> ASGIApp:
        """Socket.IO answers `/socket.io/`; everything else, lifespan included, goes to
        `app` (socketio.ASGIApp forwards lifespan when it has no startup hooks)."""
        wrapped: ASGIApp = socketio.ASGIApp(self.sockets.sio, other_asgi_app=app)
        return HandshakeGuard(
            wrapped, lambda: self.sockets.pending, self._handshake_limits, self._now
        )

    def _handshake_limits(self) -> tuple[int, int]:
        options = self.context().settings.notifier
        return options.handshakes_per_address_per_minute, options.max_pending_handshakes

    async def start(self, context: Context) -> None:
        settings = context.settings.notifier
        database = context.mongo[context.settings.mongodb_database]
        self._context = context
        self._recent = RecentIds(settings.recent_event_ids)
        self.sockets.sio.eio.cors_allowed_origins = allowed_origins(settings.cors_origins)
        self.sockets.max_per_agent = settings.max_connections_per_agent
        limiter = RateLimiter(database[RATE_LIMITS])
        self.sockets.failures = lambda address, fingerprint: Failures.of(
            limiter, context, address, fingerprint
        )
        self._authenticator = Authenticator(context.settings, context.clock, database)
        self._store = WebhookStore(database)
        await self._store.ensure_indexes()
        policy = RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            first_delay=timedelta(seconds=settings.webhook_backoff_seconds),
            max_delay=timedelta(seconds=settings.webhook_backoff_max_seconds),
        )
        self.worker = WebhookWorker(
            self._store,
            context.clock,
            policy,
            settings.webhook_timeout_seconds,
            settings.webhook_max_in_flight,
            settings.webhook_max_in_flight_per_endpoint,
            settings.webhook_allow_private_targets,
            resolver=self._resolver,
        )

    async def check_target(self, url: str) -> None:
        """At registration: the URL in full, and where its host points now (ValueError)."""
        target = parse_target(url)
        allow = self.context().settings.notifier.webhook_allow_private_targets
        try:
            await checked_addresses(target, self._resolver, allow_private=allow)
        except TargetRefused as refused:
            raise ValueError(str(refused)) from refused

    async def started(self, context: Context) -> None:
        worker = self.worker
        assert worker is not None
        poll = context.settings.notifier.webhook_poll_seconds
        context.spawn("webhook-worker", lambda: worker.run(poll, context.stop))
        check = context.settings.notifier.session_check_seconds
        context.spawn("socket-sessions", lambda: self._revalidate_every(check, context.stop))
        log.info("notifier started", extra={"instance": self.instance_id})

    async def stop(self) -> None:
        try:
            await self.sockets.close()
        finally:
            if self.worker is not None:
                await self.worker.close()

    async def revalidate(self) -> int:
        """Ends sessions of expired tokens and deactivated agents; applies role changes."""
        roles = await self.authenticator().active_roles(self.sockets.agent_ids())
        now = int(self.context().clock.now().timestamp())
        return await self.sockets.revalidate(now, roles)

    async def _revalidate_every(self, seconds: float, stop: asyncio.Event) -> None:
        await every(seconds, stop, self._revalidate_logged, "socket sessions", wait_first=True)

    async def _revalidate_logged(self) -> None:
        if ended := await self.revalidate():
            log.info("socket sessions ended", extra={"count": ended})

    async def agent_changed(self, event: AgentUpdated) -> None:
        """At once, not at the next session check: a deactivated agent's sessions end,
        a changed role moves the sessions into or out of `admins`."""
        role = event.role if event.is_active else None
        ended = await self.sockets.apply_role(event.agent_id, role)
        log.info(
            "agent sessions updated",
            extra={"agentId": event.agent_id, "active": event.is_active, "ended": ended},
        )

    async def push(self, event: Event, _payload: dict[str, Any]) -> None:
        """Emits the push the event maps to, once per event id on this instance."""
        if event.event_id in self._recent:
            metrics.DUPLICATES.inc()
            return
        self._recent.add(event.event_id)
        push = push_for(event)
        if push is None:
            return
        await self.sockets.emit(push)
        lag = (self.context().clock.now() - event.occurred_at).total_seconds()
        metrics.PUSH_LATENCY.observe(max(lag, 0.0))
        log.info(
            "pushed", extra={"push": push.event, "rooms": push.rooms, "eventId": event.event_id}
        )

    async def enqueue(self, event: Event, payload: dict[str, Any]) -> None:
        created = await self.store().enqueue(
            event.event_id, event.type, payload, self.context().clock.now()
        )
        if created:
            log.info(
                "webhook deliveries queued", extra={"eventId": event.event_id, "count": created}
            )
