"""What a delivery report does to an outbound message. Pure.

Statuses only move forward: pending/queued (ours) < unknown < sent < delivered < read <
failed, so a late or repeated report changes nothing and a `queued` set after the publish
never hides a report that arrived first."""

from datetime import datetime

from contracts.conversation import Delivery, DeliveryStatus, TicketMessage
from contracts.events import TicketMessageDeliveryUpdated
from contracts.tickets import Ticket
from services.ticket_service.domain.model import summary

RANK: dict[DeliveryStatus, int] = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.UNKNOWN: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
    DeliveryStatus.FAILED: 5,
}


def replaceable_by(status: DeliveryStatus) -> list[str]:
    """The statuses a report of `status` may replace."""
    return [str(s) for s, rank in RANK.items() if rank < RANK[status]]


def delivery_updated(
    ticket: Ticket, message: TicketMessage, delivery: Delivery, now: datetime
) -> TicketMessageDeliveryUpdated:
    """The event id is fixed per message and status, so a replayed report is one push."""
    return TicketMessageDeliveryUpdated(
        event_id=f"delivery-{message.id}-{delivery.status}",
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(ticket),
        message_id=message.id,
        delivery=delivery,
    )
