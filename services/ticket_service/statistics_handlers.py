"""The subscriber that keeps the statistics rollups: every `ticket.*` event from
`tickets.events` through the ticket service's own queue `ticket_service.statistics`.

The queue is a quorum queue with a single active consumer, so one replica applies the
events in order (the writer document serializes the rollups anyway; this keeps replicas
from queueing up on it). An event only says which ticket to look at again: the writer
reads the ticket as stored and moves its part, so a duplicate or late copy moves nothing.
"""

from collections.abc import Callable

from faststream import AckPolicy
from faststream.rabbit import QueueType, RabbitQueue, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import BaseModel, ConfigDict, Field

from contracts import names
from infra.messaging import EVENTS
from infra.subscribers import subscriber
from services.ticket_service.rollup_writer import RollupWriter

STATISTICS_QUEUE_NAME = "ticket_service.statistics"
STATISTICS_QUEUE = RabbitQueue(
    STATISTICS_QUEUE_NAME,
    queue_type=QueueType.QUORUM,
    durable=True,
    routing_key="ticket.#",
    arguments={
        "x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE,
        "x-single-active-consumer": True,
    },
)


class TicketTouched(BaseModel):
    """What the statistics read of any ticket event: which ticket."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    ticket_id: str = Field(alias="ticketId", min_length=1)


def build_statistics_router(writer: Callable[[], RollupWriter]) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        STATISTICS_QUEUE,
        TicketTouched,
        EVENTS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        failure="statistics refresh failed; retried",
    )
    async def on_ticket_event(event: TicketTouched, _message: RabbitMessage) -> None:
        """Bring the ticket's part of the statistics to its stored state (together with
        the other events being handled meanwhile). A failure (MongoDB away) is retried after
        a pause; a body without `ticketId` is dead-lettered."""
        await writer().refresh(event.ticket_id)

    return router
