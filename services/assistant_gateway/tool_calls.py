"""The one use case behind `POST /api/v2/assistant/tool-calls` and `assistant.v1.tool_calls`."""

from contracts.assistant import ToolCallsRequest, ToolCallsResponse, ToolOutput
from services.assistant_gateway.domain.calls import ToolCall
from services.assistant_gateway.executor import Sender, ToolExecutor


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
