"""Thin FastStream subscribers: tool calls (request/reply) and WhatsApp messages."""

import logging
from collections.abc import Callable
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts import names
from contracts.assistant import ToolCallsRequest
from contracts.enums import ErrorCode
from contracts.replies import OkReply
from infra import logging as log_context
from infra.inbox import payload
from infra.messaging import command_queue, error_reply
from infra.rest import problems, summary
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.inbound import InboundProcessor, ShuttingDown
from services.assistant_gateway.tool_calls import run_tool_calls

log = logging.getLogger(__name__)


def build_router(
    executor: Callable[[], ToolExecutor], processor: Callable[[], InboundProcessor]
) -> RabbitRouter:
    router = RabbitRouter()

    @router.subscriber(
        command_queue(names.ASSISTANT_TOOL_CALLS),
        title=names.ASSISTANT_TOOL_CALLS,
    )
    async def handle_tool_calls(message: RabbitMessage) -> dict[str, Any]:
        """`{customer, tool_calls}` -> `{ok: true, data: {tool_outputs}}`."""
        log_context.correlation_id.set(message.correlation_id)
        return await _tool_calls(executor(), await payload(message))

    @router.subscriber(
        command_queue(names.WHATSAPP_INBOUND),
        title=names.WHATSAPP_INBOUND,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def handle_inbound(message: RabbitMessage) -> None:
        """A customer's WhatsApp message; the reply goes to `whatsapp.outbound`. One that
        can never be answered goes to the dead letters; a failed one back to the queue."""
        log_context.correlation_id.set(message.correlation_id or message.message_id)
        inbound = InboundProcessor.parse(await payload(message))
        try:
            await processor().process(inbound, redelivered=bool(message.raw_message.redelivered))
        except ShuttingDown:
            log.info("stopping mid-turn; left for redelivery")
            raise
        except Exception:
            log.exception(
                "inbound message failed; requeued", extra={"messageId": inbound.message_id}
            )
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
