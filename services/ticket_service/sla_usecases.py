"""SLA use cases of the ticket service: record a breach the monitor saw, explain a clock.

Both go through `TicketUseCases`' repositories and relay, so a breach is written with one
conditional update and its events leave through the same outbox as every other change.
"""

import logging

from contracts.commands import RecordSlaBreach
from contracts.enums import SlaKind
from contracts.tickets import Ticket
from services.ticket_service.access import Principal, readable
from services.ticket_service.domain.breach import SlaExplanation, explain, record_breach
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.usecases import TicketUseCases

log = logging.getLogger(__name__)

ATTEMPTS = 3


async def record_sla_breach(use_cases: TicketUseCases, command: RecordSlaBreach) -> Ticket:
    """Idempotent: the first record of a kind wins; later ones answer the ticket unchanged.

    A concurrent change to the ticket (an agent's note, say) is retried on a fresh read;
    a breach the ticket no longer has (responded, paused, resolved, due moved) is refused
    with `invalid_transition` or `conflict`, and the monitor drops its timer.
    """
    if command.kind is SlaKind.FIRST_RESPONSE and use_cases.settle_responses is not None:
        await use_cases.settle_responses(command.ticket_id)  # a reply sent but not yet applied
    for _ in range(ATTEMPTS):
        ticket = readable(
            await use_cases.principal(command.actor),
            await use_cases.tickets.get(command.ticket_id),
            command.ticket_id,
        )
        change = record_breach(
            ticket,
            command.kind,
            command.detected_at,
            use_cases.clock.now(),
            use_cases.policy,
            escalate=command.escalate_priority,
        )
        if not change.events:
            return ticket
        try:
            saved = await use_cases._commit(ticket, change)
        except Conflict:
            continue
        log.info(
            "sla breach recorded",
            extra={"ticketId": ticket.ticket_id, "kind": command.kind, "dueAt": command.due_at},
        )
        return saved
    raise Conflict("The ticket kept changing while the breach was recorded; retry")


async def explain_sla(
    use_cases: TicketUseCases, principal: Principal, ticket_id: str
) -> SlaExplanation:
    ticket = readable(principal, await use_cases.tickets.get(ticket_id), ticket_id)
    return explain(ticket, use_cases.clock.now(), use_cases.policy)
