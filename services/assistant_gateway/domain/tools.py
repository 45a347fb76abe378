"""The tools the assistant may call: defined once as pydantic models, exported as strict
JSON Schemas in the Responses API and Chat Completions shapes."""

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from contracts.enums import Category, Priority
from services.assistant_gateway.domain.schema import strict_schema


def _normalise_ticket_id(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


TicketIdArgument = Annotated[
    str,
    Field(
        pattern=r"^TICKET-\d{4}-\d{6,}$",
        max_length=32,
        description="The ticket id the customer gave or a tool returned, e.g. TICKET-2026-000001",
    ),
    BeforeValidator(_normalise_ticket_id),
]


class ToolArguments(BaseModel):
    """Arguments as the model sends them: camelCase, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
    )


class CreateTicketReportArguments(ToolArguments):
    title: str = Field(min_length=5, max_length=200, description="Short summary of the issue")
    description: str = Field(
        min_length=10,
        max_length=5000,
        description="What happened, in the customer's words, with order numbers and dates",
    )
    category: Category | None = Field(default=None, description="Leave null if unsure")
    priority: Priority | None = Field(
        default=None, description="Leave null unless the customer makes the urgency clear"
    )


class GetTicketInformationArguments(ToolArguments):
    ticket_id: TicketIdArgument


class ListMyTicketsArguments(ToolArguments):
    open_only: bool | None = Field(
        default=None, description="true: only tickets still being worked on (default true)"
    )
    limit: int | None = Field(default=None, ge=1, le=20, description="How many, newest first")


class AddTicketCommentArguments(ToolArguments):
    ticket_id: TicketIdArgument
    comment: str = Field(
        min_length=1, max_length=2000, description="The information the customer adds"
    )


class RequestHumanAgentArguments(ToolArguments):
    ticket_id: TicketIdArgument | None = Field(
        default=None,
        description="The ticket the hand-off is about; null for the customer's latest open one",
    )
    reason: str = Field(
        min_length=3, max_length=500, description="Why the customer needs a person, briefly"
    )


class RateTicketArguments(ToolArguments):
    ticket_id: TicketIdArgument | None = Field(
        default=None,
        description="The resolved ticket being rated; null for the customer's latest resolved one",
    )
    rating: int = Field(
        ge=1, le=5, description="From 1 (very poor) to 5 (excellent); only whole numbers 1-5"
    )
    comment: str | None = Field(
        default=None, max_length=1000, description="What the customer said about it, if anything"
    )


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    arguments: type[ToolArguments]
    changes_state: bool


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "create_ticket_report",
            "Open a support ticket for the customer's issue. Use it once per distinct issue, "
            "after you understood what happened. Returns the new ticket id to tell the customer.",
            CreateTicketReportArguments,
            changes_state=True,
        ),
        ToolSpec(
            "get_ticket_information",
            "Look up the status, priority, assigned agent and SLA of one of the customer's "
            "own tickets by its id.",
            GetTicketInformationArguments,
            changes_state=False,
        ),
        ToolSpec(
            "list_my_tickets",
            "List the customer's own tickets, newest first, when they ask about their tickets "
            "without giving an id.",
            ListMyTicketsArguments,
            changes_state=False,
        ),
        ToolSpec(
            "add_ticket_comment",
            "Add information the customer gives (new details, answers to the agent) to one of "
            "their own open tickets.",
            AddTicketCommentArguments,
            changes_state=True,
        ),
        ToolSpec(
            "request_human_agent",
            "Hand the conversation to a human agent when the customer asks for a person or you "
            "cannot help: raises the ticket's priority and alerts the support team.",
            RequestHumanAgentArguments,
            changes_state=True,
        ),
        ToolSpec(
            "rate_ticket",
            "Record the customer's satisfaction rating (1 to 5) of a resolved or closed ticket "
            "of theirs, once per resolution. Use it when they rate the help they got.",
            RateTicketArguments,
            changes_state=True,
        ),
    )
}


def responses_tools() -> list[dict[str, Any]]:
    """Function tools in the Responses API shape."""
    return [
        {
            "type": "function",
            "name": spec.name,
            "description": spec.description,
            "parameters": strict_schema(spec.arguments),
            "strict": True,
        }
        for spec in TOOLS.values()
    ]


def chat_completions_tools() -> list[dict[str, Any]]:
    """Function tools in the Chat Completions shape."""
    return [
        {
            "type": "function",
            "function": {
                "name": spec.name,
                "description": spec.description,
                "parameters": strict_schema(spec.arguments),
                "strict": True,
            },
        }
        for spec in TOOLS.values()
    ]


def tool_definitions() -> dict[str, list[dict[str, Any]]]:
    return {"responses": responses_tools(), "chatCompletions": chat_completions_tools()}
