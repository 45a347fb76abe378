"""Thin FastStream subscribers: tool calls (request/reply) and WhatsApp messages."""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts import names
from contracts.assistant import ToolCallsRequest
from contracts.enums import ErrorCode
from contracts.replies import OkReply
from infra import logging as log_context
from infra.messaging import (
    UnparseableMessage,
    answer_or_dead_letter,
    command_queue,
    decode_json,
    error_reply,
    raw_body,
)
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.inbound import InboundProcessor, PoisonMessage, ShuttingDown
from services.assistant_gateway.tool_calls import problems, run_tool_calls, summary

log = logging.getLogger(__name__)

INBOUND_PREFETCH = 16
"""WhatsApp messages in progress per instance (different customers run side by side)."""
RETRY_PAUSE_SECONDS = 1.0
"""Before a failed inbound message goes back to the queue, so an outage is no hot loop."""


def build_router(
    executor: Callable[[], ToolExecutor], processor: Callable[[], InboundProcessor]
) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(
        command_queue(names.ASSISTANT_TOOL_CALLS),
        title=names.ASSISTANT_TOOL_CALLS,
        decoder=raw_body,
    )
    async def handle_tool_calls(message: RabbitMessage) -> dict[str, Any]:
        """`{customer, tool_calls}` -> `{ok: true, data: {tool_outputs}}`."""
        log_context.correlation_id.set(message.correlation_id)
        return await answer_or_dead_letter(message, lambda body: _tool_calls(executor(), body))

    @router.subscriber(
        command_queue(names.WHATSAPP_INBOUND),
        title=names.WHATSAPP_INBOUND,
        decoder=raw_body,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        channel=Channel(prefetch_count=INBOUND_PREFETCH),
    )
    async def handle_inbound(message: RabbitMessage) -> None:
        """A customer's WhatsApp message; the reply goes to `whatsapp.outbound`."""
        log_context.correlation_id.set(message.correlation_id or message.message_id)
        try:
            inbound = InboundProcessor.parse(decode_json(message.body))
        except (UnparseableMessage, PoisonMessage) as error:
            log.warning("inbound message dead-lettered", extra={"reason": str(error)[:300]})
            await message.reject(requeue=False)
            return
        try:
            await processor().process(inbound, redelivered=bool(message.raw_message.redelivered))
        except ShuttingDown:
            log.info("stopping mid-turn; left for redelivery")
            raise
        except Exception:
            log.exception(
                "inbound message failed; requeued", extra={"messageId": inbound.message_id}
            )
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            raise

    return router


async def _tool_calls(executor: ToolExecutor, body: Any) -> dict[str, Any]:
    try:
        request = ToolCallsRequest.model_validate(body)
    except ValidationError as error:
        found = problems(error.errors(include_url=False, include_input=False))
        return error_reply(ErrorCode.VALIDATION, summary(found))
    response = await run_tool_calls(executor, request)
    return OkReply(data=response.model_dump(mode="json")).model_dump(mode="json")
