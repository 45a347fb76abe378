"""The subscriber that asks for a rating: `ticket.status_changed` from `tickets.events`
through the ticket service's own durable queue, so resolutions made while no ticket
service ran are asked about when one starts."""

import logging
from collections.abc import Callable

from faststream import AckPolicy
from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts import names
from contracts.enums import TicketStatus
from contracts.events import TicketStatusChanged
from infra import logging as log_context
from infra.inbox import PoisonMessage, payload
from infra.messaging import EVENTS, durable_queue
from services.ticket_service.csat import CsatRequester

log = logging.getLogger(__name__)

CSAT_QUEUE = durable_queue(names.CSAT_REQUESTS, routing_key="ticket.status_changed")


def build_csat_router(requester: Callable[[], CsatRequester]) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(
        CSAT_QUEUE,
        EVENTS,
        title=names.CSAT_REQUESTS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_status_changed(message: RabbitMessage) -> None:
        """A resolution: ask the customer to rate it (once). A body that is not the event
        goes to the dead letters; a failure (MongoDB away) is retried after a pause."""
        try:
            event = TicketStatusChanged.model_validate(await payload(message))
        except ValidationError as error:
            raise PoisonMessage(f"not a ticket.status_changed event: {error}") from None
        if event.new_status is not TicketStatus.RESOLVED:
            return
        log_context.correlation_id.set(message.correlation_id or event.event_id)
        token = log_context.ticket_id.set(event.ticket_id)
        try:
            await requester().on_resolved(event.ticket_id)
        except Exception:
            log.exception("rating request failed; retried")
            raise
        finally:
            log_context.ticket_id.reset(token)

    return router
