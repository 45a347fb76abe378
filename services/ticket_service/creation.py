"""Opening a ticket exactly once, whatever dies when.

Every creation has a creation key: `create:<customerId>:<idempotencyKey>` when the caller
sent one, a follow-up's message key, else a fresh random one. Every step is idempotent on
that key, and the ticket's unique `creationKey` index decides, so a retry, a take-over
after a crash or a concurrent duplicate all converge on the same ticket:

1. admit: the customer (found, or created on first contact) and its hourly window, which
   gets the key once (a retry spends nothing), in one update;
2. open-ticket cap: the customer's open tickets plus the creations admitted in the last
   `RESERVATION_LEASE` whose tickets are not stored yet, each counted once;
3. number: the year's counter reserves one number for the key (the same on a retry);
4. insert: the ticket with its events in its outbox; a duplicate key means it is stored
   already (answer it) or the number went to another ticket (take another).

A process that dies between any two steps leaves nothing a retry with the same key cannot
finish. The customer's ticket total is counted from the tickets when asked, so there is
nothing to count here. Round trips for a first creation: 4 (admit, cap query, number,
insert); the event publish's outbox update comes on top, and an agent's lookup.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pymongo
from pymongo.errors import DuplicateKeyError

from contracts.tickets import Ticket
from infra.clock import Clock
from services.ticket_service.admission import (
    Admission,
    CreationKey,
    CreationLimits,
    CustomerCreations,
    CustomerRef,
)
from services.ticket_service.domain.errors import Conflict
from services.ticket_service.domain.ids import format_ticket_id
from services.ticket_service.domain.lifecycle import OPEN_STATUSES
from services.ticket_service.domain.model import Change
from services.ticket_service.repository import TicketRepository
from services.ticket_service.sequence import SequenceAllocator

log = logging.getLogger(__name__)

NUMBER_ATTEMPTS = 5
Build = Callable[[str, str, datetime], Change]
"""build(customer_id, ticket_id, now) -> the change that opens the ticket."""
Numbered = Callable[[str, datetime], Change]


@dataclass(frozen=True, slots=True)
class Created:
    ticket: Ticket
    change: Change | None
    """The events to publish; None when an earlier attempt stored the ticket (a replay)."""
    customer: dict[str, Any]
    """The customer's document as the admission left it."""

    @property
    def replayed(self) -> bool:
        return self.change is None


@dataclass
class TicketCreator:
    tickets: TicketRepository
    creations: CustomerCreations
    numbers: SequenceAllocator
    limits: CreationLimits
    clock: Clock

    async def create(
        self,
        customer: CustomerRef,
        key: CreationKey | None,
        build: Build,
        *,
        limited: bool = True,
    ) -> Created:
        """`key`: the creation key (None: a creation nobody will retry). `limited`: the
        hourly limit and the open-ticket cap apply (not to a customer's follow-up)."""
        key = key or CreationKey("auto", uuid.uuid4().hex)
        now = self.clock.now()
        admission = await self.creations.admit(customer, key, now, self.limits, limited=limited)
        if not admission.admitted:
            return await self._replay(admission, await self._refused(admission, now))
        stored = await self._check_open_cap(admission, limited=limited)
        if stored is not None:
            return await self._replay(admission, stored)
        customer_id = admission.customer_id
        change = await self._insert(
            admission.key, lambda ticket_id, at: build(customer_id, ticket_id, at), now
        )
        if isinstance(change, Ticket):
            return await self._replay(admission, change)
        log.info("ticket created", extra={"ticketId": change.ticket.ticket_id})
        return Created(change.ticket, change, admission.customer)

    async def _refused(self, admission: Admission, now: datetime) -> Ticket:
        """The hourly limit is reached: only a replay of a stored ticket is answered."""
        earlier = await self.tickets.by_creation_key(admission.key)
        if earlier is None:
            assert admission.oldest is not None
            raise self.limits.rate_limited(admission.oldest, now)
        return earlier

    async def _check_open_cap(self, admission: Admission, *, limited: bool) -> Ticket | None:
        """The ticket already stored under this key, or None once the cap leaves room.
        Each creation counts once: as a stored open ticket, or as in flight if its ticket
        is not stored yet."""
        keys = [admission.key, *admission.in_flight]
        found = await self.tickets.open_or_created(admission.customer_id, keys)
        if any(key == admission.key for key, _ in found):
            return await self.tickets.by_creation_key(admission.key)
        if not limited:
            return None
        stored = {key for key, _ in found}
        open_stored = sum(1 for _, status in found if status in OPEN_STATUSES)
        in_flight = sum(1 for key in admission.in_flight if key not in stored)
        if open_stored + in_flight >= self.limits.max_open_per_customer:
            await self.creations.withdraw(admission.customer_id, admission)
            raise self.limits.open_cap(open_stored + in_flight)
        return None

    async def _insert(self, key: str, build: Numbered, now: datetime) -> Change | Ticket:
        """Store the ticket under the number reserved for `key`; the ticket an earlier
        attempt stored under `key` if there is one."""
        with pymongo.timeout(self.numbers.insert_budget_seconds):
            return await self._insert_in_time(key, build, now)

    async def _insert_in_time(self, key: str, build: Numbered, now: datetime) -> Change | Ticket:
        taken: set[int] = set()
        for _ in range(NUMBER_ATTEMPTS):
            reserved = await self.numbers.number_for(now.year, key, self.clock.now(), taken)
            if reserved is None:  # another copy of this creation stored it meanwhile
                return await self._stored_under(key)
            change = build(format_ticket_id(now.year, reserved.number), now)
            try:
                await self.tickets.insert(change, key)
            except DuplicateKeyError:
                earlier = await self.tickets.by_creation_key(key)
                if earlier is not None:
                    await self._settle_number(now.year, key, earlier, change)
                    return earlier
                doubtful = {reserved.number, *reserved.stale}
                holders = await self.tickets.stored_numbers(now.year, doubtful)
                taken |= set(holders)
                self.numbers.stored(now.year, *filter(None, holders.values()))
                log.warning("ticket number taken; taking another", extra={"n": reserved.number})
                continue
            self.numbers.stored(now.year, key)
            return change
        raise Conflict("Could not take a ticket number; retry with the same idempotencyKey")

    async def _stored_under(self, key: str) -> Ticket:
        earlier = await self.tickets.by_creation_key(key)
        if earlier is None:
            raise Conflict("The ticket for this idempotencyKey is not readable yet; retry")
        return earlier

    async def _settle_number(self, year: int, key: str, earlier: Ticket, mine: Change) -> None:
        if earlier.ticket_id == mine.ticket.ticket_id:
            self.numbers.stored(year, key)
        else:
            log.warning("ticket number left unused; freed", extra={"ticketId": earlier.ticket_id})
            await self.numbers.release(year, key)

    async def _replay(self, admission: Admission, ticket: Ticket) -> Created:
        """An earlier attempt stored the ticket. If this call added the key to the window,
        it came after the window: spend nothing."""
        if admission.added:
            await self.creations.withdraw(admission.customer_id, admission)
        return Created(ticket, None, admission.customer)
