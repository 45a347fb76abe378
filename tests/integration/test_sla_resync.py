"""The start-up resync: tickets from before the monitor's queue existed get their timers."""

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from contracts import names
from infra.clock import MovableClock
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from tests.integration.test_sla_monitor import (
    MONDAY,
    ONE_SECOND,
    alerts,
    due,
    fresh_monitor_queue,
    planned,
    settle,
    sla_settings,
    until,
)
from tests.support.factories import SYSTEM, agent_actor, create_body, make_agent
from tests.support.system import Endpoints, client, running

pytestmark = pytest.mark.integration
__all__ = ["fresh_monitor_queue"]  # the autouse fixture applies here too

SAME_INSTANT = 110
"""More tickets created in one instant than a resync page holds (100)."""


def observed(priority: str) -> float:
    value = REGISTRY.get_sample_value(
        "tickets_sla_first_response_seconds_count", {"priority": priority}
    )
    return value or 0.0


async def test_open_tickets_created_before_the_monitor_get_timers_at_start_up(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, warnings_enabled=False)
    async with (
        running(settings, [TicketService()], clock),
        client(endpoints.rabbit_url) as (caller, _),
    ):  # no monitor yet, and no monitor queue: these events reach nobody
        crowd = [
            await caller.ok(names.CREATE, create_body(f"+3462{i:07d}", priority="low"))
            for i in range(SAME_INSTANT)
        ]
        clock.advance(timedelta(minutes=1))
        urgent = await caller.ok(names.CREATE, create_body("+34630000001", priority="urgent"))
        agent = await make_agent()
        served = await caller.ok(names.CREATE, create_body("+34630000002", priority="high"))
        as_agent = {"actor": agent_actor(agent), "ticketId": served["ticketId"]}
        await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
        await caller.ok(names.MARK_FIRST_RESPONSE, as_agent)
        resolved = await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "resolved"})
        dropped = await caller.ok(names.CREATE, create_body("+34630000003", priority="urgent"))
        await caller.ok(
            names.CHANGE_STATUS,
            {"actor": SYSTEM, "ticketId": dropped["ticketId"], "status": "cancelled"},
        )

    histogram_before = observed("high")
    monitor = SlaMonitor()
    async with (
        running(settings, [TicketService(), monitor], clock),
        client(endpoints.rabbit_url) as (caller, log),
    ):
        for ticket in [*crowd, urgent, resolved]:
            await planned(monitor, ticket)  # planned by the start-up resync
        assert monitor.timers is not None
        cancelled_timers = await monitor.timers.of_ticket(dropped["ticketId"])
        again = await monitor.resync()
        urgent_due = due(urgent, "firstResponseDueAt")
        clock.set(urgent_due - ONE_SECOND)
        early = await monitor.scanner.scan_once()
        clock.set(urgent_due)
        on_time = await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log)) == 1)
        await settle(caller, log)
        on_time_alerts = alerts(log)
        clock.set(due(resolved, "autoCloseDueAt"))  # the low tickets breach too by then
        closing = await monitor.scanner.scan_once()
        closed = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": served["ticketId"]})
    assert (again.tickets, again.planned) == (SAME_INSTANT + 2, 0), "idempotent"
    assert again.pages == 3
    assert cancelled_timers == []
    assert (early.breaches, on_time.breaches) == (0, 1)
    [breach] = on_time_alerts
    assert (breach["ticketId"], breach["kind"]) == (urgent["ticketId"], "first_response")
    assert closing.closed == 1
    assert closed["status"] == "closed"
    assert observed("high") == histogram_before, "a backfill observes no past durations"
