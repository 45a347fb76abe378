"""What a finished turn leaves for the ticket's conversation: which ticket the assistant
worked on, and the messages to record there. Pure."""

import json
from datetime import datetime
from typing import Any

from contracts.conversation import AuthorType, Direction, RecordMessages
from contracts.whatsapp import WhatsAppInbound, WhatsAppMedia
from services.assistant_gateway.domain.transcript import Entry, FunctionOutput


def chosen_ticket(entries: list[Entry]) -> str | None:
    """The ticket of the turn's last successful tool call that named one (the ticket it
    created, looked up, commented on or handed to a person)."""
    for entry in reversed(entries):
        if not isinstance(entry, FunctionOutput):
            continue
        try:
            output = json.loads(entry.output)
        except ValueError:
            continue
        if isinstance(output, dict) and output.get("success") and output.get("ticketId"):
            return str(output["ticketId"])
    return None


def reply_id(inbound_id: str) -> str:
    """The id the reply to an inbound message is published and recorded with."""
    return f"reply-{inbound_id}"


def _attachment(media: WhatsAppMedia) -> dict[str, Any]:
    location = media.type == "location"
    return {
        "url": media.location_uri if location else media.url,
        "type": media.type,
        "filename": (media.name or media.address) if location else media.filename,
        "size": media.size,
        "mimeType": media.mime_type,
    }


def turn_record(
    message: WhatsAppInbound,
    actor: dict[str, Any],
    reply: str,
    replied_at: datetime,
    *,
    ticket_id: str | None,
    fallback: bool,
) -> dict[str, Any]:
    """The `tickets.v1.record_messages` command for one answered message: the customer's
    message and the reply; a fallback asks for a ticket a person will see."""
    media = message.media
    inbound = {
        "messageId": message.message_id,
        "direction": Direction.INBOUND,
        "authorType": AuthorType.CUSTOMER,
        "text": message.text or (media.caption if media and media.caption else ""),
        "attachments": [_attachment(media)] if media else [],
        "sentAt": message.timestamp,
    }
    outbound = {
        "messageId": reply_id(message.message_id),
        "direction": Direction.OUTBOUND,
        "authorType": AuthorType.ASSISTANT,
        "text": reply,
        "sentAt": replied_at,
        "replyTo": message.message_id,
    }
    command = RecordMessages.model_validate(
        {
            "actor": actor,
            "ticketId": ticket_id,
            "conversationId": message.conversation_id,
            "messages": [inbound, outbound],
            "ifNoTicket": "open_for_human" if fallback else "skip",
        }
    )
    return command.model_dump(mode="json", by_alias=True, exclude_none=True)
