"""`/openapi.json` of the whole system: every operation says who may call it (the gate's
doors, so the declaration is what is enforced), has a readable operationId and typed
answers; and what the running system really answers is declared, with that schema."""

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from contracts.enums import AgentRole
from infra.gate import PUBLIC, door_for
from infra.openapi import SCHEMES, requirement
from infra.settings import NotifierSettings
from tests.support.api import SERVICE, api_settings, bearer, new_ticket, whole_api
from tests.support.factories import make_agent
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

OPERATION_ID = re.compile(r"^[a-z]+(?:[A-Z][a-z0-9]*)+$")
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}
OPS = {"/healthz", "/readyz", "/metrics", "/asyncapi.json"}
"""Outside `/api/`: no data behind them; public (`/metrics` may want a token)."""
OWN_FAILURES = {("GET", "/readyz", "503")}
"""Failures that answer a model of their own instead of the error envelope."""
METHODS = {"get", "post", "put", "patch", "delete"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def typed(response: dict[str, Any]) -> bool:
    schemas = [media.get("schema") or {} for media in response.get("content", {}).values()]
    return bool(schemas) and all("$ref" in s or "type" in s for s in schemas)


@pytest.fixture
async def document(endpoints: Endpoints, database: str) -> dict[str, Any]:
    async with whole_api(api_settings(endpoints, database)) as whole:
        served: dict[str, Any] = (await whole.http.get("/openapi.json")).json()
    return served


async def test_every_operation_declares_the_security_the_gate_enforces(
    document: dict[str, Any],
) -> None:
    assert set(document["components"]["securitySchemes"]) == set(SCHEMES)
    public = []
    for method, path, operation in operations(document):
        door = door_for(method, path)
        if door is not None:
            assert operation["security"] == requirement(door), (method, path)
            assert operation["security"], (method, path)
            continue
        public.append((method, path))
        assert (method, path) in PUBLIC or path in OPS, f"{method} {path} is not behind the gate"
        for alternative in operation["security"]:
            assert set(alternative) <= set(SCHEMES), (method, path)
    assert ("POST", "/api/v2/assistant/tool-calls") not in public
    assert {"apiKey": ["assistant"]} in next(
        op["security"]
        for m, p, op in operations(document)
        if (m, p) == ("POST", "/api/v2/assistant/tool-calls")
    )
    assert len(public) == len(PUBLIC) + len(OPS)


async def test_operation_ids_are_readable_and_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert OPERATION_ID.match(operation_id), operation_id
    assert {"listTickets", "createTicket", "getTicket", "createWebhook", "executeToolCalls"} <= set(
        ids
    )


async def test_every_answer_is_typed_and_every_failure_is_the_error_envelope(
    document: dict[str, Any],
) -> None:
    for method, path, operation in operations(document):
        responses: dict[str, Any] = operation["responses"]
        successes = [s for s in responses if s.startswith("2")]
        assert successes, (method, path)
        for status in successes:
            assert typed(responses[status]), (method, path, status)
        failures = [s for s in responses if s[0] in "45"]
        for status in failures:
            if (method, path, status) in OWN_FAILURES:
                assert typed(responses[status])
                continue
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == ENVELOPE, (method, path, status)
        if door_for(method, path) is not None:
            assert {"401", "429", "503"} <= set(responses), (method, path)
            assert "WWW-Authenticate" in responses["401"]["headers"]
            assert "Retry-After" in responses["429"]["headers"]
        if "requestBody" in operation:
            assert "413" in responses, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_what_the_system_answers_is_declared_with_its_schema(
    endpoints: Endpoints, database: str
) -> None:
    knobs = NotifierSettings(webhook_allow_private_targets=True)
    settings = api_settings(endpoints, database, api_requests_per_minute=100_000, notifier=knobs)
    async with whole_api(settings) as whole:
        api = whole.http
        document = (await api.get("/openapi.json")).json()
        admin_id = await make_agent("Root", AgentRole.ADMIN)
        admin = bearer(settings, admin_id)
        ticket = (await api.post("/api/v2/tickets", json=new_ticket(), headers=SERVICE)).json()
        hook = {"url": "http://127.0.0.1:9/hook", "events": ["*"]}
        webhook = (await api.post("/api/v2/webhooks", json=hook, headers=admin)).json()
        ids = {
            "ticketId": ticket["data"]["ticketId"],
            "customerId": ticket["data"]["customerId"],
            "agentId": admin_id,
            "webhook_id": webhook["data"]["id"],
        }
        answers = []
        for method, path, _ in operations(document):
            url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], "unknown-0001"), path)
            door = door_for(method, path)
            headers = admin if door is None or door.agents else SERVICE
            body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
            answer = await api.request(method, url, json=body, headers=headers)
            answers.append((method, path, answer))
    checked: set[str] = set()
    for method, path, answer in answers:
        declared = document["paths"][path][method.lower()]["responses"]
        status = str(answer.status_code)
        assert status in declared, (method, path, status, answer.text[:300])
        if answer.headers.get("content-type", "").startswith("application/json"):
            schema = declared[status]["content"]["application/json"]["schema"]
            validator = jsonschema.Draft202012Validator({**document, **schema})
            errors = [e.message for e in validator.iter_errors(answer.json())]
            assert errors == [], (method, path, status, errors[:3])
            checked.add(status[0])
    assert ticket["success"] is True
    assert webhook["success"] is True, webhook
    assert {"2", "4"} <= checked
    assert len(answers) >= 35
