"""The AsyncAPI 3.1 document of every queue and event (served at /asyncapi.json).

Built from the same pydantic models the services validate with, so it cannot drift.
Services that add queues register them in COMMANDS / MESSAGES / EVENT_MODELS below.
Every payload schema lives once under `components.schemas` (pydantic's `$defs` lifted
there), in the AsyncAPI Schema format: JSON Schema draft 7 with `discriminator` naming
the property that tells the variants apart.
"""

from typing import Any, Literal

from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema

from contracts import commands as cmd
from contracts import events as ev
from contracts import names
from contracts.agents import AgentUpdated
from contracts.assistant import ToolCallsRequest, ToolCallsResponse
from contracts.conversation import RecordMessages, RecordOutcome
from contracts.delivery import RecordDelivery
from contracts.replies import CustomerMessageOutcome, ErrorReply, TicketList
from contracts.tickets import Ticket
from contracts.whatsapp import WhatsAppInbound, WhatsAppOutbound

COMMANDS: dict[str, type[BaseModel]] = {
    names.CREATE: cmd.CreateTicket,
    names.GET: cmd.GetTicket,
    names.LIST: cmd.ListTickets,
    names.ASSIGN: cmd.AssignTicket,
    names.UNASSIGN: cmd.UnassignTicket,
    names.CHANGE_STATUS: cmd.ChangeStatus,
    names.ADD_NOTE: cmd.AddNote,
    names.MARK_FIRST_RESPONSE: cmd.MarkFirstResponse,
    names.RATE: cmd.RateTicket,
    names.ESCALATE_PRIORITY: cmd.EscalatePriority,
    names.CUSTOMER_MESSAGE: cmd.CustomerMessage,
    names.RECORD_SLA_BREACH: cmd.RecordSlaBreach,
    names.UPDATE: cmd.UpdateTicket,
    names.RECORD_MESSAGES: RecordMessages,
    names.ASSISTANT_TOOL_CALLS: ToolCallsRequest,
}
"""Request/reply queues: the request body model."""

REPLIES: dict[str, type[BaseModel]] = {
    **dict.fromkeys(COMMANDS, Ticket),
    names.LIST: TicketList,
    names.CUSTOMER_MESSAGE: CustomerMessageOutcome,
    names.RECORD_MESSAGES: RecordOutcome,
    names.ASSISTANT_TOOL_CALLS: ToolCallsResponse,
}
"""Request/reply queues: the model of the reply's `data` when `ok` is true."""

MESSAGES: dict[str, tuple[type[BaseModel], Literal["send", "receive"]]] = {
    names.WHATSAPP_INBOUND: (WhatsAppInbound, "receive"),
    names.WHATSAPP_OUTBOUND: (WhatsAppOutbound, "send"),
    names.RECORD_DELIVERY: (RecordDelivery, "receive"),
}
"""One-way queues (no reply), e.g. the WhatsApp pipeline, and whether the system
receives (consumes) or sends (publishes) on them."""

EVENT_MODELS: tuple[type[BaseModel], ...] = (
    ev.TicketCreated,
    ev.TicketAssigned,
    ev.TicketUnassigned,
    ev.TicketStatusChanged,
    ev.TicketUpdated,
    ev.TicketNoteAdded,
    ev.TicketPriorityEscalated,
    ev.TicketMessageAdded,
    ev.TicketMessageDeliveryUpdated,
    ev.SlaWarning,
    ev.SlaBreached,
    AgentUpdated,
)

SERVERS: dict[str, Any] = {
    "rabbitmq": {
        "host": "{host}:{port}",
        "pathname": "/{vhost}",
        "protocol": "amqp",
        "protocolVersion": "0.9.1",
        "description": "The RabbitMQ broker of the deployment (`RABBITMQ_URL`); JSON bodies, "
        "`content_type: application/json`.",
        "variables": {
            "host": {"default": "localhost", "description": "Broker host"},
            "port": {"default": "5672", "description": "AMQP port (5671 for amqps)"},
            "vhost": {"default": "", "description": "Virtual host (empty: the default `/`)"},
        },
    }
}
SCHEMAS = "#/components/schemas/"
QUEUE = {"is": "queue", "bindingVersion": "0.3.0"}
CORRELATION = {
    "description": "Replies carry the request's correlation id",
    "location": "$message.header#/correlation_id",
}


def build_document(version: str = "0.1.0") -> dict[str, Any]:
    schemas = _schemas()
    channels: dict[str, Any] = {"replies": _reply_channel()}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for queue, model in COMMANDS.items():
        _add_command(queue, model, channels, operations, messages)
    for queue, (model, action) in MESSAGES.items():
        channels[queue] = _queue_channel(queue, model, "message", messages)
        operations[f"{queue}.{action}"] = _operation(action, queue, "message", model)
    for model in EVENT_MODELS:
        _add_event(model, channels, operations, messages)
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "WhatsApp tickets — messaging contracts",
            "version": version,
            "description": "Request/reply command queues, one-way queues and the events of "
            f"the `{names.EVENTS_EXCHANGE}` topic exchange (JSON, camelCase fields). A "
            'request is answered on its `reply_to` queue with `{"ok": true, "data"}` or '
            '`{"ok": false, "error": {"code", "message", "details"}}`.',
        },
        "servers": SERVERS,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def _add_command(
    queue: str,
    model: type[BaseModel],
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    channels[queue] = _queue_channel(queue, model, "request", messages)
    reply = _reply_name(queue)
    messages[reply] = {
        "name": reply,
        "title": f"Reply to {queue}",
        "correlationId": CORRELATION,
        "payload": {
            "oneOf": [{"$ref": SCHEMAS + _ok_name(queue)}, {"$ref": SCHEMAS + "ErrorReply"}]
        },
    }
    channels["replies"]["messages"][reply] = {"$ref": f"#/components/messages/{reply}"}
    operations[f"{queue}.request"] = {
        **_operation("receive", queue, "request", model),
        "reply": {
            "address": {
                "description": "The request's `reply_to` queue",
                "location": "$message.header#/reply_to",
            },
            "channel": {"$ref": "#/channels/replies"},
            "messages": [{"$ref": f"#/channels/replies/messages/{reply}"}],
        },
    }


def _add_event(
    model: type[BaseModel],
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
) -> None:
    key = _event_type(model)
    messages[model.__name__] = {
        "name": key,
        "title": model.__name__,
        "summary": _doc(model),
        "payload": {"$ref": SCHEMAS + model.__name__},
        "bindings": {"amqp": {"messageType": key, "bindingVersion": "0.3.0"}},
    }
    channels[key] = {
        "address": key,
        "title": key,
        "description": f"Routing key `{key}` on the `{names.EVENTS_EXCHANGE}` topic exchange; "
        "bind a queue of your own to it (or to `ticket.*`, `sla.*`, `#`).",
        "messages": {"event": {"$ref": f"#/components/messages/{model.__name__}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": names.EVENTS_EXCHANGE,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                },
                "bindingVersion": "0.3.0",
            }
        },
    }
    operations[f"{key}.publish"] = _operation("send", key, "event", model)


def _queue_channel(
    queue: str, model: type[BaseModel], key: str, messages: dict[str, Any]
) -> dict[str, Any]:
    messages[model.__name__] = {
        "name": model.__name__,
        "title": model.__name__,
        "summary": _doc(model),
        "correlationId": CORRELATION,
        "payload": {"$ref": SCHEMAS + model.__name__},
    }
    channel: dict[str, Any] = {
        "address": queue,
        "title": queue,
        "messages": {key: {"$ref": f"#/components/messages/{model.__name__}"}},
        "bindings": {
            "amqp": {
                **QUEUE,
                "queue": {"name": queue, "durable": True, "exclusive": False, "autoDelete": False},
            }
        },
    }
    if description := _doc(model):
        channel["description"] = description
    return channel


def _operation(action: str, channel: str, key: str, model: type[BaseModel]) -> dict[str, Any]:
    operation = {
        "action": action,
        "channel": {"$ref": f"#/channels/{_pointer(channel)}"},
        "messages": [{"$ref": f"#/channels/{_pointer(channel)}/messages/{key}"}],
    }
    if description := _doc(model):
        operation["description"] = description
    return operation


def _reply_channel() -> dict[str, Any]:
    return {
        "address": None,
        "title": "Replies",
        "description": "The exclusive queue a client names in `reply_to` (RabbitMQ's direct "
        "reply-to works too); the reply carries the request's `correlation_id`.",
        "messages": {},
    }


def _schemas() -> dict[str, Any]:
    """Every model's JSON Schema under one roof, references pointing into it."""
    models: list[type[BaseModel]] = [*COMMANDS.values(), ErrorReply, *EVENT_MODELS]
    models += [model for model, _ in MESSAGES.values()]
    models += [_ok_model(queue) for queue in COMMANDS]
    _, top = models_json_schema(
        [(model, "validation") for model in dict.fromkeys(models)],
        by_alias=True,
        ref_template=SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = _asyncapi_schema(top["$defs"])
    return schemas


def _asyncapi_schema(node: Any) -> Any:
    """JSON Schema as the AsyncAPI Schema format takes it: `discriminator` is the name of
    the property (OpenAPI's object form carries a mapping the `$ref`s already say)."""
    if isinstance(node, list):
        return [_asyncapi_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _asyncapi_schema(value) for key, value in node.items()}
    discriminator = converted.get("discriminator")
    if isinstance(discriminator, dict) and "propertyName" in discriminator:
        converted["discriminator"] = discriminator["propertyName"]
    return converted


_OK_MODELS: dict[type[BaseModel], type[BaseModel]] = {}


def _ok_model(queue: str) -> type[BaseModel]:
    """`{"ok": true, "data": <REPLIES[queue]>}`, one model per data model."""
    data = REPLIES[queue]
    if data not in _OK_MODELS:
        _OK_MODELS[data] = create_model(
            f"{data.__name__}Reply",
            __doc__=f"A successful reply whose `data` is {data.__name__}",
            ok=(Literal[True], True),
            data=(data, ...),
        )
    return _OK_MODELS[data]


def _ok_name(queue: str) -> str:
    return _ok_model(queue).__name__


def _reply_name(queue: str) -> str:
    return f"{COMMANDS[queue].__name__}Reply"


def _event_type(model: type[BaseModel]) -> str:
    default = model.model_fields["type"].default
    assert isinstance(default, str)
    return default


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _pointer(key: str) -> str:
    """A JSON pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
