"""The explain-the-clock endpoint and `/metrics`, through a real ASGI client."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from contracts import names
from contracts.calendar import BusinessCalendar
from contracts.enums import AgentRole
from contracts.sla import SlaPolicy
from infra.auth import issue_token
from infra.clock import MovableClock
from infra.http import build_app
from infra.runtime import Runtime
from infra.settings import Settings, SlaMonitorSettings
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from tests.integration.test_sla_monitor import (
    alerts,
    create,
    customer_writes,
    due,
    fresh_monitor_queue,
    planned,
    until,
)
from tests.support.api import BASE_URL, SERVICE, api_settings
from tests.support.factories import SYSTEM, agent_actor, make_agent
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration
__all__ = ["fresh_monitor_queue"]  # the autouse fixture applies here too

FRIDAY = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
MONDAY = datetime(2026, 12, 7, tzinfo=UTC)


def settings_with(endpoints: Endpoints, database: str, policy: SlaPolicy) -> Settings:
    return api_settings(
        endpoints,
        database,
        sla=policy,
        sla_monitor=SlaMonitorSettings(scan_interval_seconds=3600),
    )


@asynccontextmanager
async def http(
    settings: Settings, monitor: SlaMonitor, clock: MovableClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Runtime(settings, [TicketService(), monitor], clock))
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=BASE_URL) as c,
    ):
        yield c


def bearer_for(settings: Settings, agent_id: str) -> dict[str, str]:
    """PyJWT checks `iat` against the wall clock and we check `exp` against the movable
    one (weeks ahead here): issue now, valid for long enough."""
    token = issue_token(
        settings, agent_id, AgentRole.AGENT, datetime.now(UTC), ttl=timedelta(days=60)
    )
    return {"Authorization": f"Bearer {token}"}


def segments(clock_view: dict[str, Any]) -> list[tuple[str, datetime, datetime, str | None]]:
    return [
        (
            s["state"],
            datetime.fromisoformat(s["start"]),
            datetime.fromisoformat(s["end"]),
            s["reason"],
        )
        for s in clock_view["timeline"]
    ]


async def test_the_clock_explains_pauses_out_of_hours_and_breaches(
    endpoints: Endpoints, database: str
) -> None:
    calendar = BusinessCalendar.weekdays("09:00", "18:00")
    settings = settings_with(endpoints, database, SlaPolicy(business_hours=calendar))
    clock, monitor = MovableClock(FRIDAY), SlaMonitor()
    async with http(settings, monitor, clock) as api, client(endpoints.rabbit_url) as (caller, log):
        ana, bob = await make_agent("Ana"), await make_agent("Bob")
        worked = await create(caller, monitor, priority="high", conversationId="w")
        as_ana = {"actor": agent_actor(ana), "ticketId": worked["ticketId"]}
        clock.set(FRIDAY + timedelta(minutes=10))
        await caller.ok(names.ASSIGN, {**as_ana, "agentId": ana})
        clock.set(FRIDAY + timedelta(minutes=30))
        await caller.ok(names.MARK_FIRST_RESPONSE, as_ana)
        clock.set(FRIDAY + timedelta(minutes=40))
        await caller.ok(names.CHANGE_STATUS, {**as_ana, "status": "pending_customer"})
        clock.set(FRIDAY + timedelta(minutes=30))
        waiting = await create(caller, monitor, priority="medium", idempotencyKey="waiting")
        clock.set(MONDAY.replace(hour=10))
        resumed = await customer_writes(
            caller, clock, "w", "wamid.monday", "Here is the photo you asked for"
        )
        clock.set(MONDAY.replace(hour=11))
        ana_token = bearer_for(settings, ana)
        explained = await api.get(f"/api/v2/tickets/{worked['ticketId']}/sla", headers=ana_token)
        pool = await api.get(f"/api/v2/tickets/{waiting['ticketId']}/sla", headers=SERVICE)
        hidden = await api.get(
            f"/api/v2/tickets/{worked['ticketId']}/sla", headers=bearer_for(settings, bob)
        )
        anonymous = await api.get(f"/api/v2/tickets/{worked['ticketId']}/sla")
        malformed = await api.get("/api/v2/tickets/NOT-A-TICKET/sla", headers=ana_token)
        await planned(monitor, waiting)
        clock.set(due(waiting, "firstResponseDueAt"))
        await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log)) == 1)
        breached = await api.get(f"/api/v2/tickets/{waiting['ticketId']}/sla", headers=SERVICE)
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["success"] is True
    first, resolution = body["data"]["firstResponse"], body["data"]["resolution"]
    assert body["data"]["businessHours"] is True
    assert (first["state"], first["outcome"], first["elapsedSeconds"]) == ("stopped", "met", 1800)
    assert segments(first) == [("running", FRIDAY, FRIDAY + timedelta(minutes=30), None)]
    pause_reason = "waiting for the customer (pending_customer)"
    assert segments(resolution) == [
        ("running", FRIDAY, FRIDAY + timedelta(minutes=40), None),
        ("paused", FRIDAY + timedelta(minutes=40), MONDAY.replace(hour=10), pause_reason),
        ("running", MONDAY.replace(hour=10), MONDAY.replace(hour=11), None),
    ]
    assert (resolution["state"], resolution["outcome"]) == ("running", "pending")
    assert resolution["elapsedSeconds"] == 100 * 60
    assert resolution["workingTimeRemainingSeconds"] == 24 * 3600 - 100 * 60
    assert datetime.fromisoformat(resolution["dueAt"]) == due(resumed, "resolutionDueAt")
    assert pool.status_code == 200, pool.text
    waiting_first = pool.json()["data"]["firstResponse"]
    assert segments(waiting_first) == [
        ("running", FRIDAY + timedelta(minutes=30), FRIDAY.replace(hour=18), None),
        ("out_of_hours", FRIDAY.replace(hour=18), MONDAY.replace(hour=9), "outside business hours"),
        ("running", MONDAY.replace(hour=9), MONDAY.replace(hour=11), None),
    ]
    assert waiting_first["timeRemainingSeconds"] == 90 * 60
    assert waiting_first["workingTimeRemainingSeconds"] == 90 * 60
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    assert (malformed.status_code, malformed.json()["code"]) == (422, "validation")
    late = breached.json()["data"]["firstResponse"]
    assert late["outcome"] == "breached"
    assert datetime.fromisoformat(late["breachedAt"]) == due(waiting, "firstResponseDueAt")
    assert late["timeRemainingSeconds"] is None


PROMETHEUS_NAME = re.compile(r"^[a-z_:][a-z0-9_:]*$")


def scrape(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample(families: dict[str, Any], name: str, suffix: str, **labels: str) -> float:
    family = families.get(name)
    if family is None:
        return 0.0
    return float(
        sum(
            s.value
            for s in family.samples
            if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        )
    )


async def test_metrics_are_exposed_with_prometheus_names_and_no_ticket_ids(
    endpoints: Endpoints, database: str
) -> None:
    settings = settings_with(endpoints, database, SlaPolicy())
    clock, monitor = MovableClock(MONDAY.replace(hour=9)), SlaMonitor()
    async with http(settings, monitor, clock) as api, client(endpoints.rabbit_url) as (caller, log):
        before = scrape((await api.get("/metrics")).text)
        agent = await make_agent("Ana", AgentRole.ADMIN)
        served = await create(caller, monitor, priority="high")
        as_agent = {"actor": agent_actor(agent), "ticketId": served["ticketId"]}
        await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
        clock.advance(timedelta(minutes=20))
        await caller.ok(names.MARK_FIRST_RESPONSE, as_agent)
        clock.advance(timedelta(hours=2))
        resolved = await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "resolved"})
        await planned(monitor, resolved)
        neglected = await create(caller, monitor, priority="urgent", idempotencyKey="n")
        clock.set(due(neglected, "firstResponseDueAt"))
        await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log)) == 1)
        breached = {"actor": SYSTEM, "ticketId": neglected["ticketId"]}
        await planned(monitor, await caller.ok(names.GET, breached))  # the breach is in the view
        await monitor.planner().refresh_gauges()
        response = await api.get("/metrics")
    assert response.status_code == 200
    after = scrape(response.text)
    ours = {name: f for name, f in after.items() if name.startswith("tickets_sla_")}
    assert set(ours) >= {
        "tickets_sla_first_response_seconds",
        "tickets_sla_resolution_seconds",
        "tickets_sla_breaches",
        "tickets_sla_warnings",
        "tickets_sla_auto_closed",
        "tickets_sla_open_tickets",
        "tickets_sla_compliance_ratio",
        "tickets_sla_scan_duration_seconds",
    }
    for name, family in ours.items():
        assert PROMETHEUS_NAME.fullmatch(name)
        for s in family.samples:
            assert not any("ticket" in label.lower() for label in s.labels), s
            assert not any("TICKET-" in value for value in s.labels.values()), s
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert name.endswith("_seconds")
    first_buckets = {
        float(s.labels["le"])
        for s in ours["tickets_sla_first_response_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert {900.0, 3600.0, 14400.0, 86400.0} <= first_buckets
    resolution_buckets = {
        float(s.labels["le"])
        for s in ours["tickets_sla_resolution_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert {14400.0, 86400.0, 259200.0, 604800.0} <= resolution_buckets

    def delta(name: str, suffix: str, **labels: str) -> float:
        return sample(after, name, suffix, **labels) - sample(before, name, suffix, **labels)

    breach = {"kind": "first_response", "priority": "urgent"}
    assert delta("tickets_sla_breaches", "_total", **breach) == 1
    assert delta("tickets_sla_first_response_seconds", "_count", priority="high") == 1
    assert delta("tickets_sla_first_response_seconds", "_sum", priority="high") == 20 * 60
    assert delta("tickets_sla_resolution_seconds", "_count", priority="high") == 1
    open_now = {"status": "new", "priority": "urgent"}
    assert sample(after, "tickets_sla_open_tickets", "", **open_now) == 1
    assert sample(after, "tickets_sla_open_tickets", "", status="resolved", priority="high") == 1
    assert sample(after, "tickets_sla_compliance_ratio", "", kind="first_response") == 0.5
    assert sample(after, "tickets_sla_compliance_ratio", "", kind="resolution") == 1.0
