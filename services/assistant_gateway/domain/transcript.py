"""The conversation as we keep it (one list of entries per customer), and its conversion
to each API's input. Keeping our own transcript instead of the provider's stored state
lets a conversation survive a restart, a provider switch and a provider that stores
nothing."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


class UserMessage(BaseModel):
    kind: Literal["user"] = "user"
    text: str


class AssistantMessage(BaseModel):
    kind: Literal["assistant"] = "assistant"
    text: str


class FunctionCall(BaseModel):
    kind: Literal["function_call"] = "function_call"
    call_id: str
    name: str
    arguments: str


class FunctionOutput(BaseModel):
    kind: Literal["function_output"] = "function_output"
    call_id: str
    output: str


Entry = Annotated[
    UserMessage | AssistantMessage | FunctionCall | FunctionOutput, Field(discriminator="kind")
]


def trimmed(entries: list[Entry], keep: int) -> list[Entry]:
    """The last `keep` entries or fewer, starting at a user message so no output is ever
    sent without the call it answers."""
    tail = entries[-keep:] if keep > 0 else []
    for index, entry in enumerate(tail):
        if isinstance(entry, UserMessage):
            return tail[index:]
    return []


def responses_input(entries: list[Entry]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for entry in entries:
        match entry:
            case UserMessage(text=text):
                items.append({"role": "user", "content": text})
            case AssistantMessage(text=text):
                items.append({"role": "assistant", "content": text})
            case FunctionCall():
                items.append(
                    {
                        "type": "function_call",
                        "call_id": entry.call_id,
                        "name": entry.name,
                        "arguments": entry.arguments,
                    }
                )
            case FunctionOutput():
                items.append(
                    {
                        "type": "function_call_output",
                        "call_id": entry.call_id,
                        "output": entry.output,
                    }
                )
    return items


def chat_messages(instructions: str, entries: list[Entry]) -> list[dict[str, Any]]:
    """Consecutive calls become one assistant message with `tool_calls`, as the API wants."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}]
    for entry in entries:
        match entry:
            case UserMessage(text=text):
                messages.append({"role": "user", "content": text})
            case AssistantMessage(text=text):
                messages.append({"role": "assistant", "content": text})
            case FunctionCall():
                call = {
                    "id": entry.call_id,
                    "type": "function",
                    "function": {"name": entry.name, "arguments": entry.arguments},
                }
                last = messages[-1]
                if last["role"] == "assistant" and "tool_calls" in last:
                    last["tool_calls"].append(call)
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            case FunctionOutput():
                messages.append(
                    {"role": "tool", "tool_call_id": entry.call_id, "content": entry.output}
                )
    return messages
