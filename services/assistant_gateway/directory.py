"""Read-only lookups in collections the ticket service owns (`agents`, `customers`).

The ticket reply names the assigned agent by id only; the customer's tool contract shows
the agent's name and email, and a customer's stored language picks the texts. Reading
those two fields directly is a deliberate, read-only coupling to the ticket service's
schema (documented in docs/assistant.md); the gateway never writes there.

A customer's language is remembered per phone for `language_ttl` (at most `LANGUAGES`
phones, the least recently read dropped first), so a bot's calls for one customer read it
once: a language an agent changes on the record shows from the next read, at most
`language_ttl` later. A language the caller declares is remembered as read (the ticket
service stores it on the record with the call). A failed read is not remembered.
"""

import logging
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from contracts.enums import Language
from infra.clock import Clock
from services.assistant_gateway.domain.outputs import AgentContact

log = logging.getLogger(__name__)

LANGUAGES = 10_000


class Directory:
    def __init__(
        self,
        database: AsyncDatabase[dict[str, Any]],
        clock: Clock,
        language_ttl: timedelta = timedelta(0),
    ) -> None:
        self._agents = database["agents"]
        self._customers = database["customers"]
        self._clock = clock
        self._language_ttl = language_ttl
        self._languages: OrderedDict[str, tuple[Language | None, datetime]] = OrderedDict()

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
        now = self._clock.now()
        known = self._languages.get(phone)
        if known is not None and now < known[1]:
            return known[0]
        try:
            raw = await self._customers.find_one({"phoneNumber": phone}, {"language": 1})
        except PyMongoError:
            log.warning("customer lookup failed", exc_info=True)
            return None
        value = raw.get("language") if raw else None
        language = Language(value) if value in {lang.value for lang in Language} else None
        self.remember_language(phone, language, now)
        return language

    def remember_language(self, phone: str, language: Language | None, now: datetime) -> None:
        if self._language_ttl <= timedelta(0):
            return
        self._languages[phone] = (language, now + self._language_ttl)
        self._languages.move_to_end(phone)
        while len(self._languages) > LANGUAGES:
            self._languages.popitem(last=False)
