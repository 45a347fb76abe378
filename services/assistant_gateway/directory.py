"""Read-only lookups in collections the ticket service owns (`agents`, `customers`).

The ticket reply names the assigned agent by id only; the customer's tool contract shows
the agent's name and email, and a customer's stored language picks the texts. Reading
those two fields directly is a deliberate, read-only coupling to the ticket service's
schema (documented in docs/assistant.md); the gateway never writes there.
"""

import logging
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from contracts.enums import Language
from services.assistant_gateway.domain.outputs import AgentContact

log = logging.getLogger(__name__)


class Directory:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self._agents = database["agents"]
        self._customers = database["customers"]

    async def agent(self, agent_id: str | None) -> AgentContact | None:
        if not agent_id or not ObjectId.is_valid(agent_id):
            return None
        try:
            raw = await self._agents.find_one({"_id": ObjectId(agent_id)}, {"name": 1, "email": 1})
        except PyMongoError:
            log.warning("agent lookup failed", exc_info=True, extra={"agentId": agent_id})
            return None
        if raw is None:
            return None
        return AgentContact(name=str(raw.get("name", "")), email=str(raw.get("email", "")))

    async def customer_language(self, phone: str) -> Language | None:
        try:
            raw = await self._customers.find_one({"phoneNumber": phone}, {"language": 1})
        except PyMongoError:
            log.warning("customer lookup failed", exc_info=True)
            return None
        value = raw.get("language") if raw else None
        return Language(value) if value in {language.value for language in Language} else None
