"""The answered message and its reply go to the ticket's conversation.

Sent one-way and persistent on `tickets.v1.record_messages`: the customer's answer never
waits for the ticket service, and while it is away the command waits in its queue. The
ticket service records each message once, so sending a turn again is harmless.
"""

import logging
from datetime import datetime
from typing import Any

from faststream.rabbit import RabbitBroker
from pydantic import ValidationError

from contracts import names
from contracts.conversation import RECORDED_TEXT_LIMIT
from contracts.whatsapp import WhatsAppInbound
from infra.messaging import command_queue, send_to_queue
from services.assistant_gateway.domain.turns import turn_record

log = logging.getLogger(__name__)

RECORD_QUEUE = command_queue(names.RECORD_MESSAGES)


async def record_turn(
    broker: RabbitBroker,
    message: WhatsAppInbound,
    actor: dict[str, Any],
    reply: str,
    replied_at: datetime,
    fallback: bool,
    ticket_id: str | None,
) -> None:
    """A turn the contract cannot carry is logged and left out (the customer is still
    answered); a broker failure raises, so the message is retried."""
    try:
        command = turn_record(
            message,
            actor,
            reply[:RECORDED_TEXT_LIMIT],
            replied_at,
            ticket_id=ticket_id,
            fallback=fallback,
        )
    except ValidationError as error:
        log.warning(
            "turn not recorded on the ticket",
            extra={"messageId": message.message_id, "error": str(error)[:300]},
        )
        return
    await send_to_queue(broker, RECORD_QUEUE, command, f"record-{message.message_id}")
