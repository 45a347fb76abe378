"""The metrics every process exports and `/readyz`, read as Prometheus and a load balancer
read them: deltas over `/metrics` and the readiness answer."""

from datetime import UTC, datetime, timedelta

import aio_pika
import pytest

from contracts import names
from infra.clock import MovableClock
from infra.health import QueueSampler
from infra.runtime import Runtime
from services.ticket_service.main import TicketService
from tests.support.api import api_client, api_settings, bearer, new_ticket, served_app
from tests.support.factories import make_agent
from tests.support.metrics import grew, scrape
from tests.support.system import Endpoints, client
from tests.support.waiting import at_least, eventually

pytestmark = pytest.mark.integration

TICKETS = "/api/v2/tickets"


async def test_requests_are_counted_by_route_template_status_and_timed(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api:
        headers = bearer(settings, await make_agent("Ana"))
        before = await scrape(api)
        missing = await api.get(f"{TICKETS}/TICKET-2026-999999", headers=headers)
        unknown = await api.get("/no/such/path")
        after = await scrape(api)
    assert (missing.status_code, unknown.status_code) == (404, 404)
    route = f"{TICKETS}/{{ticketId}}"
    counted = "tickets_http_requests_total"
    assert grew(before, after, counted, method="GET", route=route, status="404") == 1
    assert grew(before, after, counted, route="unmatched", status="404") == 1
    timed = "tickets_http_request_duration_seconds_count"
    assert grew(before, after, timed, method="GET", route=route) == 1
    assert not any("TICKET-2026-999999" in str(labels) for _, labels, _ in after.samples)


async def test_consumed_messages_by_queue_and_outcome_and_tickets_by_priority(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (caller, _):
        ana = await make_agent("Ana")
        headers = bearer(settings, ana)
        before = await scrape(api)
        created = await caller.ok(
            names.CREATE,
            {
                "actor": {"type": "System"},
                "title": "Router keeps rebooting",
                "description": "The router reboots every ten minutes since Monday.",
                "source": "system",
                "priority": "urgent",
                "customer": {"phone": "+34600000009"},
            },
        )
        refused = await caller.call(names.CREATE, b"not json at all")
        path = f"{TICKETS}/{created['ticketId']}"
        await api.put(f"{path}/assign", json={"agentId": ana}, headers=headers)
        resolved = await api.put(
            f"{path}/status", json={"status": "resolved", "resolutionNotes": "ok"}, headers=headers
        )
        after = await scrape(api)
    assert (refused["ok"], resolved.status_code) == (False, 200)
    consumed = "tickets_messages_consumed_total"
    assert grew(before, after, consumed, queue=names.CREATE, outcome="ok") == 1
    assert grew(before, after, consumed, queue=names.CREATE, outcome="dead_lettered") == 1
    assert grew(before, after, "tickets_messages_dead_lettered_total", queue=names.CREATE) == 1
    timed = "tickets_message_handling_seconds_count"
    assert grew(before, after, timed, queue=names.CREATE) == 2
    assert grew(before, after, "tickets_created_total", priority="urgent") == 1
    assert grew(before, after, "tickets_resolved_total", priority="urgent") == 1
    assert grew(before, after, "tickets_created_total", priority="low") == 0


async def test_outbox_backlog_and_age_of_the_oldest_unsent_event(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime(2026, 5, 4, 9, tzinfo=UTC))
    settings = api_settings(endpoints, database)
    service = TicketService()
    runtime = Runtime(settings, [service], clock)
    async with served_app(runtime) as api:
        headers = bearer(settings, await make_agent("Ana"), now=clock.now())
        created = await api.post(TICKETS, json=new_ticket(), headers=headers)
        relay = service.relay
        assert relay is not None
        await relay.measure_backlog()
        empty = await scrape(api)
        stuck = {"eventId": "e-stuck", "routingKey": "ticket.updated", "payload": {}}
        assert runtime.context is not None
        await runtime.context.mongo[database]["tickets"].update_one(
            {"ticketId": created.json()["data"]["ticketId"]},
            {"$push": {"outbox": {**stuck, "createdAt": clock.now() - timedelta(minutes=1)}}},
        )
        clock.advance(timedelta(minutes=4))
        await relay.measure_backlog()
        backlog = await scrape(api)
    pending, age = "tickets_outbox_pending_documents", "tickets_outbox_oldest_entry_age_seconds"
    assert empty.value(pending, collection="tickets") == 0
    assert empty.value(age, collection="tickets") == 0
    assert backlog.value(pending, collection="tickets") == 1
    assert backlog.value(age, collection="tickets") == 300


async def test_queue_depth_follows_the_dead_letters(endpoints: Endpoints, database: str) -> None:
    settings = api_settings(endpoints, database)
    sampler = QueueSampler(endpoints.rabbit_url)
    connection = await aio_pika.connect(endpoints.rabbit_url)
    async with api_client(settings) as api, client(endpoints.rabbit_url) as (caller, _), connection:
        channel = await connection.channel()
        depth_before = await _depth(channel, names.DEAD_LETTER_QUEUE)
        await caller.call(names.CREATE, b"\xff not json")
        # the reject lands just before the reply, or just after
        await eventually(
            lambda: at_least(_depth(channel, names.DEAD_LETTER_QUEUE), depth_before + 1),
            what="the malformed command dead-lettered",
        )
        await sampler.sample([names.DEAD_LETTER_QUEUE, "tickets.no-such-queue", names.CREATE])
        after = await scrape(api)
        await sampler.close()
    queue = names.DEAD_LETTER_QUEUE
    assert after.value("tickets_queue_messages", queue=queue) == depth_before + 1
    assert after.value("tickets_queue_consumers", queue=names.CREATE) >= 1
    assert not any(labels.get("queue") == "tickets.no-such-queue" for _, labels, _ in after.samples)


async def _depth(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def test_readyz_names_the_dependency_that_does_not_answer_and_healthz_stays_live(
    endpoints: Endpoints, database: str
) -> None:
    runtime = Runtime(api_settings(endpoints, database), [TicketService()])
    async with served_app(runtime) as api:
        ready = await api.get("/readyz")
        context = runtime.context
        assert context is not None
        await context.broker.stop()
        without_broker = await api.get("/readyz")
        await context.mongo.close()
        without_both = await api.get("/readyz")
        live = await api.get("/healthz")
        gauges = await scrape(api)
    assert (ready.status_code, ready.json()["ok"]) == (200, True)
    assert ready.json()["checks"] == {"mongodb": "ok", "rabbitmq": "ok"}
    assert without_broker.status_code == 503
    assert without_broker.json()["checks"] == {
        "mongodb": "ok",
        "rabbitmq": "unavailable: not connected",
    }
    assert without_both.status_code == 503
    assert without_both.json()["checks"]["mongodb"].startswith("unavailable: ")
    assert (live.status_code, live.json()["ok"]) == (200, True)
    assert gauges.value("tickets_dependency_up", dependency="mongodb") == 0
    assert gauges.value("tickets_dependency_up", dependency="rabbitmq") == 0
