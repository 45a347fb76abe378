"""The one use case behind `POST /api/v2/assistant/tool-calls` and `assistant.v1.tool_calls`,
and how both describe a body that is not a request."""

from collections.abc import Iterable, Mapping
from typing import Any

from contracts.assistant import ToolCallsRequest, ToolCallsResponse, ToolOutput
from services.assistant_gateway.domain.calls import ToolCall
from services.assistant_gateway.executor import Sender, ToolExecutor

_LOCATIONS = frozenset({"body", "header", "query", "path"})


async def run_tool_calls(executor: ToolExecutor, request: ToolCallsRequest) -> ToolCallsResponse:
    customer = request.customer
    sender = Sender(customer.phone, customer.name, customer.language, request.conversation_id)
    language = await executor.language_for(sender)
    outputs = []
    for call in request.tool_calls:
        tool_call = ToolCall(call.id, call.function.name, call.function.arguments)
        result = await executor.execute(tool_call, sender, language)
        outputs.append(ToolOutput(tool_call_id=call.id, output=executor.encode(result)))
    return ToolCallsResponse(tool_outputs=outputs)


def problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """`{field, message}` per validation error, never echoing the (maybe huge) input.
    Undecodable JSON is located at a character offset: that is the `body`."""
    found = []
    for error in errors:
        location = tuple(error.get("loc", ()))
        parts = [str(part) for part in location]
        if parts and parts[0] in _LOCATIONS:
            parts = [] if all(isinstance(p, int) for p in location[1:]) else parts[1:]
        found.append({"field": ".".join(parts) or "body", "message": str(error.get("msg", ""))})
    return found


def summary(found: list[dict[str, str]]) -> str:
    listed = "; ".join(f"{p['field']}: {p['message']}" for p in found[:5])
    return f"Invalid request: {listed}"[:500]
