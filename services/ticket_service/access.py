"""Who may see and touch which ticket (the customer's plan, section 16.1).

An agent sees the tickets assigned to them and the unassigned pool; an admin and the
System see all; a customer sees only their own. Anything else is `not_found`, so the
existence of a ticket is never revealed.
"""

from dataclasses import dataclass
from typing import Any

from contracts.actors import AgentActor, CustomerActor, SystemActor
from contracts.enums import ActorType, AgentRole, Language
from contracts.tickets import Ticket
from services.ticket_service.domain.errors import Forbidden, NotFound
from services.ticket_service.domain.model import ActorRef


@dataclass(frozen=True, slots=True)
class Principal:
    type: ActorType
    id: str | None = None
    role: AgentRole | None = None
    language: Language | None = None

    @property
    def ref(self) -> ActorRef:
        return ActorRef(self.type, self.id)

    @property
    def sees_everything(self) -> bool:
        return self.type is ActorType.SYSTEM or self.role is AgentRole.ADMIN

    def can_read(self, ticket: Ticket) -> bool:
        if self.sees_everything:
            return True
        if self.type is ActorType.CUSTOMER:
            return ticket.customer_id == self.id
        return ticket.assigned_agent in (None, self.id)

    def scope(self) -> dict[str, Any]:
        """The Mongo filter limiting a listing to what this principal may read."""
        if self.sees_everything:
            return {}
        if self.type is ActorType.CUSTOMER:
            return {"customerId": self.id}
        return {"assignedAgent": {"$in": [None, self.id]}}


SYSTEM = Principal(ActorType.SYSTEM)
NOBODY_CUSTOMER = Principal(ActorType.CUSTOMER, id="")
"""A customer with no record yet: owns nothing."""


def readable(principal: Principal, ticket: Ticket | None, ticket_id: str) -> Ticket:
    if ticket is None or not principal.can_read(ticket):
        raise NotFound(f"Ticket {ticket_id} not found")
    return ticket


def with_visible_key(actor: "ActorMessage", ticket: dict[str, Any]) -> dict[str, Any]:
    """The wire ticket as `actor` may see it: its `idempotencyKey` only for the System and
    for whoever created the ticket with it (to anyone else it could only serve to replay;
    a replay is read-checked too). A customer only ever reads their own tickets."""
    if ticket.get("idempotencyKey") is None or isinstance(actor, SystemActor):
        return ticket
    history = ticket.get("statusHistory") or [{}]
    creator_type, creator = history[0].get("changedByType"), history[0].get("changedBy")
    if isinstance(actor, AgentActor):
        created = creator_type == ActorType.AGENT and creator == actor.id
    else:
        created = creator_type == ActorType.CUSTOMER
    return ticket if created else {**ticket, "idempotencyKey": None}


def require_staff(principal: Principal, action: str) -> None:
    if principal.type is ActorType.CUSTOMER:
        raise Forbidden(f"A customer cannot {action}")


ActorMessage = AgentActor | CustomerActor | SystemActor
