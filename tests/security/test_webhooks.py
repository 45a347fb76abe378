"""Findings on outbound webhooks, replayed against a running notifier and a real receiver
on loopback: a URL with port 99999 was accepted and its delivery was re-claimed forever
with a traceback; names were resolved again at connect time (DNS rebinding); weak secrets
were accepted and could not be rotated."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.enums import AgentRole
from infra.auth import issue_token
from infra.clock import MovableClock
from infra.mongo import connect
from infra.settings import NotifierSettings
from services.notifier.domain.signing import SIGNATURE_HEADER, BadSignature, verify
from services.notifier.main import Notifier
from services.ticket_service.main import TicketService
from tests.support.factories import make_agent
from tests.support.notifier_system import (
    Receiver,
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

SECRET = "webhook-security-test-jwt-secret-0123456789"
HOOK_SECRET = "whsec_security_test_0123456789abcdef0123"
NAME = "hooks.example.test"


@dataclass
class Dns:
    """What `hooks.example.test` resolves to, answer after answer (the last one repeats)."""

    answers: list[list[str]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host != NAME:
            return [host] if host[0].isdigit() else []
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@dataclass
class Hooks:
    http: httpx.AsyncClient
    notifier: Notifier
    clock: MovableClock
    rabbit: Any

    async def register(self, url: str, **extra: Any) -> httpx.Response:
        body = {"url": url, "events": ["ticket.created"], "secret": HOOK_SECRET, **extra}
        return await self.http.post("/api/v2/webhooks", json=body)

    async def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        """Newest first."""
        listed = await self.http.get(f"/api/v2/webhooks/{webhook_id}/deliveries")
        items: list[dict[str, Any]] = listed.json()["data"]
        return items

    async def _count(self, webhook_id: str) -> int:
        return len(await self.deliveries(webhook_id))

    async def one_delivery(self, webhook_id: str) -> dict[str, Any]:
        """Publish one event, wait until its delivery is queued, run the worker once."""
        before = len(await self.deliveries(webhook_id))
        await publish(self.rabbit, created(new_ticket_id()))
        await eventually(
            lambda: at_least(self._count(webhook_id), before + 1),
            what=f"a new delivery of {webhook_id}",
        )
        assert self.notifier.worker is not None
        await self.notifier.worker.run_once()
        return (await self.deliveries(webhook_id))[0]


@asynccontextmanager
async def hooks(
    endpoints: Endpoints, database: str, dns: Dns, *, allow_private: bool
) -> AsyncIterator[Hooks]:
    knobs = NotifierSettings(
        webhook_poll_seconds=3600,
        webhook_max_attempts=3,
        webhook_allow_private_targets=allow_private,
        webhook_timeout_seconds=5,
    )
    settings = settings_for(endpoints, database, jwt_secret=SECRET, notifier=knobs)
    clock = MovableClock(datetime.now(UTC))
    notifier = Notifier(dns)
    async with (
        serving(settings, [TicketService(), notifier], clock) as served,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        admin = await make_agent("Root", AgentRole.ADMIN)
        token = issue_token(settings, admin, AgentRole.ADMIN, clock.now())
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=served.url, headers=headers) as http:
            yield Hooks(http, notifier, clock, rabbit)


def on_name(receiver: Receiver) -> str:
    """The receiver's URL with its loopback address replaced by the test name."""
    return receiver.url.replace("127.0.0.1", NAME)


async def test_port_99999_and_other_uncallable_urls_are_422_at_registration(
    endpoints: Endpoints, database: str
) -> None:
    dns = Dns([["93.184.216.34"]])
    async with hooks(endpoints, database, dns, allow_private=False) as admin:
        refused = {
            url: await admin.register(url)
            for url in (
                f"https://{NAME}:99999/hook",
                "http://[::1%25lo]/hook",
                f"https://user:pw@{NAME}/hook",
                "https://does-not-resolve.invalid/hook",
                "http://127.0.0.1:9/hook",
                "http://169.254.169.254/latest/meta-data",
            )
        }
        good = await admin.register(f"https://{NAME}/hook")
        moved = await admin.http.put(
            f"/api/v2/webhooks/{good.json()['data']['id']}", json={"url": f"https://{NAME}:0/x"}
        )
    for url, answer in refused.items():
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["code"] == "validation", url
    assert "port" in refused[f"https://{NAME}:99999/hook"].json()["error"]
    assert "does not resolve" in refused["https://does-not-resolve.invalid/hook"].json()["error"]
    assert good.status_code == 201
    assert moved.status_code == 422


async def test_the_request_goes_to_the_address_that_was_checked_without_resolving_again(
    endpoints: Endpoints, database: str
) -> None:
    # Registration sees loopback, the delivery's one resolution too; any later answer
    # points nowhere, and the system resolver does not know the name at all.
    dns = Dns([["127.0.0.1"], ["127.0.0.1"], ["10.255.255.1"]])
    async with (
        receiving() as receiver,
        hooks(endpoints, database, dns, allow_private=True) as admin,
    ):
        webhook = (await admin.register(on_name(receiver))).json()["data"]
        delivery = await admin.one_delivery(webhook["id"])
    assert delivery["status"] == "delivered", delivery
    [request] = receiver.requests
    assert request.headers["Host"] == on_name(receiver).split("/")[2]
    assert dns.asked == [NAME, NAME]  # once at registration, once for the delivery


async def test_a_name_rebound_to_loopback_after_registration_is_never_called(
    endpoints: Endpoints, database: str
) -> None:
    dns = Dns([["93.184.216.34"], ["127.0.0.1"]])
    async with (
        receiving() as receiver,
        hooks(endpoints, database, dns, allow_private=False) as admin,
    ):
        webhook = (await admin.register(on_name(receiver))).json()["data"]
        delivery = await admin.one_delivery(webhook["id"])
    assert delivery["status"] == "dead"
    assert delivery["lastError"] == f"target address not allowed: {NAME} -> 127.0.0.1"
    assert receiver.requests == []


async def test_a_name_that_stops_resolving_is_refused_and_retried_not_called(
    endpoints: Endpoints, database: str
) -> None:
    dns = Dns([["93.184.216.34"], []])
    async with hooks(endpoints, database, dns, allow_private=False) as admin:
        webhook = (await admin.register(f"https://{NAME}/hook")).json()["data"]
        delivery = await admin.one_delivery(webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("retrying", 1)
    assert delivery["lastError"] == f"target host does not resolve: {NAME}"


async def test_a_stored_url_with_port_99999_ends_dead_at_once_without_a_traceback(
    endpoints: Endpoints, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    dns = Dns([["93.184.216.34"]])
    async with hooks(endpoints, database, dns, allow_private=False) as admin:
        webhook = (await admin.register(f"https://{NAME}/hook")).json()["data"]
        # A URL stored before registration checked ports (an older version wrote it).
        async with connect(endpoints.mongo_url) as mongo:
            await mongo[database]["webhooks"].update_one(
                {"_id": webhook["id"]}, {"$set": {"url": f"https://{NAME}:99999/hook"}}
            )
        with caplog.at_level(logging.INFO):
            delivery = await admin.one_delivery(webhook["id"])
            again = await admin.notifier.worker.run_once() if admin.notifier.worker else -1
    assert delivery["status"] == "dead"
    assert delivery["lastError"].startswith("invalid target URL: url port")
    assert again == 0  # nothing left to claim: no loop
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_rotating_the_secret_signs_with_both_during_the_overlap_then_the_new_one(
    endpoints: Endpoints, database: str
) -> None:
    dns = Dns([["127.0.0.1"]])
    async with (
        receiving() as receiver,
        hooks(endpoints, database, dns, allow_private=True) as admin,
    ):
        weak = await admin.register(receiver.url, secret="a" * 16)
        webhook = (await admin.register(receiver.url)).json()["data"]
        path = f"/api/v2/webhooks/{webhook['id']}/secret"
        weak_rotation = await admin.http.post(path, json={"secret": "b" * 31})
        rotated = await admin.http.post(path, json={"overlapSeconds": 3600})
        new_secret = rotated.json()["data"]["secret"]
        during = await admin.one_delivery(webhook["id"])
        admin.clock.advance(timedelta(seconds=3601))
        after = await admin.one_delivery(webhook["id"])
        shown = (await admin.http.get(f"/api/v2/webhooks/{webhook['id']}")).json()["data"]
    assert (during["status"], after["status"]) == ("delivered", "delivered")
    assert (weak.status_code, weak_rotation.status_code) == (422, 422)
    assert rotated.status_code == 200
    assert new_secret.startswith("whsec_")
    assert new_secret != HOOK_SECRET
    assert "secret" not in shown
    assert "previousSecret" not in shown
    first, second = receiver.requests
    for request, accepted in ((first, (HOOK_SECRET, new_secret)), (second, (new_secret,))):
        stamp = int(request.headers[SIGNATURE_HEADER].split(",")[0][2:])
        for secret in (HOOK_SECRET, new_secret):
            if secret in accepted:
                verify(secret, request.headers[SIGNATURE_HEADER], request.body, stamp)
            else:
                with pytest.raises(BadSignature):
                    verify(secret, request.headers[SIGNATURE_HEADER], request.body, stamp)
    assert first.headers[SIGNATURE_HEADER].count("v1=") == 2
    assert second.headers[SIGNATURE_HEADER].count("v1=") == 1
