"""The reply envelope of every request/reply queue."""

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

from contracts.enums import ErrorCode
from contracts.tickets import Ticket


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: list[dict[str, Any]] | None = None


class OkReply(BaseModel):
    ok: Literal[True] = True
    data: Any


class ErrorReply(BaseModel):
    ok: Literal[False] = False
    error: ErrorBody


Reply = OkReply | ErrorReply


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    pages: int


class TicketPage(BaseModel):
    """`tickets.v1.list` data: one page of tickets."""

    items: list[dict[str, Any]]
    pagination: Pagination


class TicketList(BaseModel):
    """`tickets.v1.list` data as a client reads it: one page of tickets."""

    items: list[Ticket]
    pagination: Pagination


class CustomerMessageOutcome(BaseModel):
    """`tickets.v1.customer_message` data: what the message did to the customer's tickets."""

    model_config = ConfigDict(populate_by_name=True)

    action: Literal[
        "resumed",
        "reopened",
        "follow_up_created",
        "none",
        "csat_rated",
        "csat_refused",
        "csat_already_rated",
    ] = Field(
        description="`csat_*`: the message answered the ticket's rating request (rated, "
        "refused as out of range, or already rated); send `reply` instead of another answer"
    )
    ticket: dict[str, Any] | None = None
    related_ticket_id: str | None = Field(default=None, alias="relatedTicketId")
    reply: str | None = Field(
        default=None, description="`csat_*`: the text to answer the customer with"
    )
    rating: int | None = Field(default=None, description="`csat_rated`: the rating recorded")

    @model_serializer(mode="wrap")
    def _csat_fields_only_when_set(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Earlier outcomes keep their exact shape: `reply` and `rating` appear when set."""
        data = handler(self)
        for key in ("reply", "rating"):
            if isinstance(data, dict) and data.get(key) is None:
                data.pop(key, None)
        return data
