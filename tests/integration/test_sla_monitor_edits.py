"""A priority lowered through tickets.v1.update (the PATCH route's use case) re-plans the
SLA monitor's timers: the old, tighter due time passes without a breach."""

from datetime import timedelta

import pytest

from contracts import names
from infra.clock import MovableClock
from tests.integration.test_sla_monitor import (
    MONDAY,
    ONE_SECOND,
    alerts,
    create,
    due,
    fresh_monitor_queue,
    monitored,
    planned,
    settle,
    sla_settings,
    until,
)
from tests.support.factories import SYSTEM
from tests.support.system import Endpoints

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures(fresh_monitor_queue.__name__)]


async def test_a_lowered_priority_moves_the_timers_out_to_the_new_targets(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, warnings_enabled=False)
    async with monitored(settings, clock) as (monitor, caller, log):
        ticket = await create(caller, monitor, priority="urgent")
        lowered = await caller.ok(
            names.UPDATE, {"actor": SYSTEM, "ticketId": ticket["ticketId"], "priority": "low"}
        )
        await planned(monitor, lowered)
        clock.set(due(ticket, "resolutionDueAt") + ONE_SECOND)
        old_dues = await monitor.scanner.scan_once()
        clock.set(due(lowered, "firstResponseDueAt"))
        new_due = await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log)) == 1)
        await settle(caller, log)
    assert due(lowered, "firstResponseDueAt") == MONDAY + timedelta(hours=24)
    assert old_dues.breaches == 0
    assert new_due.breaches == 1
    assert [(b["kind"], b["priority"]) for b in alerts(log)] == [("first_response", "low")]
