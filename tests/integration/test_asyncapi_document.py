"""The AsyncAPI document served by the running system passes the reference parser
(`@asyncapi/parser`, installed by scripts/bootstrap.sh into tests/js/node_modules), names
every queue the services consume, and describes the replies the services really send."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import jsonschema
import pytest
from faststream.rabbit import RabbitBroker

from contracts import names
from contracts.asyncapi import build_document
from tests.support.api import SERVICE, api_settings, whole_api
from tests.support.system import Endpoints

pytestmark = pytest.mark.integration

JS = Path(__file__).resolve().parents[1] / "js"
VALIDATOR = JS / "validate_asyncapi.mjs"


def parse(document: dict[str, Any], folder: Path) -> tuple[int, list[dict[str, str]]]:
    """The parser's exit status and diagnostics for `document`."""
    node = shutil.which("node")
    assert node, "node is not on PATH (the tests run the AsyncAPI parser with Node.js)"
    assert (JS / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "the AsyncAPI parser is not installed: run scripts/bootstrap.sh (npm ci in tests/js)"
    )
    path = folder / f"asyncapi-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(document))
    finished = subprocess.run(
        [node, str(VALIDATOR), str(path)], capture_output=True, text=True, check=False
    )
    assert finished.returncode in {0, 1}, finished.stderr
    diagnostics: list[dict[str, str]] = json.loads(finished.stdout)
    return finished.returncode, diagnostics


def consumed_queues(whole: Any) -> dict[str, str | None]:
    """Every queue the running services consume, with the exchange it is bound to."""
    context = whole.runtime.context
    assert context is not None
    found: dict[str, str | None] = {}
    for subscriber in context.broker.subscribers:
        exchange = getattr(subscriber, "exchange", None)
        found[subscriber.queue.name] = getattr(exchange, "name", None) or None
    return found


def reply_schema(document: dict[str, Any], queue: str) -> dict[str, Any]:
    [reply] = document["operations"][f"{queue}.request"]["reply"]["messages"]
    name = reply["$ref"].rsplit("/", 1)[1]
    return {**document, "$ref": f"#/components/messages/{name}/payload"}


async def test_the_served_document_passes_the_asyncapi_parser(
    endpoints: Endpoints, database: str, tmp_path: Path
) -> None:
    async with whole_api(api_settings(endpoints, database)) as whole:
        served = (await whole.http.get("/asyncapi.json")).json()
        queues = consumed_queues(whole)
    status, diagnostics = parse(served, tmp_path)
    assert status == 0, diagnostics
    assert [d for d in diagnostics if d["severity"] in {"error", "warning"}] == []
    assert served["servers"]["rabbitmq"]["protocol"] == "amqp"
    documented = {channel["address"] for channel in served["channels"].values()}
    for queue, exchange in queues.items():
        # A queue bound to the events exchange receives the documented events.
        assert queue in documented or exchange == names.EVENTS_EXCHANGE, queue
    assert names.WHATSAPP_INBOUND in queues
    assert names.RECORD_DELIVERY in queues
    assert len([q for q in queues if q in documented]) >= len(names.COMMAND_QUEUES)


def test_the_parser_finds_the_errors_the_document_once_had(tmp_path: Path) -> None:
    """The check can fail: unresolved references, an object discriminator, a null
    description and no servers are what the document was refused for before."""
    broken = build_document()
    del broken["servers"]
    broken["channels"][names.CREATE]["description"] = None
    schemas = broken["components"]["schemas"]
    schemas["CreateTicket"]["properties"]["source"] = {"$ref": "#/$defs/Source"}
    schemas["RecordMessages"]["properties"]["actor"]["discriminator"] = {"propertyName": "type"}
    status, diagnostics = parse(broken, tmp_path)
    assert status == 1
    errors = {(d["code"], d["path"]) for d in diagnostics if d["severity"] == "error"}
    assert ("invalid-ref", "components/schemas/CreateTicket/properties/source/$ref") in errors
    paths = {path for _, path in errors}
    assert "channels/tickets.v1.create/description" in paths
    assert any("RecordMessages" in path and "discriminator" in path for path in paths), errors


async def test_replies_on_the_wire_match_their_documented_schemas(
    endpoints: Endpoints, database: str
) -> None:
    document = build_document()
    create = {
        "actor": {"type": "Customer", "phone": "+34600000077"},
        "title": "Order not delivered",
        "description": "My order #12345 has not arrived yet.",
        "source": "ai",
        "customer": {"phone": "+34600000077"},
        "idempotencyKey": f"asyncapi-{uuid.uuid4().hex}",
    }
    listing = {"actor": {"type": "System"}, "limit": 5}
    missing = {"actor": {"type": "System"}, "ticketId": "TICKET-2001-999999"}
    settings = api_settings(endpoints, database)
    async with whole_api(settings) as whole:
        assert (await whole.http.get("/healthz", headers=SERVICE)).status_code == 200
        async with RabbitBroker(settings.rabbitmq_url, logger=None) as broker:
            replies = {
                queue: json.loads(
                    (await broker.request(json.dumps(body).encode(), queue=queue, timeout=30)).body
                )
                for queue, body in (
                    (names.CREATE, create),
                    (names.LIST, listing),
                    (names.GET, missing),
                )
            }
    assert all(reply is not None for reply in replies.values()), replies
    assert replies == {
        names.CREATE: {"ok": True, "data": ANY},
        names.LIST: {"ok": True, "data": {"items": [ANY], "pagination": ANY}},
        names.GET: {"ok": False, "error": {"code": "not_found", "message": ANY}},
    }
    for queue, reply in replies.items():
        jsonschema.Draft7Validator(reply_schema(document, queue)).validate(reply)
    wrong = {"ok": True, "data": {"ticketId": 5}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(reply_schema(document, names.CREATE)).validate(wrong)
