"""The SLA monitor over the real RabbitMQ and a Mongo wire server, with a movable clock."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import aio_pika
import pytest
from faststream.rabbit.subscriber.usecase import RabbitSubscriber

from contracts import names
from contracts.calendar import BusinessCalendar
from contracts.sla import SlaPolicy
from infra.clock import MovableClock
from infra.messaging import EVENTS
from infra.settings import Settings, SlaMonitorSettings
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.main import TicketService
from tests.support.factories import SYSTEM, agent_actor, create_body, customer, make_agent
from tests.support.system import Caller, Endpoints, EventLog, client, running, settings_for
from tests.support.waiting import WAIT_SECONDS, at_least, eventually

pytestmark = pytest.mark.integration


async def delete_monitor_queue(rabbit_url: str) -> None:
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(names.SLA_MONITOR_TICKET_EVENTS)
    finally:
        await connection.close()


@pytest.fixture(autouse=True)
async def fresh_monitor_queue(endpoints: Endpoints) -> AsyncIterator[None]:
    """The monitor's queue is durable and the session's vhost is shared: without this, a
    test would consume the ticket events other tests left behind (same ticket ids)."""
    await delete_monitor_queue(endpoints.rabbit_url)
    yield
    await delete_monitor_queue(endpoints.rabbit_url)


MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)


def sla_settings(
    endpoints: Endpoints, database: str, policy: SlaPolicy | None = None, **monitor: Any
) -> Settings:
    """The background scan is slowed right down: the tests call `scan_once` themselves."""
    return settings_for(
        endpoints,
        database,
        sla=policy or SlaPolicy(),
        sla_monitor=SlaMonitorSettings(scan_interval_seconds=3600, **monitor),
    )


@asynccontextmanager
async def monitored(
    settings: Settings, clock: MovableClock
) -> AsyncIterator[tuple[SlaMonitor, Caller, EventLog]]:
    """A ticket service and an SLA monitor in one runtime, and a client on the bus."""
    monitor = SlaMonitor()
    async with (
        running(settings, [TicketService(), monitor], clock),
        client(settings.rabbitmq_url) as (caller, log),
    ):
        yield monitor, caller, log


async def until(
    log: EventLog, condition: Callable[[], bool], timeout: float = WAIT_SECONDS
) -> None:
    """Wait for events until `condition` holds."""
    await eventually(condition, what="the awaited events", timeout=timeout, wake=log.arrived)


async def planned(
    monitor: SlaMonitor, ticket: dict[str, Any], timeout: float = WAIT_SECONDS
) -> None:
    """Wait until the monitor planned the ticket's timers from (at least) its revision."""
    timers = monitor.timers
    assert timers is not None
    ticket_id, revision = ticket["ticketId"], ticket["revision"]

    async def caught_up() -> bool:
        view = await timers.tickets.find_one({"_id": ticket_id})
        docs = await timers.of_ticket(ticket_id)
        return bool(
            view and view["revision"] >= revision and all(d["revision"] >= revision for d in docs)
        )

    await eventually(
        caught_up, what=f"timers of {ticket_id} at revision {revision}", timeout=timeout
    )


def alerts(log: EventLog, kind: str = "sla.breached", ticket_id: str | None = None) -> list[Any]:
    return [
        e
        for e in log.events
        if e["type"] == kind and (ticket_id is None or e["ticketId"] == ticket_id)
    ]


def has_breaches(log: EventLog, expected: set[tuple[str, str]]) -> bool:
    return expected <= {(e["ticketId"], e["kind"]) for e in alerts(log)}


async def settle(caller: Caller, log: EventLog, timeout: float = WAIT_SECONDS) -> None:
    """Everything published before now has reached `log`: the scanner's publishes are
    confirmed before `scan_once` returns, so a marker sent to the log's own queue after
    them arrives after them (one consumer, FIFO). The marker is taken out again."""
    [subscriber] = caller.broker.subscribers
    assert isinstance(subscriber, RabbitSubscriber)
    marker = {"type": "test.barrier", "id": uuid.uuid4().hex}
    await caller.broker.publish(json.dumps(marker).encode(), queue=subscriber.queue.name)
    await eventually(
        lambda: marker in log.events, what="the barrier marker", timeout=timeout, wake=log.arrived
    )
    log.events.remove(marker)


def due(ticket: dict[str, Any], field: str) -> datetime:
    return datetime.fromisoformat(ticket["sla"][field])


async def create(caller: Caller, monitor: SlaMonitor, **extra: Any) -> dict[str, Any]:
    ticket = await caller.ok(names.CREATE, create_body(**extra))
    await planned(monitor, ticket)
    return ticket


async def customer_writes(
    caller: Caller, clock: MovableClock, conversation: str, message_id: str, text: str
) -> dict[str, Any]:
    """The customer's WhatsApp message now; returns the ticket it landed on."""
    message = {
        "actor": customer(),
        "messageId": message_id,
        "text": text,
        "conversationId": conversation,
        "receivedAt": clock.now().isoformat(),
    }
    ticket: dict[str, Any] = (await caller.ok(names.CUSTOMER_MESSAGE, message))["ticket"]
    return ticket


async def test_each_priority_breaches_once_at_its_due_moment(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database)
    async with monitored(settings, clock) as (monitor, caller, log):
        tickets = [
            await create(caller, monitor, priority=p) for p in ("urgent", "high", "medium", "low")
        ]
        moments = sorted(
            (due(t, field), t["ticketId"], kind)
            for t in tickets
            for field, kind in (
                ("firstResponseDueAt", "first_response"),
                ("resolutionDueAt", "resolution"),
            )
        )
        for moment in sorted({m for m, _, _ in moments}):
            expected = {(t, k) for m, t, k in moments if m == moment}
            clock.set(moment - ONE_SECOND)
            early = await monitor.scanner.scan_once()
            await settle(caller, log)
            assert early.breaches == 0
            assert not expected & {(e["ticketId"], e["kind"]) for e in alerts(log)}
            clock.set(moment)
            result = await monitor.scanner.scan_once()
            assert result.breaches == len(expected)
            await until(log, partial(has_breaches, log, expected))
        await monitor.scanner.scan_once()
        await settle(caller, log)
        final = {
            t["ticketId"]: await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": t["ticketId"]})
            for t in tickets
        }
    breaches = alerts(log)
    assert sorted((e["ticketId"], e["kind"]) for e in breaches) == sorted(
        (t, k) for _, t, k in moments
    )
    for event in breaches:
        ticket = next(t for t in tickets if t["ticketId"] == event["ticketId"])
        field = "firstResponseDueAt" if event["kind"] == "first_response" else "resolutionDueAt"
        assert datetime.fromisoformat(event["dueAt"]) == due(ticket, field)
        assert event["elapsedSeconds"] == event["targetSeconds"]
        assert event["priority"] == ticket["priority"]
    for ticket in final.values():
        assert ticket["sla"]["firstResponseMet"] is False
        assert ticket["sla"]["resolutionMet"] is False
        assert ticket["sla"]["breachAlertSent"] is True
        assert ticket["priority"] == next(
            t["priority"] for t in tickets if t["ticketId"] == ticket["ticketId"]
        ), "escalation is off by default"
    warnings = alerts(log, "sla.warning")
    assert len(warnings) == 8
    assert len({e["eventId"] for e in warnings + breaches}) == 16


async def test_pending_customer_shifts_the_resolution_due_by_exactly_the_paused_time(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    async with monitored(sla_settings(endpoints, database), clock) as (monitor, caller, log):
        agent = await make_agent()
        ticket = await create(caller, monitor, priority="high", conversationId="c-1")
        as_agent = {"actor": agent_actor(agent), "ticketId": ticket["ticketId"]}
        await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
        await caller.ok(names.MARK_FIRST_RESPONSE, as_agent)
        original = due(ticket, "resolutionDueAt")
        clock.advance(timedelta(hours=2))
        paused = await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "pending_customer"})
        await planned(monitor, paused)
        clock.set(original)  # the original due time passes while the clock is paused
        assert (await monitor.scanner.scan_once()).breaches == 0
        clock.advance(timedelta(hours=3))
        resumed = await customer_writes(
            caller, clock, "c-1", "wamid.pause", "Here is the tracking number"
        )
        await planned(monitor, resumed)
        paused_for = clock.now() - datetime.fromisoformat(paused["sla"]["pausedAt"])
        shifted = due(resumed, "resolutionDueAt")
        clock.set(shifted - ONE_SECOND)
        assert (await monitor.scanner.scan_once()).breaches == 0
        clock.set(shifted)
        assert (await monitor.scanner.scan_once()).breaches == 1
        await until(log, lambda: len(alerts(log)) == 1)
    assert paused_for == timedelta(hours=25)
    assert shifted - original == paused_for
    assert alerts(log)[0]["kind"] == "resolution"
    assert datetime.fromisoformat(alerts(log)[0]["dueAt"]) == shifted


FRIDAY = datetime(2026, 12, 4, tzinfo=UTC)
HOLIDAY = date(2026, 12, 7)  # the Monday after
TUESDAY = datetime(2026, 12, 8, tzinfo=UTC)


async def test_business_hours_skip_the_weekend_and_a_holiday_and_defer_warnings(
    endpoints: Endpoints, database: str
) -> None:
    calendar = BusinessCalendar.weekdays("09:00", "18:00", holidays=[HOLIDAY])
    clock = MovableClock(FRIDAY.replace(hour=16))
    settings = sla_settings(endpoints, database, SlaPolicy(business_hours=calendar))
    async with monitored(settings, clock) as (monitor, caller, log):
        medium = await create(caller, monitor, priority="medium")
        clock.set(FRIDAY.replace(hour=17, minute=12))  # high's warning point: Friday 18:00
        high = await create(caller, monitor, priority="high", idempotencyKey="h")
        clock.set(FRIDAY.replace(hour=17, minute=48))  # urgent's warning point: Friday 18:00
        urgent = await create(caller, monitor, priority="urgent", idempotencyKey="u")
        fired = 0
        for step in [
            FRIDAY.replace(hour=17, minute=59, second=59),
            FRIDAY.replace(hour=18),
            FRIDAY + timedelta(days=1, hours=12),  # Saturday
            FRIDAY + timedelta(days=3, hours=12),  # the holiday
            TUESDAY.replace(hour=8, minute=59, second=59),
            TUESDAY.replace(hour=9),
            TUESDAY.replace(hour=9, minute=3),
            TUESDAY.replace(hour=9, minute=12),
            TUESDAY.replace(hour=10, minute=12),
            TUESDAY.replace(hour=11),
        ]:
            clock.set(step)
            result = await monitor.scanner.scan_once()
            fired += result.warnings + result.breaches
        await until(
            log, lambda: len([e for e in log.events if e["type"].startswith("sla.")]) == fired
        )
        await settle(caller, log)
    label = {medium["ticketId"]: "medium", high["ticketId"]: "high", urgent["ticketId"]: "urgent"}
    moments = {
        (label[e["ticketId"]], e["type"]): datetime.fromisoformat(e["occurredAt"])
        for e in log.events
        if e["type"].startswith("sla.")
    }
    assert due(medium, "firstResponseDueAt") == TUESDAY.replace(hour=11)
    assert due(high, "firstResponseDueAt") == TUESDAY.replace(hour=9, minute=12)
    assert due(urgent, "firstResponseDueAt") == TUESDAY.replace(hour=9, minute=3)
    assert fired == 6
    assert moments == {
        ("urgent", "sla.warning"): FRIDAY.replace(hour=18),  # urgent: warned out of hours
        ("high", "sla.warning"): TUESDAY.replace(hour=9),  # deferred past weekend + holiday
        ("urgent", "sla.breached"): TUESDAY.replace(hour=9, minute=3),
        ("high", "sla.breached"): TUESDAY.replace(hour=9, minute=12),
        ("medium", "sla.warning"): TUESDAY.replace(hour=10, minute=12),
        ("medium", "sla.breached"): TUESDAY.replace(hour=11),
    }


async def _resolved(caller: Caller, monitor: SlaMonitor, agent: str, **extra: Any) -> Any:
    ticket = await create(caller, monitor, **extra)
    as_agent = {"actor": agent_actor(agent), "ticketId": ticket["ticketId"]}
    await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
    await caller.ok(names.MARK_FIRST_RESPONSE, as_agent)
    resolved = await caller.ok(names.CHANGE_STATUS, {**as_agent, "status": "resolved"})
    await planned(monitor, resolved)
    return resolved


async def test_a_resolved_ticket_auto_closes_after_the_quiet_period_and_not_before(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    async with monitored(sla_settings(endpoints, database), clock) as (monitor, caller, log):
        agent = await make_agent()
        quiet = await _resolved(caller, monitor, agent, conversationId="quiet")
        clock.advance(timedelta(hours=1))
        talking = await _resolved(
            caller, monitor, agent, conversationId="talking", idempotencyKey="t"
        )
        close_at = due(quiet, "autoCloseDueAt")
        assert close_at == MONDAY + timedelta(hours=24)
        clock.set(close_at - ONE_SECOND)
        assert (await monitor.scanner.scan_once()).closed == 0
        reopened = await customer_writes(
            caller, clock, "talking", "wamid.thanks", "It still does not work"
        )
        await planned(monitor, reopened)
        clock.set(close_at)
        first = await monitor.scanner.scan_once()
        clock.set(due(talking, "autoCloseDueAt") + timedelta(hours=1))
        second = await monitor.scanner.scan_once()
        get = {"actor": SYSTEM}
        closed = await caller.ok(names.GET, {**get, "ticketId": quiet["ticketId"]})
        still_open = await caller.ok(names.GET, {**get, "ticketId": talking["ticketId"]})
    assert (first.closed, second.closed) == (1, 0)
    assert closed["status"] == "closed"
    assert closed["closedByType"] == "System"
    last = closed["statusHistory"][-1]
    assert (last["from"], last["to"], last["changedByType"], last["automated"]) == (
        "resolved",
        "closed",
        "System",
        True,
    )
    assert datetime.fromisoformat(closed["closedAt"]) == close_at
    assert still_open["status"] == "reopened"
    assert not [e for e in log.events if e["type"].startswith("sla.")]


async def test_an_auto_close_timer_that_went_stale_is_dropped_not_applied(
    endpoints: Endpoints, database: str
) -> None:
    """The customer wrote, but the reopen event has not reached the monitor yet."""
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, resync_on_start=False)  # keeps the stale plan
    async with monitored(settings, clock) as (monitor, caller, _):
        agent = await make_agent()
        resolved = await _resolved(caller, monitor, agent, conversationId="late")
        assert monitor.timers is not None
        stale = await monitor.timers.timers.find_one({"kind": "auto_close"})
        reopened = await customer_writes(caller, clock, "late", "wamid.late", "One more question")
        await planned(monitor, reopened)
        assert stale is not None
        await monitor.timers.timers.replace_one({"_id": stale["_id"]}, stale)  # lost the race
        clock.set(due(resolved, "autoCloseDueAt"))
        result = await monitor.scanner.scan_once()
        final = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": resolved["ticketId"]})
        timer = await monitor.timers.timers.find_one({"_id": stale["_id"]})
    assert (result.closed, result.dropped) == (0, 1)
    assert final["status"] == "reopened"
    assert timer is not None
    assert timer["state"] == "dropped"


async def test_a_warning_that_went_stale_is_dropped_not_sent(
    endpoints: Endpoints, database: str
) -> None:
    """The agent answered, but that event has not reached the monitor yet (a backlog after
    a restart, say): the warning is checked against the ticket before it is sent."""
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, resync_on_start=False)  # keeps the stale plan
    async with monitored(settings, clock) as (monitor, caller, log):
        agent = await make_agent()
        answered = await create(caller, monitor, priority="high")
        untouched = await create(caller, monitor, priority="high", idempotencyKey="u")
        assert monitor.timers is not None
        key = f"{answered['ticketId']}:first_response_warning"
        stale = await monitor.timers.timers.find_one({"_id": key})
        as_agent = {"actor": agent_actor(agent), "ticketId": answered["ticketId"]}
        await caller.ok(names.ASSIGN, {**as_agent, "agentId": agent})
        await planned(monitor, await caller.ok(names.MARK_FIRST_RESPONSE, as_agent))
        assert stale is not None
        await monitor.timers.timers.replace_one({"_id": key}, stale)  # lost the race
        clock.set(due(answered, "firstResponseWarningAt"))
        result = await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log, "sla.warning")) >= 1)
        await settle(caller, log)
        timer = await monitor.timers.timers.find_one({"_id": key})
    assert (result.warnings, result.dropped) == (1, 1)
    [warning] = alerts(log, "sla.warning")
    assert (warning["ticketId"], warning["kind"]) == (untouched["ticketId"], "first_response")
    assert timer is not None
    assert timer["state"] == "dropped"


async def test_two_monitors_over_the_same_data_announce_every_breach_once(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    first, second = SlaMonitor(), SlaMonitor()
    settings = sla_settings(endpoints, database, scan_batch=7)
    async with (
        running(settings, [TicketService(), first], clock),
        running(settings, [TicketService(), second], clock),
        client(endpoints.rabbit_url) as (caller, log),
    ):
        tickets = await asyncio.gather(
            *[
                caller.ok(names.CREATE, create_body(f"+3461{i:07d}", priority="urgent"))
                for i in range(40)
            ]
        )
        for ticket in tickets:
            await planned(first, ticket)
        clock.advance(timedelta(hours=5))  # past every first-response and resolution due
        results = await asyncio.gather(*[m.scanner.scan_once() for m in (first, second) * 3])
        await until(log, lambda: len(alerts(log)) >= 80, timeout=60)
        await settle(caller, log)
        again = await asyncio.gather(first.scanner.scan_once(), second.scanner.scan_once())
        await settle(caller, log)
    breaches = alerts(log)
    assert sum(r.breaches for r in results) == 80
    assert all(r.claimed == 0 for r in again)
    assert len(breaches) == 80
    assert len({(e["ticketId"], e["kind"]) for e in breaches}) == 80
    assert len({e["eventId"] for e in breaches}) == 80
    assert results[0].breaches > 0
    assert results[1].breaches > 0
    assert not alerts(log, "sla.warning"), "a warning whose breach is due is superseded"


async def test_escalation_on_breach_raises_the_priority_once_and_announces_it(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, escalate_on_breach=True, warnings_enabled=False)
    async with monitored(settings, clock) as (monitor, caller, log):
        ticket = await create(caller, monitor, priority="low")
        clock.set(due(ticket, "firstResponseDueAt"))
        await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log, "ticket.priority_escalated")) == 1)
        await settle(caller, log)
        escalated = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": ticket["ticketId"]})
        await planned(monitor, escalated)
        again = await monitor.scanner.scan_once()
        await settle(caller, log)
    event = alerts(log, "ticket.priority_escalated")[0]
    assert (event["oldPriority"], event["newPriority"]) == ("low", "medium")
    assert escalated["priority"] == "medium"
    assert escalated["sla"]["firstResponseBreachAt"] == ticket["sla"]["firstResponseDueAt"]
    assert again.breaches == 0, "the re-planned (earlier) first-response due does not fire again"
    assert len(alerts(log)) == 1
    assert alerts(log)[0]["priority"] == "low"
    assert not alerts(log, "sla.warning")


async def dead_letter_count(rabbit_url: str, source: str = names.SLA_MONITOR_TICKET_EVENTS) -> int:
    """Dead letters rejected by `source` (their `x-original-queue`), read without taking
    them: the connection closes with every message unacknowledged, so all go back. Other
    consumers of the same events (the ticket service's statistics) reject poison too."""
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.DEAD_LETTER_QUEUE, passive=True)
        count = 0
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            if (message.headers or {}).get("x-original-queue") == source:
                count += 1
        return count
    finally:
        await connection.close()


async def test_a_malformed_event_is_dead_lettered_and_planning_goes_on(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    monitor = SlaMonitor()
    async with (
        running(sla_settings(endpoints, database), [TicketService(), monitor], clock) as runtime,
        client(endpoints.rabbit_url) as (caller, _),
    ):
        broker = runtime.context.broker if runtime.context else None
        assert broker is not None
        before = await dead_letter_count(endpoints.rabbit_url)
        for body in (b"not json", b'{"type": "ticket.created", "ticketId": "x"}'):
            await broker.publish(body, exchange=EVENTS, routing_key="ticket.created")
        ticket = await create(caller, monitor, priority="urgent")
        assert monitor.timers is not None
        timers = await monitor.timers.of_ticket(ticket["ticketId"])
        # the broker routes rejections asynchronously
        await eventually(
            lambda: at_least(dead_letter_count(endpoints.rabbit_url), before + 2),
            what="both malformed events dead-lettered",
        )
        after = await dead_letter_count(endpoints.rabbit_url)
    assert after == before + 2
    assert {t["kind"] for t in timers} == {
        "first_response_warning",
        "first_response_breach",
        "resolution_warning",
        "resolution_breach",
    }


async def test_a_claim_left_by_a_dead_replica_is_taken_over_after_its_lease(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, lease_seconds=60, warnings_enabled=False)
    async with monitored(settings, clock) as (monitor, caller, log):
        ticket = await create(caller, monitor, priority="urgent")
        clock.set(due(ticket, "firstResponseDueAt"))
        assert monitor.timers is not None
        [timer] = await monitor.timers.due(clock.now(), 10)
        claimed = await monitor.timers.claim(timer, clock.now(), timedelta(seconds=60))
        assert claimed is not None  # ... and the replica that claimed it dies here
        clock.advance(timedelta(seconds=59))
        within_lease = await monitor.scanner.scan_once()
        clock.advance(timedelta(seconds=1))
        after_lease = await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log)) == 1)
        await settle(caller, log)
        final = await caller.ok(names.GET, {"actor": SYSTEM, "ticketId": ticket["ticketId"]})
    assert (within_lease.claimed, after_lease.breaches) == (0, 1)
    [breach] = alerts(log)
    assert datetime.fromisoformat(breach["occurredAt"]) == due(ticket, "firstResponseDueAt")
    assert final["sla"]["firstResponseBreachAt"] == ticket["sla"]["firstResponseDueAt"]


async def test_a_priority_change_replans_the_timers_to_the_new_targets(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(MONDAY)
    settings = sla_settings(endpoints, database, warnings_enabled=False)
    async with monitored(settings, clock) as (monitor, caller, log):
        ticket = await create(caller, monitor, priority="low")
        clock.advance(timedelta(minutes=5))
        escalated = await caller.ok(
            names.ESCALATE_PRIORITY,
            {"actor": SYSTEM, "ticketId": ticket["ticketId"], "priority": "urgent"},
        )
        await planned(monitor, escalated)
        urgent_due = due(escalated, "firstResponseDueAt")
        clock.set(urgent_due - ONE_SECOND)
        before = await monitor.scanner.scan_once()
        clock.set(urgent_due)
        at_due = await monitor.scanner.scan_once()
        old_low_due = due(ticket, "firstResponseDueAt")
        clock.set(old_low_due)
        old_due = await monitor.scanner.scan_once()
        await until(log, lambda: len(alerts(log)) == 2)
        await settle(caller, log)
    assert urgent_due == MONDAY + timedelta(minutes=15)
    assert (before.breaches, at_due.breaches) == (0, 1)
    assert old_due.breaches == 1, "only the urgent resolution target (4 h) is due by then"
    assert [(b["kind"], b["priority"], b["targetSeconds"]) for b in alerts(log)] == [
        ("first_response", "urgent", 900),
        ("resolution", "urgent", 4 * 3600),
    ]


async def test_the_background_scan_runs_at_its_interval(
    endpoints: Endpoints, database: str
) -> None:
    """No `scan_once` here: the loop the runtime spawns finds the due timer by itself."""
    clock = MovableClock(MONDAY)
    settings = settings_for(
        endpoints,
        database,
        sla=SlaPolicy(),
        sla_monitor=SlaMonitorSettings(scan_interval_seconds=0.05, warnings_enabled=False),
    )
    async with monitored(settings, clock) as (monitor, caller, log):
        ticket = await create(caller, monitor, priority="urgent")
        clock.set(due(ticket, "firstResponseDueAt"))
        await until(log, lambda: len(alerts(log)) == 1)
        await settle(caller, log)
    [breach] = alerts(log)
    assert (breach["ticketId"], breach["kind"]) == (ticket["ticketId"], "first_response")
    assert datetime.fromisoformat(breach["occurredAt"]) == due(ticket, "firstResponseDueAt")
