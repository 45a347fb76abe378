"""Who the customer is: the customer on every ticket reply, the customer looked up by id or
phone (with figures and the tickets the caller may read), and an agent's edit of the name.

The figures describe the customer (all their tickets); the ticket list is what the caller
may read, by the same rule as every listing (an agent: own + unassigned pool).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from contracts import commands as cmd
from contracts.actors import AgentActor, SystemActor
from contracts.base import WireModel
from contracts.enums import Language
from contracts.replies import TicketPage
from contracts.tickets import Ticket
from contracts.window import window_state
from services.ticket_service.access import with_visible_key
from services.ticket_service.documents import Customer, NameSource
from services.ticket_service.domain.errors import NotFound
from services.ticket_service.domain.lifecycle import TERMINAL_OR_DONE
from services.ticket_service.usecases import TicketUseCases

DONE_STATUSES = sorted(str(s) for s in TERMINAL_OR_DONE)


class CustomerRef(WireModel):
    """The customer on a ticket reply. `phoneNumber` repeats `phone` under the customer's
    plan's name for it."""

    id: str
    phone: str
    phone_number: str
    name: str | None
    language: Language | None

    @classmethod
    def of(cls, customer: Customer) -> "CustomerRef":
        return cls(
            id=str(customer.id),
            phone=customer.phone_number,
            phone_number=customer.phone_number,
            name=customer.name,
            language=customer.language,
        )


class CustomerFigures(WireModel):
    total_tickets: int = Field(
        description="Tickets ever opened for the customer (counted from the tickets)"
    )
    open_tickets: int = Field(description="Not yet resolved, closed or cancelled")
    resolved_tickets: int = Field(description="Resolved or closed")
    average_rating: float | None = Field(description="Average CSAT rating (1-5); null if none")
    last_ticket_at: datetime | None = Field(description="When the newest ticket was opened")


class CustomerProfile(CustomerRef):
    name_source: NameSource | None = Field(
        description="`agent` (entered by an agent or a service) or `whatsapp` (profile name)"
    )
    created_at: datetime
    statistics: CustomerFigures


class CustomerDetails(CustomerProfile):
    tickets: list[dict[str, Any]] = Field(description="The customer's tickets the caller may read")


class CustomerEdit(WireModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    language: Language | None = None

    @model_validator(mode="after")
    def _something(self) -> "CustomerEdit":
        if self.name is None and self.language is None:
            raise ValueError("give name and/or language")
        return self


Caller = AgentActor | SystemActor


def with_customer(
    ticket: dict[str, Any], customers: dict[str, Customer], now: datetime
) -> dict[str, Any]:
    """The ticket with its customer and the customer's WhatsApp window now (whether a
    free-form reply reaches them, until when)."""
    customer = customers.get(str(ticket["customerId"]))
    ref = CustomerRef.of(customer).to_wire() if customer else None
    window = window_state(customer.last_inbound_at if customer else None, now)
    return {**ticket, "customer": ref, "whatsappWindow": window.to_wire()}


@dataclass
class CustomerDesk:
    cases: TicketUseCases

    async def one(self, ticket: Ticket) -> dict[str, Any]:
        customers = await self.cases.customers.by_ids([ticket.customer_id])
        return with_customer(ticket.to_wire(), customers, self.cases.clock.now())

    async def page(self, page: TicketPage) -> list[dict[str, Any]]:
        customers = await self.cases.customers.by_ids({t["customerId"] for t in page.items})
        now = self.cases.clock.now()
        return [with_customer(item, customers, now) for item in page.items]

    async def profile(self, customer: Customer) -> CustomerProfile:
        return CustomerProfile(
            **CustomerRef.of(customer).model_dump(),
            name_source=customer.name_source,
            created_at=customer.created_at,
            statistics=await self._figures(customer),
        )

    async def details(
        self, actor: Caller, customer: Customer, page: int, limit: int
    ) -> tuple[CustomerDetails, TicketPage]:
        listing = cmd.ListTickets(actor=actor, customer_id=str(customer.id), page=page, limit=limit)
        tickets = await self.cases.list(listing)
        profile = await self.profile(customer)
        now = self.cases.clock.now()
        items = [
            with_visible_key(actor, with_customer(item, {str(customer.id): customer}, now))
            for item in tickets.items
        ]
        return CustomerDetails(**profile.model_dump(), tickets=items), tickets

    async def by_id(self, customer_id: str) -> Customer:
        found = await self.cases.customers.by_id(customer_id)
        if found is None:
            raise NotFound(f"Customer {customer_id} not found")
        return found

    async def by_phone(self, phone: str) -> Customer:
        found = await self.cases.customers.by_phone(phone, self.cases.clock.now(), create=False)
        if found is None:
            raise NotFound(f"No customer with phone {phone}")
        return found

    async def edit(self, actor: Caller, customer_id: str, edit: CustomerEdit) -> Customer:
        """An agent's name replaces any earlier one and is kept from then on."""
        await self.cases.principal(actor)
        updated = await self.cases.customers.edit(customer_id, edit.name, edit.language)
        if updated is None:
            raise NotFound(f"Customer {customer_id} not found")
        return updated

    async def _figures(self, customer: Customer) -> CustomerFigures:
        tickets = self.cases.tickets.tickets
        cursor = await tickets.aggregate(_figures_pipeline(str(customer.id)))
        rows = await cursor.to_list()
        row = rows[0] if rows else {}
        rated = row.get("rated") or 0
        return CustomerFigures(
            total_tickets=row.get("total", 0),
            open_tickets=row.get("open", 0),
            resolved_tickets=row.get("resolved", 0),
            average_rating=row["ratingSum"] / rated if rated else None,
            last_ticket_at=row.get("lastTicketAt"),
        )


def _figures_pipeline(customer_id: str) -> list[dict[str, Any]]:
    def count_if(condition: dict[str, Any]) -> dict[str, Any]:
        return {"$sum": {"$cond": [condition, 1, 0]}}

    rating = "$customerSatisfaction.rating"
    return [
        {"$match": {"customerId": customer_id}},
        {
            "$group": {
                "_id": None,
                "total": {"$sum": 1},
                "open": {"$sum": {"$cond": [{"$in": ["$status", DONE_STATUSES]}, 0, 1]}},
                "resolved": count_if({"$in": ["$status", ["resolved", "closed"]]}),
                "ratingSum": {"$sum": rating},
                "rated": count_if({"$ne": [{"$ifNull": [rating, None]}, None]}),
                "lastTicketAt": {"$max": "$createdAt"},
            }
        },
    ]
