"""Socket.IO pushes over a running server: real uvicorn, real RabbitMQ, real clients."""

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families

from contracts import names
from contracts.enums import ActorType, AgentRole, Priority, SlaKind, TicketStatus
from contracts.events import (
    SlaWarning,
    TicketAssigned,
    TicketNoteAdded,
    TicketPriorityEscalated,
    TicketStatusChanged,
    TicketUnassigned,
    TicketUpdated,
)
from infra.auth import issue_token
from infra.clock import MovableClock
from infra.settings import NotifierSettings, Settings
from services.notifier.main import Notifier
from services.notifier.sockets import UNAUTHORIZED, UNAVAILABLE
from services.ticket_service.main import TicketService
from tests.support.factories import agent_actor, create_body, make_agent
from tests.support.notifier_system import (
    Inbox,
    Refused,
    Served,
    breached,
    connect,
    created,
    hang_up,
    new_ticket_id,
    publish,
    publisher,
    serving,
    summary,
)
from tests.support.system import Endpoints, client, settings_for
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SECRET = "notifier-test-secret-0123456789abcdef"


def notifier_settings(endpoints: Endpoints, database: str) -> Settings:
    return settings_for(
        endpoints,
        database,
        jwt_secret=SECRET,
        notifier=NotifierSettings(webhook_poll_seconds=3600),
    )


@asynccontextmanager
async def system(
    endpoints: Endpoints, database: str, clock: MovableClock | None = None
) -> AsyncIterator[tuple[Served, Settings]]:
    """The ticket service and the notifier in one process, as `tickets up` runs them."""
    settings = notifier_settings(endpoints, database)
    async with serving(settings, [TicketService(), Notifier()], clock) as served:
        yield served, settings


def token(settings: Settings, agent_id: str, role: AgentRole = AgentRole.AGENT) -> str:
    return issue_token(settings, agent_id, role, datetime.now(UTC))


async def sync(inboxes: list[Inbox], rabbit: Any) -> str:
    """Publishes an event every agent receives and waits until all have it: pushes are
    delivered in order, so anything published before has arrived too."""
    marker = new_ticket_id()
    await publish(rabbit, created(marker))
    for inbox in inboxes:
        await inbox.wait_for("ticket_created", marker)
    return marker


def seen(inbox: Inbox, marker: str) -> list[tuple[str, str]]:
    return [(n, d["ticketId"]) for n, d in inbox.pushes if d.get("ticketId") != marker]


async def test_connections_without_a_valid_token_of_an_active_agent_are_refused(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(datetime.now(UTC))
    async with system(endpoints, database, clock) as (served, settings):
        inactive = await make_agent("Ina", active=False)
        active = await make_agent("Ana")
        expired = issue_token(settings, active, AgentRole.AGENT, clock.now() - timedelta(days=1))
        other_key = Settings(jwt_secret="another-secret-0123456789abcdefgh")
        refused = {
            "missing": None,
            "garbage": "not-a-jwt",
            "expired": expired,
            "wrong key": token(other_key, active),
            "inactive agent": token(settings, inactive),
            "unknown agent": token(settings, str(ObjectId())),
            "not an object id": token(settings, "agent-1"),
            "no role": jwt.encode({"sub": active, "exp": 2**31}, SECRET, algorithm="HS256"),
        }
        for case, value in refused.items():
            with pytest.raises(Refused) as refusal:
                await connect(served.url, value)
            assert refusal.value.args[0] == [{"message": UNAUTHORIZED}], case
        with pytest.raises(Refused):
            await connect(served.url, expired, header=True)

        accepted = [
            await connect(served.url, token(settings, active)),
            await connect(served.url, token(settings, active), header=True),
            await connect(served.url, token(settings, active), transport="polling"),
        ]
        assert all(inbox.client.connected for inbox in accepted)
        async with publisher(endpoints.rabbit_url) as rabbit:
            await sync(accepted, rabbit)
        for inbox in accepted:
            await hang_up(inbox)


async def test_a_connection_is_refused_at_once_when_the_agent_cannot_be_checked(
    endpoints: Endpoints, database: str
) -> None:
    settings = notifier_settings(endpoints, database)
    async with serving(settings, [Notifier()]) as served:
        context = served.runtime.context
        assert context is not None
        agent_id = str(ObjectId())
        await context.mongo.close()  # the agents store is gone
        with pytest.raises(Refused) as refusal:
            await connect(served.url, token(settings, agent_id))

    assert refusal.value.args[0] == [{"message": UNAVAILABLE}]


async def test_each_event_reaches_exactly_the_rooms_that_may_read_the_ticket(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        system(endpoints, database) as (served, settings),
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        admin_id = await make_agent("Root", AgentRole.ADMIN)
        ana = await connect(served.url, token(settings, ana_id))
        ben = await connect(served.url, token(settings, ben_id))
        admin = await connect(served.url, token(settings, admin_id, AgentRole.ADMIN))
        t1, t2, t3 = new_ticket_id(), new_ticket_id(), new_ticket_id()
        now = datetime.now(UTC)

        def base(ticket_id: str, agent: str | None, **ticket: Any) -> dict[str, Any]:
            return {
                "event_id": uuid.uuid4().hex,
                "occurred_at": now,
                "ticket_id": ticket_id,
                "ticket": summary(ticket_id, assigned_agent=agent, **ticket),
            }

        events = [
            created(t1),
            created(t2, assigned_agent=ana_id),
            TicketAssigned(**base(t1, ana_id), agent_id=ana_id),
            TicketStatusChanged(
                **base(t1, ana_id, status=TicketStatus.PENDING_CUSTOMER),
                old_status=TicketStatus.IN_PROGRESS,
                new_status=TicketStatus.PENDING_CUSTOMER,
                changed_by=ActorType.AGENT,
                changed_by_id=ana_id,
            ),
            TicketAssigned(**base(t1, ben_id), agent_id=ben_id, previous_agent_id=ana_id),
            TicketPriorityEscalated(
                **base(t1, ben_id, priority=Priority.URGENT),
                old_priority=Priority.HIGH,
                new_priority=Priority.URGENT,
                reason="VIP customer",
            ),
            TicketUpdated(**base(t1, ben_id), changes={"firstResponseMet": True}),
            TicketNoteAdded(**base(t1, ben_id), note_id="n1", agent_id=ben_id, is_visible=False),
            breached(t1, ben_id),
            breached(t3, None),
            SlaWarning(
                event_id=uuid.uuid4().hex,
                occurred_at=now,
                ticket_id=t1,
                kind=SlaKind.RESOLUTION,
                priority=Priority.URGENT,
                assigned_agent=ben_id,
                target_seconds=100,
                elapsed_seconds=80,
                due_at=now,
            ),
            TicketUnassigned(**base(t1, None), previous_agent_id=ben_id),
        ]
        for event in events:
            await publish(rabbit, event)
        marker = await sync([ana, ben, admin], rabbit)

    everything = [
        ("ticket_created", t1),
        ("ticket_created", t2),
        ("ticket_assigned", t1),
        ("ticket_status_changed", t1),
        ("ticket_assigned", t1),
        ("ticket_priority_escalated", t1),
        ("ticket_updated", t1),
        ("sla_breach_alert", t1),
        ("sla_breach_alert", t3),
        ("ticket_updated", t1),
    ]
    assert seen(admin, marker) == everything
    assert seen(ana, marker) == [everything[i] for i in (0, 1, 2, 3, 9)]
    assert seen(ben, marker) == [everything[i] for i in (0, 4, 5, 6, 7, 9)]

    assert admin.pushes[0] == (
        "ticket_created",
        {
            "ticketId": t1,
            "customerId": "cust-1",
            "conversationId": "conv-1",
            "priority": "high",
            "category": "billing",
        },
    )
    assert ana.named("ticket_assigned") == [
        {"ticketId": t1, "agentId": ana_id, "customerId": "cust-1", "priority": "high"}
    ]
    assert ana.named("ticket_status_changed") == [
        {
            "ticketId": t1,
            "oldStatus": "in_progress",
            "newStatus": "pending_customer",
            "changedBy": ana_id,
            "changedByType": "Agent",
        }
    ]
    assert ben.named("ticket_priority_escalated") == [
        {"ticketId": t1, "oldPriority": "high", "newPriority": "urgent", "reason": "VIP customer"}
    ]
    assert ben.named("ticket_updated")[0] == {"ticketId": t1, "firstResponseMet": True}
    assert ben.named("sla_breach_alert") == [
        {
            "ticketId": t1,
            "customerId": "cust-1",
            "assignedAgent": ben_id,
            "breachType": "first_response",
        }
    ]
    for inbox in (ana, ben, admin):
        await hang_up(inbox)


async def test_two_instances_each_client_gets_each_push_once_even_when_redelivered(
    endpoints: Endpoints, database: str
) -> None:
    settings = notifier_settings(endpoints, database)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(serving(settings, [TicketService(), Notifier()]))
        second = await stack.enter_async_context(serving(settings, [Notifier()]))
        rabbit = await stack.enter_async_context(publisher(endpoints.rabbit_url))
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        admin_id = await make_agent("Root", AgentRole.ADMIN)
        clients = {
            "ana@1": await connect(first.url, token(settings, ana_id)),
            "ana@2": await connect(second.url, token(settings, ana_id)),
            "ben@2": await connect(second.url, token(settings, ben_id)),
            "admin@1": await connect(first.url, token(settings, admin_id, AgentRole.ADMIN)),
            "admin@2": await connect(second.url, token(settings, admin_id, AgentRole.ADMIN)),
        }
        pool = [created(new_ticket_id()) for _ in range(10)]
        anas = [created(new_ticket_id(), assigned_agent=ana_id) for _ in range(5)]
        for event in [*pool, *anas]:
            await publish(rabbit, event)
        for event in pool[:3] + anas[:2]:  # the broker redelivers: same eventId
            await publish(rabbit, event)
        marker = await sync(list(clients.values()), rabbit)
        for inbox in clients.values():
            await hang_up(inbox)

    pool_ids = [("ticket_created", e.ticket_id) for e in pool]
    ana_ids = [("ticket_created", e.ticket_id) for e in anas]
    for name, inbox in clients.items():
        expected = pool_ids + (ana_ids if name.startswith(("ana", "admin")) else [])
        assert seen(inbox, marker) == expected, name


async def test_ticket_service_commands_push_to_the_right_agents(
    endpoints: Endpoints, database: str
) -> None:
    async with (
        system(endpoints, database) as (served, settings),
        client(endpoints.rabbit_url) as (caller, _),
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        before = await samples(served.url)
        ana = await connect(served.url, token(settings, ana_id))
        ben = await connect(served.url, token(settings, ben_id))
        ticket = await caller.ok(names.CREATE, create_body(conversationId="wa-conv-9"))
        ticket_id = ticket["ticketId"]
        pushed = await ben.wait_for("ticket_created", ticket_id)
        assert pushed == {
            "ticketId": ticket_id,
            "customerId": ticket["customerId"],
            "conversationId": "wa-conv-9",
            "priority": ticket["priority"],
            "category": ticket["category"],
        }
        await caller.ok(
            names.ASSIGN,
            {"actor": agent_actor(ana_id), "ticketId": ticket_id, "agentId": ana_id},
        )
        assigned = await ana.wait_for("ticket_assigned", ticket_id)
        marker = await sync([ana, ben], rabbit)
        after = await samples(served.url)
        async with httpx.AsyncClient(base_url=served.url) as http:
            health = (await http.get("/healthz")).json()
        for inbox in (ana, ben):
            await hang_up(inbox)

    assert assigned == {
        "ticketId": ticket_id,
        "agentId": ana_id,
        "customerId": ticket["customerId"],
        "priority": ticket["priority"],
    }
    assert "ticket_assigned" in [name for name, _ in seen(ana, marker)]
    assert [name for name, _ in seen(ben, marker)] == ["ticket_created"]
    assert health == {"ok": True, "services": ["ticket_service", "notifier"]}

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    emitted = sum(
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == "tickets_notifier_pushes_total"
    )
    assert grew("tickets_notifier_connected_clients") == 2
    assert grew("tickets_notifier_pushes_total", event="ticket_assigned") == 1
    assert grew("tickets_notifier_pushes_total", event="ticket_created") == 2  # ticket, marker
    assert grew("tickets_notifier_push_latency_seconds_count") == emitted  # one per emit


async def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample `/metrics` serves, by name and labels."""
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_sessions_end_when_the_token_expires_or_the_agent_is_deactivated(
    endpoints: Endpoints, database: str
) -> None:
    settings = notifier_settings(endpoints, database)
    clock = MovableClock(datetime.now(UTC))
    notifier = Notifier()
    async with (
        serving(settings, [TicketService(), notifier], clock) as served,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        ana_id, ben_id = await make_agent("Ana"), await make_agent("Ben")
        root_id = await make_agent("Root", AgentRole.ADMIN)
        short = issue_token(settings, ben_id, AgentRole.AGENT, clock.now(), timedelta(minutes=5))
        ana = await connect(served.url, token(settings, ana_id))
        ben = await connect(served.url, short)
        root = await connect(served.url, token(settings, root_id, AgentRole.ADMIN))
        assert await notifier.revalidate() == 0

        context = served.runtime.context
        assert context is not None
        agents = context.mongo[database]["agents"]
        await agents.update_one({"_id": ObjectId(ana_id)}, {"$set": {"isActive": False}})
        await agents.update_one({"_id": ObjectId(root_id)}, {"$set": {"role": "agent"}})
        clock.advance(timedelta(minutes=6))
        ended = await notifier.revalidate()
        await eventually(
            lambda: ana.gone.is_set() and ben.gone.is_set(), what="both sessions ended"
        )
        alert = breached(new_ticket_id(), None)  # admins only: Root is no longer one
        await publish(rabbit, alert)
        marker = await sync([root], rabbit)
        root_stayed = root.client.connected
        await hang_up(root)

    assert ended == 2
    assert root_stayed
    assert seen(root, marker) == []


@pytest.mark.parametrize(
    ("setting", "allowed"), [("", False), ("https://ui.example.com", True), ("*", True)]
)
async def test_cross_origin_socket_clients_need_an_allowed_origin(
    endpoints: Endpoints, database: str, setting: str, allowed: bool
) -> None:
    settings = settings_for(
        endpoints, database, jwt_secret=SECRET, notifier=NotifierSettings(cors_origins=setting)
    )
    async with serving(settings, [Notifier()]) as served, httpx.AsyncClient() as http:
        reply = await http.get(
            f"{served.url}/socket.io/",
            params={"EIO": "4", "transport": "polling"},
            headers={"Origin": "https://ui.example.com"},
        )
    assert (reply.status_code == 200) is allowed
    if allowed:
        assert reply.headers["access-control-allow-origin"] == "https://ui.example.com"
