"""Use cases: one function per command, shared by the queue handlers and the REST API.

Each reads what it needs, asks the pure domain for the change, writes it with one
conditional update (events in the same document's outbox) and hands the events to the
relay. Errors are the typed domain errors; the edges map them to replies.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import commands as cmd
from contracts.actors import AgentActor, CustomerActor
from contracts.enums import ActorType, Source, TicketStatus
from contracts.replies import CustomerMessageOutcome, TicketPage, TicketPagination
from contracts.sla import SlaPolicy
from contracts.tickets import Ticket
from infra.clock import Clock
from services.ticket_service import metrics
from services.ticket_service.access import (
    NOBODY_CUSTOMER,
    SYSTEM,
    ActorMessage,
    Principal,
    readable,
)
from services.ticket_service.admission import ByPhone, CreationKey, CustomerRef
from services.ticket_service.documents import Agent
from services.ticket_service.domain import conversation
from services.ticket_service.domain import operations as ops
from services.ticket_service.domain.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from services.ticket_service.domain.model import Change, change_status
from services.ticket_service.listing import (
    after,
    build_query,
    build_sort,
    decode_cursor,
    encode_cursor,
    search_words,
)
from services.ticket_service.ports import (
    AgentStore,
    Creator,
    CustomerStore,
    EventRelay,
    Idempotency,
    TicketStore,
)
from services.ticket_service.statistics import StatisticsQuery, TicketStatistics, compute

log = logging.getLogger(__name__)

CLOSED_FOR_CUSTOMER_NOTES = frozenset({TicketStatus.CLOSED, TicketStatus.CANCELLED})


@dataclass
class TicketUseCases:
    tickets: TicketStore
    customers: CustomerStore
    agents: AgentStore
    idempotency: Idempotency
    relay: EventRelay
    clock: Clock
    policy: SlaPolicy
    creator: Creator
    settle_responses: Callable[[str], Awaitable[None]] | None = None
    """Applies a ticket's stored but not yet applied replies (conversation.py)."""
    answer_rating: (
        Callable[[Principal, cmd.CustomerMessage], Awaitable[CustomerMessageOutcome | None]] | None
    ) = None
    """A customer's number answering an open rating request (csat.py); never reopens."""

    # ---- who is acting -------------------------------------------------------------

    async def principal(
        self,
        actor: ActorMessage,
        *,
        create_customer: bool = False,
        inbound_at: datetime | None = None,
    ) -> Principal:
        """`inbound_at`: a customer's message arrived then (their WhatsApp window), noted
        in the same update that finds or creates the customer."""
        if actor.type == "System":
            return SYSTEM
        if isinstance(actor, CustomerActor):
            customer = await self.customers.by_phone(
                actor.phone,
                self.clock.now(),
                actor.name,
                actor.language,
                create=create_customer,
                inbound_at=inbound_at,
            )
            if customer is None:
                return NOBODY_CUSTOMER
            return Principal(ActorType.CUSTOMER, str(customer.id), language=customer.language)
        return _acting_agent(await self.agents.get(actor.id))

    async def _assigner_and_assignee(
        self, command: cmd.AssignTicket
    ) -> tuple[Principal, Agent | None]:
        """An agent assigning: both agents in one read."""
        if not isinstance(command.actor, AgentActor):
            return await self.principal(command.actor), await self.agents.get(command.agent_id)
        acting, assignee = await self.agents.get_many([command.actor.id, command.agent_id])
        return _acting_agent(acting), assignee

    async def _readable(
        self, principal: Principal, ticket_id: str, expected_revision: int | None = None
    ) -> Ticket:
        ticket = readable(principal, await self.tickets.get(ticket_id), ticket_id)
        if expected_revision is not None and ticket.revision != expected_revision:
            raise Conflict(
                f"Ticket {ticket_id} is at revision {ticket.revision}, not {expected_revision}"
            )
        return ticket

    async def _commit(self, before: Ticket, change: Change) -> Ticket:
        saved = await self.tickets.apply(before, change)
        await self._publish(change)
        return saved

    async def _publish(self, change: Change) -> None:
        metrics.count_committed(change.events)
        if change.events:
            entries = [
                {"routingKey": e.type, "payload": e.to_wire(), "eventId": e.event_id}
                for e in change.events
            ]
            await self.relay.publish_now(change.ticket.ticket_id, entries)

    # ---- create --------------------------------------------------------------------

    async def create(self, command: cmd.CreateTicket) -> Ticket:
        """Exactly once per `idempotencyKey`, whatever dies when (`creation.py`). A replay
        answers only a caller who may read the ticket now (else `not_found`): a key is
        never a way to read someone else's ticket. A customer's own creation finds (or
        creates) their record in the admission's update, not in a lookup before it."""
        principal, customer = await self._creator_of(command)
        key = None
        if command.idempotency_key is not None:
            key = CreationKey("create", command.idempotency_key)
        created = await self.creator.create(
            customer,
            key,
            lambda customer_id, ticket_id, now: self._opening(
                command, _as_owner(principal, customer_id), customer_id, ticket_id, now
            ),
        )
        principal = _as_owner(principal, str(created.customer["_id"]))
        if created.change is None:
            return self._replayed(principal, created.ticket)
        await self._publish(created.change)
        return created.ticket

    def _replayed(self, principal: Principal, ticket: Ticket) -> Ticket:
        """Not even the ticket's id is told to a caller who may not read it."""
        if not principal.can_read(ticket):
            raise NotFound("No ticket you can see was created with this idempotencyKey")
        return ticket

    async def _creator_of(self, command: cmd.CreateTicket) -> tuple[Principal, CustomerRef]:
        """Who creates, and the customer the ticket is for. A customer creates only for
        themselves: their own phone (the record made on first contact), or their own id."""
        actor, customer = command.actor, command.customer
        if isinstance(actor, CustomerActor):
            if isinstance(customer, cmd.CustomerById):
                principal = await self.principal(actor)
                if customer.customer_id != principal.id:
                    raise Forbidden("A customer can only open tickets for themselves")
                return principal, customer.customer_id
            return CUSTOMER_TO_BE, ByPhone(actor.phone, actor.name, actor.language)
        principal = await self.principal(actor)
        if isinstance(customer, cmd.CustomerById):
            return principal, customer.customer_id
        return principal, ByPhone(
            customer.phone, customer.name, customer.language, entered_by_agent=True
        )

    def _opening(
        self,
        command: cmd.CreateTicket,
        principal: Principal,
        customer_id: str,
        ticket_id: str,
        now: datetime,
        related: tuple[str, ...] = (),
    ) -> Change:
        """The change that opens the ticket under the number the creator reserved."""
        data = ops.NewTicket(
            ticket_id=ticket_id,
            title=command.title,
            description=command.description,
            customer_id=customer_id,
            category=command.category,
            priority=command.priority,
            source=command.source,
            channel=command.channel,
            conversation_id=command.conversation_id,
            idempotency_key=_idempotency_key(command, customer_id),
            subcategory=command.subcategory,
            tags=tuple(command.tags),
            related_tickets=related,
        )
        change = ops.open_ticket(data, principal.ref, now, self.policy)
        if command.assign_to_self and principal.type is ActorType.AGENT:
            assert principal.id
            change = ops.taken_at_creation(change, principal.id, principal.ref, now, self.policy)
        return change

    # ---- reads ---------------------------------------------------------------------

    async def get(self, command: cmd.GetTicket) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id)
        if principal.type is not ActorType.AGENT or principal.id is None:
            return ticket
        viewed = ops.first_view_by_agent(ticket, principal.id, self.clock.now(), self.policy)
        if viewed is None:
            return ticket
        try:
            return await self._commit(ticket, viewed)
        except Conflict:
            return await self._readable(principal, command.ticket_id)

    async def list(self, command: cmd.ListTickets) -> TicketPage:
        """A page by offset (`page`) or after a cursor; one more ticket than the page is
        read to know whether there is a next page (its cursor)."""
        position = decode_cursor(command) if command.cursor is not None else None
        page_number = position.page if position else command.page
        principal = await self.principal(command.actor)
        if principal is NOBODY_CUSTOMER:
            total = None if position else 0
            return TicketPage(items=[], pagination=_pagination(command, page_number, total))
        words = search_words(command.q) if command.q else []
        matches = await self.customers.ids_matching(words) if words else {}
        filters, scope = build_query(command, matches), principal.scope()
        query = {"$and": [filters, scope]} if scope else filters
        total = None if position else await self.tickets.count(query)
        if position is not None:
            query = {"$and": [query, after(command.sort, position)]}
        skip = 0 if position else (command.page - 1) * command.limit
        sort = build_sort(command.sort)
        items = await self.tickets.find(query, sort, skip, command.limit + 1)
        next_cursor = None
        if len(items) > command.limit:
            items = items[: command.limit]
            next_cursor = encode_cursor(command, items[-1], page_number + 1)
        return TicketPage(
            items=[t.to_wire() for t in items],
            pagination=_pagination(command, page_number, total, next_cursor),
        )

    async def agent_tickets(self, command: cmd.ListTickets) -> TicketPage:
        """One agent's tickets: an agent may ask only for themselves, an admin for anyone."""
        principal = await self.principal(command.actor)
        wanted = command.assigned_agent or ""
        if not principal.sees_everything and wanted != principal.id:
            raise NotFound(f"Agent {wanted} not found")
        if principal.sees_everything and await self.agents.get(wanted) is None:
            raise NotFound(f"Agent {wanted} not found")
        return await self.list(command)

    async def statistics(self, query: StatisticsQuery) -> TicketStatistics:
        """Figures over the tickets the caller may read, created within the range."""
        principal = await self.principal(query.actor)
        return await compute(self.tickets.tickets, self.agents, query, principal.scope())

    # ---- changes -------------------------------------------------------------------

    async def assign(self, command: cmd.AssignTicket) -> Ticket:
        principal, agent = await self._assigner_and_assignee(command)
        ticket = await self._readable(principal, command.ticket_id, command.expected_revision)
        if agent is None or not agent.is_active:
            raise ValidationFailed(f"agentId: agent {command.agent_id} not found or inactive")
        change = ops.assign(
            ticket, str(agent.id), principal.ref, self.clock.now(), self.policy, command.reason
        )
        return await self._commit(ticket, change)

    async def unassign(self, command: cmd.UnassignTicket) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id, command.expected_revision)
        change = ops.unassign(ticket, self.clock.now(), command.reason)
        return await self._commit(ticket, change)

    async def change_status(self, command: cmd.ChangeStatus) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id, command.expected_revision)
        if principal.type is ActorType.CUSTOMER and command.status is not TicketStatus.CANCELLED:
            raise Forbidden("A customer can only cancel a ticket")
        change = change_status(
            ticket,
            command.status,
            principal.ref,
            self.clock.now(),
            self.policy,
            reason=command.reason,
            automated=principal.type is ActorType.SYSTEM,
            resolution_notes=command.resolution_notes,
        )
        return await self._commit(ticket, change)

    async def add_note(self, command: cmd.AddNote) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id)
        if principal.type is ActorType.CUSTOMER and ticket.status in CLOSED_FOR_CUSTOMER_NOTES:
            raise InvalidTransition(
                ticket.status, None, (), f"Cannot add information to a {ticket.status} ticket"
            )
        note_id = f"{ticket.ticket_id}-N{len(ticket.internal_notes) + 1}"
        change = ops.add_note(
            ticket,
            note_id,
            command.content,
            principal.ref,
            self.clock.now(),
            is_visible=command.is_visible,
        )
        return await self._commit(ticket, change)

    async def mark_first_response(self, command: cmd.MarkFirstResponse) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id)
        now = self.clock.now()
        at = conversation.response_time(ticket, command.responded_at, now)
        return await self._commit(
            ticket, conversation.respond(ticket, principal.ref, at, now, self.policy)
        )

    async def rate(self, command: cmd.RateTicket) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id)
        if principal.type is ActorType.AGENT:
            raise Forbidden("Only the customer (or the System on their behalf) rates a ticket")
        change = ops.rate(ticket, command.rating, command.comment, self.clock.now())
        return await self._commit(ticket, change)

    async def escalate(self, command: cmd.EscalatePriority) -> Ticket:
        principal = await self.principal(command.actor)
        ticket = await self._readable(principal, command.ticket_id, command.expected_revision)
        change = ops.escalate(
            ticket, self.clock.now(), self.policy, command.priority, command.reason
        )
        return await self._commit(ticket, change)

    # ---- the customer writes -------------------------------------------------------

    async def customer_message(self, command: cmd.CustomerMessage) -> CustomerMessageOutcome:
        """Applied once per WhatsApp message id, however often it is delivered."""
        at = min(command.received_at, self.clock.now())
        principal = await self.principal(command.actor, create_customer=True, inbound_at=at)
        return await self.idempotency.once(
            f"message:{principal.id}:{command.message_id}",
            lambda: self._react(principal, command),
            lambda outcome: outcome.model_dump(by_alias=True),
            _replayed_outcome,
        )

    async def _react(
        self, principal: Principal, command: cmd.CustomerMessage
    ) -> CustomerMessageOutcome:
        rated = await self.answer_rating(principal, command) if self.answer_rating else None
        if rated is not None:
            return rated
        for _ in range(3):
            ticket = await self.tickets.latest_for_customer(
                principal.id or "", command.conversation_id
            )
            if ticket is None:
                return CustomerMessageOutcome(action="none")
            now = self.clock.now()
            action = ops.customer_message_action(ticket, now, self.policy)
            if action == "follow_up":
                return await self._follow_up(principal, ticket, command)
            change = ops.react_to_customer_message(ticket, principal.ref, now, self.policy)
            if change is None:
                return CustomerMessageOutcome(action="none", ticket=ticket.to_wire())
            try:
                saved = await self._commit(ticket, change)
            except Conflict:
                continue
            return CustomerMessageOutcome(action=action, ticket=saved.to_wire())
        raise Conflict("The ticket kept changing while the message was applied; retry")

    async def _follow_up(
        self, principal: Principal, closed: Ticket, command: cmd.CustomerMessage
    ) -> CustomerMessageOutcome:
        """A message long after closing opens a new ticket linked to the old one."""
        text = command.text
        description = text if len(text) >= 10 else f"Customer wrote: {text}"
        create = cmd.CreateTicket(
            actor=command.actor,
            title=f"Follow-up to {closed.ticket_id}",
            description=description[:5000],
            category=closed.category,
            priority=closed.priority,
            source=Source.CUSTOMER,
            channel=closed.channel,
            customer=cmd.CustomerById(customer_id=closed.customer_id),
            conversation_id=command.conversation_id or closed.conversation_id,
        )
        created = await self.creator.create(
            closed.customer_id,
            CreationKey("follow-up", command.message_id),
            lambda customer_id, ticket_id, now: self._opening(
                create, principal, customer_id, ticket_id, now, (closed.ticket_id,)
            ),
            limited=False,
        )
        if created.change is not None:
            await self._publish(created.change)
        ticket = created.ticket
        return CustomerMessageOutcome(
            action="follow_up_created", ticket=ticket.to_wire(), related_ticket_id=closed.ticket_id
        )


def _acting_agent(agent: Agent | None) -> Principal:
    if agent is None or not agent.is_active:
        raise Forbidden("Unknown or inactive agent")
    return Principal(ActorType.AGENT, str(agent.id), role=agent.role)


CUSTOMER_TO_BE = Principal(ActorType.CUSTOMER)
"""A customer whose record the creation's admission finds or makes (`_as_owner`)."""


def _as_owner(principal: Principal, customer_id: str) -> Principal:
    if principal is CUSTOMER_TO_BE:
        return Principal(ActorType.CUSTOMER, customer_id)
    return principal


def _idempotency_key(command: cmd.CreateTicket, customer_id: str) -> str | None:
    """As stored on the ticket (and answered to those who may see it): scoped by customer."""
    if command.idempotency_key is None:
        return None
    return CreationKey("create", command.idempotency_key).full(customer_id)


def _pagination(
    command: cmd.ListTickets, page: int, total: int | None, next_cursor: str | None = None
) -> TicketPagination:
    pages = None if total is None else -(-total // command.limit)
    return TicketPagination(
        page=page, limit=command.limit, total=total, pages=pages, next_cursor=next_cursor
    )


async def _replayed_outcome(earlier: dict[str, Any]) -> CustomerMessageOutcome:
    return CustomerMessageOutcome.model_validate(earlier)
