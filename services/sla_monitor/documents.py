"""The collections sla_monitor owns: its timers and its view of each ticket's SLA state.

Declared as Beanie documents for the schema and the indexes; the repository works on the
raw collections of the runtime's own client, so several monitors over different
databases in one process never share a binding.
"""

from datetime import datetime
from typing import ClassVar

from beanie import Document
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel
from pymongo import ASCENDING, IndexModel

from contracts.enums import Priority, TicketStatus
from services.sla_monitor.domain.timers import TimerKind, TimerState


class SlaTimer(Document):
    """One per (ticket, kind); `_id` is `<ticketId>:<kind>`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str = Field(alias="_id")  # type: ignore[assignment]
    ticket_id: str
    kind: TimerKind
    state: TimerState
    due_at: datetime
    target_due_at: datetime
    target_seconds: int
    cycle: str
    revision: int = Field(description="Ticket revision this plan was made from")
    priority: Priority
    customer_id: str | None = None
    assigned_agent: str | None = None
    lease_until: datetime | None = None
    claimed_by: str | None = Field(default=None, description="The holder token of a claim")
    due_bucket: datetime | None = Field(
        default=None, description="The minute the timer next needs a look (indexed)"
    )
    detected_at: datetime | None = None
    fired_at: datetime | None = None
    outcome: str | None = None

    class Settings:
        name = "sla_timers"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("state", ASCENDING), ("dueAt", ASCENDING)], name="due_pending"),
            IndexModel([("state", ASCENDING), ("leaseUntil", ASCENDING)], name="lease_expired"),
            IndexModel("ticketId", name="by_ticket"),
            IndexModel("dueBucket", name="due_bucket"),
        ]


class SlaTicket(Document):
    """The last ticket state seen (by revision): deduplicates the metrics and feeds the
    open-ticket and compliance gauges."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str = Field(alias="_id")  # type: ignore[assignment]
    revision: int
    status: TicketStatus
    priority: Priority
    first_response_at: datetime | None = None
    first_response_met: bool | None = None
    resolution_met: bool | None = None
    resolved_at: datetime | None = None

    class Settings:
        name = "sla_tickets"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("status", ASCENDING), ("priority", ASCENDING)], name="by_status"),
        ]


DOCUMENT_MODELS: list[type[Document]] = [SlaTimer, SlaTicket]
