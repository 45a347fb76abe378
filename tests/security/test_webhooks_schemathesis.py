"""Schemathesis over the webhook admin routes, against a running notifier whose webhooks
point at a local receiver: no generated request gets a 5xx, every case gets past the
gate with an admin's token, every handler runs on some case, and the worker then sends
what the cases queued without a failure of its own."""

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis.errors import Unsatisfiable

from contracts.enums import AgentRole
from infra.settings import NotifierSettings
from services.notifier.main import Notifier
from tests.support.api import api_settings, bearer, whole_api
from tests.support.factories import make_agent
from tests.support.fuzz import as_httpx, generate
from tests.support.notifier_system import created, publish, publisher, receiving
from tests.support.system import Endpoints
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

WEBHOOKS = r"^/api/v2/webhooks"


async def test_generated_webhook_requests_never_get_a_server_error(
    endpoints: Endpoints, database: str
) -> None:
    knobs = NotifierSettings(webhook_allow_private_targets=True, webhook_poll_seconds=3600)
    settings = api_settings(endpoints, database, api_requests_per_minute=100_000, notifier=knobs)
    async with (
        receiving() as receiver,
        whole_api(settings) as whole,
        publisher(endpoints.rabbit_url) as rabbit,
    ):
        api = whole.http
        headers = {**bearer(settings, await make_agent("Boss", AgentRole.ADMIN)), "X-API-Key": ""}
        hook = {"url": receiver.url, "events": ["*"]}
        webhook = (await api.post("/api/v2/webhooks", json=hook, headers=headers)).json()["data"]
        notifier = next(s for s in whole.runtime.services if isinstance(s, Notifier))
        assert notifier.worker is not None
        await publish(rabbit, created("TICKET-2026-000001"))
        deliveries = f"/api/v2/webhooks/{webhook['id']}/deliveries"

        async def queued() -> bool:
            return bool((await api.get(deliveries, headers=headers)).json()["data"])

        await eventually(queued, what="the delivery queued")
        delivered = await notifier.worker.run_once()
        schema = schemathesis.openapi.from_dict((await api.get("/openapi.json")).json())
        results: list[Any] = list(schema.include(path_regex=WEBHOOKS).get_all_operations())
        operations = [result.ok() for result in results]
        fixed = {"webhook_id": webhook["id"]}
        statuses: dict[str, set[int]] = {}
        server_errors: list[str] = []
        for operation in operations:
            for mode, path in (
                (schemathesis.GenerationMode.POSITIVE, {}),
                (schemathesis.GenerationMode.NEGATIVE, {}),
                (schemathesis.GenerationMode.POSITIVE, fixed),
            ):
                if path and "{webhook_id}" not in operation.path:
                    continue
                strategy = operation.as_strategy(
                    generation_mode=mode, headers=headers, path_parameters=path or None
                )
                try:
                    cases = generate(strategy)
                except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                    assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
                    continue
                for case in cases:
                    answer: httpx.Response = await api.request(**as_httpx(case))
                    statuses.setdefault(operation.label, set()).add(answer.status_code)
                    if answer.status_code >= 500:
                        server_errors.append(f"{case.as_curl_command()} -> {answer.status_code}")
        await notifier.worker.run_once()  # whatever the cases queued: sent or refused
    assert delivered == 1
    assert len(receiver.requests) >= 1
    assert len(operations) == 8
    assert server_errors == []
    assert sum(len(seen) for seen in statuses.values()) >= len(operations)
    assert all(401 not in seen for seen in statuses.values()), statuses
    # Every handler ran on some case; a generated URL never names a host that resolves,
    # so creation ran only for the receiver's registration above.
    only_refused = {label for label, seen in statuses.items() if not seen - {422}}
    assert only_refused <= {"POST /api/v2/webhooks"}, statuses
