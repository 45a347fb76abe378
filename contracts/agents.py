"""Events about agents (not tickets), on the same `tickets.events` exchange."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.base import StoredModel
from contracts.enums import AgentRole


class AgentUpdated(StoredModel):
    """An admin changed an agent's role or active flag: the notifier ends a deactivated
    agent's Socket.IO sessions and moves a changed role into or out of `admins` at once."""

    type: Literal["agent.updated"] = "agent.updated"
    event_id: str = Field(description="Unique per event; consumers deduplicate on it")
    occurred_at: datetime
    agent_id: str
    role: AgentRole
    is_active: bool
