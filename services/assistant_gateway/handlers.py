"""Thin FastStream subscribers: tool calls (request/reply) and WhatsApp messages."""

import logging
from collections.abc import Callable
from typing import Any

from faststream.rabbit import RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts import names
from contracts.assistant import ToolCallsRequest
from contracts.enums import ErrorCode
from contracts.replies import OkReply
from contracts.whatsapp import WhatsAppInbound
from infra.messaging import command_queue, error_reply
from infra.rest import problems, summary
from infra.subscribers import subscriber
from services.assistant_gateway.executor import ToolExecutor
from services.assistant_gateway.inbound import InboundProcessor, ShuttingDown
from services.assistant_gateway.tool_calls import run_tool_calls

log = logging.getLogger(__name__)


def build_router(
    executor: Callable[[], ToolExecutor], processor: Callable[[], InboundProcessor]
) -> RabbitRouter:
    router = RabbitRouter()

    @subscriber(
        router,
        command_queue(names.ASSISTANT_TOOL_CALLS),
        ToolCallsRequest,
        refuse=_invalid_request,
    )
    async def handle_tool_calls(
        request: ToolCallsRequest, _message: RabbitMessage
    ) -> dict[str, Any]:
        """`{customer, tool_calls}` -> `{ok: true, data: {tool_outputs}}`."""
        response = await run_tool_calls(executor(), request)
        return OkReply(data=response.model_dump(mode="json")).model_dump(mode="json")

    @subscriber(
        router,
        command_queue(names.WHATSAPP_INBOUND),
        WhatsAppInbound,
    )
    async def handle_inbound(inbound: WhatsAppInbound, message: RabbitMessage) -> None:
        """A customer's WhatsApp message; the reply goes to `whatsapp.outbound`. One that
        can never be answered goes to the dead letters; a failed one back to the queue."""
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


def _invalid_request(error: ValidationError) -> dict[str, Any]:
    found = problems(error.errors(include_url=False, include_input=False))
    return error_reply(ErrorCode.VALIDATION, summary(found))
