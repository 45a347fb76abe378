"""The monitor's subscriber: ticket events from `tickets.events` through its own durable
queue, so events published while the monitor is down wait for it."""

import logging
from collections.abc import Callable

from faststream import AckPolicy
from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import Field, ValidationError

from contracts import names
from contracts.base import StoredModel
from contracts.tickets import TicketSummary
from infra import logging as log_context
from infra.inbox import PoisonMessage, payload
from infra.messaging import EVENTS, durable_queue
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

    @router.subscriber(
        TICKET_EVENTS,
        EVENTS,
        title=names.SLA_MONITOR_TICKET_EVENTS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_ticket_event(message: RabbitMessage) -> None:
        """Re-plans the ticket's SLA timers. A body that is not a ticket event goes to the
        dead letters; a storage failure is requeued."""
        try:
            event = AnyTicketEvent.model_validate(await payload(message))
        except ValidationError as error:
            raise PoisonMessage(f"not a ticket event: {error}") from None
        log_context.correlation_id.set(message.correlation_id)
        token = log_context.ticket_id.set(event.ticket_id)
        try:
            await planner().on_ticket(event.ticket)
        finally:
            log_context.ticket_id.reset(token)

    return router
