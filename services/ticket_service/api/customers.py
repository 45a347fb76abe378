"""`/api/v2/customers`: look a customer up by id or phone (with figures and the tickets the
caller may read) and let an agent correct the name or language."""

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, Field

from contracts.actors import PhoneNumber
from contracts.base import WireModel
from contracts.replies import Pagination
from infra.ratelimit import RateLimiter
from infra.settings import Settings
from services.ticket_service.api.caller import Caller, authentication
from services.ticket_service.api.errors import ERROR_RESPONSES, EnvelopeRoute
from services.ticket_service.customers import (
    CustomerDesk,
    CustomerDetails,
    CustomerEdit,
    CustomerProfile,
)
from services.ticket_service.documents import Customer
from services.ticket_service.usecases import TicketUseCases

CustomerIdPath = Annotated[str, Path(alias="customerId", pattern=r"^[0-9a-f]{24}$")]


def _plus_restored(value: Any) -> Any:
    """An unencoded `+` in a query string arrives as a space: `?phone=+34...` still works."""
    if isinstance(value, str) and re.fullmatch(r"\s*\d[\d\s\-()]*", value):
        return "+" + value.strip()
    return value


class TicketsPage(WireModel):
    page: int = Field(default=1, ge=1, le=100_000, description="Page of the customer's tickets")
    limit: int = Field(default=20, ge=1, le=100)


class PhoneQuery(TicketsPage):
    phone: Annotated[PhoneNumber, BeforeValidator(_plus_restored)] = Field(
        description="E.164, e.g. +34600000001 (`%2B` or a literal `+`)",
        json_schema_extra={"pattern": r"^\+[1-9]\d{6,14}$"},
    )


class CustomerEnvelope(BaseModel):
    success: Literal[True] = True
    data: CustomerDetails
    pagination: Pagination = Field(description="Of `data.tickets`")


class ProfileEnvelope(BaseModel):
    success: Literal[True] = True
    data: CustomerProfile


def build_customers_router(
    use_cases: Callable[[], TicketUseCases],
    settings: Callable[[], Settings],
    limiter: Callable[[], RateLimiter],
) -> APIRouter:
    router = APIRouter(
        prefix="/api/v2/customers",
        tags=["customers"],
        route_class=EnvelopeRoute,
        responses=ERROR_RESPONSES,
    )
    authenticated = Annotated[Caller, Depends(authentication(use_cases, settings, limiter))]

    async def details(caller: Caller, customer: Customer, page: TicketsPage) -> JSONResponse:
        desk = CustomerDesk(use_cases())
        found, tickets = await desk.details(caller.actor, customer, page.page, page.limit)
        body = {
            "success": True,
            "data": found.to_wire(),
            "pagination": tickets.pagination.model_dump(exclude={"next_cursor"}),
        }
        return JSONResponse(body)

    @router.get("", response_model=CustomerEnvelope, summary="Find a customer by phone")
    async def find_customer_by_phone(
        caller: authenticated, query: Annotated[PhoneQuery, Query()]
    ) -> Any:
        """The customer with this phone (404 if none), their figures, and their tickets the
        caller may read (an agent: own + unassigned pool; an admin or a service: all)."""
        customer = await CustomerDesk(use_cases()).by_phone(query.phone)
        return await details(caller, customer, query)

    @router.get("/{customerId}", response_model=CustomerEnvelope, summary="One customer")
    async def get_customer(
        caller: authenticated,
        customer_id: CustomerIdPath,
        query: Annotated[TicketsPage, Query()],
    ) -> Any:
        """The customer, their figures, and their tickets the caller may read."""
        customer = await CustomerDesk(use_cases()).by_id(customer_id)
        return await details(caller, customer, query)

    @router.patch("/{customerId}", response_model=ProfileEnvelope, summary="Correct a customer")
    async def edit_customer(
        caller: authenticated, customer_id: CustomerIdPath, body: CustomerEdit
    ) -> Any:
        """`name` and/or `language`. A name entered here is kept: the customer's WhatsApp
        profile name never replaces it."""
        desk = CustomerDesk(use_cases())
        profile = await desk.profile(await desk.edit(caller.actor, customer_id, body))
        return JSONResponse({"success": True, "data": profile.to_wire()})

    return router
