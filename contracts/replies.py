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


class TicketPagination(BaseModel):
    """A ticket listing's page, with the cursor of the next one."""

    model_config = ConfigDict(
        validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    page: int
    limit: int
    total: int | None = Field(
        description="Tickets matching the filters; null on a page asked for by cursor "
        "(counting every match is the cost a cursor page avoids)"
    )
    pages: int | None = Field(description="Pages of `limit`; null with `total`")
    next_cursor: str | None = Field(
        default=None,
        alias="nextCursor",
        description="Pass as `cursor` (same filters and sort) for the next page; null on the "
        "last page. With a cursor, `page` is the number of the page it leads to.",
    )


class TicketPage(BaseModel):
    """`tickets.v1.list` data: one page of tickets."""

    items: list[dict[str, Any]]
    pagination: TicketPagination


class TicketList(BaseModel):
    """`tickets.v1.list` data as a client reads it: one page of tickets."""

    items: list[Ticket]
    pagination: TicketPagination


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
