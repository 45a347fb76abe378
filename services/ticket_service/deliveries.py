"""`tickets.v1.record_delivery` (one-way, from the WhatsApp channel): what became of a
reply sent to the customer lands on the message's `delivery` and is pushed to the agents
who may read the ticket (`ticket.message_delivery_updated` -> Socket.IO).

The message is found by the id it was published with: an agent's reply by its message id,
the assistant's by the `reply-<inbound id>` it was recorded under. The update is one
conditional write (the status only moves forward) carrying its event in the message's
outbox; the relay publishes it.
"""

import logging
from dataclasses import dataclass

from contracts.conversation import Delivery, DeliveryStatus, Direction, TicketMessage
from contracts.delivery import RecordDelivery
from services.ticket_service.conversation import Conversations
from services.ticket_service.domain.delivery import delivery_updated, replaceable_by
from services.ticket_service.repository import outbox_entries

log = logging.getLogger(__name__)


@dataclass
class DeliveryRecords:
    conversations: Conversations

    async def record(self, command: RecordDelivery) -> bool:
        """True when the report changed the message (False: unknown message, or not
        newer than what it shows)."""
        message = await self._message(command)
        if message is None:
            return False
        cases = self.conversations.cases
        ticket = await cases.tickets.get(message.ticket_id)
        if ticket is None:
            return False
        delivery = Delivery(
            status=DeliveryStatus(command.status),
            at=command.at,
            error=command.error,
            sent_as=command.sent_as,
        )
        now = cases.clock.now()
        event = delivery_updated(ticket, message, delivery, now)
        result = await self.conversations.store.messages.update_one(
            {"_id": message.id, "delivery.status": {"$in": replaceable_by(delivery.status)}},
            {
                "$set": {"delivery": delivery.model_dump(by_alias=True, exclude_none=True)},
                "$push": {"outbox": {"$each": outbox_entries([event], now)}},
            },
        )
        if result.modified_count == 0:
            return False
        await self.conversations.relay.flush(message.id)
        log.info(
            "delivery recorded",
            extra={
                "ticketId": ticket.ticket_id,
                "messageId": message.id,
                "status": delivery.status,
            },
        )
        return True

    async def _message(self, command: RecordDelivery) -> TicketMessage | None:
        raw = await self.conversations.store.messages.find_one(
            {
                "$or": [{"_id": command.message_id}, {"externalId": command.message_id}],
                "direction": Direction.OUTBOUND,
            },
            {"outbox": 0},
        )
        if raw is None:
            log.info("delivery for no known message", extra={"messageId": command.message_id})
            return None
        message = TicketMessage.model_validate({**raw, "id": raw["_id"]})
        if command.ticket_id is not None and command.ticket_id != message.ticket_id:
            log.warning(
                "delivery names another ticket",
                extra={"messageId": command.message_id, "named": command.ticket_id},
            )
            return None
        return message
