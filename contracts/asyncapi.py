"""The AsyncAPI 3.0 document of every queue and event (served at /asyncapi.json).

Built from the same pydantic models the services validate with, so it cannot drift.
Services that add queues register them in COMMANDS / MESSAGES / EVENT_MODELS below.
"""

from typing import Any

from pydantic import BaseModel, TypeAdapter

from contracts import commands as cmd
from contracts import events as ev
from contracts import names
from contracts.agents import AgentUpdated
from contracts.assistant import ToolCallsRequest
from contracts.conversation import RecordMessages
from contracts.delivery import RecordDelivery
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
"""Request/reply queues: the request body model; every reply is the `Reply` envelope."""

MESSAGES: dict[str, type[BaseModel]] = {
    names.WHATSAPP_INBOUND: WhatsAppInbound,
    names.WHATSAPP_OUTBOUND: WhatsAppOutbound,
    names.RECORD_DELIVERY: RecordDelivery,
}
"""One-way queues (no reply), e.g. the WhatsApp pipeline."""

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

REPLY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "required": ["ok", "data"],
            "properties": {"ok": {"const": True}, "data": {}},
        },
        {
            "type": "object",
            "required": ["ok", "error"],
            "properties": {
                "ok": {"const": False},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {
                            "enum": [
                                "validation",
                                "not_found",
                                "forbidden",
                                "invalid_transition",
                                "conflict",
                                "rate_limited",
                                "internal",
                            ]
                        },
                        "message": {"type": "string"},
                    },
                },
            },
        },
    ]
}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = TypeAdapter(model).json_schema(by_alias=True, mode="validation")
    return schema


def _event_type(model: type[BaseModel]) -> str:
    default = model.model_fields["type"].default
    assert isinstance(default, str)
    return default


def build_document(version: str = "0.1.0") -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {"Reply": {"name": "Reply", "payload": REPLY_SCHEMA}}
    for queue, model in COMMANDS.items():
        messages[model.__name__] = {"name": model.__name__, "payload": _schema(model)}
        channels[queue] = {
            "address": queue,
            "description": (model.__doc__ or "").strip() or None,
            "messages": {"request": {"$ref": f"#/components/messages/{model.__name__}"}},
            "bindings": {"amqp": {"is": "queue", "queue": {"name": queue, "durable": True}}},
        }
        operations[f"{queue}.request"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{queue}"},
            "reply": {
                "address": {"location": "$message.header#/replyTo"},
                "messages": [{"$ref": "#/components/messages/Reply"}],
            },
        }
    for queue, model in MESSAGES.items():
        messages[model.__name__] = {"name": model.__name__, "payload": _schema(model)}
        channels[queue] = {
            "address": queue,
            "messages": {"message": {"$ref": f"#/components/messages/{model.__name__}"}},
            "bindings": {"amqp": {"is": "queue", "queue": {"name": queue, "durable": True}}},
        }
    for model in EVENT_MODELS:
        key = _event_type(model)
        messages[model.__name__] = {
            "name": key,
            "summary": (model.__doc__ or "").strip(),
            "payload": _schema(model),
        }
        channels[key] = {
            "address": key,
            "description": f"Routing key {key} on the {names.EVENTS_EXCHANGE} topic exchange",
            "messages": {"event": {"$ref": f"#/components/messages/{model.__name__}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": names.EVENTS_EXCHANGE, "type": "topic", "durable": True},
                }
            },
        }
        operations[f"{key}.publish"] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "WhatsApp tickets — messaging contracts",
            "version": version,
            "description": "Request/reply command queues, one-way queues and events (JSON).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
