"""The monitor's subscriber: ticket events from `tickets.events` through its own durable
queue, so events published while the monitor is down wait for it."""

import logging
from collections.abc import Callable

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import Field

from contracts import names
from contracts.base import StoredModel
from contracts.tickets import TicketSummary
from infra.messaging import EVENTS, durable_queue
from infra.subscribers import subscriber
from services.sla_monitor.planner import TimerPlanner

log = logging.getLogger(__name__)

TICKET_EVENTS = durable_queue(names.SLA_MONITOR_TICKET_EVENTS, routing_key="ticket.*")


class AnyTicketEvent(StoredModel):
    """What planning needs from any `ticket.*` event, including kinds added later."""

    type: str = Field(pattern=r"^ticket\.")
    event_id: str
    ticket_id: str
    ticket: TicketSummary


def build_router(planner: Callable[[], TimerPlanner]) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        TICKET_EVENTS,
        AnyTicketEvent,
        EVENTS,
    )
    async def on_ticket_event(event: AnyTicketEvent, _message: RabbitMessage) -> None:
        """Re-plans the ticket's SLA timers. A body that is not a ticket event goes to the
        dead letters; a storage failure is requeued."""
        await planner().on_ticket(event.ticket)

    return router
