"""`assistant.v1.tool_calls` and `POST /api/v2/assistant/tool-calls`: the tool calls of a
bot that runs its own LLM, and their outputs (the customer's `toolOutputs` shape,
snake_case as their bot already sends it)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.actors import PhoneNumber
from contracts.enums import Language


class CallerCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: PhoneNumber = Field(description="The verified WhatsApp sender, E.164")
    name: str | None = Field(default=None, max_length=120)
    language: Language | None = Field(default=None, description="Texts language; es default")


class CalledFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=10_000)
    arguments: str | dict[str, Any] | None = Field(
        default=None, description="The JSON string the model produced"
    )


class IncomingToolCall(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=200, description="Becomes the idempotency key")
    type: str | None = None
    function: CalledFunction


class ToolCallsRequest(BaseModel):
    """Run a bot's tool calls for one verified customer; the reply's `data` is
    `{tool_outputs: [{tool_call_id, output}]}`, each output a JSON text (a failure is
    `{success: false, error, detail, userMessage}`). The call id is the idempotency key."""

    model_config = ConfigDict(extra="forbid")

    customer: CallerCustomer
    tool_calls: list[IncomingToolCall] = Field(min_length=1, max_length=32)
    conversation_id: str | None = Field(default=None, max_length=64)


class ToolOutput(BaseModel):
    tool_call_id: str
    output: str = Field(description="JSON text: the tool's result or {success: false, ...}")


class ToolCallsResponse(BaseModel):
    tool_outputs: list[ToolOutput]
