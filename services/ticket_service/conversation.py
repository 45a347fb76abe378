"""A ticket's conversation: agents reply, everyone's messages are listed, and each stored
message is applied to its ticket.

A reply is two writes, and this is what a crash between them leaves:

1. the message, with its outbox (the `whatsapp.outbound` message and the
   `ticket.message_added` event) and `applied: false`, in one insert, claimed for its
   writer's relay;
2. the relay publishes the outbox (confirmed), then removes it;
3. the ticket records the response (first response, new -> open) and the message is
   marked `applied`.

Dying after 1 leaves the outbox to the sweep once the claim lapses; dying after 1 or 2
leaves the message unapplied, and the same request again (same Idempotency-Key) finds it,
publishes what is left and applies it; without a retry the sweep applies it, and an SLA
breach is never recorded before a pending response is applied (`settle`). The first
response is recorded at the time the message was written, however late it is applied.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from contracts import names
from contracts.conversation import (
    AuthorType,
    DeliveryStatus,
    ListMessages,
    MessageAttachment,
    MessageAuthor,
    MessagePage,
    ReplyToCustomer,
    TicketMessage,
)
from contracts.enums import ActorType
from contracts.replies import Pagination
from contracts.tickets import Ticket
from contracts.whatsapp import WhatsAppOutbound
from services.ticket_service.access import Principal, readable
from services.ticket_service.domain import conversation as conv
from services.ticket_service.domain.errors import Conflict, NotFound
from services.ticket_service.messages import MessageStore, Stored
from services.ticket_service.relay import OutboxRelay
from services.ticket_service.usecases import TicketUseCases

log = logging.getLogger(__name__)

APPLY_ATTEMPTS = 3
SWEEP_BATCH = 100


def new_message_id() -> str:
    """Time-ordered (an ObjectId), so it breaks ties between messages sent together."""
    return str(ObjectId())


def _request_hash(command: ReplyToCustomer) -> str:
    body = {"text": command.text, "attachments": [a.to_wire() for a in command.attachments]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def event_entry(ticket: Ticket, message: TicketMessage, now: datetime) -> dict[str, Any]:
    event = conv.added(ticket, message, now)
    return {
        "eventId": event.event_id,
        "routingKey": event.type,
        "payload": event.to_wire(),
        "createdAt": now,
    }


def whatsapp_entry(outbound: WhatsAppOutbound, message_id: str, now: datetime) -> dict[str, Any]:
    return {
        "eventId": f"wa-{message_id}",
        "queue": names.WHATSAPP_OUTBOUND,
        "payload": outbound.model_dump(mode="json", by_alias=True, exclude_none=True),
        "createdAt": now,
        "onSent": {"delivery.status": DeliveryStatus.QUEUED.value},
        "onSentIf": {"delivery.status": DeliveryStatus.PENDING.value},
    }


@dataclass
class Conversations:
    cases: TicketUseCases
    store: MessageStore
    relay: OutboxRelay
    """The relay over `ticket_messages`."""
    grace: timedelta = timedelta(seconds=10)
    """How long a message may stay unapplied before the sweep (not its writer) applies it."""
    refuse_outside_window: bool = False
    """`TICKETS_WHATSAPP__OUTSIDE_WINDOW=refuse`: a reply after the customer's 24-hour
    window is a conflict (otherwise the WhatsApp channel sends it as the template)."""

    # ---- agents reply --------------------------------------------------------------

    async def reply(self, command: ReplyToCustomer) -> TicketMessage:
        """Idempotent per caller and `idempotencyKey`: the same key answers the same message
        and publishes it once; the same key with another text is a `conflict`."""
        principal = await self.cases.principal(command.actor)
        ticket = readable(
            principal, await self.cases.tickets.get(command.ticket_id), command.ticket_id
        )
        key = None
        if command.idempotency_key is not None:
            key = f"reply:{principal.id or 'system'}:{command.idempotency_key}"
            earlier = await self.store.by_key(ticket.ticket_id, key)
            if earlier is not None:
                return await self._replayed(earlier, _request_hash(command))
        conv.check_replyable(ticket)
        message, entries = await self._outbound(principal, ticket, command)
        now = self.cases.clock.now()
        inserted = await self.store.insert(
            message,
            customer_id=ticket.customer_id,
            outbox=entries,
            dedupe_key=key,
            request_hash=_request_hash(command),
            now=now,
            claimed_until=self.relay.claimed_until(now),
        )
        if not inserted:  # a concurrent copy of the same request won
            assert key is not None
            earlier = await self.store.by_key(ticket.ticket_id, key)
            assert earlier is not None
            return await self._replayed(earlier, _request_hash(command))
        await self.relay.publish_claimed(message.id, entries)
        await self.apply(message)
        log.info("agent reply", extra={"ticketId": ticket.ticket_id, "messageId": message.id})
        return await self._current(message.id)

    async def _outbound(
        self, principal: Principal, ticket: Ticket, command: ReplyToCustomer
    ) -> tuple[TicketMessage, list[dict[str, Any]]]:
        customer = await self.cases.customers.by_id(ticket.customer_id)
        if customer is None:
            raise NotFound(f"The customer of ticket {ticket.ticket_id} no longer exists")
        now = self.cases.clock.now()
        if self.refuse_outside_window:
            conv.check_window(customer.last_inbound_at, now)
        attachments = [MessageAttachment.model_validate(a.to_wire()) for a in command.attachments]
        message = conv.outbound(
            new_message_id(), ticket, await self._author(principal), command.text, attachments, now
        )
        outbound = WhatsAppOutbound(
            to=customer.phone_number,
            text=command.text,
            ticket_id=ticket.ticket_id,
            message_id=message.id,
            attachments=command.attachments or None,
        )
        return message, [
            whatsapp_entry(outbound, message.id, now),
            event_entry(ticket, message, now),
        ]

    async def _author(self, principal: Principal) -> MessageAuthor:
        if principal.type is ActorType.AGENT and principal.id is not None:
            agent = await self.cases.agents.get(principal.id)
            name = agent.name if agent else None
            return MessageAuthor(type=AuthorType.AGENT, id=principal.id, name=name)
        return MessageAuthor(type=AuthorType.SYSTEM, name="System")

    async def _replayed(self, earlier: Stored, request_hash: str) -> TicketMessage:
        if earlier.request_hash != request_hash:
            raise Conflict("This Idempotency-Key was already used for a different reply")
        await self.converge(earlier)
        return await self._current(earlier.message.id)

    async def converge(self, stored: Stored) -> None:
        """Finish what a crashed writer left: publish the outbox (unless its writer still
        holds it) and apply the message to the ticket."""
        if stored.outbox:
            await self.relay.flush(stored.message.id)
        if not stored.applied:
            await self.apply(stored.message)

    async def _current(self, message_id: str) -> TicketMessage:
        stored = await self.store.get(message_id)
        assert stored is not None
        return stored.message

    # ---- reading -------------------------------------------------------------------

    async def messages(self, query: ListMessages) -> MessagePage:
        """Oldest first, for whoever may read the ticket (anyone else: not found)."""
        principal = await self.cases.principal(query.actor)
        readable(principal, await self.cases.tickets.get(query.ticket_id), query.ticket_id)
        skip = (query.page - 1) * query.limit
        items, total = await self.store.page(query.ticket_id, skip, query.limit)
        pages = -(-total // query.limit)
        return MessagePage(
            items=items,
            pagination=Pagination(page=query.page, limit=query.limit, total=total, pages=pages),
        )

    # ---- applying messages to tickets ------------------------------------------------

    async def apply(self, message: TicketMessage) -> bool:
        """Record on the ticket what the message means (retried over concurrent changes);
        False when it kept losing races: the sweep applies it later."""
        for _ in range(APPLY_ATTEMPTS):
            ticket = await self.cases.tickets.get(message.ticket_id)
            if ticket is None:
                break
            change = conv.apply_message(ticket, message, self.cases.clock.now(), self.cases.policy)
            try:
                await self.cases._commit(ticket, change)
            except Conflict:
                continue
            await self.store.mark_applied(message.id)
            return True
        log.warning(
            "message not applied to its ticket yet",
            extra={"ticketId": message.ticket_id, "messageId": message.id},
        )
        return False

    async def settle(self, ticket_id: str) -> None:
        """Apply the ticket's pending messages now (before an SLA breach is recorded)."""
        for message in await self.store.unapplied({"ticketId": ticket_id}, SWEEP_BATCH):
            await self.apply(message)

    async def sweep(self) -> int:
        """Publish lapsed outboxes and apply messages their writers left unapplied."""
        published = await self.relay.sweep()
        since = self.cases.clock.now() - self.grace
        stale = await self.store.unapplied({"recordedAt": {"$lte": since}}, SWEEP_BATCH)
        for message in stale:
            await self.apply(message)
        return published + len(stale)
