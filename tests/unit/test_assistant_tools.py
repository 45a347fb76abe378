"""The gateway's pure parts: strict schemas, argument parsing, texts, transcript."""

import json
from typing import Any

import pytest

from contracts.enums import Language
from services.assistant_gateway.domain.calls import CallRejected, ToolCall, parse_call
from services.assistant_gateway.domain.messages import TEXTS, Text, guess_language, say
from services.assistant_gateway.domain.tools import (
    TOOLS,
    CreateTicketReportArguments,
    chat_completions_tools,
    responses_tools,
)
from services.assistant_gateway.domain.transcript import (
    AssistantMessage,
    Entry,
    FunctionCall,
    FunctionOutput,
    UserMessage,
    chat_messages,
    responses_input,
    trimmed,
)

UNSUPPORTED_IN_STRICT = {"minLength", "maxLength", "default", "title", "$ref", "$defs", "examples"}


def _objects(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        keys = set(node)
        for key, value in node.items():
            keys |= (
                _keys(value) if key != "properties" else set().union(*map(_keys, value.values()))
            )
        return keys
    if isinstance(node, list):
        return set().union(*map(_keys, node)) if node else set()
    return set()


@pytest.mark.parametrize("tool", responses_tools(), ids=lambda t: t["name"])
def test_every_tool_schema_is_strict(tool: dict[str, Any]) -> None:
    assert tool["type"] == "function"
    assert tool["strict"] is True
    for obj in _objects(tool["parameters"]):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert not _keys(tool["parameters"]) & UNSUPPORTED_IN_STRICT


def test_both_shapes_carry_the_same_definitions() -> None:
    responses = {t["name"]: t for t in responses_tools()}
    chat = {t["function"]["name"]: t["function"] for t in chat_completions_tools()}
    assert set(responses) == set(chat) == set(TOOLS)
    for name, function in chat.items():
        assert function["parameters"] == responses[name]["parameters"]
        assert function["strict"] is True


def test_limits_move_into_the_description() -> None:
    title = responses_tools()[0]["parameters"]["properties"]["title"]
    assert title["description"].endswith("(at least 5 characters, at most 200 characters)")


def test_optional_arguments_are_nullable_and_may_be_left_out() -> None:
    schema = responses_tools()[0]["parameters"]["properties"]["category"]
    assert {"type": "null"} in schema["anyOf"]
    parsed = CreateTicketReportArguments.model_validate(
        {"title": "Order late", "description": "It has not arrived yet."}
    )
    assert parsed.category is None


BROKEN: list[tuple[str, str | dict[str, Any] | None, str]] = [
    ("create_ticket_report", '{"title": ', "invalid_json"),
    ("create_ticket_report", "null", "invalid_arguments"),
    ("create_ticket_report", None, "invalid_arguments"),
    ("create_ticket_report", {"title": "Order late"}, "invalid_arguments"),
    ("create_ticket_report", "x" * 20_000, "invalid_arguments"),
    (
        "get_ticket_information",
        {"ticketId": "TICKET-2026-000001", "admin": True},
        "invalid_arguments",
    ),
    ("get_ticket_information", {"ticketId": "../../etc/passwd"}, "invalid_arguments"),
    ("drop_database", "{}", "unknown_tool"),
]


@pytest.mark.parametrize(("name", "arguments", "error"), BROKEN)
def test_broken_calls_are_rejected_with_a_code_and_a_text(
    name: str, arguments: str | dict[str, Any] | None, error: str
) -> None:
    with pytest.raises(CallRejected) as rejected:
        parse_call(ToolCall("call_1", name, arguments))
    assert rejected.value.error == error
    assert len(rejected.value.detail) <= 500


def test_ticket_ids_are_normalised() -> None:
    parsed = parse_call(
        ToolCall("c", "get_ticket_information", json.dumps({"ticketId": " ticket-2026-000007 "}))
    )
    assert parsed.arguments.model_dump() == {"ticket_id": "TICKET-2026-000007"}


def test_every_text_exists_in_spanish_and_english() -> None:
    for key in Text:
        assert set(TEXTS[key]) == {Language.ES, Language.EN}
    assert say(Text.CREATED, Language.EN, ticket_id="T-1").startswith("Ticket T-1 created")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hola, mi pedido no ha llegado", Language.ES),
        ("Hello, my order has not arrived", Language.EN),
        ("TICKET-2026-000001", None),
    ],
)
def test_language_guess(text: str, language: Language | None) -> None:
    assert guess_language(text) == language


TRANSCRIPT: list[Entry] = [
    UserMessage(text="old"),
    AssistantMessage(text="old answer"),
    UserMessage(text="two problems"),
    FunctionCall(call_id="a", name="create_ticket_report", arguments="{}"),
    FunctionCall(call_id="b", name="list_my_tickets", arguments="{}"),
    FunctionOutput(call_id="a", output='{"success": true}'),
    FunctionOutput(call_id="b", output='{"success": true}'),
    AssistantMessage(text="done"),
]


def test_chat_messages_group_parallel_calls_into_one_assistant_message() -> None:
    messages = chat_messages("be nice", TRANSCRIPT)
    assert [m["role"] for m in messages] == [
        "system", "user", "assistant", "user", "assistant", "tool", "tool", "assistant",
    ]  # fmt: skip
    assert [c["id"] for c in messages[4]["tool_calls"]] == ["a", "b"]
    assert messages[5] == {"role": "tool", "tool_call_id": "a", "content": '{"success": true}'}


def test_responses_input_uses_function_call_items() -> None:
    items = responses_input(TRANSCRIPT)
    assert items[3] == {
        "type": "function_call", "call_id": "a", "name": "create_ticket_report", "arguments": "{}",
    }  # fmt: skip
    assert items[5] == {
        "type": "function_call_output",
        "call_id": "a",
        "output": '{"success": true}',
    }


def test_trimming_never_starts_with_an_orphan_output() -> None:
    assert trimmed(TRANSCRIPT, 5) == []  # the tail has no user message to start at
    assert trimmed(TRANSCRIPT, 6) == TRANSCRIPT[2:]
    assert trimmed(TRANSCRIPT, 100) == TRANSCRIPT
