"""A customer's ticket creations, kept on the customer's own document, so the hourly limit
and the open-ticket cap count each creation once, however often it is retried.

`ticketCreations` holds `{key, at, by, scoped}` for each creation admitted within the
hourly window: one atomic update drops what left the window and adds the creation only if
its key is not there yet and the window has room. A retry (same key) finds its entry and
spends nothing; concurrent creations can never pass the limit. `by` tells the call that
added an entry from a retry that found it, so a refused or replayed call removes only an
entry it added itself.

The same update finds the customer (by id) or creates it on first contact (by phone, with
the name and language the caller gave), so admitting a creation and knowing who the
customer is cost one round trip. An entry's key is the creation key without the customer
id (`create:<idempotencyKey>`, `scoped`), as the id of a customer created by this very
update is not known inside it; `Admission` gives the full keys
(`create:<customerId>:<idempotencyKey>`), which the tickets are stored under.

The customer's ticket total is not kept here: it is counted from the tickets when asked
(customers.py), so a creation writes nothing more to the customer.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from contracts.enums import Language
from infra.settings import Settings
from services.ticket_service.documents import NameSource
from services.ticket_service.domain.errors import NotFound, RateLimited

Raw = dict[str, Any]
RESERVATION_LEASE = timedelta(minutes=2)
"""An admitted creation whose ticket is not stored after this no longer holds a place
under the open-ticket cap (its creator died; a retry with its key still works)."""
UNLIMITED = 1 << 30


@dataclass(frozen=True, slots=True)
class CreationLimits:
    per_customer: int = 10
    window: timedelta = timedelta(hours=1)
    max_open_per_customer: int = 10
    open_cap_retry_after: timedelta = timedelta(hours=1)

    def rate_limited(self, oldest: datetime, now: datetime) -> RateLimited:
        wait = max(1, math.ceil((oldest + self.window - now).total_seconds()))
        return RateLimited(
            f"Too many tickets created for this customer (at most {self.per_customer} "
            f"per {_span(self.window)}); retry in {wait} seconds",
            wait,
        )

    def open_cap(self, open_count: int) -> RateLimited:
        return RateLimited(
            f"The customer already has {open_count} open tickets "
            f"(limit {self.max_open_per_customer}); resolve one first",
            int(self.open_cap_retry_after.total_seconds()),
        )


@dataclass(frozen=True, slots=True)
class ByPhone:
    """A customer named by phone: created on first contact. A name an agent (or a CRM
    service) entered wins over the customer's WhatsApp profile name."""

    phone: str
    name: str | None = None
    language: Language | None = None
    entered_by_agent: bool = False


CustomerRef = ByPhone | str
"""By phone, or the customer id."""


@dataclass(frozen=True, slots=True)
class CreationKey:
    """`kind:<customerId>:rest` once the customer is known; `kind:rest` on its document."""

    kind: str
    rest: str

    @property
    def local(self) -> str:
        return f"{self.kind}:{self.rest}"

    def full(self, customer_id: str) -> str:
        return f"{self.kind}:{customer_id}:{self.rest}"


@dataclass(frozen=True, slots=True)
class Admission:
    customer: Raw
    """The customer's document after the update."""
    key: str
    nonce: str
    admitted: bool
    """False: the hourly limit is reached (`oldest` says when a place frees)."""
    added: bool
    """This call added the entry (a retry that found it spends nothing)."""
    in_flight: tuple[str, ...]
    """Keys of the customer's other creations admitted within the reservation lease."""
    oldest: datetime | None

    @property
    def customer_id(self) -> str:
        return str(self.customer["_id"])


def contact(who: ByPhone, now: datetime) -> Raw:
    """The pipeline stage that creates or refreshes a customer named by phone."""
    fields: Raw = {
        "phoneNumber": {"$literal": who.phone},
        "createdAt": {"$ifNull": ["$createdAt", now]},
    }
    if who.language is not None:
        fields["language"] = {"$literal": str(who.language)}
    if who.name is not None and who.entered_by_agent:
        fields |= {"name": {"$literal": who.name}, "nameSource": str(NameSource.AGENT)}
    elif who.name is not None:
        agent_named = {"$eq": ["$nameSource", str(NameSource.AGENT)]}
        fields["name"] = {"$cond": [agent_named, "$name", {"$literal": who.name}]}
        fields["nameSource"] = {
            "$cond": [agent_named, str(NameSource.AGENT), str(NameSource.WHATSAPP)]
        }
    return {"$set": fields}


def _admit(key: str, nonce: str, now: datetime, window_start: datetime, limit: int) -> list[Raw]:
    entries = "$ticketCreations"
    within = {
        "$filter": {
            "input": {"$ifNull": [entries, []]},
            "cond": {"$gt": ["$$this.at", window_start]},
        }
    }
    full_or_known = {
        "$or": [
            {"$in": [{"$literal": key}, f"{entries}.key"]},
            {"$gte": [{"$size": entries}, limit]},
        ]
    }
    mine = [{"key": {"$literal": key}, "at": now, "by": nonce, "scoped": True}]
    return [
        {"$set": {"ticketCreations": within}},
        {
            "$set": {
                "ticketCreations": {
                    "$cond": [full_or_known, entries, {"$concatArrays": [entries, mine]}]
                }
            }
        },
    ]


def _full_key(entry: Raw, customer_id: str) -> str:
    """Entries from before scoped keys hold the full key already."""
    key = str(entry["key"])
    if not entry.get("scoped"):
        return key
    kind, rest = key.split(":", 1)
    return CreationKey(kind, rest).full(customer_id)


class CustomerCreations:
    def __init__(self, customers: AsyncCollection[Raw]) -> None:
        self._customers = customers

    async def admit(
        self,
        customer: CustomerRef,
        key: CreationKey,
        now: datetime,
        limits: CreationLimits,
        *,
        limited: bool,
    ) -> Admission:
        """Add the creation to the customer's window (unless the limit is reached, when
        `limited`), finding or creating the customer in the same update; what the window
        holds afterwards."""
        nonce = uuid.uuid4().hex
        limit = limits.per_customer if limited else UNLIMITED
        stages = _admit(key.local, nonce, now, now - limits.window, limit)
        if isinstance(customer, ByPhone):
            record = await self._first_contact(customer, [contact(customer, now), *stages])
            return _admission(record, key, nonce, now)
        found = await self._customers.find_one_and_update(
            {"_id": _object_id(customer)}, stages, return_document=ReturnDocument.AFTER
        )
        if found is None:
            raise NotFound(f"Customer {customer} not found")
        return _admission(found, key, nonce, now)

    async def _first_contact(self, customer: ByPhone, pipeline: list[Raw]) -> Raw:
        """A lost race of two first contacts (duplicate key) finds the winner's document."""
        for attempt in (1, 2):
            try:
                record = await self._customers.find_one_and_update(
                    {"phoneNumber": customer.phone},
                    pipeline,
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                if attempt == 2:
                    raise
                continue
            assert record is not None  # an upsert returning the document after has one
            return record
        raise AssertionError("unreachable")

    async def withdraw(self, customer_id: str, admission: Admission) -> None:
        """Take back the entry this call added (refused, or a replay of an old ticket)."""
        if admission.added:
            await self._customers.update_one(
                {"_id": ObjectId(customer_id)},
                {"$pull": {"ticketCreations": {"by": admission.nonce}}},
            )


def _admission(record: Raw, key: CreationKey, nonce: str, now: datetime) -> Admission:
    customer_id = str(record["_id"])
    full = key.full(customer_id)
    entries = [{**e, "key": _full_key(e, customer_id)} for e in record.get("ticketCreations", [])]
    mine = next((e for e in entries if e["key"] == full), None)
    recent = now - RESERVATION_LEASE
    return Admission(
        customer=record,
        key=full,
        nonce=nonce,
        admitted=mine is not None,
        added=mine is not None and mine.get("by") == nonce,
        in_flight=tuple(e["key"] for e in entries if e["key"] != full and e["at"] > recent),
        oldest=min((e["at"] for e in entries), default=None),
    )


def _object_id(text: str) -> ObjectId | None:
    return ObjectId(text) if ObjectId.is_valid(text) else None


def creation_limits(settings: Settings) -> CreationLimits:
    return CreationLimits(
        per_customer=settings.tickets_per_customer_per_hour,
        max_open_per_customer=settings.max_open_tickets_per_customer,
    )


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
