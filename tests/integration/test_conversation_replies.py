"""Agents answer the customer: `POST /api/v2/tickets/{ticketId}/messages` over a running
server, the reply out on the real `whatsapp.outbound`, the SLA monitor on a movable clock."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import names
from contracts.enums import AgentRole
from infra.clock import MovableClock
from infra.settings import Settings, SlaMonitorSettings
from services.sla_monitor.main import SlaMonitor
from services.ticket_service.conversation import Conversations
from services.ticket_service.main import TicketService
from services.ticket_service.relay import OutboxRelay
from tests.integration.test_sla_monitor import fresh_monitor_queue, planned
from tests.support.conversation import Outbound, agent_headers, http, outbound
from tests.support.factories import CUSTOMER_A, create_body, make_agent
from tests.support.notifier_system import serving
from tests.support.system import Caller, Endpoints, client, settings_for

pytestmark = pytest.mark.integration
__all__ = ["fresh_monitor_queue"]  # the autouse fixture applies here too

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SECRET = "conversation-test-secret-0123456789abcdef"


@dataclass
class Desk:
    """A running ticket service (and SLA monitor), an agent's HTTP session, the queues."""

    api: httpx.AsyncClient
    caller: Caller
    whatsapp: Outbound
    settings: Settings
    monitor: SlaMonitor
    clock: MovableClock
    service: TicketService

    def auth(self, agent: str, **headers: str) -> dict[str, str]:
        return agent_headers(self.settings, agent, self.clock.now(), **headers)

    def path(self, ticket_id: str, tail: str = "messages") -> str:
        return f"/api/v2/tickets/{ticket_id}/{tail}"

    async def reply(
        self, agent: str, ticket_id: str, key: str | None = None, **body: Any
    ) -> httpx.Response:
        headers = self.auth(agent, **({"Idempotency-Key": key} if key else {}))
        body = {"text": "Your parcel left the warehouse today.", **body}
        return await self.api.post(self.path(ticket_id), json=body, headers=headers)

    async def ticket(self, agent: str, ticket_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/api/v2/tickets/{ticket_id}", headers=self.auth(agent))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    async def sent_once(self, message_id: str, agent: str, ticket_id: str) -> dict[str, Any]:
        """The message's one copy on `whatsapp.outbound`: a later reply is published after
        it on the same queue, so once that marker arrived a duplicate would have too."""
        marker = (await self.reply(agent, ticket_id, text="(marker)")).json()["data"]["id"]
        await self.whatsapp.wait_for(lambda m: m.get("messageId") == marker)
        copies = self.whatsapp.of(message_id)
        assert len(copies) == 1, copies
        return copies[0]


@asynccontextmanager
async def desk(endpoints: Endpoints, database: str) -> AsyncIterator[Desk]:
    clock = MovableClock(MONDAY)
    settings = settings_for(
        endpoints,
        database,
        jwt_secret=SECRET,
        sla_monitor=SlaMonitorSettings(scan_interval_seconds=3600),
    )
    monitor, service = SlaMonitor(), TicketService()
    async with (
        outbound(endpoints.rabbit_url) as whatsapp,
        serving(settings, [service, monitor], clock) as served,
        http(served.url) as api,
        client(endpoints.rabbit_url) as (caller, _),
    ):
        yield Desk(api, caller, whatsapp, settings, monitor, clock, service)


async def new_ticket(desk: Desk, **extra: Any) -> dict[str, Any]:
    """A ticket the assistant opened for the customer: `new`, in the pool."""
    return await desk.caller.ok(names.CREATE, create_body(priority="high", **extra))


async def test_a_reply_goes_out_once_and_is_the_first_response_a_visible_note_is_not(
    endpoints: Endpoints, database: str
) -> None:
    async with desk(endpoints, database) as d:
        ana = await make_agent("Ana")
        answered, noted = await new_ticket(d), await new_ticket(d)
        d.clock.advance(timedelta(minutes=10))
        first = await d.reply(ana, answered["ticketId"], key="k-1")
        again = await d.reply(ana, answered["ticketId"], key="k-1")
        note = await d.api.put(
            d.path(noted["ticketId"], "notes"),
            json={"content": "Called the courier, waiting", "isVisible": True},
            headers=d.auth(ana),
        )
        assert note.status_code == 200, note.text
        message = first.json()["data"]
        sent = await d.sent_once(message["id"], ana, answered["ticketId"])
        replied = await d.ticket(ana, answered["ticketId"])
        await planned(d.monitor, replied)
        await planned(d.monitor, noted)
        due = datetime.fromisoformat(answered["sla"]["firstResponseDueAt"])
        d.clock.set(due + timedelta(seconds=1))
        scan = await d.monitor.scanner.scan_once()
        not_replied = await d.ticket(ana, noted["ticketId"])
        replied_after = await d.ticket(ana, answered["ticketId"])

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["data"] == message
    assert message["direction"] == "outbound"
    assert message["author"] == {"type": "agent", "id": ana, "name": "Ana"}
    assert message["text"] == "Your parcel left the warehouse today."
    assert message["attachments"] == []
    assert message["delivery"] == {"status": "queued"}
    assert datetime.fromisoformat(message["createdAt"]) == MONDAY + timedelta(minutes=10)
    assert sent == {
        "to": CUSTOMER_A,
        "text": "Your parcel left the warehouse today.",
        "ticketId": answered["ticketId"],
        "messageId": message["id"],
    }
    assert datetime.fromisoformat(replied["sla"]["firstResponseAt"]) == MONDAY + timedelta(
        minutes=10
    )
    assert replied["sla"]["firstResponseMet"] is True
    assert replied["firstResponseTime"] == 600_000
    assert replied["status"] == "open"  # the seed's automatic new -> open
    assert replied["statusHistory"][-1]["automated"] is True
    assert scan.breaches == 1  # the noted ticket only: the reply stopped the clock
    assert not_replied["sla"]["firstResponseAt"] is None
    assert not_replied["sla"]["firstResponseMet"] is False
    assert replied_after["sla"]["firstResponseBreachAt"] is None
    assert replied_after["sla"]["firstResponseMet"] is True


class Killed(Exception):
    """Stands for the process dying at this line: nothing after it runs."""


def kill_once(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[str]:
    """The first call of `owner.name` dies; later calls (the restarted process) work."""
    real = getattr(owner, name)
    killed: list[str] = []

    async def dying(self: Any, *args: Any) -> Any:
        if not killed:
            killed.append(name)
            raise Killed(name)
        return await real(self, *args)

    monkeypatch.setattr(owner, name, dying)
    return killed


async def test_a_retry_after_dying_between_the_message_and_the_ticket_update_converges(
    endpoints: Endpoints, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with desk(endpoints, database) as d:
        ana = await make_agent("Ana")
        ticket = await new_ticket(d)
        killed = kill_once(monkeypatch, Conversations, "apply")
        d.clock.advance(timedelta(minutes=5))
        died = await d.reply(ana, ticket["ticketId"], key="k-1")
        half_done = await d.ticket(ana, ticket["ticketId"])
        d.clock.advance(timedelta(minutes=20))
        retried = await d.reply(ana, ticket["ticketId"], key="k-1")
        message = retried.json()["data"]
        await d.sent_once(message["id"], ana, ticket["ticketId"])
        done = await d.ticket(ana, ticket["ticketId"])
        listed = await d.api.get(d.path(ticket["ticketId"]), headers=d.auth(ana))

    assert killed == ["apply"]
    assert died.status_code == 500
    assert half_done["sla"]["firstResponseAt"] is None
    assert retried.status_code == 201
    assert datetime.fromisoformat(message["createdAt"]) == MONDAY + timedelta(minutes=5)
    assert datetime.fromisoformat(done["sla"]["firstResponseAt"]) == MONDAY + timedelta(minutes=5)
    assert done["sla"]["firstResponseMet"] is True
    assert done["status"] == "open"
    assert listed.json()["data"][0]["id"] == message["id"]
    assert listed.json()["pagination"]["total"] == 2  # the reply and the marker


async def test_a_reply_whose_writer_died_before_publishing_is_sent_once_by_the_sweep(
    endpoints: Endpoints, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with desk(endpoints, database) as d:
        ana = await make_agent("Ana")
        ticket = await new_ticket(d)
        kill_once(monkeypatch, OutboxRelay, "publish_claimed")
        died = await d.reply(ana, ticket["ticketId"], key="k-1")
        early_retry = await d.reply(ana, ticket["ticketId"], key="k-1")
        d.clock.advance(timedelta(minutes=1))  # the dead writer's claim lapses
        swept = await d.service.conversations().sweep()
        message = early_retry.json()["data"]
        await d.sent_once(message["id"], ana, ticket["ticketId"])
        late_retry = await d.reply(ana, ticket["ticketId"], key="k-1")

    assert died.status_code == 500
    assert early_retry.status_code == 201
    assert message["delivery"] == {"status": "pending"}  # its writer still held it
    assert swept == 2  # the WhatsApp message and its ticket.message_added event
    assert late_retry.json()["data"]["delivery"] == {"status": "queued"}


async def test_no_first_response_breach_for_a_reply_its_writer_did_not_apply(
    endpoints: Endpoints, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with desk(endpoints, database) as d:
        ana = await make_agent("Ana")
        ticket = await new_ticket(d)
        await planned(d.monitor, ticket)
        kill_once(monkeypatch, Conversations, "apply")
        died = await d.reply(ana, ticket["ticketId"])
        d.clock.set(datetime.fromisoformat(ticket["sla"]["firstResponseDueAt"]))
        scan = await d.monitor.scanner.scan_once()
        after = await d.ticket(ana, ticket["ticketId"])

    assert died.status_code == 500
    assert scan.breaches == 0
    assert after["sla"]["firstResponseMet"] is True
    assert after["sla"]["firstResponseBreachAt"] is None


async def test_bad_replies_are_refused_in_the_envelope_and_nothing_is_sent(
    endpoints: Endpoints, database: str
) -> None:
    async with desk(endpoints, database) as d:
        ana, ben = await make_agent("Ana"), await make_agent("Ben")
        ticket = await new_ticket(d)
        tid = ticket["ticketId"]
        await d.caller.ok(
            names.ASSIGN, {"actor": {"type": "System"}, "ticketId": tid, "agentId": ana}
        )
        cases = {
            "empty": await d.reply(ana, tid, text=""),
            "blank": await d.reply(ana, tid, text="   "),
            "too long": await d.reply(ana, tid, text="x" * 5000),
            "ftp attachment": await d.reply(
                ana, tid, attachments=[{"url": "ftp://files/x.pdf", "type": "document"}]
            ),
            "script attachment": await d.reply(
                ana, tid, attachments=[{"url": "javascript:alert(1)", "type": "image"}]
            ),
            "unknown field": await d.reply(ana, tid, status="closed"),
            "another agent's ticket": await d.reply(ben, tid),
            "no such ticket": await d.reply(ana, "TICKET-2026-999999"),
        }
        first = await d.reply(ana, tid, key="same")
        reused = await d.reply(ana, tid, key="same", text="Something else entirely")
        cancelled = await d.api.put(
            d.path(tid, "status"), json={"status": "cancelled"}, headers=d.auth(ana)
        )
        to_cancelled = await d.reply(ana, tid)
        await d.sent_once(first.json()["data"]["id"], ana, (await new_ticket(d))["ticketId"])
        listed = await d.api.get(d.path(tid), headers=d.auth(ana))

    expected = {
        "empty": 422,
        "blank": 422,
        "too long": 422,
        "ftp attachment": 422,
        "script attachment": 422,
        "unknown field": 422,
        "another agent's ticket": 404,
        "no such ticket": 404,
    }
    assert {case: r.status_code for case, r in cases.items()} == expected
    for case, response in cases.items():
        body = response.json()
        assert body["success"] is False, case
        assert body["code"] == ("validation" if expected[case] == 422 else "not_found"), case
    assert "text" in cases["too long"].json()["error"]
    assert "attachments.0.url" in cases["ftp attachment"].json()["error"]
    assert reused.status_code == 409
    assert reused.json()["code"] == "conflict"
    assert cancelled.status_code == 200
    assert to_cancelled.status_code == 409
    assert to_cancelled.json()["code"] == "invalid_transition"
    assert to_cancelled.json()["error"] == (
        "Cannot reply to a cancelled ticket. Replies are allowed in statuses: "
        "in_progress, new, open, pending_customer, reopened, resolved"
    )
    assert listed.json()["pagination"]["total"] == 1


async def test_a_response_made_outside_the_system_is_recorded_once(
    endpoints: Endpoints, database: str
) -> None:
    async with desk(endpoints, database) as d:
        ana = await make_agent("Ana")
        admin = await make_agent("Root", AgentRole.ADMIN)
        ticket = await new_ticket(d)
        tid = ticket["ticketId"]
        d.clock.advance(timedelta(hours=2))
        in_future = await d.api.post(
            d.path(tid, "first-response"),
            json={"respondedAt": (d.clock.now() + timedelta(minutes=1)).isoformat()},
            headers=d.auth(ana),
        )
        called = await d.api.post(
            d.path(tid, "first-response"),
            json={"respondedAt": (MONDAY + timedelta(minutes=30)).isoformat()},
            headers=d.auth(ana),
        )
        again = await d.api.post(d.path(tid, "first-response"), headers=d.auth(admin))
        messages = await d.api.get(d.path(tid), headers=d.auth(ana))

    assert in_future.status_code == 400
    assert in_future.json()["code"] == "validation"
    assert called.status_code == 200
    recorded = called.json()["data"]
    assert datetime.fromisoformat(recorded["sla"]["firstResponseAt"]) == MONDAY + timedelta(
        minutes=30
    )
    assert recorded["sla"]["firstResponseMet"] is True
    assert recorded["status"] == "open"
    assert again.status_code == 200
    assert again.json()["data"]["sla"]["firstResponseAt"] == recorded["sla"]["firstResponseAt"]
    assert messages.json()["data"] == []  # nothing was sent to the customer
