"""What a finished turn leaves for the ticket's conversation: which ticket the assistant
worked on, and the messages to record there. Pure."""

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

from contracts.conversation import MAX_ATTACHMENTS, AuthorType, Direction, RecordMessages
from contracts.whatsapp import WhatsAppAttachment, WhatsAppInbound
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


MEDIA_ROUTE = "/api/v2/whatsapp/media/{media_id}"
"""Where an agent fetches a media id's bytes (the WhatsApp channel's route)."""


def _attachment(part: WhatsAppAttachment) -> dict[str, Any] | None:
    """A file or a location as a conversation attachment; shared contacts stay in the
    message's text (there is nothing to fetch)."""
    if part.location is not None:
        where = part.location
        url = f"geo:{where.latitude},{where.longitude}"
        return {"url": url, "type": "location", "filename": where.name or where.address}
    if part.media_id is None or part.type == "contacts":
        return None
    return {
        "url": MEDIA_ROUTE.format(media_id=quote(part.media_id, safe="")),
        "type": part.type,
        "filename": part.filename,
        "mimeType": part.mime_type,
        "mediaId": part.media_id,
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
    parts = [_attachment(part) for part in message.attachments]
    inbound = {
        "messageId": message.message_id,
        "direction": Direction.INBOUND,
        "authorType": AuthorType.CUSTOMER,
        "text": message.text,
        "attachments": [part for part in parts if part is not None][:MAX_ATTACHMENTS],
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
