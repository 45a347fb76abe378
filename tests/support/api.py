"""The REST API through a real ASGI client: the whole app (lifespan included) in-process."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import APIRouter

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import Clock
from infra.http import build_app
from infra.runtime import Runtime
from infra.settings import Settings
from services.ticket_service.main import TicketService
from tests.support.system import Endpoints, settings_for

JWT_SECRET = "test-secret-of-a-decent-length-0123456789"
API_KEY = "test-service-key-of-at-least-32-bytes"
BASE_URL = "http://tickets.test"


def api_settings(endpoints: Endpoints, database: str, **overrides: Any) -> Settings:
    return settings_for(endpoints, database, jwt_secret=JWT_SECRET, api_keys=API_KEY, **overrides)


@asynccontextmanager
async def api_client(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a freshly started ticket service (its own Runtime, started by lifespan)."""
    async with served_app(Runtime(settings, [TicketService()], clock)) as http:
        yield http


@asynccontextmanager
async def served_app(
    runtime: Runtime, routers: Sequence[APIRouter] = ()
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the whole HTTP app of `runtime` (plus the process's own `routers`),
    which its lifespan starts and stops."""
    app = build_app(runtime, routers)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=BASE_URL) as c,
    ):
        yield c


def bearer(
    settings: Settings,
    agent_id: str,
    role: AgentRole = AgentRole.AGENT,
    now: datetime | None = None,
) -> dict[str, str]:
    token = issue_token(settings, agent_id, role, now or datetime.now(UTC))
    return {"Authorization": f"Bearer {token}"}


SERVICE = {"X-API-Key": API_KEY}


def new_ticket(phone: str = "+34600000001", **extra: Any) -> dict[str, Any]:
    return {
        "title": "Order not delivered",
        "description": "My order #12345 has not arrived after two weeks.",
        "customer": {"phone": phone},
        **extra,
    }


@dataclass
class Whole:
    """Every service in one process (`tickets up`), started; `http` calls from 127.0.0.1."""

    app: Any
    http: httpx.AsyncClient
    runtime: Runtime

    def at(self, address: str) -> httpx.AsyncClient:
        """A client calling from another address (close it, or use `async with`)."""
        return _client_at(self.app, address)


def _client_at(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@asynccontextmanager
async def whole_api(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Whole]:
    from tickets.cli import SERVICES, load_service  # noqa: PLC0415 - imports every service

    runtime = Runtime(settings, [load_service(name) for name in SERVICES], clock)
    app = build_app(runtime)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        _client_at(manager.app, "127.0.0.1") as client,
    ):
        yield Whole(manager.app, client, runtime)
