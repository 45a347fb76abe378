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

from faststream import AckPolicy
from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts import names
from contracts.conversation import RecordMessages
from contracts.delivery import RecordDelivery
from contracts.replies import OkReply
from infra import logging as log_context
from infra.inbox import PoisonMessage, correlation_of, payload
from infra.messaging import command_queue, error_reply
from services.ticket_service.deliveries import DeliveryRecords
from services.ticket_service.domain.errors import DomainError
from services.ticket_service.recording import Recorder

log = logging.getLogger(__name__)


def build_message_router(recorder: Callable[[], Recorder]) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(
        command_queue(names.RECORD_MESSAGES),
        title=names.RECORD_MESSAGES,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def handle_record_messages(message: RabbitMessage) -> dict[str, Any]:
        """Messages for a customer's ticket conversation; replies with the envelope."""
        log_context.correlation_id.set(correlation_of(message))
        try:
            command = RecordMessages.model_validate(await payload(message))
        except ValidationError as error:
            raise PoisonMessage(f"Invalid request: {str(error)[:500]}") from None
        token = log_context.ticket_id.set(command.ticket_id)
        try:
            outcome = await recorder().record(command)
        except DomainError as error:
            log.info("record_messages refused", extra={"code": error.code, "reason": error.message})
            return error_reply(error.code, error.message, error.details())
        except Exception:
            log.exception("record_messages failed; requeued")
            raise
        finally:
            log_context.ticket_id.reset(token)
        return OkReply(data=outcome.model_dump(mode="json", by_alias=True)).model_dump(mode="json")

    return router


def build_delivery_router(records: Callable[[], DeliveryRecords]) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(
        command_queue(names.RECORD_DELIVERY),
        title=names.RECORD_DELIVERY,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def handle_record_delivery(message: RabbitMessage) -> None:
        """What became of a reply on WhatsApp (one-way, from the WhatsApp channel)."""
        log_context.correlation_id.set(correlation_of(message))
        try:
            command = RecordDelivery.model_validate(await payload(message))
        except ValidationError as error:
            raise PoisonMessage(f"Invalid delivery report: {str(error)[:500]}") from None
        token = log_context.ticket_id.set(command.ticket_id)
        try:
            await records().record(command)
        finally:
            log_context.ticket_id.reset(token)

    return router
