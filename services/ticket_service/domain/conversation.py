"""What a conversation message does to its ticket. Pure: `now` is passed in.

A message is stored first (with its outbox) and applied to the ticket after, so applying
must be idempotent: the first response is recorded once, at the time the message was
sent; an attachment already on the ticket is not added again.
"""

from datetime import datetime

from contracts.conversation import (
    AuthorType,
    Delivery,
    DeliveryStatus,
    Direction,
    MessageAttachment,
    MessageAuthor,
    TicketMessage,
)
from contracts.enums import ActorType, TicketStatus
from contracts.events import TicketMessageAdded, TicketUpdated
from contracts.sla import SlaPolicy
from contracts.tickets import Attachment, Ticket
from contracts.window import window_closed_message, window_state
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.errors import Conflict, InvalidTransition, ValidationFailed
from services.ticket_service.domain.model import (
    ActorRef,
    Change,
    change_status,
    new_event_id,
    summary,
    touched,
)

REPLYABLE: frozenset[TicketStatus] = frozenset(TicketStatus) - {
    TicketStatus.CLOSED,
    TicketStatus.CANCELLED,
}
"""A closed or cancelled ticket takes no reply: the customer's next message reopens it
(or opens a follow-up), and the agent answers there."""

_ACTOR_OF_AUTHOR = {
    AuthorType.AGENT: ActorType.AGENT,
    AuthorType.CUSTOMER: ActorType.CUSTOMER,
    AuthorType.ASSISTANT: ActorType.SYSTEM,
    AuthorType.SYSTEM: ActorType.SYSTEM,
}


def check_replyable(ticket: Ticket) -> None:
    if ticket.status in REPLYABLE:
        return
    allowed = sorted(REPLYABLE)
    raise InvalidTransition(
        ticket.status,
        None,
        allowed,
        f"Cannot reply to a {ticket.status} ticket. Replies are allowed in statuses: "
        f"{', '.join(allowed)}",
    )


def check_window(last_inbound_at: datetime | None, now: datetime) -> None:
    """An agent's free-form reply when replies outside WhatsApp's window are refused."""
    window = window_state(last_inbound_at, now)
    if not window.open:
        raise Conflict(window_closed_message(window))


def outbound(
    message_id: str,
    ticket: Ticket,
    author: MessageAuthor,
    text: str,
    attachments: list[MessageAttachment],
    now: datetime,
) -> TicketMessage:
    """A reply to be sent: pending until the relay puts it on `whatsapp.outbound`."""
    return TicketMessage(
        id=message_id,
        ticket_id=ticket.ticket_id,
        direction=Direction.OUTBOUND,
        author=author,
        text=text,
        attachments=attachments,
        created_at=now,
        delivery=Delivery(status=DeliveryStatus.PENDING),
    )


def added(ticket: Ticket, message: TicketMessage, now: datetime) -> TicketMessageAdded:
    return TicketMessageAdded(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(ticket),
        message=message,
    )


def respond(ticket: Ticket, by: ActorRef, at: datetime, now: datetime, policy: SlaPolicy) -> Change:
    """The human side answered at `at`: the first response is recorded (met or missed
    against the due time), and a `new` ticket is opened, as an agent's first look does."""
    change = ops.mark_first_response(ticket, now, at)
    if change.ticket.status is TicketStatus.NEW:
        opened = change_status(
            change.ticket, TicketStatus.OPEN, by, now, policy, reason="answered", automated=True
        )
        change = change.then(opened)
    return change


def response_time(ticket: Ticket, at: datetime | None, now: datetime) -> datetime:
    """When a response made outside the system was given: now, or a moment between the
    ticket's creation and now."""
    if at is None:
        return now
    if at > now or at < ticket.created_at:
        created = ticket.created_at.isoformat()
        raise ValidationFailed(
            f"respondedAt: must lie between the ticket's creation ({created}) and now "
            f"({now.isoformat()})"
        )
    return at


def attach(ticket: Ticket, message: TicketMessage, now: datetime) -> Change:
    """The message's files join the ticket's `attachments` (once each)."""
    known = {(a.url, a.message_id) for a in ticket.attachments}
    uploader = ActorRef(_ACTOR_OF_AUTHOR[message.author.type], message.author.id)
    new = [
        Attachment(
            url=a.url,
            type=a.type,
            filename=a.filename,
            size=a.size,
            message_id=message.id,
            uploaded_by=uploader.id,
            uploaded_by_type=uploader.type,
            uploaded_at=message.created_at,
        )
        for a in message.attachments
        if (a.url, message.id) not in known
    ]
    if not new:
        return Change(ticket)
    attachments = [*ticket.attachments, *new]
    updated = touched(ticket, now, attachments=attachments)
    event = TicketUpdated(
        event_id=new_event_id(),
        occurred_at=now,
        ticket_id=ticket.ticket_id,
        ticket=summary(updated),
        changes={"attachments": [a.to_wire() for a in attachments]},
    )
    return Change(updated, [event])


def apply_message(
    ticket: Ticket, message: TicketMessage, now: datetime, policy: SlaPolicy
) -> Change:
    """Everything a stored message does to its ticket; nothing when already applied."""
    change = Change(ticket)
    if message.is_response:
        by = ActorRef(_ACTOR_OF_AUTHOR[message.author.type], message.author.id)
        change = change.then(respond(ticket, by, message.created_at, now, policy))
    if message.attachments:
        change = change.then(attach(change.ticket, message, now))
    return change
