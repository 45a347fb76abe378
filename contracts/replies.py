"""The reply envelope of every request/reply queue."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.enums import ErrorCode


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


class CustomerMessageOutcome(BaseModel):
    """`tickets.v1.customer_message` data: what the message did to the customer's tickets."""

    model_config = ConfigDict(populate_by_name=True)

    action: Literal["resumed", "reopened", "follow_up_created", "none"]
    ticket: dict[str, Any] | None = None
    related_ticket_id: str | None = Field(default=None, alias="relatedTicketId")
