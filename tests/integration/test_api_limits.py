"""Rate limits (the plan's section 16.3): counted in MongoDB, so they hold across replicas."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts import names
from infra.clock import MovableClock
from tests.support.api import SERVICE, api_client, api_settings, bearer, new_ticket
from tests.support.factories import create_body, make_agent
from tests.support.system import Endpoints, client

pytestmark = pytest.mark.integration

TICKETS = "/api/v2/tickets"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert retry_after > 0
    return retry_after


async def test_eleventh_ticket_in_an_hour_is_429_across_two_replicas_until_the_hour_passes(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database, max_open_tickets_per_customer=100)
    async with api_client(settings, clock) as first, api_client(settings, clock) as second:
        statuses = []
        for i in range(10):
            replica = first if i % 2 else second
            response = await replica.post(TICKETS, json=new_ticket(), headers=SERVICE)
            statuses.append(response.status_code)
            clock.advance(timedelta(minutes=5))
        over = [await r.post(TICKETS, json=new_ticket(), headers=SERVICE) for r in (first, second)]
        other_customer = await first.post(TICKETS, json=new_ticket("+34600000099"), headers=SERVICE)
        clock.set(START + timedelta(hours=1, seconds=1))
        after_first_left = await second.post(TICKETS, json=new_ticket(), headers=SERVICE)
        still_full = await first.post(TICKETS, json=new_ticket(), headers=SERVICE)
        listed = await first.get(TICKETS, params={"limit": 100}, headers=SERVICE)
    assert statuses == [201] * 10
    waits = [limited(r) for r in over]
    assert waits == [3600 - 50 * 60] * 2  # the first hit leaves the window at START + 1 h
    assert other_customer.status_code == 201
    assert after_first_left.status_code == 201
    assert limited(still_full) == 5 * 60 - 1
    assert listed.json()["pagination"]["total"] == 12


async def test_concurrent_creations_never_pass_the_limit(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(
        endpoints, database, tickets_per_customer_per_hour=5, max_open_tickets_per_customer=100
    )
    async with api_client(settings, clock) as first, api_client(settings, clock) as second:
        responses = await asyncio.gather(
            *[
                (first if i % 2 else second).post(TICKETS, json=new_ticket(), headers=SERVICE)
                for i in range(16)
            ]
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 5 + [429] * 11


async def test_the_open_ticket_cap_refuses_until_one_is_resolved_or_closed(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database, max_open_tickets_per_customer=2)
    async with api_client(settings, clock) as api:
        as_ana = bearer(settings, await make_agent("Ana"), now=clock.now())
        first = await api.post(TICKETS, json=new_ticket(), headers=as_ana)
        await api.post(TICKETS, json=new_ticket(), headers=as_ana)
        third = await api.post(TICKETS, json=new_ticket(), headers=as_ana)
        path = f"{TICKETS}/{first.json()['data']['ticketId']}/status"
        resolved = await api.put(path, json={"status": "resolved"}, headers=as_ana)
        fourth = await api.post(TICKETS, json=new_ticket(), headers=as_ana)
    assert "2 open tickets" in third.json()["error"]
    assert limited(third) == 3600
    assert resolved.status_code == 200
    assert fourth.status_code == 201


async def test_the_queue_path_gets_the_same_limits_and_replays_do_not_count(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database, tickets_per_customer_per_hour=2)
    async with api_client(settings, clock), client(endpoints.rabbit_url) as (caller, _):
        keyed = create_body(idempotencyKey="wamid.1")
        replies: list[dict[str, Any]] = [await caller.call(names.CREATE, keyed) for _ in range(3)]
        replies.append(await caller.call(names.CREATE, create_body()))
        replies.append(await caller.call(names.CREATE, create_body()))
    assert [r["ok"] for r in replies] == [True, True, True, True, False]
    assert len({r["data"]["ticketId"] for r in replies[:3]}) == 1
    assert replies[-1]["error"]["code"] == "rate_limited"


async def test_per_token_request_budget_is_429_with_retry_after_then_refills(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database, api_requests_per_minute=3)
    async with api_client(settings, clock) as first, api_client(settings, clock) as second:
        ana, bob = await make_agent("Ana"), await make_agent("Bob")
        as_ana = bearer(settings, ana, now=clock.now())
        as_bob = bearer(settings, bob, now=clock.now())
        allowed = []
        for i in range(3):
            allowed.append(await (first if i % 2 else second).get(TICKETS, headers=as_ana))
            clock.advance(timedelta(seconds=10))
        over = await first.get(TICKETS, headers=as_ana)
        bob_meanwhile = await second.get(TICKETS, headers=as_bob)
        clock.advance(timedelta(seconds=31))
        refilled = await second.get(TICKETS, headers=as_ana)
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert limited(over) == 30
    assert bob_meanwhile.status_code == 200
    assert refilled.status_code == 200


async def test_concurrent_creations_never_pass_the_open_ticket_cap(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(
        endpoints, database, tickets_per_customer_per_hour=100, max_open_tickets_per_customer=3
    )
    async with api_client(settings, clock) as first, api_client(settings, clock) as second:
        responses = await asyncio.gather(
            *[
                (first if i % 2 else second).post(TICKETS, json=new_ticket(), headers=SERVICE)
                for i in range(12)
            ]
        )
        full = await first.post(TICKETS, json=new_ticket(), headers=SERVICE)
        some = next(r.json()["data"]["ticketId"] for r in responses if r.status_code == 201)
        await first.put(f"{TICKETS}/{some}/status", json={"status": "cancelled"}, headers=SERVICE)
        # every reservation was released: one slot again, not more
        after_cancel = [await second.post(TICKETS, json=new_ticket(), headers=SERVICE)]
        after_cancel.append(await first.post(TICKETS, json=new_ticket(), headers=SERVICE))
        listed = await first.get(TICKETS, params={"limit": 100, "openOnly": True}, headers=SERVICE)
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 3 + [429] * 9
    assert all(limited(r) == 3600 for r in responses if r.status_code == 429)
    assert "3 open tickets" in full.json()["error"]
    assert [r.status_code for r in after_cancel] == [201, 429]
    assert listed.json()["pagination"]["total"] == 3
