"""Backfill: timers for open tickets the monitor never heard of.

The monitor learns of tickets through its durable queue, so a ticket created before that
queue first existed (a new deployment over old data, or the queue deleted) would never
get a timer. At start-up the monitor reads every open ticket through `tickets.v1.list`
as the System actor and plans it as if its latest event had arrived. Planning is guarded
by the ticket revision, so a ticket already planned from the same or a newer event is
left as it is and running it twice (or on every replica) writes nothing new.

Pages go by `createdAt` (a cursor, not page numbers), so a ticket that closes while the
resync runs does not shift a later one out of the pages read.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from contracts.actors import SystemActor
from contracts.client import TicketsClient
from contracts.commands import ListTickets
from contracts.tickets import Ticket, TicketSummary
from infra.loops import pause

log = logging.getLogger(__name__)

RESYNC_PAGE = 100
MAX_PAGES = 100_000
"""Bounds one resync (ten million open tickets)."""
RETRY_SECONDS = (1.0, 5.0, 15.0, 30.0, 60.0)

Plan = Callable[[TicketSummary], Awaitable[int]]


@dataclass
class ResyncResult:
    tickets: int = 0
    planned: int = 0
    """Tickets whose timers were written (the others were already planned)."""
    pages: int = 0


async def resync(tickets: TicketsClient, plan: Plan) -> ResyncResult:
    """Plan every open ticket once; returns what it read and wrote."""
    result = ResyncResult()
    cursor: datetime | None = None
    page = 1
    seen_at_cursor: set[str] = set()
    for _ in range(MAX_PAGES):
        batch = await _open_page(tickets, cursor, page)
        result.pages += 1
        for ticket in batch:
            if ticket.created_at == cursor and ticket.ticket_id in seen_at_cursor:
                continue  # the cursor is inclusive: read on the previous page
            result.tickets += 1
            if await plan(TicketSummary.of(ticket)):
                result.planned += 1
        if len(batch) < RESYNC_PAGE:
            break
        last = batch[-1].created_at
        if last == cursor:
            page += 1  # more than a page of tickets created in the same instant
        else:
            cursor, page, seen_at_cursor = last, 1, set()
        seen_at_cursor |= {t.ticket_id for t in batch if t.created_at == cursor}
    return result


async def _open_page(
    tickets: TicketsClient, created_from: datetime | None, page: int
) -> list[Ticket]:
    """Open tickets (resolved included) created at or after `created_from`, oldest
    first, `RESYNC_PAGE` at a time."""
    command = ListTickets(
        actor=SystemActor(),
        open_only=True,
        created_from=created_from,
        sort="createdAt",
        page=page,
        limit=RESYNC_PAGE,
    )
    return (await tickets.list(command)).items


async def resync_until_done(tickets: TicketsClient, plan: Plan, stop: asyncio.Event) -> None:
    """`resync`, retried with backoff while the ticket service does not answer (it may
    start after the monitor); gives up at `stop` or after the last retry."""
    for delay in (*RETRY_SECONDS, None):
        try:
            result = await resync(tickets, plan)
        except Exception:
            log.exception("sla resync failed", extra={"retryInSeconds": delay})
        else:
            log.info(
                "sla resync done",
                extra={"tickets": result.tickets, "planned": result.planned, "pages": result.pages},
            )
            return
        if delay is None or await pause(delay, stop):
            return
