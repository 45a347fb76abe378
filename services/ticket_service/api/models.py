"""REST bodies, query strings and envelopes (camelCase; unknown fields are refused).

The bodies carry only what a caller may set: status, SLA fields, history, notes and the
ticket id are never accepted on creation (no mass assignment); the actor always comes
from the verified credentials, never from the body.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from contracts import commands as cmd
from contracts.base import WireModel
from contracts.enums import Category, Channel, Priority, TicketStatus
from contracts.replies import TicketPagination
from contracts.tickets import Ticket
from contracts.window import WhatsAppWindow
from services.ticket_service.customers import CustomerRef
from services.ticket_service.statistics import TicketStatistics, TimeZoneName


class NewTicket(WireModel):
    """Open a ticket for a customer, named by `customerId` or by `customer.phone`."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["customerId"]}, {"required": ["customer"]}]}
    )
    title: cmd.Title
    description: cmd.Description
    category: Category = Category.SUPPORT
    priority: Priority = Priority.MEDIUM
    channel: Channel = Channel.WHATSAPP
    customer_id: cmd.ObjectIdText | None = None
    customer: cmd.CustomerByPhone | None = None
    conversation_id: str | None = Field(default=None, max_length=64)
    subcategory: str | None = Field(default=None, max_length=100)
    tags: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=20)
    assign_to_self: bool = Field(
        default=True, description="An agent creating a ticket takes it at once (the plan's default)"
    )
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=200, description="Retries with it return one ticket"
    )

    @model_validator(mode="after")
    def _one_customer(self) -> "NewTicket":
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("give exactly one of customerId or customer")
        return self

    def customer_ref(self) -> cmd.CustomerByPhone | cmd.CustomerById:
        if self.customer_id is not None:
            return cmd.CustomerById(customer_id=self.customer_id)
        assert self.customer is not None
        return self.customer


class AssignBody(WireModel):
    agent_id: str = Field(min_length=1, max_length=64, description="The agent to give it to")
    reason: cmd.Reason | None = None
    expected_revision: cmd.ExpectedRevision = None


class UnassignBody(WireModel):
    reason: cmd.Reason | None = None
    expected_revision: cmd.ExpectedRevision = None


class StatusBody(WireModel):
    status: TicketStatus
    reason: cmd.Reason | None = None
    resolution_notes: str | None = Field(default=None, max_length=2000)
    expected_revision: cmd.ExpectedRevision = None


class NoteBody(WireModel):
    content: str = Field(min_length=1, max_length=5000)
    is_visible: bool = Field(default=False, description="Whether the customer may see it")


def _split_commas(value: Any) -> Any:
    """`status=open,in_progress` and `status=open&status=in_progress` mean the same."""
    if isinstance(value, list):
        return [part for item in value for part in str(item).split(",") if part]
    return value


StatusList = Annotated[list[TicketStatus] | None, BeforeValidator(_split_commas)]
PriorityList = Annotated[list[Priority] | None, BeforeValidator(_split_commas)]
CategoryList = Annotated[list[Category] | None, BeforeValidator(_split_commas)]


class ListQuery(WireModel):
    """Filters, page and order of a ticket listing."""

    status: StatusList = Field(default=None, description="Comma-separated or repeated")
    priority: PriorityList = Field(default=None, description="Comma-separated or repeated")
    category: CategoryList = Field(default=None, description="Comma-separated or repeated")
    assigned_agent: str | None = Field(
        default=None, max_length=64, description="An agent id, or 'none' for the unassigned pool"
    )
    customer_id: cmd.ObjectIdText | None = None
    created_from: cmd.Moment | None = None
    created_to: cmd.Moment | None = None
    q: str | None = Field(
        default=None, max_length=200, description="Full text over ticketId, title, description"
    )
    open_only: bool = Field(default=False, description="Leave out closed and cancelled tickets")
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=100)
    sort: cmd.SortKey = "-createdAt"
    cursor: cmd.ListCursor | None = None

    @model_validator(mode="after")
    def _page_or_cursor(self) -> "ListQuery":
        if self.cursor is not None and self.page != 1:
            raise ValueError("give page or cursor, not both")
        return self


class RangeQuery(WireModel):
    created_from: cmd.Moment | None = Field(default=None, description="ISO 8601 with offset")
    created_to: cmd.Moment | None = Field(default=None, description="ISO 8601 with offset")
    timezone: TimeZoneName = "UTC"

    @model_validator(mode="after")
    def _ordered(self) -> "RangeQuery":
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValueError("createdFrom must not be after createdTo")
        return self


class TicketReply(Ticket):
    """A ticket as the REST API answers it: with who the customer is."""

    customer: CustomerRef | None = Field(description="null only if the record is missing")
    whatsapp_window: WhatsAppWindow = Field(
        description="Outside it an agent's reply goes as the approved template, or is refused "
        "(TICKETS_WHATSAPP__OUTSIDE_WINDOW)"
    )


def etag(ticket: Ticket) -> dict[str, str]:
    """The ticket's revision as a strong ETag, for `If-Match` on PATCH."""
    return {"ETag": f'"{ticket.revision}"'}


class TicketEnvelope(BaseModel):
    success: Literal[True] = True
    data: TicketReply


class TicketListEnvelope(BaseModel):
    success: Literal[True] = True
    data: list[TicketReply]
    count: int = Field(description="Tickets on this page")
    pagination: TicketPagination


class StatisticsEnvelope(BaseModel):
    success: Literal[True] = True
    data: TicketStatistics
