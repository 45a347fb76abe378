"""`tickets.v1.record_messages`: request/reply like the other command queues, and also
one-way (the assistant gateway publishes its turns persistently and does not wait).

So a failure must not lose the message: a body that is not a command is dead-lettered
(and answered `validation` when someone waits), a refusal is answered and dropped, and
anything else (MongoDB away) puts the message back on the queue after a pause that
grows with each delivery (`infra/inbox.py`).
"""

import logging
from collections.abc import Callable
from typing import Any

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage

from contracts import names
from contracts.conversation import RecordMessages
from contracts.delivery import RecordDelivery
from contracts.replies import OkReply
from infra.messaging import command_queue, error_reply
from infra.subscribers import subscriber
from services.ticket_service.deliveries import DeliveryRecords
from services.ticket_service.domain.errors import DomainError
from services.ticket_service.recording import Recorder

log = logging.getLogger(__name__)


def build_message_router(recorder: Callable[[], Recorder]) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        command_queue(names.RECORD_MESSAGES),
        RecordMessages,
        failure="record_messages failed; requeued",
    )
    async def handle_record_messages(
        command: RecordMessages, _message: RabbitMessage
    ) -> dict[str, Any]:
        """Messages for a customer's ticket conversation; replies with the envelope."""
        try:
            outcome = await recorder().record(command)
        except DomainError as error:
            log.info("record_messages refused", extra={"code": error.code, "reason": error.message})
            return error_reply(error.code, error.message, error.details())
        return OkReply(data=outcome.model_dump(mode="json", by_alias=True)).model_dump(mode="json")

    return router


def build_delivery_router(records: Callable[[], DeliveryRecords]) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        command_queue(names.RECORD_DELIVERY),
        RecordDelivery,
    )
    async def handle_record_delivery(command: RecordDelivery, _message: RabbitMessage) -> None:
        """What became of a reply on WhatsApp (one-way, from the WhatsApp channel)."""
        await records().record(command)

    return router
