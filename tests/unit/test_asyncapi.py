"""The AsyncAPI document covers every queue the handlers consume and every event."""

import json
import typing

from contracts import events as ev
from contracts import names
from contracts.assistant import ToolCallsRequest
from contracts.asyncapi import COMMANDS, build_document
from services.ticket_service.handlers import ROUTES


def test_every_handled_queue_is_documented_with_its_model() -> None:
    for queue, (model, _) in ROUTES.items():
        assert COMMANDS[queue] is model
    assert COMMANDS[names.ASSISTANT_TOOL_CALLS] is ToolCallsRequest


def test_the_tool_call_queue_documents_the_bots_shape() -> None:
    document = build_document()
    assert names.ASSISTANT_TOOL_CALLS in document["channels"]
    payload = document["components"]["messages"]["ToolCallsRequest"]["payload"]
    assert {"customer", "tool_calls", "conversation_id"} == set(payload["properties"])


def test_every_event_type_is_a_channel_with_its_payload_schema() -> None:
    document = build_document()
    union = typing.get_args(typing.get_args(ev.Event)[0])
    event_types = {model.model_fields["type"].default for model in union}
    assert event_types <= set(document["channels"])
    created = document["components"]["messages"]["TicketCreated"]["payload"]
    assert {"eventId", "occurredAt", "ticketId", "ticket", "type"} <= set(created["properties"])
    json.dumps(document)


def test_command_payloads_use_the_wire_names() -> None:
    create = build_document()["components"]["messages"]["CreateTicket"]["payload"]
    assert {"idempotencyKey", "conversationId", "title", "actor"} <= set(create["properties"])
    assert create["properties"]["title"]["minLength"] == 5
