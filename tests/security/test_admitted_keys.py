"""The gate's memo of API keys it admitted lately (`infra/admitted.py`): a bot's
known-good key skips the failure check and the key lookup, and nothing else gives.

Through the whole HTTP app on the real Mongo wire server: a revoked key stops working
`api_key_memo_seconds` after the revocation at most, and only where it was admitted; a
blocked address gets 429 for every credential, the one it used a moment ago included; a
memoized key still opens only its doors; each admitted request still spends the budget."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from infra.api_keys import KeyStore, Scope
from infra.clock import MovableClock
from infra.mongo import connect
from tests.support.api import Whole, api_settings, whole_api
from tests.support.round_trips import listening
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TOOL_CALLS = "/api/v2/assistant/tool-calls"
TICKETS = "/api/v2/tickets"
WEBHOOKS = "/api/v2/webhooks"
ELSEWHERE = "10.1.2.3"


async def new_key(endpoints: Endpoints, database: str, name: str, scope: Scope) -> dict[str, str]:
    async with connect(endpoints.mongo_url) as mongo:
        key = await KeyStore(mongo[database]).create(name, {scope}, START)
    return {"X-API-Key": key}


async def revoke(endpoints: Endpoints, database: str, name: str) -> None:
    async with connect(endpoints.mongo_url) as mongo:
        await KeyStore(mongo[database]).revoke(name, START)


@asynccontextmanager
async def started(
    endpoints: Endpoints, database: str, **overrides: Any
) -> AsyncIterator[tuple[Whole, MovableClock]]:
    """Every service, with these API settings, on a clock at START that the test moves."""
    clock = MovableClock(START)
    async with whole_api(api_settings(endpoints, database, **overrides), clock) as whole:
        yield whole, clock


async def tool_call(http: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    """An empty tool call: 422 once past the gate (the body is not a request), else the
    gate's own refusal."""
    return await http.post(TOOL_CALLS, json={}, headers=headers)


async def test_an_admitted_key_costs_the_gate_one_command_the_request_count(
    endpoints: Endpoints, database: str
) -> None:
    trips = listening()
    async with started(endpoints, database) as (whole, _):
        bot = await new_key(endpoints, database, "bot", Scope.ASSISTANT)
        sent = []
        for _ in range(2):
            watched = trips.watch()  # the request id is the correlation id of its commands
            answer = await tool_call(whole.http, {**bot, "X-Request-ID": watched})
            assert answer.status_code == 422  # past the gate; the body is not a request
            sent.append(trips.of(watched))
    first, second = sent
    assert first == ["find rate_limits", "find api_keys", "update rate_limits"]
    assert second == ["update rate_limits"]


async def test_a_revoked_key_works_at_most_the_memo_seconds_and_only_where_admitted(
    endpoints: Endpoints, database: str
) -> None:
    memo = {"api_key_memo_seconds": 10, "auth_failures_per_credential": 2}
    async with started(endpoints, database, **memo) as (whole, clock):
        api = whole.http
        bot = await new_key(endpoints, database, "bot", Scope.ASSISTANT)
        admitted = await tool_call(api, bot)
        await revoke(endpoints, database, "bot")
        clock.advance(timedelta(seconds=4))
        still_here = await tool_call(api, bot)
        async with whole.at(ELSEWHERE) as other:
            never_there = await tool_call(other, bot)
        clock.advance(timedelta(seconds=6))
        lapsed = [await tool_call(api, bot) for _ in range(2)]
    assert (admitted.status_code, still_here.status_code) == (422, 422)
    assert never_there.status_code == 401
    # its failures count like any other credential's: the second is its limit, then 429
    assert [r.status_code for r in lapsed] == [401, 429]
    assert lapsed[0].json()["error"] == "Invalid credentials"


async def test_a_blocked_address_gets_429_for_every_credential_the_one_it_just_used_too(
    endpoints: Endpoints, database: str
) -> None:
    limits = {"auth_failures_per_address": 3, "api_key_memo_seconds": 60}
    async with started(endpoints, database, **limits) as (whole, _):
        api = whole.http
        bot = await new_key(endpoints, database, "bot", Scope.ASSISTANT)
        spare = await new_key(endpoints, database, "spare", Scope.ASSISTANT)
        admitted = await tool_call(api, bot)
        guesses = [await tool_call(api, {"X-API-Key": f"guess-{n}"}) for n in range(3)]
        known_key = await tool_call(api, bot)
        new_credential = await tool_call(api, spare)
        async with whole.at(ELSEWHERE) as other:
            from_elsewhere = await tool_call(other, bot)
    assert admitted.status_code == 422
    assert [r.status_code for r in guesses] == [401, 401, 401]
    assert (known_key.status_code, new_credential.status_code) == (429, 429)
    assert known_key.json()["code"] == new_credential.json()["code"] == "rate_limited"
    assert from_elsewhere.status_code == 422


async def test_a_memoized_key_opens_only_its_doors_and_spends_the_request_budget(
    endpoints: Endpoints, database: str
) -> None:
    async with started(endpoints, database, api_requests_per_minute=2) as (whole, _):
        api = whole.http
        crm = await new_key(endpoints, database, "crm", Scope.TICKETS)
        admitted = await api.get(TICKETS, headers=crm)
        wrong_scope = await tool_call(api, crm)
        keys_not_taken = await api.get(WEBHOOKS, headers=crm)
        second = await api.get(TICKETS, headers=crm)  # a refusal above spent nothing
        over = await api.get(TICKETS, headers=crm)
    assert admitted.status_code == 200
    assert wrong_scope.status_code == 403
    assert keys_not_taken.status_code == 401
    assert second.status_code == 200
    assert (over.status_code, over.headers["Retry-After"]) == (429, "60")


async def test_a_busy_key_is_checked_again_halfway_by_one_request(
    endpoints: Endpoints, database: str
) -> None:
    """Halfway through the memo's time one request checks the key in full (so a revoked
    key in steady use is refused after half the time); the others keep the entry."""
    async with started(endpoints, database, api_key_memo_seconds=10) as (whole, clock):
        api = whole.http
        bot = await new_key(endpoints, database, "bot", Scope.ASSISTANT)
        admitted = await tool_call(api, bot)
        await revoke(endpoints, database, "bot")
        clock.advance(timedelta(seconds=5))
        rechecked = await tool_call(api, bot)
        after = await tool_call(api, bot)
    assert admitted.status_code == 422
    assert (rechecked.status_code, after.status_code) == (401, 401)
