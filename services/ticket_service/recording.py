"""`tickets.v1.record_messages`: messages that already went over the channel (the
customer's WhatsApp message, the assistant's reply) join a ticket's conversation.

Which ticket: the one the caller names (the ticket the assistant worked on in its turn)
when it is the customer's, else the customer's most recently updated unresolved ticket.
With none, nothing is recorded, unless the caller asks for a ticket for a human (the
assistant could not answer): then a `source: ai` ticket tagged `needs-human` is opened
(idempotent on the first message's id). Each message is recorded once per ticket, by its
channel id, however often it is delivered.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter

from contracts import commands as cmd
from contracts.actors import SystemActor
from contracts.conversation import (
    AuthorType,
    Delivery,
    DeliveryStatus,
    Direction,
    MessageAttachment,
    MessageAuthor,
    RecordedMessage,
    RecordMessages,
    RecordOutcome,
    TicketMessage,
)
from contracts.enums import ActorType, Channel, Source
from contracts.tickets import Ticket
from services.ticket_service.conversation import Conversations, event_entry, new_message_id
from services.ticket_service.domain.errors import Forbidden, RateLimited
from services.ticket_service.domain.lifecycle import OPEN_STATUSES

log = logging.getLogger(__name__)

NEEDS_HUMAN_TAG = "needs-human"
NEEDS_HUMAN_TITLE = "WhatsApp message the assistant could not answer"
FOR_HUMANS = Counter(
    "tickets_conversation_needs_human_total",
    "Messages the assistant could not answer, by where they landed (existing, opened, none)",
    ["outcome"],
)


@dataclass
class Recorder:
    conversations: Conversations

    async def record(self, command: RecordMessages) -> RecordOutcome:
        cases = self.conversations.cases
        principal = await cases.principal(command.actor, create_customer=True)
        if principal.type is ActorType.AGENT:
            raise Forbidden("Agents answer through POST /api/v2/tickets/{ticketId}/messages")
        customer_id = await self._customer_id(command, principal.id)
        ticket = await self._target(customer_id, command.ticket_id)
        opened = False
        if ticket is None and command.if_no_ticket == "open_for_human":
            ticket, opened = await self._for_human(command, customer_id), True
        if command.if_no_ticket == "open_for_human":
            FOR_HUMANS.labels(
                "none" if ticket is None else "opened" if opened else "existing"
            ).inc()
        if ticket is None:
            return RecordOutcome()
        name = await self._customer_name(customer_id)
        recorded = [
            message_id
            for message in command.messages
            if (message_id := await self._record(ticket, customer_id, name, message)) is not None
        ]
        return RecordOutcome(ticket_id=ticket.ticket_id, recorded=recorded, ticket_opened=opened)

    async def _customer_id(self, command: RecordMessages, actor_id: str | None) -> str:
        if not isinstance(command.actor, SystemActor):
            assert actor_id
            return actor_id
        assert command.customer is not None
        customer = command.customer
        cases = self.conversations.cases
        record = await cases.customers.by_phone(
            customer.phone, cases.clock.now(), customer.name, customer.language, create=True
        )
        assert record is not None
        return str(record.id)

    async def _customer_name(self, customer_id: str) -> str | None:
        customer = await self.conversations.cases.customers.by_id(customer_id)
        return None if customer is None else customer.name

    async def _target(self, customer_id: str, chosen: str | None) -> Ticket | None:
        tickets = self.conversations.cases.tickets
        if chosen is not None:
            ticket = await tickets.get(chosen)
            if ticket is not None and ticket.customer_id == customer_id:
                return ticket
            log.info(
                "named ticket is not the customer's; using their latest", extra={"ticketId": chosen}
            )
        query = {"customerId": customer_id, "status": {"$in": [str(s) for s in OPEN_STATUSES]}}
        found = await tickets.find(query, [("updatedAt", -1), ("ticketId", -1)], 0, 1)
        return found[0] if found else None

    async def _for_human(self, command: RecordMessages, customer_id: str) -> Ticket | None:
        first = command.messages[0]
        text = first.text or ", ".join(f"[{a.type}]" for a in first.attachments)
        description = text if len(text) >= 10 else f"The customer wrote: {text}"
        create = cmd.CreateTicket(
            actor=command.actor,
            title=NEEDS_HUMAN_TITLE,
            description=description[:5000],
            source=Source.AI,
            channel=Channel.WHATSAPP,
            customer=cmd.CustomerById(customer_id=customer_id),
            conversation_id=command.conversation_id,
            idempotency_key=f"needs-human:{first.message_id}"[:200],
            tags=[NEEDS_HUMAN_TAG],
        )
        cases = self.conversations.cases
        try:
            return await cases.create(create)
        except RateLimited:
            log.warning("no ticket opened for a human: the customer is over a limit")
            return await cases.tickets.latest_for_customer(customer_id, command.conversation_id)

    async def _record(
        self, ticket: Ticket, customer_id: str, name: str | None, recorded: RecordedMessage
    ) -> str | None:
        """The new message's id; None when it was already on the ticket."""
        key = f"{recorded.direction}:{recorded.message_id}"
        store = self.conversations.store
        earlier = await store.by_key(ticket.ticket_id, key)
        if earlier is not None:
            await self.conversations.converge(earlier)
            return None
        now = self.conversations.cases.clock.now()
        message = _message(ticket, customer_id, name, recorded)
        entries = [event_entry(ticket, message, now)]
        relay = self.conversations.relay
        if not await store.insert(
            message,
            customer_id=customer_id,
            outbox=entries,
            dedupe_key=key,
            now=now,
            claimed_until=relay.claimed_until(now),
        ):
            return None
        await relay.publish_claimed(message.id, entries)
        await self.conversations.apply(message)
        log.info(
            "message recorded",
            extra={
                "ticketId": ticket.ticket_id,
                "messageId": message.id,
                "direction": recorded.direction,
            },
        )
        return message.id


def _message(
    ticket: Ticket, customer_id: str, name: str | None, recorded: RecordedMessage
) -> TicketMessage:
    inbound = recorded.direction is Direction.INBOUND
    author = (
        MessageAuthor(type=AuthorType.CUSTOMER, id=customer_id, name=name)
        if inbound
        else MessageAuthor(type=AuthorType.ASSISTANT, name="Assistant")
    )
    return TicketMessage(
        id=new_message_id(),
        ticket_id=ticket.ticket_id,
        direction=recorded.direction,
        author=author,
        text=recorded.text,
        attachments=[MessageAttachment.model_validate(a.to_wire()) for a in recorded.attachments],
        created_at=_moment(recorded.sent_at),
        delivery=Delivery(status=DeliveryStatus.RECEIVED if inbound else DeliveryStatus.QUEUED),
        reply_to=recorded.reply_to,
        external_id=recorded.message_id,
    )


def _moment(value: datetime) -> datetime:
    """Whole milliseconds, MongoDB's precision, so what is read back equals what was sent."""
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)
