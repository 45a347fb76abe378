"""CSAT over WhatsApp: ask when a ticket is resolved, read the customer's number as the
rating while the window is open.

Asking follows `ticket.status_changed` (to resolved) from the ticket service's own durable
queue, so a resolution made while no ticket service ran is still asked about, and a
repeated event asks once: the request is recorded first (`csat_requests`, one document
per resolution, inserted once), then the question goes out as a conversation message
through the same outbox as an agent's reply (written with its `whatsapp.outbound` entry,
deduplicated by a key per resolution). A crash between the two leaves the request
recorded; the redelivered event sends the question then. The ticket itself is not
written (its revision stays what an agent's UI holds).

Reading a reply happens inside `tickets.v1.customer_message` (so a duplicate delivery of
the customer's message is answered the same way): a reply that is only a number, while a
request is open, is the rating (1-5), refused with a message (any other number), or
answered with "already rated"; it never reopens the ticket.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.commands import CustomerMessage
from contracts.conversation import AuthorType, MessageAuthor
from contracts.enums import Language
from contracts.replies import CustomerMessageOutcome
from contracts.tickets import Ticket
from contracts.whatsapp import WhatsAppOutbound
from infra.clock import Clock
from infra.settings import CsatSettings
from services.ticket_service.access import Principal
from services.ticket_service.conversation import (
    Conversations,
    event_entry,
    new_message_id,
    whatsapp_entry,
)
from services.ticket_service.domain import conversation as conv
from services.ticket_service.domain import csat
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.domain.model import Change
from services.ticket_service.repository import TicketRepository

log = logging.getLogger(__name__)

ATTEMPTS = 3
OPEN_LIMIT = 5
COLLECTION = "csat_requests"
Raw = dict[str, Any]
SURVEY_AUTHOR = MessageAuthor(type=AuthorType.ASSISTANT, name="Satisfaction survey")
"""Not a human response: the question never counts as the ticket's first response."""

Commit = Callable[[Ticket, Change], Awaitable[Ticket]]


class CsatRequestStore:
    """`csat_requests`: one document per asked resolution (`_id` ticket and resolvedAt)."""

    def __init__(self, database: AsyncDatabase[Raw]) -> None:
        self.requests: AsyncCollection[Raw] = database[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.requests.create_indexes(
            [IndexModel([("customerId", ASCENDING), ("expiresAt", DESCENDING)])]
        )

    async def record(self, request: csat.CsatRequest) -> csat.CsatRequest:
        """The request as stored: this one, or the one a repeat found already there."""
        try:
            await self.requests.insert_one(request.model_dump(by_alias=True))
        except DuplicateKeyError:
            found = await self.requests.find_one({"_id": request.id})
            assert found is not None
            return csat.CsatRequest.model_validate(found)
        return request

    async def open_for(self, customer_id: str, now: datetime) -> list[csat.CsatRequest]:
        """The customer's unexpired requests, the latest asked first."""
        query = {"customerId": customer_id, "expiresAt": {"$gt": now}}
        cursor = self.requests.find(query).sort([("requestedAt", -1)]).limit(OPEN_LIMIT)
        return [csat.CsatRequest.model_validate(raw) async for raw in cursor]


@dataclass
class CsatReplies:
    """The customer's number while a rating request is open."""

    requests: CsatRequestStore
    tickets: TicketRepository
    commit: Commit
    clock: Clock

    async def answer(
        self, principal: Principal, command: CustomerMessage
    ) -> CustomerMessageOutcome | None:
        """None when the message is not an answer to a rating request (most messages: no
        database read unless the message is only a number)."""
        if csat.parse_number(command.text) is None or not principal.id:
            return None
        for _ in range(ATTEMPTS):
            found = await self._open_request(principal.id, command.text)
            if found is None:
                return None
            ticket, request, reply = found
            if reply.kind is csat.ReplyKind.RATED:
                now = self.clock.now()
                try:
                    ticket = await self.commit(ticket, ops.rate(ticket, reply.number, None, now))
                except Conflict:  # a concurrent change or rating: read again
                    continue
                log.info(
                    "csat rating recorded",
                    extra={"ticketId": ticket.ticket_id, "rating": reply.number},
                )
            return _outcome(ticket, request, reply, principal.language)
        raise Conflict("The ticket kept changing while the rating was recorded; retry")

    async def _open_request(
        self, customer_id: str, text: str
    ) -> tuple[Ticket, csat.CsatRequest, csat.RatingReply] | None:
        now = self.clock.now()
        for request in await self.requests.open_for(customer_id, now):
            ticket = await self.tickets.get(request.ticket_id)
            reply = None if ticket is None else csat.read_reply(ticket, request, text, now)
            if ticket is not None and reply is not None:
                return ticket, request, reply
        return None


def _outcome(
    ticket: Ticket, request: csat.CsatRequest, reply: csat.RatingReply, known: Language | None
) -> CustomerMessageOutcome:
    given = ticket.customer_satisfaction.rating if ticket.customer_satisfaction else None
    text = csat.say(
        csat.REPLY_TEXT[reply.kind],
        request.language or known,
        ticket_id=ticket.ticket_id,
        rating=given,
        number=reply.number,
    )
    return CustomerMessageOutcome(
        action=reply.kind.value,
        ticket=ticket.to_wire(),
        reply=text,
        rating=given if reply.kind is csat.ReplyKind.RATED else None,
    )


@dataclass
class CsatRequester:
    """Asks the customer of a resolved WhatsApp ticket to rate it, once per resolution."""

    conversations: Conversations
    requests: CsatRequestStore
    settings: CsatSettings

    async def on_resolved(self, ticket_id: str) -> bool:
        """True when the question was sent now (False: disabled, not a WhatsApp ticket,
        already asked, already rated, or no longer resolved)."""
        cases = self.conversations.cases
        ticket = await cases.tickets.get(ticket_id)
        if not self.settings.enabled or ticket is None:
            return False
        customer = await cases.customers.by_id(ticket.customer_id)
        if customer is None:
            return False
        language = customer.language or Language(self.settings.default_language)
        wanted = csat.new_request(
            ticket, cases.clock.now(), self.settings.window, language, new_message_id()
        )
        if wanted is None:
            return False
        request = await self.requests.record(wanted)
        return await self._send_question(ticket, request, customer.phone_number)

    async def _send_question(self, ticket: Ticket, request: csat.CsatRequest, phone: str) -> bool:
        """The question as a conversation message written with its outbox; a repeat finds
        it by its key and only finishes what is left (publishing, applying)."""
        store, relay = self.conversations.store, self.conversations.relay
        key = f"csat:{request.resolved_at.isoformat()}"
        earlier = await store.by_key(ticket.ticket_id, key)
        if earlier is not None:
            await self.conversations.converge(earlier)
            return False
        now = self.conversations.cases.clock.now()
        text = csat.say(csat.CsatText.ASK, request.language, ticket_id=ticket.ticket_id)
        message = conv.outbound(request.message_id, ticket, SURVEY_AUTHOR, text, [], now)
        outbound = WhatsAppOutbound(
            to=phone, text=text, ticket_id=ticket.ticket_id, message_id=message.id, purpose="csat"
        )
        entries = [whatsapp_entry(outbound, message.id, now), event_entry(ticket, message, now)]
        inserted = await store.insert(
            message,
            customer_id=ticket.customer_id,
            outbox=entries,
            dedupe_key=key,
            now=now,
            claimed_until=relay.claimed_until(now),
        )
        if not inserted:
            return False
        await relay.publish_claimed(message.id, entries)
        await self.conversations.apply(message)
        log.info("csat requested", extra={"ticketId": ticket.ticket_id, "messageId": message.id})
        return True
