"""`PATCH /tickets/{ticketId}` and `tickets.v1.update`: an agent reclassifies a ticket.

One conditional update on the revision the ticket was read at (or the one the caller
names with `expectedRevision` / `If-Match`), with its events in the same write.
"""

from contracts.commands import UpdateTicket
from contracts.enums import ActorType
from contracts.tickets import Ticket
from services.ticket_service.domain.edits import TicketEdit, edit
from services.ticket_service.domain.errors import Forbidden
from services.ticket_service.usecases import TicketUseCases


async def update_ticket(use_cases: TicketUseCases, command: UpdateTicket) -> Ticket:
    principal = await use_cases.principal(command.actor)
    if principal.type is ActorType.CUSTOMER:
        raise Forbidden("A customer cannot edit a ticket (escalate it or add a note instead)")
    ticket = await use_cases._readable(principal, command.ticket_id, command.expected_revision)
    wanted = TicketEdit(
        priority=command.priority,
        category=command.category,
        subcategory=command.subcategory,
        tags=None if command.tags is None else tuple(command.tags),
        reason=command.reason,
    )
    change = edit(ticket, wanted, use_cases.clock.now(), use_cases.policy)
    return await use_cases._commit(ticket, change)
