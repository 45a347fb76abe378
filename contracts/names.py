"""RabbitMQ names of DESIGN.md: versioned queues, the events exchange, the WhatsApp pipeline."""

from typing import Final

EVENTS_EXCHANGE: Final = "tickets.events"
DEAD_LETTER_EXCHANGE: Final = "tickets.dead_letter"
DEAD_LETTER_QUEUE: Final = "tickets.dead_letter"

CREATE: Final = "tickets.v1.create"
GET: Final = "tickets.v1.get"
LIST: Final = "tickets.v1.list"
ASSIGN: Final = "tickets.v1.assign"
UNASSIGN: Final = "tickets.v1.unassign"
CHANGE_STATUS: Final = "tickets.v1.change_status"
ADD_NOTE: Final = "tickets.v1.add_note"
MARK_FIRST_RESPONSE: Final = "tickets.v1.mark_first_response"
RATE: Final = "tickets.v1.rate"
ESCALATE_PRIORITY: Final = "tickets.v1.escalate_priority"
CUSTOMER_MESSAGE: Final = "tickets.v1.customer_message"
RECORD_SLA_BREACH: Final = "tickets.v1.record_sla_breach"
RECORD_DELIVERY: Final = "tickets.v1.record_delivery"
UPDATE: Final = "tickets.v1.update"
RECORD_MESSAGES: Final = "tickets.v1.record_messages"

COMMAND_QUEUES: Final = (
    CREATE,
    GET,
    LIST,
    ASSIGN,
    UNASSIGN,
    CHANGE_STATUS,
    ADD_NOTE,
    MARK_FIRST_RESPONSE,
    RATE,
    ESCALATE_PRIORITY,
    CUSTOMER_MESSAGE,
    RECORD_SLA_BREACH,
    UPDATE,
    RECORD_MESSAGES,
)

WHATSAPP_INBOUND: Final = "whatsapp.inbound"
WHATSAPP_OUTBOUND: Final = "whatsapp.outbound"
ASSISTANT_TOOL_CALLS: Final = "assistant.v1.tool_calls"
SLA_MONITOR_TICKET_EVENTS: Final = "sla_monitor.ticket_events"
CSAT_REQUESTS: Final = "ticket_service.csat_requests"
"""The ticket service's own queue of `ticket.status_changed`: resolutions to ask about."""
