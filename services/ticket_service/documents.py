"""Beanie documents: the collections the ticket service owns and their indexes."""

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from beanie import Document, PydanticObjectId
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel
from pymongo import ASCENDING, DESCENDING, TEXT, IndexModel

from contracts.base import StoredModel
from contracts.enums import AgentRole, Language
from contracts.tickets import Ticket


class OutboxEntry(StoredModel):
    """An event written with the change that caused it, waiting for the relay."""

    event_id: str
    routing_key: str
    payload: dict[str, Any]
    created_at: datetime


LIST_SORT_FIELDS = ("createdAt", "updatedAt", "priorityRank", "sla.resolutionDueAt")
"""What the ticket list sorts on (listing.py); one descending index serves both directions."""


class TicketDocument(Document, Ticket):
    id: PydanticObjectId | None = Field(default=None, alias="_id")
    priority_rank: int = 0
    outbox: list[OutboxEntry] = Field(default_factory=list)
    relay_lease_until: datetime | None = None

    class Settings:
        name = "tickets"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel("ticketId", unique=True, name="ticketId_unique"),
            IndexModel([("customerId", ASCENDING), ("status", ASCENDING)]),
            IndexModel([("customerId", ASCENDING), ("updatedAt", DESCENDING)]),
            IndexModel([("assignedAgent", ASCENDING), ("status", ASCENDING)]),
            IndexModel([("category", ASCENDING), ("priority", ASCENDING)]),
            IndexModel(
                [("status", ASCENDING), ("priorityRank", DESCENDING), ("createdAt", DESCENDING)]
            ),
            # The list's other filters and its sorts, each with the tie-breaker the keyset
            # pages resume on (listing.py): `sortField > last or (= last and ticketId > id)`.
            IndexModel([("priority", ASCENDING), ("createdAt", DESCENDING)]),
            *(
                IndexModel([(field, DESCENDING), ("ticketId", DESCENDING)])
                for field in LIST_SORT_FIELDS
            ),
            IndexModel("sla.firstResponseBreachAt"),
            IndexModel("sla.resolutionBreachAt"),
            IndexModel("tags"),
            IndexModel("outbox.createdAt", name="outbox_pending"),
            IndexModel(
                "idempotencyKey",
                unique=True,
                partialFilterExpression={"idempotencyKey": {"$type": "string"}},
                name="idempotencyKey_unique",
            ),
            IndexModel(
                [("ticketId", TEXT), ("title", TEXT), ("description", TEXT)],
                name="ticket_text",
            ),
        ]


class _CamelDocument(Document):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: PydanticObjectId | None = Field(default=None, alias="_id")


class TicketCounter(_CamelDocument):
    """One per year; `lastSequence` is the last number issued."""

    year: int
    last_sequence: int = 0

    class Settings:
        name = "ticket_counters"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("year", unique=True)]


class NameSource(StrEnum):
    """Who gave the customer's name: an agent's entry is never replaced by a profile name."""

    AGENT = "agent"
    WHATSAPP = "whatsapp"


class Customer(_CamelDocument):
    phone_number: str
    name: str | None = None
    name_source: NameSource | None = None
    language: Language | None = None
    created_at: datetime
    last_inbound_at: datetime | None = Field(
        default=None, description="The customer's latest WhatsApp message (the 24-hour window)"
    )
    window_nudged_for: datetime | None = Field(
        default=None, description="The lastInboundAt whose closing window was reminded of"
    )

    class Settings:
        name = "customers"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel("phoneNumber", unique=True),
            IndexModel("lastInboundAt"),
        ]


class Agent(_CamelDocument):
    name: str
    email: str
    role: AgentRole = AgentRole.AGENT
    is_active: bool = True
    created_at: datetime

    class Settings:
        name = "agents"
        indexes: ClassVar[list[IndexModel]] = [IndexModel("email", unique=True)]


class IdempotencyRecord(Document):
    """A claimed idempotency key (`_id`) and, once done, the result to answer with."""

    id: str = Field(alias="_id")  # type: ignore[assignment]
    claimed_at: datetime
    result: dict[str, Any] | None = None

    class Settings:
        name = "idempotency_keys"


DOCUMENT_MODELS: list[type[Document]] = [
    TicketDocument,
    TicketCounter,
    Customer,
    Agent,
    IdempotencyRecord,
]
