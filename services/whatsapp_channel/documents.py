"""What the channel stores (PyMongo, camelCase fields, string ids):

- `whatsapp_inbox`: one document per WhatsApp message id seen on the webhook, `pending`
  until it is on `whatsapp.inbound` (the unique id makes a redelivered webhook a no-op);
- `whatsapp_contacts`: the customer's last inbound time (the 24-hour window);
- `whatsapp_media`: media ids that arrived here (only those can be downloaded);
- `whatsapp_sends`: one document per outbound message id: its state, attempts, WhatsApp's
  message id and its delivery (with `reportPending` until the ticket service has it).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field
from pymongo import ASCENDING, IndexModel

from contracts.base import StoredModel
from services.whatsapp_channel.domain.sending import SendState

INBOX = "whatsapp_inbox"
CONTACTS = "whatsapp_contacts"
MEDIA = "whatsapp_media"
SENDS = "whatsapp_sends"

INDEXES: dict[str, list[IndexModel]] = {
    INBOX: [IndexModel([("state", ASCENDING), ("leaseUntil", ASCENDING)], name="due")],
    SENDS: [
        IndexModel([("state", ASCENDING), ("nextAttemptAt", ASCENDING)], name="due"),
        IndexModel([("whatsappMessageId", ASCENDING)], name="by_whatsapp_id"),
        IndexModel([("to", ASCENDING), ("createdAt", ASCENDING)], name="by_recipient"),
        IndexModel([("reportPending", ASCENDING)], name="reports"),
    ],
}


class InboxState(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"


class InboxRecord(StoredModel):
    id: str = Field(alias="_id")
    message: dict[str, Any] = Field(description="The WhatsAppInbound as published")
    state: InboxState = InboxState.PENDING
    received_at: datetime
    lease_until: datetime | None
    """Claimable for publishing once this has passed, or when None (set to the receipt time
    at first; a claim sets it, publishing or releasing clears it: `infra.due`)."""
    published_at: datetime | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class SendRecord(StoredModel):
    id: str = Field(alias="_id")
    to: str
    text: str
    reply_to: str | None = None
    ticket_id: str | None = None
    template: dict[str, Any] | None = Field(default=None, description="As requested")
    purpose: str | None = Field(default=None, description="reply, csat or nudge")
    media: dict[str, Any] | None = Field(
        default=None, description="{type, url, filename}: one file of an agent's reply"
    )
    report_as: str | None = Field(
        default=None, description="The outbound message a file belongs to (its reports go there)"
    )
    state: SendState = SendState.PENDING
    attempts: int = 0
    next_attempt_at: datetime
    lease_until: datetime | None = None
    created_at: datetime
    last_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    sent_as: str | None = Field(default=None, description="text or template")
    template_sent: dict[str, Any] | None = None
    window_closed: bool = Field(default=False, description="WhatsApp said so (error 131047)")
    whatsapp_message_id: str | None = None
    delivery: dict[str, Any] | None = Field(
        default=None,
        description="{status, at, error?}: WhatsApp's latest report, or the channel's verdict "
        "(failed: dead; unknown: the answer was lost)",
    )
    delivery_rank: int = 0
    report_pending: bool = Field(
        default=False, description="`delivery` changed and the ticket service was not told yet"
    )
    last_error: dict[str, Any] | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)

    def view(self) -> dict[str, object]:
        shown = self.model_dump(mode="json", by_alias=True, exclude={"id", "delivery_rank"})
        return {"id": self.id, **shown}
