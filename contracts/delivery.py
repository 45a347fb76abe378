"""What became of a message sent to the customer on WhatsApp, as the channel learns it:
WhatsApp's delivery reports (sent, delivered, read, failed) and the channel's own verdicts
(a permanent send failure, a send whose outcome is unknown)."""

from typing import Literal

from pydantic import Field

from contracts.actors import SystemActor
from contracts.base import StoredModel, WireModel
from contracts.commands import Moment, TicketId

ReportedStatus = Literal["unknown", "sent", "delivered", "read", "failed"]

REPORT_RANK: dict[str, int] = {"unknown": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}
"""A report only replaces a lower one: `read` after `delivered`, never the other way;
`unknown` (the send's answer was lost) is settled by any report WhatsApp sends later."""


class DeliveryError(StoredModel):
    code: int | str | None = Field(
        default=None, description="WhatsApp's error code (131026...), or `window_closed`"
    )
    title: str = Field(max_length=1000)
    detail: str | None = Field(default=None, max_length=2000)


class RecordDelivery(WireModel):
    """`tickets.v1.record_delivery` (one-way): the delivery state of an outbound message,
    found by the id it was published with on `whatsapp.outbound`."""

    actor: SystemActor
    message_id: str = Field(min_length=1, max_length=200)
    ticket_id: TicketId | None = Field(
        default=None, description="When the outbound message named it; else found by id"
    )
    status: ReportedStatus
    at: Moment
    error: DeliveryError | None = None
    sent_as: Literal["text", "template"] | None = Field(
        default=None, description="How the channel sent it (a template outside the window)"
    )
