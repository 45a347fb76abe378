"""The subscriber that asks for a rating: `ticket.status_changed` from `tickets.events`
through the ticket service's own durable queue, so resolutions made while no ticket
service ran are asked about when one starts."""

import logging
from collections.abc import Callable

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from contracts import names
from contracts.enums import TicketStatus
from contracts.events import TicketStatusChanged
from infra.messaging import EVENTS, durable_queue
from infra.subscribers import subscriber
from services.ticket_service.csat import CsatRequester

log = logging.getLogger(__name__)

CSAT_QUEUE = durable_queue(names.CSAT_REQUESTS, routing_key="ticket.status_changed")


def build_csat_router(requester: Callable[[], CsatRequester]) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        CSAT_QUEUE,
        TicketStatusChanged,
        EVENTS,
        failure="rating request failed; retried",
    )
    async def on_status_changed(event: TicketStatusChanged, _message: RabbitMessage) -> None:
        """A resolution: ask the customer to rate it (once). A body that is not the event
        goes to the dead letters; a failure (MongoDB away) is retried after a pause."""
        if event.new_status is TicketStatus.RESOLVED:
            await requester().on_resolved(event.ticket_id)

    return router
