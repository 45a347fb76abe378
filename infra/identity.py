"""Who is calling: an agent (bearer JWT, then the agent record must exist and be active)
or a service (a named, scoped API key). One place for REST, the tool-call endpoint, the
webhook admin API and Socket.IO connections.

The `agents` collection belongs to the ticket service; this module only reads it, by
name, and takes the role from the record (a demoted admin loses admin rights at once).
"""

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.database import AsyncDatabase

from contracts.enums import AgentRole
from infra.api_keys import ApiKeys, Scope
from infra.auth import InactiveAgent, InvalidToken, verify_token
from infra.clock import Clock
from infra.settings import Settings

AGENTS_COLLECTION = "agents"


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    id: str
    role: AgentRole
    expires_at: int = 0
    """The token's `exp` (unix seconds): a Socket.IO connection ends then."""

    @property
    def admin(self) -> bool:
        return self.role is AgentRole.ADMIN

    @property
    def budget_key(self) -> str:
        return f"agent:{self.id}"


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    name: str
    scopes: frozenset[Scope]

    @property
    def budget_key(self) -> str:
        return f"key:{self.name}"


Identity = AgentIdentity | ServiceIdentity


class Authenticator:
    def __init__(
        self, settings: Settings, clock: Clock, database: AsyncDatabase[dict[str, Any]]
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._agents = database[AGENTS_COLLECTION]
        self._keys = ApiKeys(settings, database)

    async def agent(self, token: str | None) -> AgentIdentity:
        """Raises InvalidToken for a missing, bad or expired token or an unknown or
        inactive agent (one message for all, so nothing leaks about who exists)."""
        if not token:
            raise InvalidToken("missing token")
        claims = verify_token(self._settings, token, self._clock.now())
        try:
            agent_id = ObjectId(claims.sub)
        except InvalidId as error:
            raise InactiveAgent("unknown agent") from error
        record = await self._agents.find_one({"_id": agent_id}, {"isActive": 1, "role": 1})
        if record is None or record.get("isActive") is not True:
            raise InactiveAgent("unknown or inactive agent")
        try:
            role = AgentRole(record.get("role", AgentRole.AGENT))
        except ValueError as error:
            raise InvalidToken("unknown agent role") from error
        return AgentIdentity(str(agent_id), role, int(claims.exp))

    async def service(self, key: str) -> ServiceIdentity:
        """Raises InvalidToken for an unknown or revoked key."""
        found = await self._keys.find(key)
        if found is None:
            raise InvalidToken("unknown API key")
        return ServiceIdentity(found.name, found.scopes)

    async def active_roles(self, agent_ids: set[str]) -> dict[str, AgentRole]:
        """The current role of each of these agents that still exists and is active."""
        ids = [ObjectId(agent_id) for agent_id in agent_ids if ObjectId.is_valid(agent_id)]
        cursor = self._agents.find({"_id": {"$in": ids}, "isActive": True}, {"role": 1})
        roles: dict[str, AgentRole] = {}
        async for record in cursor:
            try:
                roles[str(record["_id"])] = AgentRole(record.get("role", AgentRole.AGENT))
            except ValueError:
                continue
        return roles
