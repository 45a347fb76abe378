"""A `pending_customer` ticket whose customer's WhatsApp window is about to close reminds
them once, as an approved template (`TICKETS_WHATSAPP__NUDGE_TEMPLATE`): after the window,
only templates reach them, and the agent is waiting for an answer.

A scan every `NUDGE_SCAN_SECONDS` takes the customers whose window closes within
`NUDGE_BEFORE` (a range on `lastInboundAt`, indexed: the cost follows the customers near
their deadline, not all of them), and the most recently updated `pending_customer` ticket
of each. The reminder is
a message of the ticket's conversation (author: the assistant, "WhatsApp reminder", so it
is never the first response) written with its `whatsapp.outbound` entry (`purpose:
"nudge"`: the channel sends the template) under the key `nudge:<lastInboundAt>`, unique
per ticket, so two replicas or a scan after a crash write it once; the customer then
remembers the window it was reminded of.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.conversation import AuthorType, MessageAuthor
from contracts.enums import Language, TicketStatus
from contracts.tickets import Ticket
from contracts.whatsapp import WhatsAppOutbound
from contracts.window import MARGIN, WINDOW
from services.ticket_service.conversation import (
    Conversations,
    event_entry,
    new_message_id,
    whatsapp_entry,
)
from services.ticket_service.documents import Customer
from services.ticket_service.domain import conversation as conv

log = logging.getLogger(__name__)

BATCH = 200
REMINDER = MessageAuthor(type=AuthorType.ASSISTANT, name="WhatsApp reminder")
TEXT = {
    Language.ES: "Seguimos esperando tu respuesta sobre el ticket {ticketId}. "
    "Escríbenos cuando puedas.",
    Language.EN: "We are still waiting for your answer about ticket {ticketId}. "
    "Write to us whenever you can.",
}


@dataclass
class WindowNudger:
    conversations: Conversations
    before: timedelta
    language: Language = Language.ES

    async def scan(self) -> int:
        """Reminders written this round."""
        cases = self.conversations.cases
        now = cases.clock.now()
        closing = await cases.customers.windows_closing(
            now - WINDOW + MARGIN, now - WINDOW + self.before, BATCH
        )
        due = {str(c.id): c for c in closing if c.window_nudged_for != c.last_inbound_at}
        if not due:
            return 0
        query = {"customerId": {"$in": list(due)}, "status": str(TicketStatus.PENDING_CUSTOMER)}
        latest: dict[str, Ticket] = {}
        for ticket in await cases.tickets.find(query, [("updatedAt", -1)], 0, BATCH):
            latest.setdefault(ticket.customer_id, ticket)  # one reminder per customer
        written = 0
        for customer_id, ticket in latest.items():
            written += await self._remind(ticket, due[customer_id], now)
        return written

    async def _remind(self, ticket: Ticket, customer: Customer, now: datetime) -> int:
        assert customer.last_inbound_at is not None
        text = TEXT[customer.language or self.language].format(ticketId=ticket.ticket_id)
        message = conv.outbound(new_message_id(), ticket, REMINDER, text, [], now)
        outbound = WhatsAppOutbound(
            to=customer.phone_number,
            text=text,
            ticket_id=ticket.ticket_id,
            message_id=message.id,
            purpose="nudge",
        )
        entries = [whatsapp_entry(outbound, message.id, now), event_entry(ticket, message, now)]
        store, relay = self.conversations.store, self.conversations.relay
        inserted = await store.insert(
            message,
            customer_id=ticket.customer_id,
            outbox=entries,
            dedupe_key=f"nudge:{customer.last_inbound_at.isoformat()}",
            now=now,
            claimed_until=relay.claimed_until(now),
        )
        if inserted:
            await relay.publish_claimed(message.id, entries)
            log.info("window reminder sent", extra={"ticketId": ticket.ticket_id})
        await self.conversations.cases.customers.nudged(customer)
        return int(inserted)
