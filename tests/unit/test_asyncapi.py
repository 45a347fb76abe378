"""The AsyncAPI document covers every queue the handlers consume and every event, with
each payload schema once under `components.schemas` (tests/integration runs the parser)."""

import json
import typing
from typing import Any

from contracts import events as ev
from contracts import names
from contracts.assistant import ToolCallsRequest
from contracts.asyncapi import COMMANDS, MESSAGES, REPLIES, build_document
from services.ticket_service.handlers import ROUTES


def payload(document: dict[str, Any], message: str) -> dict[str, Any]:
    ref = document["components"]["messages"][message]["payload"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(references(item) for item in node))
    return set()


def test_every_handled_queue_is_documented_with_its_model() -> None:
    for queue, (model, _) in ROUTES.items():
        assert COMMANDS[queue] is model
    assert COMMANDS[names.ASSISTANT_TOOL_CALLS] is ToolCallsRequest
    assert set(names.COMMAND_QUEUES) <= set(COMMANDS) | set(MESSAGES)
    assert set(REPLIES) == set(COMMANDS)


def test_the_tool_call_queue_documents_the_bots_shape() -> None:
    document = build_document()
    assert names.ASSISTANT_TOOL_CALLS in document["channels"]
    request = payload(document, "ToolCallsRequest")
    assert {"customer", "tool_calls", "conversation_id"} == set(request["properties"])


def test_every_event_type_is_a_channel_with_its_payload_schema() -> None:
    document = build_document()
    union = typing.get_args(typing.get_args(ev.Event)[0])
    event_types = {model.model_fields["type"].default for model in union}
    assert event_types | {"agent.updated"} <= set(document["channels"])
    created = payload(document, "TicketCreated")
    assert {"eventId", "occurredAt", "ticketId", "ticket", "type"} <= set(created["properties"])
    json.dumps(document)


def test_command_payloads_use_the_wire_names() -> None:
    create = payload(build_document(), "CreateTicket")
    assert {"idempotencyKey", "conversationId", "title", "actor"} <= set(create["properties"])
    assert create["properties"]["title"]["minLength"] == 5


def test_every_reference_resolves_inside_the_document_and_discriminators_are_names() -> None:
    document = build_document()
    found = references(document)
    assert found
    for ref in found:
        node: Any = document
        for token in ref.removeprefix("#/").split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    text = json.dumps(document)
    assert '"$defs"' not in text
    assert '"propertyName"' not in text
    assert '"description": null' not in text


def test_every_request_queue_has_a_typed_reply_and_every_operation_its_channel() -> None:
    document = build_document()
    for queue in COMMANDS:
        operation = document["operations"][f"{queue}.request"]
        assert operation["action"] == "receive"
        [reply] = operation["reply"]["messages"]
        message = reply["$ref"].rsplit("/", 1)[1]
        variants = document["components"]["messages"][message]["payload"]["oneOf"]
        ok = document["components"]["schemas"][variants[0]["$ref"].rsplit("/", 1)[1]]
        data = ok["properties"]["data"]["$ref"].rsplit("/", 1)[1]
        assert data == REPLIES[queue].__name__
    for queue, (_, action) in MESSAGES.items():
        assert document["operations"][f"{queue}.{action}"]["channel"]["$ref"].endswith(queue)
