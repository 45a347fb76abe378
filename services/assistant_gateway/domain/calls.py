"""One tool call as the model made it, and its parsing into typed arguments.

Parsing never raises past `parse_call`: every way a call can be broken becomes a
`CallRejected` with a machine code, a short detail the model can act on, and the text the
customer reads.
"""

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.assistant_gateway.domain.messages import Text
from services.assistant_gateway.domain.tools import TOOLS, ToolArguments, ToolSpec

MAX_ARGUMENT_CHARS = 16_000
"""Far above the longest valid call (a 5000-character description), far below harm."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: str | dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ParsedCall:
    spec: ToolSpec
    arguments: ToolArguments


class CallRejected(Exception):
    def __init__(self, error: str, detail: str, text: Text) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.text = text


def parse_call(call: ToolCall) -> ParsedCall:
    spec = TOOLS.get(call.name)
    if spec is None:
        raise CallRejected("unknown_tool", f"No tool named {call.name[:64]!r}", Text.UNKNOWN_TOOL)
    raw = _decode(call.arguments)
    try:
        arguments = spec.arguments.model_validate(raw)
    except ValidationError as error:
        raise CallRejected("invalid_arguments", _describe(error), Text.INVALID_ARGUMENTS) from None
    return ParsedCall(spec, arguments)


def _decode(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(arguments, dict):
        raw: object = arguments
    else:
        text = (arguments or "").strip() or "{}"
        if len(text) > MAX_ARGUMENT_CHARS:
            raise CallRejected(
                "invalid_arguments",
                f"Arguments are {len(text)} characters; the limit is {MAX_ARGUMENT_CHARS}",
                Text.INVALID_ARGUMENTS,
            )
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise CallRejected(
                "invalid_json", f"Arguments are not valid JSON: {error}", Text.INVALID_ARGUMENTS
            ) from None
    if not isinstance(raw, dict):
        raise CallRejected(
            "invalid_arguments", "Arguments must be a JSON object", Text.INVALID_ARGUMENTS
        )
    return raw


def _describe(error: ValidationError) -> str:
    """Which fields failed and why, without echoing the (possibly huge or hostile) input."""
    problems = [
        f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}"
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    return "; ".join(problems)[:500]
