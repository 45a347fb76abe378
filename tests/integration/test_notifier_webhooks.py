"""Outbound webhooks against local HTTP receivers: admin API, signatures, retries with
backoff on a moved clock, dead letters, slow endpoints, several notifier instances."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from contracts import names
from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import MovableClock
from infra.messaging import EVENTS
from infra.settings import NotifierSettings, Settings
from services.notifier.domain.signing import SIGNATURE_HEADER, BadSignature, verify
from services.notifier.main import Notifier
from services.ticket_service.main import TicketService
from tests.support.factories import make_agent
from tests.support.notifier_system import (
    Served,
    breached,
    created,
    new_ticket_id,
    publish,
    publisher,
    receiving,
    serving,
)
from tests.support.system import Endpoints, settings_for
from tests.support.waiting import at_least, eventually

pytestmark = pytest.mark.integration

SECRET = "notifier-test-secret-0123456789abcdef"
HOOK_SECRET = "whsec_test_0123456789abcdef0123456789"


@dataclass
class Admin:
    http: httpx.AsyncClient
    notifier: Notifier
    clock: MovableClock
    served: Served
    settings: Settings

    async def hook(self, url: str, events: list[str]) -> str:
        reply = await self.http.post(
            "/api/v2/webhooks", json={"url": url, "events": events, "secret": HOOK_SECRET}
        )
        assert reply.status_code == 201, reply.text
        webhook_id: str = reply.json()["data"]["id"]
        return webhook_id

    async def deliveries(self, webhook_id: str, **query: Any) -> list[dict[str, Any]]:
        reply = await self.http.get(f"/api/v2/webhooks/{webhook_id}/deliveries", params=query)
        assert reply.status_code == 200, reply.text
        items: list[dict[str, Any]] = reply.json()["data"]
        return items

    async def statuses(self, webhook_id: str) -> set[str]:
        return {d["status"] for d in await self.deliveries(webhook_id, limit=100)}

    async def wait_deliveries(self, webhook_id: str, count: int) -> list[dict[str, Any]]:
        """Deliveries are recorded by the event consumer, shortly after the publish."""

        async def recorded() -> list[dict[str, Any]] | None:
            items = await self.deliveries(webhook_id)
            return items if len(items) >= count else None

        return await eventually(recorded, what=f"{count} deliveries of {webhook_id}")

    async def run_worker(self) -> int:
        worker = self.notifier.worker
        assert worker is not None
        return await worker.run_once()


def webhook_settings(endpoints: Endpoints, database: str, **notifier: Any) -> Settings:
    knobs = {
        "webhook_poll_seconds": 3600,
        "webhook_max_attempts": 3,
        "webhook_allow_private_targets": True,  # the receivers listen on loopback
        **notifier,
    }
    return settings_for(endpoints, database, jwt_secret=SECRET, notifier=NotifierSettings(**knobs))


@asynccontextmanager
async def admin_session(
    endpoints: Endpoints, database: str, **notifier: Any
) -> AsyncIterator[Admin]:
    settings = webhook_settings(endpoints, database, **notifier)
    clock = MovableClock(datetime.now(UTC))
    service = Notifier()
    async with serving(settings, [TicketService(), service], clock) as served:
        admin_id = await make_agent("Root", AgentRole.ADMIN)
        token = issue_token(settings, admin_id, AgentRole.ADMIN, clock.now())
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=served.url, headers=headers) as http:
            yield Admin(http, service, clock, served, settings)


async def test_only_admins_manage_webhooks_and_bad_input_is_refused_field_by_field(
    endpoints: Endpoints, database: str
) -> None:
    async with admin_session(endpoints, database) as admin:
        agent_id = await make_agent("Ana")
        agent_token = issue_token(admin.settings, agent_id, AgentRole.AGENT, admin.clock.now())
        async with httpx.AsyncClient(base_url=admin.served.url) as anonymous:
            nobody = await anonymous.get("/api/v2/webhooks")
            agent = await anonymous.get(
                "/api/v2/webhooks", headers={"Authorization": f"Bearer {agent_token}"}
            )
            unauthorised_create = await anonymous.post("/api/v2/webhooks", json={"url": "nope"})
        bad = {
            "scheme": {"url": "ftp://example.com/x", "events": ["ticket.created"]},
            "no host": {"url": "http:///x", "events": ["ticket.created"]},
            "event": {"url": "http://127.0.0.1/x", "events": ["ticket.exploded"]},
            "no events": {"url": "http://127.0.0.1/x", "events": []},
            "extra": {"url": "http://127.0.0.1/x", "events": ["*"], "isAdmin": True},
            "short secret": {"url": "http://127.0.0.1/x", "events": ["*"], "secret": "x"},
        }
        refused = {
            case: await admin.http.post("/api/v2/webhooks", json=body) for case, body in bad.items()
        }
        created_reply = await admin.http.post(
            "/api/v2/webhooks",
            json={"url": "http://127.0.0.1:9/hook", "events": ["ticket.*", "sla.breached"]},
        )
        webhook = created_reply.json()["data"]
        listed = (await admin.http.get("/api/v2/webhooks")).json()
        updated = await admin.http.put(
            f"/api/v2/webhooks/{webhook['id']}", json={"events": ["*"], "active": False}
        )
        bad_update = await admin.http.put(
            f"/api/v2/webhooks/{webhook['id']}", json={"events": ["nope"]}
        )
        deleted = await admin.http.delete(f"/api/v2/webhooks/{webhook['id']}")
        gone = await admin.http.get(f"/api/v2/webhooks/{webhook['id']}")
        gone_deliveries = await admin.http.get(f"/api/v2/webhooks/{webhook['id']}/deliveries")

    assert nobody.status_code == 401
    assert nobody.json() == {
        "success": False,
        "error": "Missing credentials: send an agent's 'Authorization: Bearer <token>'",
        "code": "unauthorized",
    }
    assert unauthorised_create.status_code == 401
    assert agent.status_code == 403
    assert agent.json()["code"] == "forbidden"
    for case, reply in refused.items():
        assert reply.status_code == 422, case
        assert reply.json()["code"] == "validation", case
        assert reply.json()["details"], case
    assert created_reply.status_code == 201
    assert webhook["secret"].startswith("whsec_")
    assert webhook["events"] == ["ticket.*", "sla.breached"]
    assert listed["count"] == 1
    assert "secret" not in listed["data"][0]
    assert updated.json()["data"]["events"] == ["*"]
    assert updated.json()["data"]["active"] is False
    assert bad_update.status_code == 422
    assert deleted.json() == {"success": True, "data": {"id": webhook["id"], "deleted": True}}
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"
    assert gone_deliveries.status_code == 404


async def test_the_api_answers_with_the_envelope_when_mongodb_is_gone(
    endpoints: Endpoints, database: str
) -> None:
    async with admin_session(endpoints, database) as admin:
        context = admin.served.runtime.context
        assert context is not None
        await context.mongo.close()
        reply = await admin.http.get("/api/v2/webhooks")

    # The gate cannot check the admin's token without MongoDB: 503, in the envelope.
    assert reply.status_code == 503
    assert reply.json() == {
        "success": False,
        "error": "Could not check credentials; retry shortly",
        "code": "unavailable",
    }


async def test_a_delivery_is_signed_sent_once_and_visible(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        admin_session(endpoints, database) as admin,
        receiving() as receiver,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        wanted = await admin.hook(receiver.url, ["ticket.created"])
        other = await admin.hook(receiver.url, ["sla.*"])
        event = created(new_ticket_id())
        await publish(rabbit, event)
        await publish(rabbit, event)  # a redelivery
        await publish(rabbit, breached(event.ticket_id, None))
        await admin.wait_deliveries(other, 1)
        [pending] = await admin.wait_deliveries(wanted, 1)
        attempted = await admin.run_worker()
        [delivered] = await admin.deliveries(wanted)
        again = await admin.run_worker()
        now = int(admin.clock.now().timestamp())

    assert pending["status"] == "pending"
    assert attempted == 2
    assert again == 0
    assert delivered["status"] == "delivered"
    assert delivered["attempts"] == 1
    assert delivered["lastStatusCode"] == 200
    assert delivered["eventId"] == event.event_id
    [request] = [r for r in receiver.requests if r.headers["X-Tickets-Event"] == "ticket.created"]
    header = request.headers[SIGNATURE_HEADER]
    assert verify(HOOK_SECRET, header, request.body, now) == now
    with pytest.raises(BadSignature):
        verify(HOOK_SECRET, header, request.body.replace(b"high", b"urgent"), now)
    with pytest.raises(BadSignature):
        verify("another-secret", header, request.body, now)
    with pytest.raises(BadSignature):
        verify(HOOK_SECRET, header, request.body, now + 3600)
    body = json.loads(request.body)
    assert body["eventId"] == event.event_id
    assert body["type"] == "ticket.created"
    assert body["data"]["ticketId"] == event.ticket_id
    assert body["data"]["ticket"]["priority"] == "high"
    assert request.headers["X-Tickets-Delivery"] == delivered["id"]
    assert len(receiver.requests) == 2


async def test_failures_are_retried_with_backoff_then_dead_lettered_and_can_be_resent(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        admin_session(endpoints, database, webhook_backoff_seconds=30) as admin,
        receiving([500, 503, 500]) as receiver,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        webhook = await admin.hook(receiver.url, ["*"])
        await publish(rabbit, created(new_ticket_id()))
        await admin.wait_deliveries(webhook, 1)
        start = admin.clock.now()
        timeline: list[tuple[int, int, str]] = []

        async def step(seconds: int) -> None:
            admin.clock.advance(timedelta(seconds=seconds))
            attempted = await admin.run_worker()
            [delivery] = await admin.deliveries(webhook)
            elapsed = int((admin.clock.now() - start).total_seconds())
            timeline.append((elapsed, attempted, delivery["status"]))

        for seconds in (0, 29, 1, 59, 1, 1000):
            await step(seconds)
        [dead] = await admin.deliveries(webhook, status="dead")
        resent = await admin.http.post(f"/api/v2/webhooks/{webhook}/deliveries/{dead['id']}/retry")
        not_dead = await admin.http.post(
            f"/api/v2/webhooks/{webhook}/deliveries/{dead['id']}/retry"
        )
        await admin.run_worker()
        [final] = await admin.deliveries(webhook)
        async with httpx.AsyncClient(base_url=admin.served.url) as http:
            exposition = (await http.get("/metrics")).text

    assert timeline == [
        (0, 1, "retrying"),  # 500: next try in 30 s
        (29, 0, "retrying"),
        (30, 1, "retrying"),  # 503: next try in 60 s
        (89, 0, "retrying"),
        (90, 1, "dead"),  # 500 on the third and last attempt
        (1090, 0, "dead"),
    ]
    assert dead["attempts"] == 3
    assert dead["lastStatusCode"] == 500
    assert dead["lastError"] == "HTTP 500"
    assert resent.json()["data"]["status"] == "pending"
    assert not_dead.status_code == 404
    assert final["status"] == "delivered"
    assert len(receiver.requests) == 4
    assert 'tickets_notifier_webhook_deliveries_total{outcome="dead"}' in exposition


async def test_a_slow_endpoint_does_not_hold_up_a_fast_one(
    endpoints: Endpoints, database: str
) -> None:
    """The background worker, three requests in flight at most, one per endpoint: the slow
    endpoint's deliveries are due first and outnumber the slots, yet it holds only one
    while the fast endpoint gets all of its own. (Without the per-endpoint share the slow
    one would take every slot until the request timeout, far beyond this test.)"""
    async with (
        admin_session(
            endpoints,
            database,
            webhook_poll_seconds=0.05,
            webhook_timeout_seconds=600,
            webhook_max_in_flight=3,
            webhook_max_in_flight_per_endpoint=1,
        ) as admin,
        receiving(slow=True) as slow,
        receiving() as fast,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        slow_hook = await admin.hook(slow.url, ["ticket.created"])
        for _ in range(3):
            await publish(rabbit, created(new_ticket_id()))
        await admin.wait_deliveries(slow_hook, 3)
        admin.clock.advance(timedelta(seconds=1))
        fast_hook = await admin.hook(fast.url, ["ticket.created"])
        for _ in range(3):
            await publish(rabbit, created(new_ticket_id()))
        await eventually(slow.arrived.is_set, what="the slow receiver's first request")
        await admin.wait_deliveries(fast_hook, 3)
        await eventually(
            lambda: delivered(admin, fast_hook), what="the fast hook's deliveries delivered"
        )
        slow_while_held = await admin.deliveries(slow_hook)
        held_requests = len(slow.requests)
        slow.gate.set()
        await eventually(
            lambda: delivered(admin, slow_hook), what="the slow hook's deliveries delivered"
        )

    assert len(fast.requests) == 3
    assert held_requests == 1
    assert len(slow_while_held) == 6
    assert {d["status"] for d in slow_while_held} == {"pending"}
    assert len(slow.requests) == 6


async def test_an_endpoint_that_never_answers_times_out_and_is_retried(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        admin_session(endpoints, database, webhook_timeout_seconds=0.5) as admin,
        receiving(slow=True) as silent,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        webhook = await admin.hook(silent.url, ["ticket.created"])
        await publish(rabbit, created(new_ticket_id()))
        await admin.wait_deliveries(webhook, 1)
        await admin.run_worker()
        [delivery] = await admin.deliveries(webhook)

    assert delivery["status"] == "retrying"
    assert delivery["lastStatusCode"] is None
    assert "Timeout" in delivery["lastError"]


async def test_loopback_targets_are_refused_unless_allowed(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        admin_session(endpoints, database, webhook_allow_private_targets=False) as admin,
        receiving() as receiver,
    ):
        refused = await admin.http.post(
            "/api/v2/webhooks", json={"url": receiver.url, "events": ["ticket.created"]}
        )

    # Refused when registered (and again before each delivery: tests/security).
    assert refused.status_code == 422
    assert refused.json()["error"] == (
        "Invalid request: url: target address not allowed: 127.0.0.1 -> 127.0.0.1"
    )
    assert receiver.requests == []


async def test_two_instances_deliver_each_event_once_per_endpoint(
    endpoints: Endpoints, database: str
) -> None:
    settings = webhook_settings(endpoints, database, webhook_max_in_flight_per_endpoint=50)
    clock = MovableClock(datetime.now(UTC))
    first, second = Notifier(), Notifier()
    async with AsyncExitStack() as stack:
        served = await stack.enter_async_context(serving(settings, [TicketService(), first], clock))
        await stack.enter_async_context(serving(settings, [second], clock))
        receiver = await stack.enter_async_context(receiving())
        rabbit = await stack.enter_async_context(publisher(endpoints.rabbit_url))
        admin_id = await make_agent("Root", AgentRole.ADMIN)
        token = issue_token(settings, admin_id, AgentRole.ADMIN, clock.now())
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {token}"})
        )
        admin = Admin(http, first, clock, served, settings)
        webhook = await admin.hook(receiver.url, ["ticket.created"])
        events = [created(new_ticket_id()) for _ in range(10)]
        for event in events + events[:4]:
            await publish(rabbit, event)
        await admin.wait_deliveries(webhook, 10)
        assert first.worker is not None
        assert second.worker is not None
        counts = await asyncio.gather(first.worker.run_once(), second.worker.run_once())
        deliveries = await admin.deliveries(webhook, limit=100)

    assert sum(counts) == 10
    assert len(deliveries) == 10
    assert {d["status"] for d in deliveries} == {"delivered"}
    sent = sorted(json.loads(r.body)["eventId"] for r in receiver.requests)
    assert sent == sorted(e.event_id for e in events)


async def test_the_background_worker_sends_due_deliveries_by_itself(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        admin_session(endpoints, database, webhook_poll_seconds=0.05) as admin,
        receiving() as receiver,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        webhook = await admin.hook(receiver.url, ["ticket.*"])
        event = created(new_ticket_id())
        await publish(rabbit, event)
        await eventually(receiver.arrived.is_set, what="the receiver's request")
        await eventually(lambda: delivered(admin, webhook), what="the delivery delivered")

    assert [json.loads(r.body)["eventId"] for r in receiver.requests] == [event.event_id]


async def test_bad_events_are_dead_lettered_unknown_types_skipped_and_the_rest_goes_on(
    endpoints: Endpoints, database: str
) -> None:
    bad = [b"not json", b'{"type": "ticket.created", "ticketId": "x"}']
    newer = b'{"type": "ticket.archived", "ticketId": "TICKET-2026-000001"}'
    async with (
        admin_session(endpoints, database) as admin,
        receiving() as receiver,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        webhook = await admin.hook(receiver.url, ["*"])
        before = await dead_letters(endpoints.rabbit_url)
        # The newer type sits between the two poison bodies: dead letters keep the order
        # of the rejections, so once the second poison body is there, a dead-lettered
        # newer type would be there too. The poison goes out under an `sla.*` key, which
        # the notifier's queue takes ("#") and the ticket service's statistics queue
        # ("ticket.#") does not: only the notifier's rejections are counted.
        for body, key in [
            (bad[0], "sla.breached"),
            (newer, "ticket.archived"),
            (bad[1], "sla.breached"),
        ]:
            await rabbit.publish(body, exchange=EVENTS, routing_key=key)
        event = created(new_ticket_id())
        await publish(rabbit, event)
        [delivery] = await admin.wait_deliveries(webhook, 1)
        await eventually(
            lambda: at_least(dead_letters(endpoints.rabbit_url), before + 2),
            what="the two bad events dead-lettered",
        )
        after = await dead_letters(endpoints.rabbit_url)
        taken = await take_dead_letters(endpoints.rabbit_url, [*bad, newer])

    assert delivery["eventId"] == event.event_id
    assert sorted(taken) == sorted(bad)
    assert after == before + 2


async def delivered(admin: Admin, webhook_id: str) -> bool:
    return await admin.statuses(webhook_id) == {"delivered"}


async def dead_letters(rabbit_url: str) -> int:
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.DEAD_LETTER_QUEUE, durable=True)
        return queue.declaration_result.message_count or 0
    finally:
        await connection.close()


async def take_dead_letters(rabbit_url: str, bodies: list[bytes]) -> list[bytes]:
    """Removes our own dead letters so later tests find the queue as it was."""
    connection = await aio_pika.connect(rabbit_url)
    taken: list[bytes] = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.DEAD_LETTER_QUEUE, durable=True)
        others: list[aio_pika.abc.AbstractIncomingMessage] = []
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            if message.body in bodies and message.body not in taken:
                taken.append(message.body)
                await message.ack()
            else:
                others.append(message)
        for message in others:
            await message.nack(requeue=True)
    finally:
        await connection.close()
    return taken
