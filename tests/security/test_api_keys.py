"""API keys with names and scopes, each revocable alone (`tickets keys ...`), beside the
`TICKETS_API_KEYS` list that keeps working with every scope."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from infra.api_keys import KeyStore, Scope
from infra.clock import MovableClock
from infra.mongo import connect
from tests.support.api import SERVICE, api_settings, whole_api
from tests.support.system import Endpoints
from tickets.cli import main

pytestmark = pytest.mark.integration

TOOL_CALLS = "/api/v2/assistant/tool-calls"
TICKETS = "/api/v2/tickets"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_key_calls_only_its_scopes_and_is_refused_once_revoked(
    endpoints: Endpoints, database: str
) -> None:
    """Refused once the gate's memo of the key lapses (`api_key_memo_seconds`), at most
    that long after the revocation; test_admitted_keys has the memo's own rules."""
    settings = api_settings(endpoints, database)
    clock = MovableClock(START)
    now = clock.now()
    async with whole_api(settings, clock) as whole:
        api = whole.http
        async with connect(endpoints.mongo_url) as mongo:
            store = KeyStore(mongo[database])
            crm = {"X-API-Key": await store.create("crm", {Scope.TICKETS}, now)}
            bot = {"X-API-Key": await store.create("whatsapp-bot", {Scope.ASSISTANT}, now)}
            before = [
                await api.get(TICKETS, headers=crm),
                await api.post(TOOL_CALLS, json={}, headers=crm),
                await api.post(TOOL_CALLS, json={}, headers=bot),
                await api.get(TICKETS, headers=bot),
            ]
            await store.revoke("crm", now)
            clock.advance(timedelta(seconds=settings.api_key_memo_seconds))
            after = [
                await api.get(TICKETS, headers=crm),
                await api.post(TOOL_CALLS, json={}, headers=bot),
                await api.get(TICKETS, headers=SERVICE),  # TICKETS_API_KEYS: every scope
                await api.post(TOOL_CALLS, json={}, headers=SERVICE),
            ]
            stored = await mongo[database]["api_keys"].find_one({"_id": "crm"})
    assert [r.status_code for r in before] == [200, 403, 422, 403]
    assert before[1].json()["code"] == "forbidden"
    assert [r.status_code for r in after] == [401, 422, 200, 422]
    assert stored is not None
    assert crm["X-API-Key"] not in json.dumps(stored, default=str)  # only its digest is kept


def test_tickets_keys_creates_lists_and_revokes(
    endpoints: Endpoints,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MONGODB_URL", endpoints.mongo_url)
    monkeypatch.setenv("TICKETS_MONGODB_DATABASE", database)
    assert main(["keys", "create", "--name", "crm", "--scope", "tickets"]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["keys", "create", "--name", "crm", "--scope", "assistant"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["keys", "create", "--name", "Bad Name!", "--scope", "tickets"]) == 1
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["keys", "revoke", "crm"]) == 0
    assert main(["keys", "revoke", "crm"]) == 1
    assert key.startswith("tk_")
    assert len(key) >= 40
    assert [(k["_id"], k["scopes"], k["revokedAt"]) for k in listed] == [("crm", ["tickets"], None)]
    assert "digest" not in listed[0]
