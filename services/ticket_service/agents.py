"""The agent directory: who can be assigned a ticket, and an admin changing an agent's role
or taking their access away.

Agents see the active agents' id, name and email (enough to assign); admins and services
see every agent with role and state. A role or active change is announced as
`agent.updated`, so the notifier ends a deactivated agent's Socket.IO sessions at once (the
REST API checks the agent record on every request already); if that publish is lost, the
notifier's periodic session check ends them within `TICKETS_NOTIFIER__SESSION_CHECK_SECONDS`.
"""

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field, model_validator

from contracts.agents import AgentUpdated
from contracts.base import WireModel
from contracts.enums import AgentRole
from infra.clock import Clock
from services.ticket_service.access import Principal
from services.ticket_service.documents import Agent
from services.ticket_service.domain.errors import Conflict, Forbidden, NotFound
from services.ticket_service.domain.model import new_event_id
from services.ticket_service.repository import AgentRepository

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any], str], Awaitable[None]]


class AgentEntry(WireModel):
    """What any agent sees of a colleague: enough to assign a ticket. `fullName` repeats
    `name` under the customer's plan's name for it."""

    id: str
    name: str
    full_name: str
    email: str


class AgentRecord(AgentEntry):
    """What an admin (or a service) sees."""

    role: AgentRole
    is_active: bool
    created_at: datetime


class AgentEdit(WireModel):
    role: AgentRole | None = None
    is_active: bool | None = Field(
        default=None,
        validation_alias=AliasChoices("isActive", "active", "is_active"),
        description="false takes the agent's access away at once (`active` works too)",
    )

    @model_validator(mode="after")
    def _something(self) -> "AgentEdit":
        if self.role is None and self.is_active is None:
            raise ValueError("give role and/or isActive")
        return self


class DirectoryQuery(WireModel):
    q: str | None = Field(default=None, max_length=100, description="In the name or email")
    role: AgentRole | None = None
    active: bool | None = Field(default=None, description="Admins only; agents see active ones")
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=50, ge=1, le=100)


def entry(agent: Agent, *, full: bool) -> dict[str, object]:
    short = AgentEntry(id=str(agent.id), name=agent.name, full_name=agent.name, email=agent.email)
    if not full:
        return short.to_wire()
    record = AgentRecord(
        **short.model_dump(),
        role=agent.role,
        is_active=agent.is_active,
        created_at=agent.created_at,
    )
    return record.to_wire()


@dataclass
class AgentDirectory:
    agents: AgentRepository
    publish: Publish | None
    clock: Clock

    async def list(
        self, principal: Principal, query: DirectoryQuery
    ) -> tuple[list[dict[str, object]], int]:
        full = principal.sees_everything
        filters: dict[str, Any] = {}
        if not full:
            filters["isActive"] = True
        elif query.active is not None:
            filters["isActive"] = query.active
        if query.role is not None:
            filters["role"] = query.role
        if query.q:
            pattern = {"$regex": re.escape(query.q.strip()), "$options": "i"}
            filters["$or"] = [{"name": pattern}, {"email": pattern}]
        skip = (query.page - 1) * query.limit
        total, agents = await self.agents.search(filters, skip, query.limit)
        return [entry(agent, full=full) for agent in agents], total

    async def get(self, principal: Principal, agent_id: str) -> dict[str, object]:
        """Admins see anyone in full, an agent themselves in full and active colleagues
        in short; anyone else is 404."""
        agent = await self.agents.get(agent_id)
        full = principal.sees_everything or principal.id == agent_id
        if agent is None or not (full or agent.is_active):
            raise NotFound(f"Agent {agent_id} not found")
        return entry(agent, full=full)

    async def change(self, principal: Principal, agent_id: str, edit: AgentEdit) -> Agent:
        if not principal.sees_everything:
            raise Forbidden("Only an admin can change an agent's role or access")
        before = await self.agents.get(agent_id)
        if before is None:
            raise NotFound(f"Agent {agent_id} not found")
        fields = _changed(before, edit)
        if not fields:
            return before
        after = await self.agents.update_if(agent_id, _state(before), fields)
        if after is None:
            raise Conflict(f"Agent {agent_id} was changed by someone else; read it again")
        if _active_admin(before) and not _active_admin(after):
            await self._keep_an_admin(before, after)
        await self.announce(after)
        log.info(
            "agent updated",
            extra={"agentId": agent_id, "changes": fields, "by": principal.id or "System"},
        )
        return after

    async def _keep_an_admin(self, before: Agent, after: Agent) -> None:
        """Checked after the write, so two admins demoting each other at once cannot leave
        none: each sees zero, puts its own change back and answers 409."""
        if await self.agents.active_admins() > 0:
            return
        await self.agents.update_if(str(after.id), _state(after), _state(before))
        raise Conflict("At least one active admin must remain")

    async def announce(self, agent: Agent) -> None:
        """Best effort: a lost event leaves the periodic session check to do it."""
        if self.publish is None:
            return
        event = AgentUpdated(
            event_id=new_event_id(),
            occurred_at=self.clock.now(),
            agent_id=str(agent.id),
            role=agent.role,
            is_active=agent.is_active,
        )
        try:
            await self.publish(event.type, event.to_wire(), event.event_id)
        except Exception:
            log.warning(
                "agent.updated not published; sessions end at the next check",
                exc_info=True,
                extra={"agentId": str(agent.id)},
            )


def _state(agent: Agent) -> dict[str, Any]:
    return {"role": str(agent.role), "isActive": agent.is_active}


def _changed(agent: Agent, edit: AgentEdit) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if edit.role is not None and edit.role is not agent.role:
        fields["role"] = str(edit.role)
    if edit.is_active is not None and edit.is_active != agent.is_active:
        fields["isActive"] = edit.is_active
    return fields


def _active_admin(agent: Agent) -> bool:
    return agent.is_active and agent.role is AgentRole.ADMIN
