"""The LLM behind the official `openai` SDK: one step = one request, in either API shape."""

from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from openai import AsyncOpenAI
from openai.types.responses import Response

from services.assistant_gateway.domain.tools import chat_completions_tools, responses_tools
from services.assistant_gateway.domain.transcript import (
    Entry,
    FunctionCall,
    chat_messages,
    responses_input,
)
from services.assistant_gateway.metrics import MODEL_LATENCY


@dataclass(frozen=True, slots=True)
class ModelStep:
    text: str
    calls: list[FunctionCall] = field(default_factory=list)


class Model(Protocol):
    async def step(self, instructions: str, entries: list[Entry]) -> ModelStep: ...


class ResponsesModel:
    """The Responses API, resending our transcript (`store=False`: nothing kept upstream)."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model
        self._tools = responses_tools()

    async def step(self, instructions: str, entries: list[Entry]) -> ModelStep:
        with MODEL_LATENCY.labels("responses").time():
            response = await self._create(instructions, entries)
        calls = [
            FunctionCall(call_id=item.call_id, name=item.name, arguments=item.arguments)
            for item in response.output
            if item.type == "function_call"
        ]
        return ModelStep(response.output_text.strip(), calls)

    async def _create(self, instructions: str, entries: list[Entry]) -> Response:
        return await self._client.responses.create(
            model=self._model,
            instructions=instructions,
            input=cast("Any", responses_input(entries)),
            tools=cast("Any", self._tools),
            store=False,
        )


class ChatCompletionsModel:
    """Chat Completions, for OpenAI-compatible providers without the Responses API."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model
        self._tools = chat_completions_tools()

    async def step(self, instructions: str, entries: list[Entry]) -> ModelStep:
        with MODEL_LATENCY.labels("chat_completions").time():
            completion = await self._client.chat.completions.create(
                model=self._model,
                messages=cast("Any", chat_messages(instructions, entries)),
                tools=cast("Any", self._tools),
            )
        message = completion.choices[0].message
        calls = [
            FunctionCall(
                call_id=call.id, name=call.function.name, arguments=call.function.arguments
            )
            for call in message.tool_calls or []
            if call.type == "function"
        ]
        return ModelStep((message.content or "").strip(), calls)
