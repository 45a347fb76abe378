"""Findings: routes without a rate limit (the tool-call endpoint, the webhooks), failed
authentication never throttled, bodies parsed before authentication (500 on invalid UTF-8
or deep nesting), the tool-call endpoint answering 400 before checking the key, a garbage
Bearer next to a valid API key accepted, 401 bodies echoing library internals.

Every route of the OpenAPI document of the whole system (`tickets up`) is walked, so a
route added later is covered without touching this file."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.enums import AgentRole
from infra.clock import MovableClock
from infra.gate import PUBLIC, door_for
from tests.support.api import SERVICE, api_settings, bearer, whole_api
from tests.support.factories import make_agent
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPS_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/asyncapi.json"),
}
"""The only operations outside `/api/`: no data behind them (`/metrics` can take a token)."""
SAMPLES = {"ticketId": "TICKET-2026-000001"}
NOT_UTF8 = b'{"title": "\xff\xfe"}'
DEEP = b"[" * 200_000 + b"]" * 200_000


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for template, item in document["paths"].items():
        path = re.sub(
            r"\{(\w+)\}", lambda m: SAMPLES.get(m[1], "0123456789abcdef01234567"), template
        )
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), path


def gated(document: dict[str, Any]) -> list[tuple[str, str]]:
    found = list(operations(document))
    outside = {(m, p) for m, p in found if not p.startswith("/api/")}
    assert outside <= OPS_ROUTES, f"routes outside /api/ skip the gate: {outside - OPS_ROUTES}"
    return [(m, p) for m, p in found if p.startswith("/api/") and (m, p) not in PUBLIC]


def refused(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["success"], body["code"]) == (False, code), body
    message: str = body["error"]
    return message


async def test_every_route_authenticates_before_it_reads_the_body(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database, auth_failures_per_address=100_000)
    async with whole_api(settings) as whole:
        api = whole.http
        document = (await api.get("/openapi.json")).json()
        doors = gated(document)
        answers = []
        for method, path in doors:
            for body in (NOT_UTF8, DEEP, b'{"tool_calls": 5}'):
                for headers in ({}, {"Authorization": "Bearer garbage", **SERVICE}):
                    sent = {"content-type": "application/json", **headers}
                    answers.append(
                        (
                            (method, path, headers),
                            await api.request(method, path, content=body, headers=sent),
                        )
                    )
        tools = await api.get("/api/v2/assistant/tools")
    labels = {f"{m} {p}" for m, p in doors}
    assert {
        "POST /api/v2/assistant/tool-calls",
        "POST /api/v2/webhooks",
        "POST /api/v2/tickets",
    } <= labels
    assert len(doors) >= 17
    for case, answer in answers:
        message = refused(answer, 401, "unauthorized")
        assert message.startswith(("Missing credentials", "Send one credential")), (case, message)
        assert "WWW-Authenticate" in answer.headers
    assert tools.status_code == 200  # the one public route under /api/


async def test_every_route_spends_the_callers_request_budget(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database, api_requests_per_minute=2)
    async with whole_api(settings, clock) as whole:
        api = whole.http
        admin = bearer(settings, await make_agent("Root", AgentRole.ADMIN), now=clock.now())
        doors = gated((await api.get("/openapi.json")).json())
        spent = [
            await api.get("/api/v2/tickets", headers=h) for h in (admin, admin, SERVICE, SERVICE)
        ]
        answers = []
        for method, path in doors:
            door = door_for(method, path)
            assert door is not None
            headers = admin if door.agents else SERVICE
            answers.append(((method, path), await api.request(method, path, headers=headers)))
        clock.advance(timedelta(minutes=1))
        refilled = await api.get("/api/v2/webhooks", headers=admin)
    assert [r.status_code for r in spent] == [200] * 4
    for case, answer in answers:
        assert refused(answer, 429, "rate_limited").startswith("Too many requests"), case
        assert int(answer.headers["Retry-After"]) == 60, case
    assert refilled.status_code == 200


async def test_request_601_on_the_tool_call_endpoint_is_429_with_retry_after(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(endpoints, database)  # the default: 600 a minute per key
    async with whole_api(settings, clock) as whole:
        statuses = set()
        for _ in range(600):
            answer = await whole.http.post("/api/v2/assistant/tool-calls", json={}, headers=SERVICE)
            statuses.add(answer.status_code)
        over = await whole.http.post("/api/v2/assistant/tool-calls", json={}, headers=SERVICE)
        clock.advance(timedelta(seconds=30))
        still = await whole.http.post("/api/v2/assistant/tool-calls", json={}, headers=SERVICE)
    assert statuses == {422}  # every one got past the gate (and was not a request)
    refused(over, 429, "rate_limited")
    assert over.headers["Retry-After"] == "60"
    assert refused(still, 429, "rate_limited")
    assert still.headers["Retry-After"] == "30"


async def test_failed_authentication_is_throttled_per_credential_and_per_address(
    endpoints: Endpoints, database: str
) -> None:
    clock = MovableClock(START)
    settings = api_settings(
        endpoints,
        database,
        auth_failures_per_credential=3,
        auth_failures_per_address=5,
        auth_failure_window_seconds=600,
    )
    async with whole_api(settings, clock) as whole:
        api, path = whole.http, "/api/v2/assistant/tool-calls"
        first_key = [
            await api.post(path, json={}, headers={"X-API-Key": "guess-1"}) for _ in range(4)
        ]
        clock.advance(timedelta(seconds=60))
        other_keys = [
            await api.post(path, json={}, headers={"X-API-Key": f"guess-{n}"}) for n in (2, 3, 4)
        ]
        good_from_there = await api.get("/api/v2/tickets", headers=SERVICE)
        async with whole.at("10.1.2.3") as elsewhere:
            good_from_elsewhere = await elsewhere.get("/api/v2/tickets", headers=SERVICE)
        clock.advance(timedelta(seconds=541))
        good_after_the_window = await api.get("/api/v2/tickets", headers=SERVICE)
    assert [r.status_code for r in first_key] == [401, 401, 401, 429]
    assert first_key[3].headers["Retry-After"] == "600"  # the same bad key, attempt N+1
    assert [r.status_code for r in other_keys] == [401, 401, 429]  # the address's 6th failure
    assert other_keys[2].headers["Retry-After"] == "540"
    refused(good_from_there, 429, "rate_limited")  # a blocked address learns nothing
    assert good_from_elsewhere.status_code == 200
    assert good_after_the_window.status_code == 200


async def test_401_bodies_say_only_what_the_caller_needs(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database, auth_failures_per_address=100_000)
    async with whole_api(settings) as whole:
        ana = await make_agent("Ana")
        now = datetime.now(UTC)
        bad: dict[str, dict[str, str] | dict[bytes, bytes]] = {
            "garbage": {"Authorization": "Bearer not.a.jwt"},
            "other secret": bearer(settings.model_copy(update={"jwt_secret": "z" * 40}), ana),
            "unknown agent": bearer(settings, "0123456789abcdef01234567"),
            "unknown key": {"X-API-Key": "nope"},
            "latin-1 key": {b"X-API-Key": b"cl\xe9"},
            "expired": bearer(settings, ana, now=now - timedelta(days=2)),
        }
        answers = {
            case: await whole.http.get("/api/v2/tickets", headers=headers)
            for case, headers in bad.items()
        }
    said = {"expired": "Token expired", "unknown agent": "Unknown or inactive agent"}
    for case, answer in answers.items():
        expected = said.get(case, "Invalid credentials")
        assert answer.json() == {"success": False, "error": expected, "code": "unauthorized"}, case


async def test_a_body_that_is_not_utf8_or_nested_too_deep_is_422_on_every_route_that_takes_one(
    endpoints: Endpoints, database: str
) -> None:
    settings = api_settings(endpoints, database, api_requests_per_minute=100_000)
    async with whole_api(settings) as whole:
        api = whole.http
        admin = bearer(settings, await make_agent("Root", AgentRole.ADMIN))
        document = (await api.get("/openapi.json")).json()
        with_body = {
            (method.upper(), template)
            for template, item in document["paths"].items()
            for method, operation in item.items()
            if isinstance(operation, dict) and "requestBody" in operation
        }
        answers = []
        for method, path in gated(document):
            door = door_for(method, path)
            assert door is not None
            headers = {"content-type": "application/json", **(admin if door.agents else SERVICE)}
            for body in (NOT_UTF8, DEEP):
                answer = await api.request(method, path, content=body, headers=headers)
                answers.append((method, path, answer))
    templates = {
        re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m[1], "0123456789abcdef01234567"), t): t
        for _, t in with_body
    }
    assert len(with_body) >= 8
    for method, path, answer in answers:
        off = answer.status_code == 503 and answer.json()["code"] == "not_configured"
        assert answer.status_code < 500 or off, (method, path, answer.text)  # WhatsApp unset
        if (method, templates.get(path)) in with_body:
            assert refused(answer, 422, "validation").startswith("Invalid request"), (method, path)
