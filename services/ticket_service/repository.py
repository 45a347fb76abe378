"""Persistence edge: every change is one conditional update that reports whether it won."""

import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.enums import PRIORITY_ORDER, Language, Priority
from contracts.events import TicketEvent
from contracts.tickets import Ticket
from infra.mongo import insert_keyed
from services.ticket_service.documents import (
    Agent,
    Customer,
    NameSource,
    OutboxEntry,
    TicketDocument,
)
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.domain.ids import format_ticket_id, parse_ticket_id
from services.ticket_service.domain.lifecycle import OPEN_STATUSES
from services.ticket_service.domain.model import Change

Raw = dict[str, Any]
_EVERY_TICKET: Raw = {"_id": {"$exists": True}}
CUSTOMERS_PER_WORD = 1000
"""A ticket search word matches the tickets of at most this many customers by phone/name."""


def outbox_entries(events: list[TicketEvent], now: datetime) -> list[Raw]:
    return [
        OutboxEntry(
            event_id=event.event_id,
            routing_key=event.type,
            payload=event.to_wire(),
            created_at=now,
        ).model_dump(by_alias=True)
        for event in events
    ]


def _object_id(text: str) -> ObjectId | None:
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        return None


async def _upsert(collection: AsyncCollection[Raw], query: Raw, update: Raw) -> Raw:
    """find_one_and_update with upsert; a lost upsert race (duplicate key) is retried once,
    as the second attempt finds the document the winner inserted (DESIGN.md)."""
    try:
        found = await collection.find_one_and_update(
            query, update, upsert=True, return_document=ReturnDocument.AFTER
        )
    except DuplicateKeyError:
        found = await collection.find_one_and_update(
            query, update, upsert=True, return_document=ReturnDocument.AFTER
        )
    assert found is not None
    return found


def _priority_rank(priority: Priority) -> int:
    return PRIORITY_ORDER.index(priority)


def _diff(before: Raw, after: Raw) -> tuple[Raw, Raw]:
    """$set for changed fields, $push for lists that only grew at the end."""
    to_set: Raw = {}
    to_push: Raw = {}
    for key, value in after.items():
        old = before.get(key)
        if value == old:
            continue
        if isinstance(value, list) and isinstance(old, list) and value[: len(old)] == old:
            to_push[key] = {"$each": value[len(old) :]}
        else:
            to_set[key] = value
    return to_set, to_push


class TicketRepository:
    def __init__(self) -> None:
        self.tickets: AsyncCollection[Raw] = TicketDocument.get_pymongo_collection()

    async def insert(self, change: Change, creation_key: str) -> None:
        """Raises DuplicateKeyError when the creation key or the ticket id is taken."""
        ticket = change.ticket
        document = ticket.model_dump(by_alias=True)
        document["priorityRank"] = _priority_rank(ticket.priority)
        document["creationKey"] = creation_key
        document["outbox"] = outbox_entries(change.events, ticket.created_at)
        await insert_keyed(self.tickets, {"ticketId": ticket.ticket_id}, document)

    async def by_creation_key(self, key: str) -> Ticket | None:
        """The ticket a creation stored (tickets from before creation keys: by their
        idempotency key, which had the same form)."""
        query = {"$or": [{"creationKey": key}, {"idempotencyKey": key}]}
        raw = await self.tickets.find_one(query, {"outbox": 0})
        return None if raw is None else Ticket.model_validate(raw)

    async def stored_numbers(self, year: int, numbers: Collection[int]) -> dict[int, str]:
        """Which of these sequence numbers have a stored ticket this year, with the key
        each was created under ("" for tickets from before creation keys)."""
        ids = [format_ticket_id(year, n) for n in numbers]
        fields = {"_id": 0, "ticketId": 1, "creationKey": 1, "idempotencyKey": 1}
        cursor = self.tickets.find({"ticketId": {"$in": ids}}, fields)
        return {
            parse_ticket_id(raw["ticketId"])[1]: raw.get("creationKey")
            or raw.get("idempotencyKey")
            or ""
            async for raw in cursor
        }

    async def open_or_created(self, customer_id: str, keys: list[str]) -> list[tuple[str, str]]:
        """(creation key or "", status) of the customer's open tickets and of those
        stored under `keys` (one query, a few small fields each)."""
        query = {
            "customerId": customer_id,
            "$or": [
                {"status": {"$in": [str(s) for s in OPEN_STATUSES]}},
                {"creationKey": {"$in": keys}},
                {"idempotencyKey": {"$in": keys}},
            ],
        }
        fields = {"_id": 0, "creationKey": 1, "idempotencyKey": 1, "status": 1}
        return [
            (raw.get("creationKey") or raw.get("idempotencyKey") or "", raw["status"])
            async for raw in self.tickets.find(query, fields)
        ]

    async def get(self, ticket_id: str) -> Ticket | None:
        raw = await self.tickets.find_one({"ticketId": ticket_id}, {"outbox": 0})
        return None if raw is None else Ticket.model_validate(raw)

    async def apply(self, before: Ticket, change: Change) -> Ticket:
        """Write `change` if nobody changed the ticket since `before` was read."""
        if not change.events and change.ticket == before:
            return before
        to_set, to_push = _diff(
            before.model_dump(by_alias=True), change.ticket.model_dump(by_alias=True)
        )
        if "priority" in to_set:
            to_set["priorityRank"] = _priority_rank(change.ticket.priority)
        to_push["outbox"] = {"$each": outbox_entries(change.events, change.ticket.updated_at)}
        result = await self.tickets.update_one(
            {"ticketId": before.ticket_id, "revision": before.revision},
            {"$set": to_set, "$push": to_push},
        )
        if result.matched_count != 1:
            raise Conflict(
                f"Ticket {before.ticket_id} was changed by someone else; read it again and retry"
            )
        return change.ticket

    async def find(
        self, query: Raw, sort: list[tuple[str, int]], skip: int, limit: int
    ) -> list[Ticket]:
        cursor = self.tickets.find(query, {"outbox": 0}).sort(sort).skip(skip).limit(limit)
        return [Ticket.model_validate(raw) async for raw in cursor]

    async def count(self, query: Raw) -> int:
        """The `count` command rather than `count_documents` (an aggregation): the same
        exact total, but the embedded wire server counts without building each matching
        document (at 10,000 tickets, 18 ms instead of 1.5 s; docs/performance.md, Lists).
        An empty filter still gets a predicate: without one, MongoDB answers from the
        collection's metadata, which may be off after an unclean shutdown."""
        reply = await self.tickets.database.command(
            {"count": self.tickets.name, "query": query or _EVERY_TICKET}
        )
        return int(reply["n"])

    async def latest_for_customer(
        self, customer_id: str, conversation_id: str | None
    ) -> Ticket | None:
        """The ticket a customer's message is about: the conversation's, else the newest."""
        base: Raw = {"customerId": customer_id, "status": {"$ne": "cancelled"}}
        queries = [{**base, "conversationId": conversation_id}] if conversation_id else []
        for query in [*queries, base]:
            found = await self.find(query, [("updatedAt", -1)], 0, 1)
            if found:
                return found[0]
        return None


class CustomerRepository:
    def __init__(self) -> None:
        self._customers: AsyncCollection[Raw] = Customer.get_pymongo_collection()

    async def by_phone(
        self,
        phone: str,
        now: datetime,
        name: str | None = None,
        language: Language | None = None,
        *,
        create: bool,
        entered_by_agent: bool = False,
        inbound_at: datetime | None = None,
    ) -> Customer | None:
        """The customer record, created on first contact when `create` is set. A name an
        agent (or a CRM service) entered wins over the customer's WhatsApp profile name.
        `inbound_at` (with `create`): moves the last inbound time forward, never back."""
        if not create:
            raw = await self._customers.find_one({"phoneNumber": phone})
            return None if raw is None else Customer.model_validate(raw)
        on_insert: Raw = {
            "phoneNumber": phone,
            "createdAt": now,
        }
        fill: Raw = {"language": language} if language is not None else {}
        if name is not None and entered_by_agent:
            fill |= {"name": name, "nameSource": NameSource.AGENT}
        elif name is not None:
            on_insert |= {"name": name, "nameSource": NameSource.WHATSAPP}
        update = {"$setOnInsert": on_insert, **({"$set": fill} if fill else {})}
        if inbound_at is not None:
            update["$max"] = {"lastInboundAt": inbound_at}
        raw = await _upsert(self._customers, {"phoneNumber": phone}, update)
        if name is not None and not entered_by_agent:
            raw = await self._profile_name(raw, name)
        customer: Customer = Customer.model_validate(raw)
        return customer

    async def _profile_name(self, raw: Raw, name: str) -> Raw:
        """A WhatsApp profile name replaces an earlier profile name, never a name an agent
        entered (one conditional update, so a concurrent agent edit is not overwritten)."""
        if raw.get("name") == name or raw.get("nameSource") == NameSource.AGENT:
            return raw
        updated = await self._customers.find_one_and_update(
            {"_id": raw["_id"], "nameSource": {"$ne": NameSource.AGENT}},
            {"$set": {"name": name, "nameSource": NameSource.WHATSAPP}},
            return_document=ReturnDocument.AFTER,
        )
        return updated or raw

    async def windows_closing(self, after: datetime, until: datetime, limit: int) -> list[Customer]:
        """Customers whose last inbound time lies in (after, until], oldest first."""
        query = {"lastInboundAt": {"$gt": after, "$lte": until}}
        cursor = self._customers.find(query).sort("lastInboundAt", 1).limit(limit)
        return [Customer.model_validate(raw) async for raw in cursor]

    async def nudged(self, customer: Customer) -> None:
        """Remembers the window reminded of, unless the customer wrote again meanwhile."""
        await self._customers.update_one(
            {"_id": customer.id, "lastInboundAt": customer.last_inbound_at},
            {"$set": {"windowNudgedFor": customer.last_inbound_at}},
        )

    async def by_id(self, customer_id: str) -> Customer | None:
        oid = _object_id(customer_id)
        if oid is None:
            return None
        raw = await self._customers.find_one({"_id": oid})
        return None if raw is None else Customer.model_validate(raw)

    async def by_ids(self, customer_ids: Iterable[str]) -> dict[str, Customer]:
        """One query for the customers of a page of tickets."""
        ids = [oid for oid in map(_object_id, set(customer_ids)) if oid is not None]
        if not ids:
            return {}
        cursor = self._customers.find({"_id": {"$in": ids}})
        return {str(raw["_id"]): Customer.model_validate(raw) async for raw in cursor}

    async def edit(
        self, customer_id: str, name: str | None, language: Language | None
    ) -> Customer | None:
        """An agent's edit: the name is marked as entered by an agent."""
        oid = _object_id(customer_id)
        if oid is None:
            return None
        fields: Raw = {"language": language} if language is not None else {}
        if name is not None:
            fields |= {"name": name, "nameSource": NameSource.AGENT}
        raw = await self._customers.find_one_and_update(
            {"_id": oid}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return None if raw is None else Customer.model_validate(raw)

    async def ids_matching(self, words: Sequence[str]) -> dict[str, list[str]]:
        """For each search word, the ids of customers whose phone or name contains it
        (case-insensitive; at most CUSTOMERS_PER_WORD each)."""
        found: dict[str, list[str]] = {}
        for word in dict.fromkeys(words):
            pattern = {"$regex": re.escape(word), "$options": "i"}
            query = {"$or": [{"phoneNumber": pattern}, {"name": pattern}]}
            cursor = self._customers.find(query, {"_id": 1}).limit(CUSTOMERS_PER_WORD)
            found[word] = [str(raw["_id"]) async for raw in cursor]
        return found


class AgentRepository:
    def __init__(self) -> None:
        self._agents: AsyncCollection[Raw] = Agent.get_pymongo_collection()

    async def get(self, agent_id: str) -> Agent | None:
        oid = _object_id(agent_id)
        if oid is None:
            return None
        raw = await self._agents.find_one({"_id": oid})
        return None if raw is None else Agent.model_validate(raw)

    async def get_many(self, agent_ids: Sequence[str]) -> list[Agent | None]:
        """The agents of these ids, in their order, in one query."""
        oids = [_object_id(agent_id) for agent_id in agent_ids]
        wanted = [oid for oid in oids if oid is not None]
        cursor = self._agents.find({"_id": {"$in": wanted}}) if wanted else None
        found = {raw["_id"]: Agent.model_validate(raw) async for raw in cursor} if cursor else {}
        return [found.get(oid) if oid is not None else None for oid in oids]

    async def create(self, agent: Agent) -> Agent:
        """Raises DuplicateKeyError when the email is taken."""
        document = agent.model_dump(by_alias=True, exclude={"id", "revision_id"})
        agent.id = (await self._agents.insert_one(document)).inserted_id
        return agent

    async def by_email(self, email: str) -> Agent | None:
        raw = await self._agents.find_one({"email": email.strip().lower()})
        return None if raw is None else Agent.model_validate(raw)

    async def search(self, query: Raw, skip: int, limit: int) -> tuple[int, list[Agent]]:
        total = await self._agents.count_documents(query)
        cursor = self._agents.find(query).sort([("name", 1), ("_id", 1)]).skip(skip).limit(limit)
        return total, [Agent.model_validate(raw) async for raw in cursor]

    async def update_if(self, agent_id: str, expected: Raw, fields: Raw) -> Agent | None:
        """Set `fields` if the agent still has the `expected` values; None otherwise."""
        raw = await self._agents.find_one_and_update(
            {"_id": ObjectId(agent_id), **expected},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return None if raw is None else Agent.model_validate(raw)

    async def active_admins(self) -> int:
        return await self._agents.count_documents({"role": "admin", "isActive": True})
